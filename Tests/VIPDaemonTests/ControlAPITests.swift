import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing
import VIPCore
import VIPLinux
@testable import VIPDaemon

/// Records heartbeats instead of sending them.
final class RecordingSender: HeartbeatSending, @unchecked Sendable {
    let loop: any EventLoop
    var sent: [[UInt8]] = []
    init(loop: any EventLoop) { self.loop = loop }
    func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws {
        sent.append(contentsOf: datagrams)
    }
}

/// Every endpoint of the control API, driven in-process (no socket).
@Suite struct ControlAPITests {
    static let key = HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!

    /// A long interval keeps a lone node in backup for the whole test unless
    /// it asks for `fast` (then it is master after ~70 ms).
    static func config(priority: UInt8 = 150, vrid: UInt8 = 7, fast: Bool = false) -> VIPConfig {
        VIPConfig(
            node: NodeConfig(id: "a", interface: "lo", address: IPAddress("127.0.0.1")!, priority: priority),
            peers: [PeerConfig(id: "b", address: IPAddress("127.0.0.2")!)], vrid: vrid, vips: [],
            timing: TimingConfig(advertInterval: fast ? .milliseconds(20) : .seconds(20)), auth: AuthConfig(keyFile: "/k"),
            control: ControlConfig(), logLevel: "info")
    }

    func engine(started: Bool = true, fast: Bool = false) async throws -> NodeEngine {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = NodeEngine(config: Self.config(fast: fast), key: Self.key, epoch: 1, loop: loop, logger: logger,
                                addresses: nil, announcer: nil)
        if started {
            try await loop.submit { engine.start(sender: RecordingSender(loop: loop)) }.get()
        }
        return engine
    }

    func app(_ engine: NodeEngine, token: [UInt8]? = nil,
             reload: @escaping @Sendable () throws -> LoadedConfig = { throw ConfigErrors([]) }) -> some ApplicationProtocol {
        Application(router: ControlAPI.router(engine: engine, token: token, reloadSource: reload))
    }

    func waitForState(_ engine: NodeEngine, _ state: NodeState) async throws {
        for _ in 0..<2000 where try await engine.onLoop({ engine.status().state }) != state {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func statusReportsTheNode() async throws {
        let engine = try await engine()
        try await app(engine).test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(StatusReport.self, from: Data(buffer: response.body))
                #expect(report.node == "a")
                #expect(report.state == .backup)
                #expect(report.peers.map(\.id) == ["b"])
                #expect(report.priority == 150)
            }
        }
    }

