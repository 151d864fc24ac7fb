import Testing
import VIPCore
import VIPTestSupport

/// Randomized clusters of 2-5 nodes through crashes, restarts, graceful stops
/// and packet loss. After each chaotic phase the network goes quiet; one
/// Master_Down_Interval later at most one master may remain, and once the
/// survivors have had time to elect, exactly one.
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
