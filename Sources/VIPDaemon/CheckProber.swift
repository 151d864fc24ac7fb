import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import VIPCore
import VIPLinux

/// Makes one probe of a check and says whether it passed. `HealthService`
/// calls it once per interval per check; tests substitute a scripted fake.
public protocol CheckProbing: Sendable {
    /// Never throws and never takes (much) longer than `check.timeout`.
    func probe(_ check: CheckConfig) async -> ProbeResult
}

/// The real probes: HTTP with AsyncHTTPClient on an event loop of its own
/// (never the engine's), commands through a `CommandRunning`.
public final class LiveCheckProber: CheckProbing {
    /// How much of a body `body_contains` looks at.
    static let bodyLimit = 64 * 1024

    private let group: MultiThreadedEventLoopGroup
    private let client: HTTPClient
    private let runner: any CommandRunning

    public init(runner: any CommandRunning = SpawnCommandRunner()) {
        self.runner = runner
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: group, configuration: configuration)
    }

    /// Closes the client and stops its event loop. Call once, after the last probe.
    public func shutdown() async {
        try? await client.shutdown()
        try? await group.shutdownGracefully()
    }

    public func probe(_ check: CheckConfig) async -> ProbeResult {
        switch check.probe {
        case .http(let http): return await probeHTTP(http, timeout: check.timeout)
        case .exec(let exec): return await probeExec(exec, timeout: check.timeout)
        }
    }

    func probeHTTP(_ http: CheckConfig.HTTPProbe, timeout: Span) async -> ProbeResult {
        var request = HTTPClientRequest(url: http.url)
        request.method = .init(rawValue: http.method)
        // A new connection per probe: a front that stopped accepting
        // connections must fail the very next probe, not ride a pooled one.
        request.headers.add(name: "Connection", value: "close")
        request.headers.add(name: "User-Agent", value: "vipd-check/\(VIPDVersion.string)")
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanoseconds)
        do {
            let response = try await client.execute(request, deadline: deadline)
            let status = Int(response.status.code)
            var body: [UInt8] = []
            if let needle = http.bodyContains {
                for try await chunk in response.body {
                    body += chunk.readableBytesView.prefix(Self.bodyLimit - body.count)
                    if body.count >= Self.bodyLimit || NIODeadline.now() >= deadline { break }
                }
                guard status == http.expectStatus else { return .fail("HTTP \(status) (expected \(http.expectStatus))") }
                guard String(decoding: body, as: UTF8.self).contains(needle) else {
                    return .fail("HTTP \(status) but the body lacks \"\(needle)\"")
                }
                return .pass("HTTP \(status)")
            }
            for try await _ in response.body {}
            guard status == http.expectStatus else { return .fail("HTTP \(status) (expected \(http.expectStatus))") }
            return .pass("HTTP \(status)")
        } catch {
            let reason = Self.describe(error, timeout: timeout)
            return ProbeResult(passed: false, detail: reason, refused: reason == Self.refusedText)
        }
    }

    func probeExec(_ exec: CheckConfig.ExecProbe, timeout: Span) async -> ProbeResult {
        let outcome = await runner.run(exec.command, timeout: timeout)
        if outcome.succeeded { return .pass("exit 0") }
        return .fail(outcome.firstLine.map { "\(outcome): \($0)" } ?? outcome.description)
    }

    /// A short reason for a failed request: "connection refused", "timed out after 400ms".
    static let refusedText = String(cString: strerror(ECONNREFUSED)).lowercased()

    static func describe(_ error: any Error, timeout: Span) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out after \(timeout)"
            case .remoteConnectionClosed: return "connection closed before a response"
            default: return "\(error)"
            }
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return describe(first.error, timeout: timeout)
        }
        let text = "\(error)"
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") { return "timed out after \(timeout)" }
        if text.localizedCaseInsensitiveContainsConnectionRefused { return refusedText }
        return text
    }
}

extension String {
    fileprivate var localizedCaseInsensitiveContainsConnectionRefused: Bool {
        lowercased().contains("connection refused")
    }
}
