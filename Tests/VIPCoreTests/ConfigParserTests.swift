import Foundation
import Testing
import VIPCore

@Suite struct ConfigParserTests {
    static let minimal = """
        node:
          id: node-a
          interface: eth0
          address: 198.18.0.1
          priority: 150
        peers:
          - id: node-b
            address: 198.18.0.2
        vrid: 51
        vips:
          - address: 198.18.0.100/24
        auth:
          key_file: /etc/vipd/auth.key
        """

    func issues(_ text: String) -> [ConfigIssue] {
        do {
            _ = try ConfigParser.parse(text, file: "test.yaml")
            return []
        } catch {
            return error.issues
        }
    }

    @Test func minimalConfigGetsDefaults() throws {
        let config = try ConfigParser.parse(Self.minimal, file: "test.yaml")
        #expect(config.node.port == 5798)
        #expect(config.peers == [PeerConfig(id: "node-b", address: IPAddress("198.18.0.2")!, port: 5798)])
        #expect(config.instances[0].timing == TimingConfig(advertInterval: .milliseconds(100), preempt: true, preemptDelay: .zero))
        #expect(config.instances[0].vips.first?.interface == "eth0")
        #expect(config.instances[0].vips.first?.prefixLength == 24)
        #expect(config.control.socket == "/run/vipd/control.sock")
    }

