import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VIPCore
import VIPLinux
#if canImport(Glibc)
import Glibc
#endif

extension StatusReport: ResponseEncodable {}

/// Body of POST /v1/failover.
public struct FailoverRequest: Codable, Sendable {
    public var to: String?
    public var force: Bool?
    /// The instance to fail over; may be left out when the node runs one.
    public var instance: String?
    public init(to: String? = nil, force: Bool? = nil, instance: String? = nil) {
        self.to = to
        self.force = force
        self.instance = instance
    }
}

/// Body of POST /v1/maintenance.
public struct MaintenanceRequest: Codable, Sendable {
    public var enabled: Bool
    public var force: Bool?
    /// One instance; every instance of the node when left out.
    public var instance: String?
    public init(enabled: Bool, force: Bool? = nil, instance: String? = nil) {
        self.enabled = enabled
        self.force = force
        self.instance = instance
    }
}

/// Body of POST /v1/events: an event a local agent reports (vipd-pg).
public struct ReportedEvent: Codable, Sendable {
    public var event: String
    public var reason: String?
    public var instance: String?
    public init(event: String, reason: String? = nil, instance: String? = nil) {
        self.event = event
        self.reason = reason
        self.instance = instance
    }
}

/// The answer to every POST: what happened, in a sentence, and the outcome.
public struct ActionResult: Codable, Sendable, ResponseEncodable {
    public var ok: Bool
    public var message: String
    public var master: String?
    public var durationMs: Double?
    public var changes: [String]?

    enum CodingKeys: String, CodingKey {
        case ok, message, master, changes
        case durationMs = "duration_ms"
    }
}

