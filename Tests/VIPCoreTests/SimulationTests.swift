import Testing
import VIPCore
import VIPTestSupport

/// Randomized clusters of 2-5 nodes through crashes, restarts, graceful stops
/// and packet loss. After each chaotic phase the network goes quiet; one
/// Master_Down_Interval later at most one master may remain, and once the
/// survivors have had time to elect, exactly one, and one VIP holder once a
/// master that yielded has let go (Election.drainTime).
@Suite struct SimulationTests {
    @Test(arguments: Array(UInt64(1)...40))
    func atMostOneMasterAfterQuiet(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let size = Int.random(in: 2...5, using: &random)
        let priorities = (0..<size).map { _ in UInt8.random(in: 1...254, using: &random) }
        let interval = Span.milliseconds([20, 100, 1000].randomElement(using: &random)!)
        var cluster = SimulatedCluster(priorities: priorities, interval: interval,
                                       preempt: Bool.random(using: &random), seed: seed)
        cluster.startAll()
        let quietMDI = ElectionTiming.masterDownInterval(interval: interval, priority: 1)

        for phase in 0..<15 {
            cluster.lossRate = [0.0, 0.3, 0.7, 1.0].randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let node = Int.random(in: 0..<size, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: cluster.crash(node)
                case 1: cluster.restart(node)
                case 2: cluster.stopGracefully(node)
                default: cluster.start(node)
                }
                cluster.run(for: Span(nanoseconds: Int64.random(in: 0...(5 * interval.nanoseconds), using: &random)))
            }
            cluster.lossRate = 0
            cluster.run(for: quietMDI)
            #expect(cluster.masters.count <= 1, "seed \(seed) phase \(phase): masters \(cluster.masters)")
            cluster.run(for: quietMDI + interval)
            let expected = cluster.alive.isEmpty ? 0 : 1
            #expect(cluster.masters.count == expected, "seed \(seed) phase \(phase): masters \(cluster.masters)")
            // A master that yielded keeps the VIPs for Election.drainTime more.
            cluster.run(for: Election.drainTime)
            #expect(cluster.members.filter(\.holdsVIP).count == expected, "seed \(seed) phase \(phase): VIP holders")
        }
    }

    @Test func highestPriorityWinsWhenAllStartTogether() {
        var cluster = SimulatedCluster(priorities: [100, 200, 150], seed: 1)
        cluster.startAll()
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n1"])
    }

    @Test func gracefulStopHandsOverWithinSkewTime() {
        var cluster = SimulatedCluster(priorities: [200, 100], seed: 2)
        cluster.startAll()
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n0"])
        cluster.stopGracefully(0)
        let stoppedAt = cluster.now
        cluster.run(for: .seconds(1))
        let takeover = cluster.transitions.first { $0.node == "n1" && $0.to == .master && $0.at > stoppedAt }
        let limit = ElectionTiming.skew(interval: .milliseconds(100), priority: 100) + cluster.maxLatency
        #expect(takeover != nil)
        #expect(takeover.map { $0.at - stoppedAt <= limit } == true)
    }
}

/// Restarts against captured traffic and clocks that go back (issue 18,
/// items 2 and 3), on the pure core: real codec, admission and election.
@Suite struct RestartFreshnessTests {
    /// A dead; B master, restarted (its memory empty), is sent 5 s of A's
    /// captured heartbeats. B must keep the VIP throughout.
    @Test func aRestartedMasterIgnoresACaptureOfTheDeadPeer() {
        var cluster = SimulatedCluster(priorities: [200, 100], seed: 3)
        cluster.startAll()
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n0"])
        cluster.capturing = true
        cluster.run(for: .seconds(5))
        cluster.capturing = false
        let fromA = cluster.capture.filter { $0.to == 1 }
        #expect(fromA.count > 40)
        cluster.crash(0)
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n1"])
        cluster.restart(1)
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n1"])
        let replayStart = cluster.now
        let start = fromA[0].at
        for packet in fromA { cluster.inject(packet.bytes, to: 1, from: packet.from, after: packet.at - start) }
        cluster.run(for: .seconds(6))
        #expect(cluster.masters == ["n1"])
        #expect(!cluster.transitions.contains { $0.node == "n1" && $0.at >= replayStart })
        #expect(cluster.dropped[.unverified, default: 0] >= fromA.count)
    }

