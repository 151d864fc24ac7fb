import Testing
import VIPCore
import VIPTestSupport

/// The majority rule (`quorum: true`) on the simulated network: two nodes and
/// a witness, the cuts a real installation meets. The property each test
/// guards is the one a database behind the address needs: never two holders
/// after a cut, and still a takeover when a node really dies.
@Suite struct QuorumTests {
    /// n0 (150) and n1 (100) hold addresses; n2 is the witness.
    func cluster(seed: UInt64 = 1) -> SimulatedCluster {
        var cluster = SimulatedCluster(priorities: [150, 100, 10], quorum: true, witnesses: [2], seed: seed)
        cluster.startAll()
        cluster.run(for: .seconds(2))
        return cluster
    }

    /// Every moment at which two members held the address, from the transitions.
    func dualHolding(_ cluster: SimulatedCluster) -> Bool {
        var masters: Set<String> = []
        for t in cluster.transitions {
            if t.to == .master { masters.insert(t.node) } else if t.from == .master { masters.remove(t.node) }
            if masters.count > 1 { return true }
        }
        return false
    }

    @Test func theHighestNodeLeadsAndTheWitnessNeverDoes() {
        let cluster = cluster()
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members[2].election?.state == .backup)
        #expect(cluster.members[1].router?.quorumVerdict(now: cluster.now)?.held == true)
    }

    @Test func theWitnessIsLeftOutOfTheNginxUpstream() {
        let cluster = cluster()
        let view = cluster.members[0].router!.peers.backendView(localHealthy: true)
        #expect(view.peers.map(\.id) == ["n1"])
        #expect(cluster.members[0].router!.peers["n2"]?.flags.contains(.witness) == true)
        #expect(cluster.members[0].router!.peers["n2"]?.flags.contains(.backendHealthy) == false)
    }

    @Test func aCutBetweenTheTwoNodesLeavesOneHolder() {
        var cluster = cluster()
        cluster.cut(0, 1)
        cluster.run(for: .seconds(10))
        // The witness still hears n0 and votes for it: n1 waits.
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members[1].election?.state == .backup)
        #expect(!dualHolding(cluster))
        cluster.heal(0, 1)
        cluster.run(for: .seconds(2))
        #expect(cluster.masters == ["n0"])
    }

    @Test func theMastersDeathStillMovesTheAddress() {
        var cluster = cluster()
        let killedAt = cluster.now
        cluster.crash(0)
        cluster.run(for: .seconds(3))
        #expect(cluster.masters == ["n1"])
        // The witness's vote lapses after its own master-down time; n1 then
        // takes over on the witness's next heartbeat, sent at once.
        let takeover = cluster.transitions.first { $0.node == "n1" && $0.to == .master }
        let mdi = ElectionTiming.masterDownInterval(interval: .milliseconds(100), priority: 10)
        #expect(takeover.map { $0.at - killedAt <= mdi + .milliseconds(110) } == true,
                "took over at \(String(describing: takeover.map { $0.at - killedAt }))")
    }

    @Test func anIsolatedMasterResignsAndTheOthersTakeOver() {
        var cluster = cluster()
        cluster.isolate(0)
        cluster.run(for: .seconds(3))
        #expect(cluster.members[0].election?.state == .fault)
        #expect(cluster.masters == ["n1"])
        // n0 gave the address up before (or as) n1 took it.
        let resigned = cluster.transitions.first { $0.node == "n0" && $0.from == .master }
        let tookOver = cluster.transitions.first { $0.node == "n1" && $0.to == .master }
        if let resigned, let tookOver { #expect(resigned.at <= tookOver.at + .milliseconds(5)) } else {
            Issue.record("no resignation or no takeover")
        }
        cluster.healAll()
        cluster.run(for: .seconds(3))
        #expect(cluster.masters.count == 1)
    }

    @Test func withoutTheWitnessACutLeavesNoHolder() {
        var cluster = cluster()
        cluster.crash(2)
        cluster.run(for: .seconds(2))
        // Two of three still hear each other: service goes on.
        #expect(cluster.masters == ["n0"])
        cluster.cut(0, 1)
        cluster.run(for: .seconds(3))
        // Each node hears one of three: neither may hold the address.
        #expect(cluster.masters.isEmpty)
        #expect(cluster.members[0].election?.state == .fault)
        #expect(cluster.members[1].election?.state == .fault)
        #expect(!dualHolding(cluster))
    }

    @Test func theBackupsDeathKeepsTheMaster() {
        var cluster = cluster()
        cluster.crash(1)
        cluster.run(for: .seconds(5))
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members[0].router?.quorumVerdict(now: cluster.now) == Election.QuorumVerdict(members: 3, heard: 2, consenting: 2))
    }

    @Test(arguments: Array(UInt64(1)...20))
    func lossNeverMakesTwoHolders(seed: UInt64) {
        var cluster = cluster(seed: seed)
        var random = SeededRandom(seed: seed)
        for _ in 0..<10 {
            cluster.lossRate = [0.0, 0.2, 0.5].randomElement(using: &random)!
            switch Int.random(in: 0..<4, using: &random) {
            case 0: cluster.cut(0, 1)
            case 1: cluster.isolate(Int.random(in: 0...1, using: &random))
            case 2: cluster.healAll()
            default: break
            }
            cluster.run(for: .milliseconds(Int64.random(in: 200...3000, using: &random)))
        }
        cluster.lossRate = 0
        cluster.healAll()
        cluster.run(for: .seconds(3))
        #expect(cluster.masters.count == 1, "seed \(seed): \(cluster.masters)")
    }

    @Test func theVoteTravelsOnTheWire() throws {
        let heartbeat = Heartbeat(vrid: 7, priority: 100, state: .backup, flags: [.vote, .handoverRequest],
                                  advertInterval: .milliseconds(100), epoch: 3, sequence: 9, nodeID: "n1",
                                  target: "n2", vote: "n0")
        let key = HeartbeatKey(bytes: Array("simulated-cluster-key".utf8))!
        let bytes = HeartbeatCodec.encode(heartbeat, key: key)
        #expect(try HeartbeatCodec.parse(bytes).get() == heartbeat)
        var none = heartbeat
        none.vote = nil
        #expect(try HeartbeatCodec.parse(HeartbeatCodec.encode(none, key: key)).get().vote == nil)
        // A vote flag without its field is truncated, not misread.
        var cut = Array(bytes.dropLast(HeartbeatCodec.tagLength + 3))
        cut += Array(repeating: 0, count: HeartbeatCodec.tagLength)
        #expect(throws: DropReason.self) { try HeartbeatCodec.parse(cut).get() }
    }
}
