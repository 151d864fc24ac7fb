import Logging
import NIOCore
import NIOEmbedded
import Testing
import VIPCore
import VIPLinux
import VIPTestSupport
@testable import VIPDaemon

/// Whole engines with several instances, two nodes on one virtual clock
/// (an EmbeddedEventLoop) joined by a `MemoryNetwork`: active/active, sync
/// groups, tracked interfaces, reload of instances. No sockets, no sleeping.
@Suite struct InstancesTests {
    static let key = HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!
    static let address = ["a": IPAddress("198.18.0.1")!, "b": IPAddress("198.18.0.2")!]
    static let web = IPAddress("198.18.0.100")!
    static let db = IPAddress("198.18.0.101")!

    /// Two nodes running the instances `spec(node)` describes.
    final class Cluster {
        let loop = EmbeddedEventLoop()
        let network: MemoryNetwork
        var engines: [String: NodeEngine] = [:]
        var addresses: [String: FakeAddresses] = [:]
        var routes: [String: FakeRoutes] = [:]
        /// (node, instance, from, to) in order.
        var transitions: [(String, String, NodeState, NodeState)] = []

        init(_ spec: (String) -> (instances: [InstanceConfig], groups: [SyncGroupConfig])) {
            let loop = self.loop
            network = MemoryNetwork { delay, body in
                loop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) { body() }
            }
            for node in ["a", "b"] { boot(node, spec(node)) }
        }

        func boot(_ node: String, _ spec: (instances: [InstanceConfig], groups: [SyncGroupConfig])) {
            var logger = Logger(label: node)
            logger.logLevel = .critical
            var config = InstancesTests.config(node, spec.instances)
            config.syncGroups = spec.groups
            let addresses = FakeAddresses()
            let routes = FakeRoutes()
            let engine = NodeEngine(config: config, key: InstancesTests.key, epoch: UInt64(loop.now.uptimeNanoseconds) + 1,
                                    loop: loop, logger: logger, addresses: addresses, routes: routes, announcer: FakeAnnouncer())
            self.routes[node] = routes
            engine.linkReader = { _ in true }
            engine.onTransition.append { [unowned self] name, from, to, _ in transitions.append((node, name, from, to)) }
            network.attach(engine, at: InstancesTests.address[node]!)
            engine.start(sender: network.transport(at: InstancesTests.address[node]!))
            engines[node] = engine
            self.addresses[node] = addresses
        }

        func run(ms: Int64) { loop.advanceTime(by: .milliseconds(ms)) }

        func holders(_ vip: IPAddress) -> [String] {
            ["a", "b"].filter { addresses[$0]!.addresses.contains(vip) }
        }

        func state(_ node: String, _ instance: String) -> NodeState? {
            engines[node]!.status().instances?.first { $0.instance == instance }?.state
        }