    @Test func shippedExampleIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../conf/vipd.example.yaml").standardized
        let text = try String(contentsOf: url, encoding: .utf8)
        let config = try ConfigParser.parse(text, file: url.path)
        #expect(config.node.id == "node-a")
    }

    @Test func wrongTypeNamesFieldAndLine() {
        let found = issues(Self.minimal.replacingOccurrences(of: "priority: 150", with: "priority: high"))
        #expect(found.count == 1)
        #expect(found.first?.field == "node.priority")
        #expect(found.first?.line == 5)
        #expect(found.first?.description == "test.yaml:5: node.priority: expected an integer in 1...254, got \"high\"")
    }

    @Test func unknownKeyIsAnError() {
        let found = issues(Self.minimal + "\ntimming:\n  advert_interval: 1s\n")
        #expect(found.map(\.field) == ["timming"])
        #expect(found.first?.message.contains("unknown key") == true)
        let nested = issues(Self.minimal.replacingOccurrences(of: "  priority: 150", with: "  priority: 150\n  prio: 3"))
        #expect(nested.map(\.field) == ["node.prio"])
    }

    @Test func missingKeysAreNamed() {
        let found = issues("vrid: 1\n")
        #expect(Set(found.map(\.field)) == ["node", "peers", "auth"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let text = Self.minimal
            .replacingOccurrences(of: "address: 198.18.0.2", with: "address: 198.18.0.999")
            .replacingOccurrences(of: "vrid: 51", with: "vrid: 300")
            .replacingOccurrences(of: "198.18.0.100/24", with: "198.18.0.100")
        let found = issues(text)
        #expect(Set(found.map(\.field)) == ["peers[0].address", "vrid", "vips[0].address"])
    }

    @Test func durationsAreValidated() {
        #expect(issues(Self.minimal + "\ntiming:\n  advert_interval: fast\n").map(\.field) == ["timing.advert_interval"])
        #expect(issues(Self.minimal + "\ntiming:\n  advert_interval: 5ms\n").map(\.field) == ["timing.advert_interval"])
        #expect(issues(Self.minimal + "\ntiming:\n  advert_interval: 105ms\n").map(\.field) == ["timing.advert_interval"])
        #expect(issues(Self.minimal + "\ntiming:\n  advert_interval: 20ms\n  preempt_delay: 30s\n").isEmpty)
    }

    @Test func detectionIsTheRFCRuleUnlessAdaptiveIsAskedFor() throws {
        #expect(try ConfigParser.parse(Self.minimal, file: "t").instances[0].timing.detection == .rfc)
        let adaptive = try ConfigParser.parse(Self.minimal + "\ntiming:\n  detection:\n    mode: adaptive\n", file: "t")
        #expect(adaptive.instances[0].timing.detection == .adaptive(falseTakeoversPerWeek: 1, ceilingIntervals: 10))
        let tuned = try ConfigParser.parse(Self.minimal + """

            timing:
              detection: {mode: adaptive, false_takeovers_per_week: 0.1, max_intervals: 20}
            """, file: "t")
        #expect(tuned.instances[0].timing.detection == .adaptive(falseTakeoversPerWeek: 0.1, ceilingIntervals: 20))
        #expect(issues(Self.minimal + "\ntiming:\n  detection: {mode: learn}\n").map(\.field) == ["timing.detection.mode"])
        #expect(issues(Self.minimal + "\ntiming:\n  detection: {mode: adaptive, false_takeovers_per_week: 0}\n")
            .map(\.field) == ["timing.detection.false_takeovers_per_week"])
        #expect(issues(Self.minimal + "\ntiming:\n  detection: {mode: adaptive, max_intervals: 1}\n")
            .map(\.field) == ["timing.detection.max_intervals"])
    }

    @Test func standbyIntervalDefaultsToOneSecondButNeverBelowTheAdvertInterval() throws {
        #expect(try ConfigParser.parse(Self.minimal, file: "t").instances[0].timing.effectiveStandbyInterval == .seconds(1))
        let slow = try ConfigParser.parse(Self.minimal + "\ntiming:\n  advert_interval: 2s\n", file: "t")
        #expect(slow.instances[0].timing.effectiveStandbyInterval == .seconds(2))
        let set = try ConfigParser.parse(Self.minimal + "\ntiming:\n  standby_interval: 300ms\n", file: "t")
        #expect(set.instances[0].timing.effectiveStandbyInterval == .milliseconds(300))
        let below = issues(Self.minimal + "\ntiming:\n  advert_interval: 200ms\n  standby_interval: 100ms\n")
        #expect(below.map(\.field) == ["timing.standby_interval"])
        #expect(below.first?.message.contains("must not be shorter than timing.advert_interval") == true)
        #expect(issues(Self.minimal + "\ntiming:\n  standby_interval: 1005ms\n").map(\.field) == ["timing.standby_interval"])
        #expect(issues(Self.minimal + "\ntiming:\n  standby_interval: 30s\n").map(\.field) == ["timing.standby_interval"])
    }

    @Test func nopreemptIsKeepalivedsSpelling() throws {
        let config = try ConfigParser.parse(Self.minimal + "\ntiming:\n  nopreempt: true\n", file: "t")
        #expect(config.instances[0].timing.preempt == false)
        #expect(issues(Self.minimal + "\ntiming:\n  nopreempt: true\n  preempt: true\n").map(\.field) == ["timing.nopreempt"])
    }

    @Test func duplicatePeersAndSelfAreRefused() {
        let text = Self.minimal.replacingOccurrences(of: "id: node-b", with: "id: node-a")
        #expect(issues(text).map(\.field) == ["peers[0].id"])
    }

    @Test func invalidYAMLIsReported() {
        let found = issues("node: [unclosed\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("not valid YAML") == true)
    }

    @Test func spanParsing() {
        #expect(Span(parsing: "100ms") == .milliseconds(100))
        #expect(Span(parsing: "1.5s") == .milliseconds(1500))
        #expect(Span(parsing: "2m") == .seconds(120))
        #expect(Span(parsing: "10") == nil)
        #expect(Span(parsing: "-1s") == nil)
        #expect(Span(parsing: "ms") == nil)
    }

    /// Issue 18, item 4: a VIP equal to a node's own address would be deleted
    /// with the host's network; refused with the field named.
    @Test func aVIPThatIsANodesAddressIsRefused() {
        let own = issues(Self.minimal.replacingOccurrences(of: "198.18.0.100/24", with: "198.18.0.1/24"))
        #expect(own.map(\.field) == ["vips[0].address"])
        #expect(own.first?.message.contains("node.address, this host's own address") == true)
        #expect(own.first?.line == 11)
        let peer = issues(Self.minimal.replacingOccurrences(of: "198.18.0.100/24", with: "198.18.0.2/32"))
        #expect(peer.map(\.field) == ["vips[0].address"])
        #expect(peer.first?.message.contains("peer node-b") == true)
        // Outside every subnet of the interface is a valid layout (docs/config.md).
        #expect(issues(Self.minimal.replacingOccurrences(of: "198.18.0.100/24", with: "198.19.7.7/32")).isEmpty)
    }

    @Test func acceptedKeysAndTheStateDirectory() throws {
        let text = Self.minimal.replacingOccurrences(of: "  key_file: /etc/vipd/auth.key", with: """
              key_file: /etc/vipd/auth.key
              accept_key_files: [/etc/vipd/next.key]
            state_dir: /srv/vipd
            """)
        let config = try ConfigParser.parse(text, file: "test.yaml")
        #expect(config.auth.acceptKeyFiles == ["/etc/vipd/next.key"])
        #expect(config.stateDirectory == "/srv/vipd")
        #expect(try ConfigParser.parse(Self.minimal, file: "t").stateDirectory == "/var/lib/vipd")
        let twice = issues(Self.minimal.replacingOccurrences(of: "  key_file: /etc/vipd/auth.key", with: """
              key_file: /etc/vipd/auth.key
              accept_key_files: [/etc/vipd/auth.key, relative.key]
            state_dir: var/lib
            """))
        #expect(twice.map(\.field) == ["auth.accept_key_files[0]", "auth.accept_key_files[1]", "state_dir"])
    }
}
