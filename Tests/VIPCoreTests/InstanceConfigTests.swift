import Testing
import VIPCore

/// `instances:`, `sync_groups:`, `track_checks:` and `track_interfaces:`.
@Suite struct InstanceConfigTests {
    static let head = """
        node:
          id: node-a
          interface: eth0
          address: 198.18.0.1
          priority: 150
        peers:
          - id: node-b
            address: 198.18.0.2
          - id: node-c
            address: 198.18.0.3
        auth:
          key_file: /etc/vipd/auth.key
        timing:
          advert_interval: 200ms
        checks:
          - name: front
            role: front
            http: {url: "http://127.0.0.1/"}
          - name: disk
            role: weight
            weight: -50
            exec: {command: [/bin/true]}
          - name: pool-1
            role: monitor
            http: {url: "http://198.19.0.2:30164/ping", body_contains: pong}
            restart: {command: [/usr/bin/systemctl, restart, bingo@1.service]}

        """

    func parse(_ body: String) throws(ConfigErrors) -> VIPConfig {
        try ConfigParser.parse(Self.head + body, file: "t.yaml")
    }

    func issues(_ body: String) -> [ConfigIssue] {
        do {
            _ = try parse(body)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func aSingleRouterFileIsOneImplicitInstance() throws {
        let config = try parse("vrid: 51\nvips:\n  - address: 198.18.0.100/24\n")
        #expect(config.instances.count == 1)
        let only = config.instances[0]
        #expect(only.name == "vrid51" && only.vrid == 51 && only.priority == 150)
        #expect(only.peers.map(\.id) == ["node-b", "node-c"])
        #expect(only.timing.advertInterval == .milliseconds(200))
        #expect(only.trackChecks == nil)
    }

    @Test func instancesInheritAndOverride() throws {
        let config = try parse("""
            instances:
              - name: web
                vrid: 51
                vips: [{address: 198.18.0.100/24}]
                track_checks: [front, {name: disk, weight: -100}]
                track_interfaces: [eth0, {name: eth1, up_debounce: 3s}]
              - name: db
                vrid: 52
                priority: 90
                peers: [node-b]
                timing: {advert_interval: 1s, preempt: false}
                vips: [{address: 198.18.0.101/24}]
            sync_groups:
              - name: both
                instances: [web, db]
            """)
        let web = config.instances[0], db = config.instances[1]
        #expect(web.priority == 150 && db.priority == 90)
        #expect(web.timing.advertInterval == .milliseconds(200) && db.timing.advertInterval == .seconds(1))
        #expect(db.timing.preempt == false && web.timing.preempt == true)
        #expect(db.peers.map(\.id) == ["node-b"])
        #expect(web.trackChecks == [TrackedCheck(name: "front"), TrackedCheck(name: "disk", weight: -100)])
        #expect(web.trackInterfaces == [TrackedInterface(name: "eth0"), TrackedInterface(name: "eth1", upDebounce: .seconds(3))])
        #expect(config.syncGroups == [SyncGroupConfig(name: "both", instances: ["web", "db"])])
        #expect(config.allVIPs.count == 2)
    }

    @Test func mistakesNameTheirFieldAndLine() {
        let found = issues("""
            instances:
              - name: web
                vrid: 51
                vips: [{address: 198.18.0.100/24}]
                track_checks: [nosuch]
              - name: web
                vrid: 51
                peers: [node-z]
                vips: [{address: 198.18.0.100/24}]
            sync_groups:
              - name: g
                instances: [web, other]
            """)
        let text = found.map(\.description)
        #expect(found.contains { $0.field == "instances[0].track_checks[0]" && $0.message.contains("no check named \"nosuch\"") }, "\(text)")
        #expect(found.contains { $0.field == "instances[1].name" && $0.message.contains("defined twice") }, "\(text)")
        #expect(found.contains { $0.field == "instances[1].vrid" && $0.message.contains("used by another instance") }, "\(text)")
        #expect(found.contains { $0.field == "instances[1].peers[0]" }, "\(text)")
        #expect(found.contains { $0.field == "instances[1].vips" && $0.message.contains("also a VIP of instance web") }, "\(text)")
        #expect(found.contains { $0.field == "sync_groups[0].instances[1]" }, "\(text)")
        #expect(found.allSatisfy { $0.line != nil }, "every issue has a line: \(text)")
    }

    @Test func topLevelRouterKeysConflictWithInstances() {
        let found = issues("vrid: 51\ninstances:\n  - {name: web, vrid: 52}\n")
        #expect(found.map(\.field) == ["vrid"])
        #expect(found.first?.message.contains("per instance") == true)
    }

    @Test func aWeightOnlyAppliesToAWeightCheck() {
        let found = issues("instances:\n  - {name: web, vrid: 51, track_checks: [{name: front, weight: 10}]}\n")
        #expect(found.map(\.field) == ["instances[0].track_checks[0]"])
    }

    @Test func aMonitorCheckCannotBeTracked() {
        let found = issues("instances:\n  - {name: web, vrid: 51, track_checks: [front, pool-1]}\n")
        #expect(found.map(\.field) == ["instances[0].track_checks[1]"])
        #expect(found.first?.message.contains("role: monitor") == true)
    }

    @Test func aMonitorCheckParsesWithItsRestart() throws {
        let config = try parse("instances:\n  - {name: web, vrid: 51, track_checks: [front]}\n")
        let pool = try #require(config.checks.first { $0.name == "pool-1" })
        #expect(pool.role == .monitor)
        #expect(pool.restart?.command == ["/usr/bin/systemctl", "restart", "bingo@1.service"])
    }

    @Test func theVerdictOfAnInstanceUsesOnlyWhatItTracks() {
        let inputs = [HealthPolicy.Input(name: "front", role: .front, state: .down, downDetail: "refused"),
                      HealthPolicy.Input(name: "disk", role: .weight, weight: -50, state: .down)]
        var instance = InstanceConfig(name: "db", vrid: 52, priority: 120, vips: [], timing: TimingConfig(), peers: [])
        #expect(HealthPolicy.evaluate(inputs, for: instance).faultReason != nil)
        instance.trackChecks = [TrackedCheck(name: "disk", weight: -100)]
        let verdict = HealthPolicy.evaluate(inputs, for: instance)
        #expect(verdict.faultReason == nil, "db does not track the front")
        #expect(verdict.effectivePriority == 20, "120 with its own weight of -100")
    }

    @Test func routesAreParsedAndCheckedPerField() throws {
        let config = try parse("""
            vrid: 51
            vips: [{address: 198.18.0.100/24}]
            routes:
              - {to: default, via: 198.18.0.254}
              - {to: 198.19.5.0/24, dev: eth1, metric: 10, table: 100}
            """)
        #expect(config.instances[0].routes == [
            RouteSpec(destination: IPAddress("0.0.0.0")!, prefixLength: 0, gateway: IPAddress("198.18.0.254")!),
            RouteSpec(destination: IPAddress("198.19.5.0")!, prefixLength: 24, interface: "eth1", metric: 10, table: 100),
        ])
        let found = issues("""
            vrid: 51
            routes:
              - {to: 198.19.5.0/33, via: 198.18.0.254}
              - {to: 198.19.6.0/24}
              - {to: 2001:db8::/64, via: 198.18.0.254}
              - {to: 198.19.7.0/24, dev: eth0, table: 255}
            """)
        #expect(found.map(\.field) == ["routes[0].to", "routes[1]", "routes[2].via", "routes[3].table"], "\(found)")
    }

    @Test func rulesNeedATableAndASelector() throws {
        let config = try parse("""
            vrid: 51
            vips: [{address: 198.18.0.100/24}]
            rules:
              - {from: 198.18.0.100, table: 100, priority: 90}
              - {to: 198.19.0.0/16, iif: eth1, table: 200}
            """)
        #expect(config.instances[0].rules.map(\.description) == [
            "priority 90 from 198.18.0.100/32 lookup 100", "from all to 198.19.0.0/16 iif eth1 lookup 200"])
        let found = issues("""
            vrid: 51
            rules:
              - {table: 100}
              - {from: 198.18.0.1}
              - {from: 198.18.0.1, to: "2001:db8::/32", table: 7}
            """)
        #expect(found.map(\.field) == ["rules[0]", "rules[1].table", "rules[2].to"], "\(found)")
    }
}