        /// SIGKILL with the link down: the engine stops hearing and speaking.
        func crash(_ node: String) {
            network.cut(InstancesTests.address["a"]!, InstancesTests.address["b"]!)
            engines[node]!.timer?.arm(at: nil)
            engines[node]!.sender = nil
        }
    }

    static func config(_ node: String, _ instances: [InstanceConfig]) -> VIPConfig {
        let other = node == "a" ? "b" : "a"
        var config = VIPConfig(node: NodeConfig(id: node, interface: "eth0", address: address[node]!, priority: 100),
                               peers: [PeerConfig(id: other, address: address[other]!)], vrid: 1, vips: [],
                               timing: TimingConfig(), auth: AuthConfig(keyFile: "/k"), control: ControlConfig(),
                               logLevel: "info")
        config.instances = instances
        return config
    }

    static func instance(_ name: String, vrid: UInt8, priority: UInt8, vip: IPAddress, node: String,
                         interval: Span = .milliseconds(100), tracking: [TrackedInterface] = []) -> InstanceConfig {
        let other = node == "a" ? "b" : "a"
        return InstanceConfig(name: name, vrid: vrid, priority: priority,
                              vips: [VIPSpec(address: vip, prefixLength: 24, interface: "eth0")],
                              timing: TimingConfig(advertInterval: interval),
                              peers: [PeerConfig(id: other, address: address[other]!)], trackInterfaces: tracking)
    }

    @Test func eachNodeIsMasterOfTheInstanceItPrefers() {
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node),
              Self.instance("db", vrid: 52, priority: node == "a" ? 100 : 150, vip: Self.db, node: node)], [])
        }
        cluster.run(ms: 2000)
        #expect(cluster.holders(Self.web) == ["a"])
        #expect(cluster.holders(Self.db) == ["b"])
        #expect(cluster.state("a", "web") == .master && cluster.state("a", "db") == .backup)
        let status = cluster.engines["a"]!.status()
        #expect(status.instances?.map(\.instance) == ["web", "db"])
        #expect(status.counters.heartbeatsSent == status.instances!.map(\.counters.heartbeatsSent).reduce(0, +))
    }

    @Test func aDatagramForAVRIDNoInstanceRunsIsCountedAndDropped() {
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: 100, vip: Self.web, node: node)], [])
        }
        let stranger = Heartbeat(vrid: 99, priority: 200, state: .master, flags: [], advertInterval: .milliseconds(100),
                                 epoch: 1, sequence: 1, nodeID: "b")
        cluster.engines["a"]!.receive(HeartbeatCodec.encode(stranger, key: Self.key), from: Self.address["b"]!)
        cluster.engines["a"]!.receive([1, 2, 3], from: Self.address["b"]!)
        let dropped = cluster.engines["a"]!.status().counters.dropped
        #expect(dropped["wrong_vrid"] == 1)
        #expect(dropped["truncated"] == 1)
    }

    @Test func aTrackedInterfaceGoingDownFaultsTheGroupAndTheDebounceHoldsItBack() {
        let dummy = TrackedInterface(name: "dum0", upDebounce: .seconds(1))
        let group = [SyncGroupConfig(name: "g", instances: ["web", "db"])]
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node,
                            tracking: node == "a" ? [dummy] : []),
              Self.instance("db", vrid: 52, priority: node == "a" ? 150 : 100, vip: Self.db, node: node)], group)
        }
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.web) == ["a"] && cluster.holders(Self.db) == ["a"])
        cluster.engines["a"]!.linkChanged("dum0", up: false)
        // The master resigns with priority 0: b takes over after Skew_Time (~61 ms at priority 100), not 3 intervals.
        cluster.run(ms: 100)
        #expect(cluster.state("a", "web") == .fault)
        #expect(cluster.state("a", "db") == .fault, "the sync group follows its partner into FAULT")
        #expect(cluster.holders(Self.web) == ["b"] && cluster.holders(Self.db) == ["b"])
        let report = cluster.engines["a"]!.status().instances!
        #expect(report[0].interfaces == [.init(name: "dum0", up: false)])
        #expect(report[1].faults?.first?.contains("sync group g: web in fault") == true)
        cluster.engines["a"]!.linkChanged("dum0", up: true)
        cluster.run(ms: 900)
        #expect(cluster.state("a", "web") == .fault, "still within up_debounce")
        // Preempting at a's next heartbeat from b, then b's drain (Election.drainTime).
        cluster.run(ms: 700)
        #expect(cluster.holders(Self.web) == ["a"] && cluster.holders(Self.db) == ["a"], "back, and preempting, after the debounce")
    }

    @Test func aTakeoverByOneInstanceTakesItsGroup() {
        // db's adverts are slow: alone, b would wait ~3.6 s for it.
        let group = [SyncGroupConfig(name: "g", instances: ["web", "db"])]
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node),
              Self.instance("db", vrid: 52, priority: node == "a" ? 150 : 100, vip: Self.db, node: node,
                            interval: .seconds(1))], group)
        }
        cluster.run(ms: 5000)
        #expect(cluster.holders(Self.web) == ["a"] && cluster.holders(Self.db) == ["a"])
        cluster.crash("a")
        cluster.run(ms: 600)
        #expect(cluster.state("b", "web") == .master)
        #expect(cluster.state("b", "db") == .master, "taken with web, not after db's own master-down interval")
        let reason = cluster.engines["b"]!.status().instances![1].lastTransitionReason
        #expect(reason == "sync group g: web is master")
    }

    /// Priorities that cross inside a group (b outranks a for web, a
    /// outranks b for db) cannot all be honoured: b's web preempts and takes
    /// the group, b's db is outranked and takes the group back out (its
    /// partners resign), and then preemption is held, so the group settles
    /// where every member can stay master instead of flapping for ever.
    @Test func crossingPrioritiesInAGroupSettleWithoutFlapping() throws {
        let group = [SyncGroupConfig(name: "g", instances: ["web", "db"])]
        let spec: (String, UInt8) -> (instances: [InstanceConfig], groups: [SyncGroupConfig]) = { node, webOnB in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : webOnB, vip: Self.web, node: node),
              Self.instance("db", vrid: 52, priority: node == "a" ? 150 : 100, vip: Self.db, node: node)], group)
        }
        let cluster = Cluster { spec($0, 100) }
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.db) == ["a"])
        var raised = Self.config("b", spec("b", 200).instances)
        raised.syncGroups = group
        _ = try cluster.engines["b"]!.reload(LoadedConfig(path: "b.yaml", config: raised, key: Self.key))
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.web) == ["a"] && cluster.holders(Self.db) == ["a"])
        #expect(cluster.engines["b"]!.status().instances![0].preemptHeld, "b's web resigned with its partner and holds off")
        let settled = cluster.transitions.count
        cluster.run(ms: 5000)
        #expect(cluster.transitions.count == settled, "no further moves: \(cluster.transitions.dropFirst(settled))")
    }

    @Test func reloadAddsAndRemovesInstancesWithoutTouchingTheOthers() throws {
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node)], [])
        }
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.web) == ["a"])
        let before = cluster.transitions.count
        let both = [Self.instance("web", vrid: 51, priority: 150, vip: Self.web, node: "a"),
                    Self.instance("db", vrid: 52, priority: 150, vip: Self.db, node: "a")]
        let changes = try cluster.engines["a"]!.reload(LoadedConfig(path: "a.yaml", config: Self.config("a", both), key: Self.key))
        #expect(changes == ["instance db added"])
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.db) == ["a"], "the new instance runs (alone: b does not run db)")
        #expect(!cluster.transitions.dropFirst(before).contains { $0.0 == "a" && $0.1 == "web" }, "web was not touched")
        let webOnly = [Self.instance("web", vrid: 51, priority: 150, vip: Self.web, node: "a")]
        let removed = try cluster.engines["a"]!.reload(LoadedConfig(path: "a.yaml", config: Self.config("a", webOnly), key: Self.key))
        #expect(removed == ["instance db removed"])
        #expect(cluster.holders(Self.db).isEmpty && cluster.holders(Self.web) == ["a"])
    }

    @Test func failoverNamesItsInstanceWhenThereAreSeveral() throws {
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node),
              Self.instance("db", vrid: 52, priority: node == "a" ? 150 : 100, vip: Self.db, node: node)], [])
        }
        cluster.run(ms: 1500)
        #expect(throws: ControlRefusal.self) { try cluster.engines["a"]!.failover(to: nil, force: false) }
        _ = try cluster.engines["a"]!.failover(instance: "web", to: nil, force: false)
        cluster.run(ms: 500)
        #expect(cluster.holders(Self.web) == ["b"])
        #expect(cluster.holders(Self.db) == ["a"], "only the named instance moved")
    }

    /// A planned failover of one member hands over its whole group: had the
    /// partner stayed master, the new master's partner would be outranked
    /// and pull the group back (found by Tests/lab/test_instances.py).
    @Test func aPlannedFailoverMovesTheWholeSyncGroup() throws {
        let group = [SyncGroupConfig(name: "g", instances: ["web", "db"])]
        let cluster = Cluster { node in
            ([Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node),
              Self.instance("db", vrid: 52, priority: node == "a" ? 150 : 100, vip: Self.db, node: node)], group)
        }
        cluster.run(ms: 1500)
        #expect(cluster.holders(Self.web) == ["a"] && cluster.holders(Self.db) == ["a"])
        let before = cluster.transitions.count
        _ = try cluster.engines["a"]!.failover(instance: "web", to: nil, force: false)
        cluster.run(ms: 2000)
        #expect(cluster.holders(Self.web) == ["b"] && cluster.holders(Self.db) == ["b"], "\(cluster.transitions)")
        let backOnA = cluster.transitions.dropFirst(before).filter { $0.0 == "a" && $0.3 == .master }
        #expect(backOnA.isEmpty, "a did not take the group back: \(cluster.transitions)")
    }

    /// Editing checks: or nginx: and reloading applies them to the running
    /// services (the reload used to answer "nothing changed" and apply nothing).
    @Test func reloadHandsChecksAndNginxToTheRunningServices() throws {
        let cluster = Cluster { node in ([Self.instance("web", vrid: 51, priority: 150, vip: Self.web, node: node)], []) }
        let engine = cluster.engines["a"]!
        let seen = Recorder<String>()
        engine.reconfigureChecks = { checks in seen.append("checks \(checks.map(\.name))") }
        engine.reconfigureNginx = { nginx in seen.append("nginx \(nginx.backendPort)") }
        var edited = engine.config
        edited.checks = [CheckConfig(name: "bingo", role: .backend, probe: .http(.init(url: "http://127.0.0.1:1/ping")))]
        edited.nginx = NginxConfig(upstreamFile: "/tmp/u.conf", backendPort: 31000, testCommand: ["/bin/true"],
                                   reloadCommand: ["/bin/true"])
        let changes = try engine.reload(LoadedConfig(path: "a.yaml", config: edited, key: Self.key))
        #expect(changes == ["checks", "nginx"])
        #expect(seen.all == ["checks [\"bingo\"]", "nginx 31000"])
    }

    /// Routes and rules are the master's: installed with the VIPs, gone from
    /// the node that yields, and put back when deleted while held.
    @Test func routesAndRulesMoveWithTheInstance() throws {
        let route = RouteSpec(destination: IPAddress("198.19.5.0")!, prefixLength: 24, gateway: IPAddress("198.18.0.254")!, table: 100)
        let rule = RuleSpec(from: (Self.web, 32), table: 100, priority: 90)
        let cluster = Cluster { node in
            var web = Self.instance("web", vrid: 51, priority: node == "a" ? 150 : 100, vip: Self.web, node: node)
            web.routes = [route]
            web.rules = [rule]
            return ([web], [])
        }
        cluster.run(ms: 1500)
        #expect(cluster.routes["a"]!.routes == [route] && cluster.routes["a"]!.rules == [rule])
        #expect(cluster.routes["b"]!.routes.isEmpty && cluster.routes["b"]!.rules.isEmpty)
        try cluster.routes["a"]!.remove(route)
        cluster.engines["a"]!.routingDeleted(routes: { $0 == route })
        #expect(cluster.routes["a"]!.routes == [route], "put back")
        _ = try cluster.engines["a"]!.failover(instance: "web", to: nil, force: false)
        cluster.run(ms: 1000)
        #expect(cluster.routes["b"]!.routes == [route] && cluster.routes["b"]!.rules == [rule])
        #expect(cluster.routes["a"]!.routes.isEmpty && cluster.routes["a"]!.rules.isEmpty)
    }
}