    /// A restarted backup must not take over from a live master while the two
    /// exchange epochs: the answer to its first unverified heartbeat comes
    /// within a round trip, well inside its master-down interval.
    @Test(arguments: [Span.milliseconds(20), .milliseconds(100), .seconds(1)])
    func aRestartedBackupDoesNotTakeOver(interval: Span) {
        var cluster = SimulatedCluster(priorities: [200, 100], interval: interval, seed: 4)
        cluster.startAll()
        cluster.run(for: .seconds(5))
        #expect(cluster.masters == ["n0"])
        for _ in 0..<5 {
            let restartedAt = cluster.now
            cluster.restart(1)
            cluster.run(for: .seconds(5))
            #expect(cluster.masters == ["n0"])
            #expect(!cluster.transitions.contains { $0.node == "n1" && $0.to == .master && $0.at >= restartedAt })
            // And a restarted master is heard again (preempts back).
            cluster.restart(0)
            cluster.run(for: .seconds(5))
            #expect(cluster.masters == ["n0"])
        }
    }

    /// A node whose epoch went back across a restart (a boot without a
    /// working clock and without its state file) rejoins: one master.
    @Test func aPeerWhoseEpochWentBackRejoins() {
        var cluster = SimulatedCluster(priorities: [200, 100], seed: 5)
        cluster.restart(0, epoch: 1_700_000_000_000)
        cluster.restart(1, epoch: 1_700_000_000_001)
        cluster.run(for: .seconds(2))
        #expect(cluster.masters == ["n0"])
        cluster.restart(0, epoch: 1_000)
        cluster.run(for: .seconds(2))
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members.filter(\.holdsVIP).count == 1)
        cluster.restart(1, epoch: 999)
        cluster.run(for: .seconds(2))
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members.filter(\.holdsVIP).count == 1)
    }

    /// The simulator runs the daemon's own core (`VirtualRouter`), so the
    /// standby interval is exercised: backups speak once a second, and a
    /// master's death is still found within Master_Down_Interval.
    @Test func backupsOnTheStandbyIntervalStillElectAtOnce() {
        var cluster = SimulatedCluster(priorities: [200, 150, 100], interval: .milliseconds(100),
                                       standbyInterval: .seconds(1), seed: 11)
        cluster.capturing = true
        cluster.startAll()
        cluster.run(for: .seconds(10))
        #expect(cluster.masters == ["n0"])
        let fromBackup = cluster.capture.filter { $0.from == IPAddress("198.18.0.3")! && $0.at > .zero + .seconds(5) }
        #expect((8...14).contains(fromBackup.count), "n2 sent \(fromBackup.count) in 5 s to 2 peers: once a second each")
        cluster.crash(0)
        let crashed = cluster.now
        cluster.run(for: .milliseconds(500))
        #expect(cluster.masters == ["n1"])
        let took = cluster.transitions.first { $0.node == "n1" && $0.to == .master && $0.at > crashed }
        #expect(took.map { $0.at - crashed } ?? .seconds(9) <= .milliseconds(400))
    }

    /// A healed partition: the loser yields, says it released the VIPs
    /// (`releasedVIPs`), and the winner announces them once more so clients
    /// that followed the loser come back.
    @Test func aHealedPartitionMakesTheWinnerAnnounceAgain() {
        var cluster = SimulatedCluster(priorities: [200, 100], seed: 12)
        cluster.startAll()
        cluster.run(for: .seconds(2))
        cluster.lossRate = 1
        cluster.run(for: .seconds(2))
        #expect(cluster.masters.sorted() == ["n0", "n1"], "split brain while nothing gets through")
        let before = cluster.reannouncements[0]
        cluster.lossRate = 0
        cluster.run(for: .seconds(3))
        #expect(cluster.masters == ["n0"])
        #expect(cluster.members.filter(\.holdsVIP).count == 1)
        #expect(cluster.reannouncements[0] > before, "the winner re-announced after the heal")
    }
}
