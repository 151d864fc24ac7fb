#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VIPCore
@testable import VIPDaemon

/// Real probes: HTTP against an in-process server on 127.0.0.1, commands via posix_spawn.
@Suite struct LiveCheckProberTests {
    func check(_ url: String, bodyContains: String? = nil, status: Int = 200, timeout: Span = .seconds(2)) -> CheckConfig {
        CheckConfig(name: "c", role: .backend,
                    probe: .http(.init(url: url, expectStatus: status, bodyContains: bodyContains)),
                    interval: .seconds(5), timeout: timeout)
    }

    func exec(_ command: [String]) -> CheckConfig {
        CheckConfig(name: "e", role: .weight, probe: .exec(.init(command: command)), weight: -10)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on.
    func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(fd, $0, length)
                _ = getsockname(fd, $0, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func httpProbes() async throws {
        let router = Router()
        router.get("/ping") { _, _ in "pong" }
        router.get("/bad") { _, _ in
            Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "I feel bad")))
        }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(for: .seconds(3))
            return "late"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let prober = LiveCheckProber()
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            #expect(await prober.probe(check("\(base)/ping", bodyContains: "pong")) == .pass("HTTP 200"))
            #expect(await prober.probe(check("\(base)/ping", bodyContains: "ok")) ==
                    .fail("HTTP 200 but the body lacks \"ok\""))
            #expect(await prober.probe(check("\(base)/bad")) == .fail("HTTP 500 (expected 200)"))
            #expect(await prober.probe(check("\(base)/bad", status: 500)) == .pass("HTTP 500"))
            let start = ContinuousClock.now
            #expect(await prober.probe(check("\(base)/slow", timeout: .milliseconds(300))) ==
                    .fail("timed out after 300ms"))
            #expect(ContinuousClock.now - start < .seconds(2))
        }
        #expect(await prober.probe(check("http://127.0.0.1:\(closedPort())/ping")) == ProbeResult(passed: false, detail: "connection refused", refused: true))
        await prober.shutdown()
    }

    @Test func execProbes() async {
        let prober = LiveCheckProber()
        #expect(await prober.probe(exec(["/bin/true"])) == .pass("exit 0"))
        #expect(await prober.probe(exec(["/bin/sh", "-c", "echo disk full; exit 2"])) == .fail("exit 2: disk full"))
        #expect(await prober.probe(exec(["/nonexistent"])) ==
                .fail("cannot start: /nonexistent: No such file or directory"))
        await prober.shutdown()
    }
}
