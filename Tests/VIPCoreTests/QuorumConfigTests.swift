import Testing
import VIPCore

/// `instances[].quorum` and `node.witness`: what is accepted, what is
/// refused and why (docs/config.md).
@Suite struct QuorumConfigTests {
    func parse(_ body: String, witness: Bool = false) throws(ConfigErrors) -> VIPConfig {
        let head = InstanceConfigTests.head.replacingOccurrences(
            of: "  priority: 150\n", with: witness ? "  priority: 150\n  witness: true\n" : "  priority: 150\n")
        return try ConfigParser.parse(head + body, file: "t.yaml")
    }

    func issues(_ body: String, witness: Bool = false) -> [String] {
        do {
            _ = try parse(body, witness: witness)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func aQuorumInstanceRunsTheMajorityRuleAtTheAdvertInterval() throws {
        let config = try parse("""
            instances:
              - {name: web, vrid: 51, vips: [{address: 198.18.0.100/24}]}
              - {name: db, vrid: 52, vips: [{address: 198.18.0.200/24}], quorum: true}
            """)
        #expect(config.instances.map(\.quorum) == [false, true])
        let settings = Election.Settings(node: config.node, instance: config.instances[1])
        #expect(settings.quorum && !settings.witness)
        #expect(settings.standbyInterval == .milliseconds(200))
        #expect(Election.Settings(node: config.node, instance: config.instances[0]).standbyInterval == .seconds(1))
    }

    @Test func aWitnessNeedsAQuorumInstance() throws {
        let config = try parse("instances:\n  - {name: db, vrid: 52, vips: [{address: 198.18.0.200/24}], quorum: true}\n",
                               witness: true)
        #expect(config.node.witness)
        #expect(Election.Settings(node: config.node, instance: config.instances[0]).witness)
        let refused = issues("instances:\n  - {name: web, vrid: 51, vips: [{address: 198.18.0.100/24}]}\n", witness: true)
        #expect(refused.contains { $0.contains("node.witness") && $0.contains("quorum: true") }, "\(refused)")
    }

    @Test func quorumOfTwoIsRefused() {
        let refused = issues("""
            instances:
              - {name: db, vrid: 52, peers: [node-b], vips: [{address: 198.18.0.200/24}], quorum: true}
            """)
        #expect(refused.contains { $0.contains("instances[0].quorum") && $0.contains("at least three members") }, "\(refused)")
    }

    @Test func quorumOverVRRPIsRefused() {
        let refused = issues("""
            instances:
              - name: db
                vrid: 52
                vips: [{address: 198.18.0.200/24}]
                quorum: true
                protocol: vrrp3
                vrrp3: {unauthenticated: true}
            """)
        #expect(refused.contains { $0.contains("quorum") && $0.contains("carries no votes") }, "\(refused)")
    }

    @Test func quorumMustBeABoolean() {
        let refused = issues("instances:\n  - {name: db, vrid: 52, vips: [{address: 198.18.0.200/24}], quorum: maybe}\n")
        #expect(refused.contains { $0.contains("instances[0].quorum") && $0.contains("true or false") }, "\(refused)")
    }
}
