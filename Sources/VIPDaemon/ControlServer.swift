import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Serves a Hummingbird router the way `Application` does, minus its date
/// cache.
///
/// `Application` runs a task that reformats the `Date` header once a second,
/// for servers answering thousands of requests. The control API answers a
/// few `vipctl` calls a day; that timer would wake the daemon (and a
/// dispatch worker or two) every second for ever, which is about a fifth of
/// an idle vipd's CPU. Here the header is formatted per response instead.
struct ControlServer: Service {
    let responder: RouterResponder<BasicRequestContext>
    let address: BindAddress
    let logger: Logger
    var onServerRunning: (@Sendable (any Channel) async -> Void)?
    /// Called after every response (the engine's `MemoryTrimmer`).
    var answered: (@Sendable () -> Void)?

    init(router: Router<BasicRequestContext>, address: BindAddress, logger: Logger,
         onServerRunning: (@Sendable (any Channel) async -> Void)? = nil, answered: (@Sendable () -> Void)? = nil) {
        self.responder = router.buildResponder()
        self.address = address
        self.logger = logger
        self.onServerRunning = onServerRunning
        self.answered = answered
    }

    func run() async throws {
        let responder = self.responder
        let logger = self.logger
        let answered = self.answered
        let server = try HTTPServerBuilder.http1().buildServer(
            configuration: .init(address: address, serverName: "vipd"),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        ) { request, responseWriter, channel in
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.debug("control request failed: \(error)")
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = Self.httpDate()
            response.headers[.server] = "vipd"
            try await responseWriter.write(response: response.head, body: response.body)
            answered?()
        } onServerRunning: { channel in
            await onServerRunning?(channel)
        }
        try await server.run()
    }

    /// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (vipd never
    /// calls setlocale, so strftime's names are the C locale's English ones).
    static func httpDate() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 40)
        let length = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
