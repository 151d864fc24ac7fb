import Testing
import VIPCore
import VIPTestSupport

/// Planned switchover and maintenance: the master keeps the VIPs until the
/// new master has spoken, and does not take them straight back.
@Suite struct HandoverTests {
    let a = IPAddress("198.18.0.1")!
    let b = IPAddress("198.18.0.2")!
    let interval = Span.milliseconds(100)

    func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }

    func election(_ id: String = "a", priority: UInt8 = 150) -> Election {
        Election(settings: Election.Settings(nodeID: id, address: id == "a" ? a : b, priority: priority,
                                             advertInterval: interval))
    }

    func master() -> Election {
        var node = election()
        _ = node.start(now: ms(0))
        _ = node.tick(now: ms(400))
        precondition(node.state == .master)
        return node
    }

    func heartbeat(from id: String, priority: UInt8, state: NodeState = .master, flags: HeartbeatFlags = [],
                   target: String? = nil) -> Heartbeat {
        Heartbeat(vrid: 1, priority: priority, state: state, flags: flags, advertInterval: interval,
                  epoch: 1, sequence: 1, nodeID: id, target: target)
    }

    @Test func masterAdvertisesPriorityZeroAndKeepsTheVIPs() {
        var node = master()
        let output = node.beginHandover(to: "b", now: ms(450))
        #expect(output.actions == [.sendHeartbeat(priority: 0, state: .master)])
        #expect(node.state == .master)
        #expect(node.handoverSignal.flags == .handover)
        #expect(node.handoverSignal.target == "b")
        // Still sends priority 0 on every heartbeat while waiting.
        #expect(node.tick(now: ms(550)).actions == [.sendHeartbeat(priority: 0, state: .master)])
    }

    @Test func masterReleasesOnlyOnTheNewMastersHeartbeatAndHoldsOffPreemption() {
        var node = master()
        _ = node.beginHandover(to: "b", now: ms(450))
        let output = node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(460))
        #expect(output.actions == [.transition(from: .master, to: .backup, reason: .handedOver(to: "b"))])
        #expect(node.preemptSuppressed)
        // b has the lower priority, but a does not preempt it back.
        for t in stride(from: Int64(500), through: 3000, by: 100) {
            #expect(node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(t)).actions.isEmpty)
            _ = node.tick(now: ms(t))
        }
        #expect(node.state == .backup)
    }

    /// Issue 18 item 8: the old master removed the VIPs the moment the new
    /// master's heartbeat arrived, and a request it had received just before
    /// the clients moved could not be answered (its reply had no source
    /// address left): the client timed out. It keeps them for `drainTime`.
    @Test func oldMasterKeepsTheVIPsForTheDrainThenReleasesAndSaysSo() {
        var node = master()
        _ = node.beginHandover(to: "b", now: ms(450))
        let handed = node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(460))
        #expect(!handed.actions.contains(.releaseVIPs))
        #expect(node.state == .backup && node.draining)
        // Its backup heartbeat goes out at once (the new master re-announces on its releasedVIPs flag).
        #expect(node.tick(now: ms(460)).actions == [.sendHeartbeat(priority: 150, state: .backup)])
        let flagged = node.takeReleasedVIPsFlag(sentAs: .backup)
        #expect(flagged)
        var now = ms(460)
        var released: Instant?
        while released == nil, now < ms(2000) {
            now = node.nextDeadline!
            if node.tick(now: now).actions.contains(.releaseVIPs) { released = now }
        }
        #expect(released == ms(460) + Election.drainTime)
        #expect(!node.draining)
        // The heartbeat right after the release says so again, for clients this node answered meanwhile.
        let flaggedAgain = node.takeReleasedVIPsFlag(sentAs: .backup)
        #expect(flaggedAgain)
    }

    @Test func stoppingOrAFaultDuringTheDrainReleasesAtOnce() {
        for stop in [true, false] {
            var node = master()
            _ = node.beginHandover(to: "b", now: ms(450))
            _ = node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(460))
            let output = stop ? node.shutdown(now: ms(500)) : node.setFault("nginx down", now: ms(500))
            #expect(output.actions.contains(.releaseVIPs), "stop: \(stop)")
            #expect(!node.draining)
            for t in stride(from: Int64(500), through: 1000, by: 10) where !stop {
                #expect(!node.tick(now: ms(t)).actions.contains(.releaseVIPs))
            }
        }
    }

    @Test func takingOverAgainDuringTheDrainKeepsTheVIPs() {
        var node = master()
        _ = node.beginHandover(to: "b", now: ms(450))
        _ = node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(460))
        // b resigns at once; a (the best backup left) takes over after Skew_Time, still holding the VIPs.
        _ = node.receive(heartbeat(from: "b", priority: 0), from: b, now: ms(470))
        var actions: [ElectionAction] = []
        var now = ms(470)
        while node.state != .master, now < ms(2000) {
            now = node.nextDeadline!
            actions += node.tick(now: now).actions
        }
        #expect(node.state == .master)
        #expect(!actions.contains(.releaseVIPs))
        #expect(actions.contains(.acquireVIPs))
        #expect(!node.draining)
        for t in stride(from: now.nanoseconds / 1_000_000, through: 3000, by: 10) {
            #expect(!node.tick(now: ms(t)).actions.contains(.releaseVIPs))
        }
    }

    /// The repeats of the takeover's gratuitous ARP are the election's: at
    /// 100 ms, 500 ms and 2 s while master, none while handing over, and none
    /// once it yielded (a node still draining must not pull clients back).
    @Test func announcementsRepeatOnlyWhileMaster() {
        func reannounced(_ node: inout Election, from: Int64, to: Int64) -> [Int64] {
            var times: [Int64] = []
            var now = ms(from)
            while let next = node.nextDeadline, next <= ms(to) {
                now = next
                if node.tick(now: now).actions.contains(.reannounceVIPs) { times.append(now.nanoseconds / 1_000_000) }
            }
            return times
        }
        var node = master()  // master at 400 ms
        #expect(reannounced(&node, from: 400, to: 5000) == [500, 900, 2400])

        var handing = master()
        _ = handing.beginHandover(to: "b", now: ms(450))
        #expect(reannounced(&handing, from: 450, to: 1100) == [])

        var yielded = master()
        _ = yielded.receive(heartbeat(from: "b", priority: 200), from: b, now: ms(450))
        #expect(yielded.draining)
        // Until b's master-down interval runs out (b falls silent here): none, though the VIPs stay till 700 ms.
        #expect(reannounced(&yielded, from: 450, to: 780) == [])
        #expect(!yielded.draining && yielded.state == .backup)
    }

    @Test func namedBackupTakesOverAtOnce() {
        var node = election("b", priority: 100)
        _ = node.start(now: ms(0))
        _ = node.tick(now: ms(0))
        _ = node.receive(heartbeat(from: "a", priority: 150), from: a, now: ms(50))
        let output = node.receive(heartbeat(from: "a", priority: 0, flags: .handover, target: "b"), from: a, now: ms(60))
        #expect(output.actions == [
            .transition(from: .backup, to: .master, reason: .handover(from: "a")),
            .sendHeartbeat(priority: 100, state: .master),
            .acquireVIPs,
        ])
    }

    @Test func backupNotNamedKeepsFollowingAndDoesNotPreemptTheNamedNode() {
        var node = election("c", priority: 200)
        _ = node.start(now: ms(0))
        _ = node.tick(now: ms(0))
        for t in stride(from: Int64(50), through: 2000, by: 100) {
            let output = node.receive(heartbeat(from: "a", priority: 0, flags: .handover, target: "b"), from: a, now: ms(t))
            #expect(output.actions.isEmpty)
            _ = node.tick(now: ms(t))
        }
        #expect(node.state == .backup)
        #expect(node.currentMaster == "a")
        #expect(node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(2050)).actions.isEmpty)
        #expect(node.preemptSuppressed)
    }

    @Test func unnamedHandoverGoesToTheFastestBackupAfterSkew() {
        var node = election("b", priority: 100)
        _ = node.start(now: ms(0))
        _ = node.tick(now: ms(0))
        _ = node.receive(heartbeat(from: "a", priority: 0, flags: .handover), from: a, now: ms(50))
        let takeover = Instant(nanoseconds: ms(50).nanoseconds + 60_937_500)
        #expect(node.tick(now: ms(100)).actions == [.sendHeartbeat(priority: 100, state: .backup)])
        #expect(node.nextDeadline == takeover)
        #expect(node.tick(now: takeover).actions.first == .transition(from: .backup, to: .master, reason: .handover(from: "a")))
    }

    @Test func handoverWithoutTakerIsAbortedAndPriorityRestored() {
        var node = master()
        _ = node.beginHandover(to: nil, now: ms(450))
        var actions: [ElectionAction] = []
        var now = ms(450)
        while !actions.contains(.handoverAborted) && now < ms(5000) {
            now = node.nextDeadline!
            actions = node.tick(now: now).actions
        }
        #expect(actions == [.handoverAborted, .sendHeartbeat(priority: 150, state: .master)])
        #expect(now == ms(450) + node.handoverPatience)
        #expect(node.state == .master)
        #expect(node.handoverSignal.flags.isEmpty)
    }

    @Test func backupRequestTravelsInItsHeartbeatsAndTheMasterActsOnIt() {
        var requester = election("b", priority: 100)
        _ = requester.start(now: ms(0))
        _ = requester.tick(now: ms(0))
        let sent = requester.requestHandover(to: "b", now: ms(10))
        #expect(sent.actions == [.sendHeartbeat(priority: 100, state: .backup)])
        #expect(requester.handoverSignal.flags == .handoverRequest)
        #expect(requester.handoverSignal.target == "b")

        var node = master()
        let output = node.receive(heartbeat(from: "b", priority: 100, state: .backup, flags: .handoverRequest, target: "b"),
                                  from: b, now: ms(450))
        #expect(output.actions == [.sendHeartbeat(priority: 0, state: .master)])
        #expect(node.handover?.target == "b")
    }

    @Test func maintenanceHandsOverThenNeverCompetes() {
        var node = master()
        _ = node.setMaintenance(true, now: ms(450))
        #expect(node.state == .master)
        let output = node.receive(heartbeat(from: "b", priority: 100), from: b, now: ms(470))
        #expect(output.actions.first == .transition(from: .master, to: .maintenance, reason: .handedOver(to: "b")))
        _ = node.tick(now: ms(10_000))
        #expect(node.state == .maintenance)
        #expect(node.receive(heartbeat(from: "b", priority: 0), from: b, now: ms(10_001)).actions.isEmpty)
        let off = node.setMaintenance(false, now: ms(10_100))
        #expect(off.actions == [.transition(from: .maintenance, to: .backup, reason: .maintenance(on: false))])
    }

    @Test func forcedMaintenanceWithoutPeerResignsAtOnce() {
        var node = master()
        let output = node.setMaintenance(true, handOver: false, now: ms(450))
        #expect(output.actions == [
            .sendHeartbeat(priority: 0, state: .master),
            .transition(from: .master, to: .maintenance, reason: .maintenance(on: true)),
            .releaseVIPs,
        ])
    }

    @Test func maintenanceSetBeforeStartStartsInMaintenance() {
        var node = election()
        _ = node.setMaintenance(true, now: ms(0))
        _ = node.start(now: ms(0))
        #expect(node.state == .maintenance)
    }

    @Test func codecCarriesTheTarget() throws {
        let key = HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!
        for target in ["node-b", nil] {
            let sent = heartbeat(from: "a", priority: 0, flags: [.handover, .backendHealthy], target: target)
            let bytes = HeartbeatCodec.encode(sent, key: key)
            #expect(bytes.count == HeartbeatCodec.headerLength + 1 + 1 + (target?.utf8.count ?? 0) + 32)
            #expect(try HeartbeatCodec.parse(bytes).get() == sent)
        }
    }

    @Test func plannedFailoverInASimulatedClusterLeavesNoGap() {
        var cluster = SimulatedCluster(priorities: [200, 100, 150], seed: 9)
        cluster.startAll()
        cluster.run(for: .seconds(1))
        #expect(cluster.masters == ["n0"])
        cluster.operate(0) { election, now in election.beginHandover(to: "n1", now: now) }
        cluster.run(for: .seconds(2))
        #expect(cluster.masters == ["n1"])
        #expect(cluster.vipGaps.isEmpty, "the VIP was never unheld: \(cluster.vipGaps)")
        // Neither the old master nor the higher-priority n2 preempts n1.
        cluster.run(for: .seconds(5))
        #expect(cluster.masters == ["n1"])
    }
}