/// The control API: HTTP/1.1 on a Unix socket (and optionally loopback TCP
/// with a bearer token), for vipctl, monitors and Prometheus.
public enum ControlAPI {
    /// The routes, separate from the sockets so tests drive them in-process.
    /// `token`: when set, every request must carry `Authorization: Bearer <token>`.
    public static func router(engine: NodeEngine, token: [UInt8]? = nil,
                              reloadSource: @escaping @Sendable () throws -> LoadedConfig) -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.add(middleware: BearerTokenMiddleware(token: token)) }
        router.get("/v1/status") { _, _ -> StatusReport in
            try await engine.onLoop { engine.status() }
        }
        router.post("/v1/failover") { request, context -> EditedResponse<ActionResult> in
            let body = try await request.decode(as: FailoverRequest.self, context: context)
            return try await failover(engine: engine, body: body)
        }
        router.post("/v1/maintenance") { request, context -> EditedResponse<ActionResult> in
            let body = try await request.decode(as: MaintenanceRequest.self, context: context)
            return try await maintenance(engine: engine, body: body)
        }
        router.post("/v1/events") { request, context -> EditedResponse<ActionResult> in
            let body = try await request.decode(as: ReportedEvent.self, context: context)
            guard let kind = NodeEvent.Kind(rawValue: body.event), NodeEvent.Kind.reportable.contains(kind) else {
                let known = NodeEvent.Kind.reportable.map(\.rawValue).joined(separator: ", ")
                return refused(ControlRefusal(400, "event \(body.event) cannot be reported (only \(known))"))
            }
            try await engine.onLoop { engine.reported(kind, reason: body.reason.map { String($0.prefix(1000)) },
                                                      instance: body.instance) }
            return EditedResponse(status: .ok, response: ActionResult(ok: true, message: "\(kind.rawValue) published"))
        }
        router.post("/v1/reload") { _, _ -> EditedResponse<ActionResult> in
            try await reload(engine: engine, source: reloadSource)
        }
        router.get("/health") { _, _ -> EditedResponse<HealthReport> in
            let (healthy, reason) = try await engine.onLoop { engine.health() }
            return EditedResponse(status: healthy ? .ok : .serviceUnavailable,
                                  response: HealthReport(healthy: healthy, reason: reason))
        }
        router.get("/metrics") { _, _ -> Response in
            let status = try await engine.onLoop { engine.status() }
            let text = engine.metrics.render(status)
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    static func refused(_ refusal: ControlRefusal) -> EditedResponse<ActionResult> {
        EditedResponse(status: .init(code: refusal.status),
                       response: ActionResult(ok: false, message: refusal.message))
    }

    /// Starts the handover, then waits (briefly) until another node is master,
    /// so `vipctl failover` returns the outcome, not just "started".
    static func failover(engine: NodeEngine, body: FailoverRequest) async throws -> EditedResponse<ActionResult> {
        let started = ContinuousClock.now
        let named: Result<String, ControlRefusal> = try await engine.onLoop {
            Result { () throws(ControlRefusal) in try engine.instance(named: body.instance).name }
        }
        let instance: String
        switch named {
        case .failure(let refusal): return refused(refusal)
        case .success(let name): instance = name
        }
        let before = try await engine.onLoop { engine.status(of: instance)?.master }
        let outcome: Result<String, ControlRefusal> = try await engine.onLoop {
            Result { () throws(ControlRefusal) in
                try engine.failover(instance: instance, to: body.to, force: body.force ?? false)
            }
        }
        let message: String
        switch outcome {
        case .failure(let refusal): return refused(refusal)
        case .success(let text): message = text
        }
        let patience = try await engine.onLoop { engine.handoverPatience(of: instance) }
        let deadline = started + .nanoseconds(patience.nanoseconds) + .milliseconds(500)
        while ContinuousClock.now < deadline {
            guard let status = try await engine.onLoop({ engine.status(of: instance) }) else { break }
            if let master = status.master, master != before, status.handover == nil {
                let elapsed = ContinuousClock.now - started
                let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                return EditedResponse(status: .ok, response: ActionResult(
                    ok: true, message: "\(message); \(master) is master", master: master, durationMs: ms))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return EditedResponse(status: .gatewayTimeout, response: ActionResult(
            ok: false, message: "\(message), but no other node became master in time; \(before ?? "the old master") keeps the VIPs",
            master: before))
    }

    static func maintenance(engine: NodeEngine, body: MaintenanceRequest) async throws -> EditedResponse<ActionResult> {
        let outcome: Result<String, ControlRefusal> = try await engine.onLoop {
            Result { () throws(ControlRefusal) in
                try engine.setMaintenance(body.enabled, instance: body.instance, force: body.force ?? false)
            }
        }
        let text: String
        switch outcome {
        case .failure(let refusal): return refused(refusal)
        case .success(let message): text = message
        }
        // A master hands over first. Answer with the outcome, not the intent:
        // if nobody takes over, the node stays master and is not in maintenance.
        let handingOver = try await engine.onLoop {
            body.enabled ? engine.instanceNames(body.instance).filter { engine.status(of: $0)?.state == .master } : []
        }
        guard !handingOver.isEmpty else { return EditedResponse(status: .ok, response: ActionResult(ok: true, message: text)) }
        let patience = try await engine.onLoop { engine.handoverPatience(of: handingOver[0]) }
        let deadline = ContinuousClock.now + .nanoseconds(patience.nanoseconds) + .milliseconds(500)
        waiting: while ContinuousClock.now < deadline {
            let states = try await engine.onLoop { handingOver.compactMap { engine.status(of: $0) } }
            if states.allSatisfy({ $0.state == .maintenance }) {
                let master = states.first?.master
                return EditedResponse(status: .ok, response: ActionResult(
                    ok: true, message: "maintenance on; \(master ?? "a peer") took over the VIPs", master: master))
            }
            // Aborted: nobody took over.
            for status in states where status.state == .master && status.handover == nil { break waiting }
            try await Task.sleep(for: .milliseconds(5))
        }
        let node = try await engine.onLoop { engine.config.node.id }
        return EditedResponse(status: .gatewayTimeout, response: ActionResult(
            ok: false, message: "no peer took over the VIPs within \(patience); this node stays master and is not in maintenance (use --force to drop the VIPs anyway)",
            master: node))
    }

    static func reload(engine: NodeEngine, source: @Sendable () throws -> LoadedConfig) async throws -> EditedResponse<ActionResult> {
        let loaded: LoadedConfig
        do {
            loaded = try source()
        } catch {
            engine.logger.error("reload refused, the running configuration is kept:\n\(error)")
            return EditedResponse(status: .unprocessableContent, response: ActionResult(
                ok: false, message: "invalid configuration, the running one is kept:\n\(error)"))
        }
        let outcome: Result<[String], ControlRefusal> = try await engine.onLoop {
            Result { () throws(ControlRefusal) in try engine.reload(loaded) }
        }
        switch outcome {
        case .failure(let refusal):
            engine.logger.error("reload refused: \(refusal.message)")
            return refused(refusal)
        case .success(let changes):
            return EditedResponse(status: .ok, response: ActionResult(
                ok: true, message: changes.isEmpty ? "reloaded; nothing changed" : "reloaded: \(changes.joined(separator: "; "))",
                changes: changes))
        }
    }

    /// The Unix-socket server (mode 0660 once listening).
    public static func application(engine: NodeEngine, socket: String, logger: Logger,
                                   reloadSource: @escaping @Sendable () throws -> LoadedConfig) -> some Service {
        ControlServer(
            router: router(engine: engine, reloadSource: reloadSource),
            address: .unixDomainSocket(path: socket), logger: logger,
            onServerRunning: { _ in
                // Connecting needs write permission: owner and group only.
                _ = chmod(socket, 0o660)
            },
            answered: { engine.trimmer?.worked() })
    }

    /// The optional loopback TCP server; every request needs the bearer token.
    public static func tcpApplication(engine: NodeEngine, host: String, port: Int, token: [UInt8], logger: Logger,
                                      reloadSource: @escaping @Sendable () throws -> LoadedConfig) -> some Service {
        ControlServer(
            router: router(engine: engine, token: token, reloadSource: reloadSource),
            address: .hostname(host, port: port), logger: logger,
            answered: { engine.trimmer?.worked() })
    }
}