    @Test func healthIs503UntilStartedAndInMaintenance() async throws {
        let engine = try await engine(started: false)
        try await app(engine).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("starting"))
            }
            try await engine.onLoop { engine.start(sender: RecordingSender(loop: engine.loop)) }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/maintenance", method: .post, body: ByteBuffer(string: #"{"enabled": true}"#)) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("maintenance"))
            }
        }
    }

    @Test func failoverWithoutAMasterOrPeerIsRefused() async throws {
        let backup = try await engine()
        try await app(backup).test(.router) { client in
            try await client.execute(uri: "/v1/failover", method: .post, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("no master is known"))
            }
        }
        let engine = try await engine(fast: true)
        try await app(engine).test(.router) { client in
            try await waitForState(engine, .master)
            try await client.execute(uri: "/v1/failover", method: .post, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("no healthy peer"))
            }
            try await client.execute(uri: "/v1/failover", method: .post, body: ByteBuffer(string: #"{"to": "zz"}"#)) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/failover", method: .post, body: ByteBuffer(string: "not json")) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func maintenanceOnAMasterWithoutPeerNeedsForce() async throws {
        let engine = try await engine(fast: true)
        try await waitForState(engine, .master)
        try await app(engine).test(.router) { client in
            try await client.execute(uri: "/v1/maintenance", method: .post, body: ByteBuffer(string: #"{"enabled": true}"#)) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/v1/maintenance", method: .post,
                                     body: ByteBuffer(string: #"{"enabled": true, "force": true}"#)) { response in
                #expect(response.status == .ok)
            }
            #expect(try await engine.onLoop { engine.status().state } == .maintenance)
            try await client.execute(uri: "/v1/maintenance", method: .post, body: ByteBuffer(string: #"{"enabled": false}"#)) { response in
                #expect(response.status == .ok)
            }
            #expect(try await engine.onLoop { engine.status().state } == .backup)
        }
    }

    @Test func reloadRefusesInvalidAndRestartOnlyChanges() async throws {
        let engine = try await engine()
        let invalid = app(engine, reload: {
            throw ConfigErrors([ConfigIssue(file: "f.yaml", line: 3, field: "vrid", message: "bad")])
        })
        try await invalid.test(.router) { client in
            try await client.execute(uri: "/v1/reload", method: .post) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("f.yaml:3: vrid: bad"))
            }
        }
        let restartOnly = app(engine, reload: {
            LoadedConfig(path: "f", config: Self.config(vrid: 9, fast: false), key: Self.key)
        })
        try await restartOnly.test(.router) { client in
            try await client.execute(uri: "/v1/reload", method: .post) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("needs a restart"))
            }
        }
        let newPriority = app(engine, reload: {
            LoadedConfig(path: "f", config: Self.config(priority: 99), key: Self.key)
        })
        try await newPriority.test(.router) { client in
            try await client.execute(uri: "/v1/reload", method: .post) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("priority 150 -> 99"))
            }
        }
        #expect(try await engine.onLoop { engine.status().priority } == 99)
    }

    @Test func reloadReportsEveryEditItDoesNotApply() async throws {
        let engine = try await engine()
        var edited = Self.config()
        edited.checks = [CheckConfig(name: "bingo", role: .backend,
                                     probe: .http(.init(url: "http://127.0.0.1:1/ping")))]
        let withChecks = edited
        let checksEdited = app(engine, reload: { LoadedConfig(path: "f", config: withChecks, key: Self.key) })
        try await checksEdited.test(.router) { client in
            try await client.execute(uri: "/v1/reload", method: .post) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains("checks (takes effect after a restart)"))
                #expect(!body.contains("nothing changed"))
            }
        }
    }

    /// Every field of the configuration is one reload compares: a new field
    /// must be classified there (applied, refused or reported), never ignored.
    @Test func reloadComparesEveryConfigField() {
        let fields = Set(Mirror(reflecting: Self.config()).children.compactMap(\.label))
        #expect(fields == NodeEngine.reloadComparedFields)
    }

    @Test func agentsReportDatabaseEventsButNotVipdsOwn() async throws {
        let engine = try await engine()
        try await app(engine).test(.router) { client in
            try await client.execute(uri: "/v1/events", method: .post,
                                     body: ByteBuffer(string: #"{"event": "db_promoted", "reason": "vipd is master", "instance": "db"}"#)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("db_promoted published"))
            }
            // vipd's own kinds, and made-up ones, are refused.
            for event in ["state_change", "db_exploded"] {
                try await client.execute(uri: "/v1/events", method: .post,
                                         body: ByteBuffer(string: #"{"event": "\#(event)"}"#)) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("cannot be reported (only db_promoted, db_fenced"))
                }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains(#"vipd_reported_events_total{event="db_promoted"} 1"#))
            }
        }
    }

    @Test func metricsArePrometheusText() async throws {
        let engine = try await engine()
        try await app(engine).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains("vipd_state{vrrp_instance=\"vrid7\",state=\"backup\"} 1"))
                #expect(text.contains("vipd_packets_dropped_total{reason=\"bad_auth\"} 0"))
                #expect(text.contains("# TYPE vipd_heartbeats_sent_total counter"))
            }
        }
    }

    @Test func tcpListenerRequiresTheBearerToken() async throws {
        let engine = try await engine()
        try await app(engine, token: Array("tok-123".utf8)).test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/status", method: .get, headers: [.authorization: "Bearer tok-123"]) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
