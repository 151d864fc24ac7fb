import Testing
import VIPCore

/// Every transition of the election, driven by a virtual clock.
@Suite struct ElectionTests {
    let a = IPAddress("198.18.0.1")!
    let b = IPAddress("198.18.0.2")!
    let interval = Span.milliseconds(100)

    func settings(priority: UInt8 = 100, preempt: Bool = true, delay: Span = .zero) -> Election.Settings {
        Election.Settings(nodeID: "a", address: a, priority: priority, advertInterval: interval,
                          preempt: preempt, preemptDelay: delay)
    }

    func heartbeat(from id: String = "b", priority: UInt8, state: NodeState = .master) -> Heartbeat {
        Heartbeat(vrid: 1, priority: priority, state: state, flags: [], advertInterval: interval,
                  epoch: 1, sequence: 1, nodeID: id)
    }

    func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }

    func transitions(_ output: ElectionOutput) -> [NodeState] {
        output.actions.compactMap { if case .transition(_, let to, _) = $0 { to } else { nil } }
    }

    @Test func timingFollowsRFC5798() {
        // Skew = (256-100)*100ms/256 = 60.9375ms; MDI = 300ms + skew.
        #expect(ElectionTiming.skew(interval: interval, priority: 100).nanoseconds == 60_937_500)
        #expect(ElectionTiming.masterDownInterval(interval: interval, priority: 100).nanoseconds == 360_937_500)
        #expect(ElectionTiming.masterDownInterval(interval: .seconds(1), priority: 255).nanoseconds == 3_003_906_250)
    }

    @Test func backupsSendAtTheStandbyIntervalAndMastersAtTheAdvertInterval() {
        var election = Election(settings: Election.Settings(nodeID: "a", address: a, priority: 100, advertInterval: interval,
                                                            standbyInterval: .seconds(1)))
        _ = election.start(now: ms(0))
        #expect(election.tick(now: ms(0)).actions == [.sendHeartbeat(priority: 100, state: .backup)])
        #expect(election.heartbeatInterval == .seconds(1))
        // The master's heartbeats keep the backup waiting; it speaks once a second.
        var sent: [Int64] = []
        for t in stride(from: Int64(100), through: 2_000, by: 100) {
            _ = election.receive(heartbeat(priority: 200), from: b, now: ms(t))
            if !election.tick(now: ms(t)).actions.isEmpty { sent.append(t) }
        }
        #expect(sent == [1_000, 2_000])
        // A resignation is advertised with the advert interval even though the
        // node has already left master when the engine sends it.
        #expect(election.interval(advertisedAs: .master) == interval)
        // Master: the advert interval again.
        _ = election.receive(heartbeat(priority: 0), from: b, now: ms(2_050))
        let takeover = election.tick(now: ms(2_200))
        #expect(transitions(takeover) == [.master])
        #expect(election.heartbeatInterval == interval)
        #expect(takeover.nextDeadline == ms(2_300))
    }

    @Test func aHandoverRequestIsRepeatedAtTheAdvertInterval() {
        var election = Election(settings: Election.Settings(nodeID: "a", address: a, priority: 100, advertInterval: interval,
                                                            standbyInterval: .seconds(1)))
        _ = election.start(now: ms(0))
        _ = election.receive(heartbeat(priority: 200), from: b, now: ms(10))
        _ = election.requestHandover(to: nil, now: ms(50))
        #expect(election.heartbeatInterval == interval)
        #expect(election.interval(advertisedAs: .backup) == interval)
        #expect(election.nextDeadline == ms(150))
    }

    @Test func aNodeThatLeftMasterFlagsItsNextThreeHeartbeatsAndSendsTheFirstAtOnce() {
        var election = Election(settings: Election.Settings(nodeID: "a", address: a, priority: 100, advertInterval: interval,
                                                            standbyInterval: .seconds(1)))
        _ = election.start(now: ms(0))
        _ = election.tick(now: ms(0))
        _ = election.tick(now: ms(400))
        #expect(election.state == .master)
        let whileMaster = election.takeReleasedVIPsFlag(sentAs: .master)
        #expect(!whileMaster)
        // Outranked by a higher master (a healed partition): yield and say so.
        let yielded = election.receive(heartbeat(priority: 200), from: b, now: ms(450))
        #expect(transitions(yielded) == [.backup])
        #expect(yielded.nextDeadline == ms(450))
        #expect(election.tick(now: ms(450)).actions == [.sendHeartbeat(priority: 100, state: .backup)])
        // A resignation sent as master does not use up the flag.
        let asMaster = election.takeReleasedVIPsFlag(sentAs: .master)
        #expect(!asMaster)
        var flagged: [Bool] = []
        for _ in 0..<5 { flagged.append(election.takeReleasedVIPsFlag(sentAs: .backup)) }
        #expect(flagged == [true, true, true, false, false])
    }

    @Test func announceSendsOffCadenceOnlyWhileRunning() {
        var election = Election(settings: settings())
        #expect(election.announce(now: ms(0)).actions.isEmpty)
        _ = election.start(now: ms(0))
        #expect(election.announce(now: ms(5)).actions == [.sendHeartbeat(priority: 100, state: .backup)])
    }

    @Test func startGoesToBackupAndAnnounces() {
        var election = Election(settings: settings())
        let output = election.start(now: ms(0))
        #expect(output.actions == [.transition(from: .initial, to: .backup, reason: .started)])
        #expect(election.state == .backup)
        #expect(output.nextDeadline == ms(0))
        let first = election.tick(now: ms(0))
        #expect(first.actions == [.sendHeartbeat(priority: 100, state: .backup)])
        #expect(first.nextDeadline == ms(100))
    }

    @Test func silentNetworkMakesBackupMasterAfterMasterDownInterval() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        var now = ms(0)
        while election.state == .backup {
            now = election.nextDeadline!
            _ = election.tick(now: now)
        }
        #expect(election.state == .master)
        #expect(now.nanoseconds == 360_937_500)
    }

    @Test func becomingMasterSendsHeartbeatThenAcquires() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        _ = election.tick(now: ms(0))
        let output = election.tick(now: Instant(nanoseconds: 360_937_500))
        #expect(output.actions == [
            .transition(from: .backup, to: .master, reason: .masterDown(silentFor: Span(nanoseconds: 360_937_500))),
            .sendHeartbeat(priority: 100, state: .master),
            .acquireVIPs,
        ])
    }

    @Test func masterHeartbeatsKeepBackupWaiting() {
        var election = Election(settings: settings(priority: 100))
        _ = election.start(now: ms(0))
        for t in stride(from: Int64(0), through: 2000, by: 100) {
            _ = election.receive(heartbeat(priority: 200), from: b, now: ms(t))
            _ = election.tick(now: ms(t))
        }
        #expect(election.state == .backup)
        #expect(election.currentMaster == "b")
        // Silence: master down exactly one MDI after the last heartbeat.
        #expect(election.nextDeadline! <= ms(2100))
        _ = election.tick(now: Instant(nanoseconds: ms(2000).nanoseconds + 360_937_499))
        #expect(election.state == .backup)
        _ = election.tick(now: Instant(nanoseconds: ms(2000).nanoseconds + 360_937_500))
        #expect(election.state == .master)
    }

    @Test func backupHeartbeatsDoNotCountAsMaster() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        _ = election.receive(heartbeat(priority: 200, state: .backup), from: b, now: ms(100))
        _ = election.tick(now: Instant(nanoseconds: 360_937_500))
        #expect(election.state == .master)
    }

    @Test func resigningMasterHandsOverAfterSkewTime() {
        var election = Election(settings: settings(priority: 100))
        _ = election.start(now: ms(0))
        _ = election.tick(now: ms(0))
        _ = election.receive(heartbeat(priority: 200), from: b, now: ms(50))
        _ = election.receive(heartbeat(priority: 0), from: b, now: ms(100))
        let handover = Instant(nanoseconds: ms(100).nanoseconds + 60_937_500)
        #expect(transitions(election.tick(now: ms(100))).isEmpty)
        #expect(election.nextDeadline == handover)
        #expect(transitions(election.tick(now: Instant(nanoseconds: handover.nanoseconds - 1))).isEmpty)
        let takeover = election.tick(now: handover)
        #expect(takeover.actions.first == .transition(from: .backup, to: .master, reason: .masterResigned("b")))
    }

    @Test func preemptsLowerPriorityMaster() {
        var election = Election(settings: settings(priority: 200))
        _ = election.start(now: ms(0))
        let output = election.receive(heartbeat(priority: 100), from: b, now: ms(10))
        #expect(output.actions.first == .transition(from: .backup, to: .master, reason: .preempting("b")))
        #expect(output.actions.contains(.acquireVIPs))
    }

    @Test func preemptDelayDefersPreemption() {
        var election = Election(settings: settings(priority: 200, delay: .seconds(1)))
        _ = election.start(now: ms(0))
        for t in stride(from: Int64(0), to: 1000, by: 100) {
            let output = election.receive(heartbeat(priority: 100), from: b, now: ms(t))
            #expect(transitions(output).isEmpty, "no preemption at \(t) ms")
            _ = election.tick(now: ms(t))
        }
        #expect(election.state == .backup)
        let output = election.receive(heartbeat(priority: 100), from: b, now: ms(1000))
        #expect(transitions(output) == [.master])
    }

    @Test func noPreemptFollowsLowerPriorityMaster() {
        var election = Election(settings: settings(priority: 200, preempt: false))
        _ = election.start(now: ms(0))
        for t in stride(from: Int64(0), to: 3000, by: 100) {
            _ = election.receive(heartbeat(priority: 100), from: b, now: ms(t))
            _ = election.tick(now: ms(t))
        }
        #expect(election.state == .backup)
    }

    @Test func equalPriorityBackupFollowsMaster() {
        var election = Election(settings: settings(priority: 100))
        _ = election.start(now: ms(0))
        let output = election.receive(heartbeat(priority: 100), from: IPAddress("198.18.0.0")!, now: ms(10))
        #expect(transitions(output).isEmpty)
    }

    func master(priority: UInt8 = 100) -> Election {
        var election = Election(settings: settings(priority: priority))
        _ = election.start(now: ms(0))
        _ = election.tick(now: ms(400))
        precondition(election.state == .master)
        return election
    }

    @Test func masterYieldsToHigherPriority() {
        var election = master()
        let output = election.receive(heartbeat(priority: 101), from: b, now: ms(500))
        #expect(output.actions == [.transition(from: .master, to: .backup, reason: .outranked(by: "b"))])
        #expect(election.currentMaster == "b")
        // It keeps the VIPs for the drain (the other master has announced them), then removes them.
        #expect(election.draining)
        #expect(election.nextDeadline == ms(500))  // its backup heartbeat, at once
        #expect(election.tick(now: ms(500)).actions == [.sendHeartbeat(priority: 100, state: .backup)])
        var now = ms(500)
        while election.draining, let next = election.nextDeadline, next < ms(500) + Election.drainTime {
            now = next
            #expect(!election.tick(now: now).actions.contains(.releaseVIPs))
            _ = election.receive(heartbeat(priority: 101), from: b, now: now)
        }
        #expect(election.nextDeadline == ms(500) + Election.drainTime)
        let release = election.tick(now: ms(500) + Election.drainTime)
        #expect(release.actions.first == .releaseVIPs)
        #expect(release.actions.contains(.sendHeartbeat(priority: 100, state: .backup)))
        #expect(!election.draining)
    }

    @Test func equalPriorityMastersTieBreakOnAddress() {
        var lowAddress = master()
        let yield = lowAddress.receive(heartbeat(priority: 100), from: b, now: ms(500))
        #expect(transitions(yield) == [.backup])

        var highAddress = Election(settings: Election.Settings(nodeID: "b", address: b, priority: 100, advertInterval: interval))
        _ = highAddress.start(now: ms(0))
        _ = highAddress.tick(now: ms(400))
        let keep = highAddress.receive(heartbeat(from: "a", priority: 100), from: a, now: ms(500))
        #expect(keep.actions == [.sendHeartbeat(priority: 100, state: .master), .reannounceVIPs])
        #expect(highAddress.state == .master)
    }

    @Test func masterAssertsItselfAgainstLowerPriorityMaster() {
        var election = master()
        let output = election.receive(heartbeat(priority: 50), from: b, now: ms(450))
        #expect(output.actions == [.sendHeartbeat(priority: 100, state: .master), .reannounceVIPs])
        // The first repeat of its takeover's announcement (master since 400 ms) comes first; the heartbeat at 550.
        #expect(output.nextDeadline == ms(500))
        #expect(election.tick(now: ms(500)).nextDeadline == ms(550))
        #expect(election.state == .master)
    }

    /// Issue 17, item 2: a reclaim is announced with a takeover's repeats
    /// (100 ms, 500 ms, 2 s after it), so one lost frame on a lossy link does
    /// not leave the clients on the node that yields.
    @Test func aReclaimIsAnnouncedWithRepeats() {
        var election = master()
        // Long after the takeover's own repeats (400 ms + 2 s) are done.
        var now = ms(400)
        while now < ms(5000) {
            _ = election.tick(now: now)
            now = election.nextDeadline ?? ms(5000)
        }
        let reclaimAt = ms(5050)
        let output = election.receive(heartbeat(priority: 50), from: b, now: reclaimAt)
        #expect(output.actions.contains(.reannounceVIPs))
        var announced: [Instant] = []
        var tickAt = reclaimAt
        while let due = election.nextDeadline, due <= reclaimAt + .seconds(3) {
            tickAt = due
            if election.tick(now: tickAt).actions.contains(.reannounceVIPs) { announced.append(tickAt) }
        }
        #expect(announced == Election.announceRepeats.map { reclaimAt + $0 })
    }

    @Test func masterAnswersResignationAtOnce() {
        var election = master()
        let output = election.receive(heartbeat(priority: 0), from: b, now: ms(450))
        #expect(output.actions == [.sendHeartbeat(priority: 100, state: .master)])
        #expect(output.nextDeadline == ms(500))  // the announcement's first repeat
        #expect(election.tick(now: ms(500)).nextDeadline == ms(550))
    }

    @Test func masterSendsHeartbeatEveryInterval() {
        var election = master()
        var sent = 0
        var now = ms(400)
        while now < ms(1400) {
            now = election.nextDeadline!
            sent += election.tick(now: now).actions.filter { if case .sendHeartbeat = $0 { true } else { false } }.count
        }
        #expect(sent == 10)
    }

    @Test func shutdownOfMasterResignsThenReleases() {
        var election = master()
        let output = election.shutdown(now: ms(500))
        #expect(output.actions == [
            .sendHeartbeat(priority: 0, state: .master),
            .transition(from: .master, to: .initial, reason: .shutdown),
            .releaseVIPs,
        ])
        #expect(output.nextDeadline == nil)
    }

    @Test func shutdownOfBackupSendsNothing() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        let output = election.shutdown(now: ms(10))
        #expect(output.actions == [.transition(from: .backup, to: .initial, reason: .shutdown)])
    }

    @Test func faultOnMasterResignsAndReleases() {
        var election = master()
        let output = election.setFault("nginx down", now: ms(500))
        #expect(output.actions == [
            .sendHeartbeat(priority: 0, state: .master),
            .transition(from: .master, to: .fault, reason: .fault("nginx down")),
            .releaseVIPs,
        ])
        // A faulty node never becomes master, however long it waits.
        _ = election.tick(now: ms(10_000))
        #expect(election.state == .fault)
        #expect(election.receive(heartbeat(priority: 0), from: b, now: ms(10_001)).actions.isEmpty)
    }

    @Test func faultClearsToBackup() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        _ = election.setFault("nginx down", now: ms(10))
        #expect(election.state == .fault)
        let output = election.setFault(nil, now: ms(20))
        #expect(output.actions == [.transition(from: .fault, to: .backup, reason: .faultCleared)])
    }

    @Test func faultBeforeStartStartsInFault() {
        var election = Election(settings: settings())
        _ = election.setFault("nginx down", now: ms(0))
        let output = election.start(now: ms(0))
        #expect(transitions(output) == [.fault])
    }

    @Test func faultyNodeKeepsSendingHeartbeats() {
        var election = Election(settings: settings())
        _ = election.start(now: ms(0))
        _ = election.setFault("x", now: ms(0))
        #expect(election.tick(now: ms(0)).actions == [.sendHeartbeat(priority: 100, state: .fault)])
    }

    @Test func priorityChangeOnMasterIsAdvertisedAtOnce() {
        var election = master()
        let output = election.setPriority(50, now: ms(450))
        #expect(output.actions == [.sendHeartbeat(priority: 50, state: .master)])
        #expect(election.setPriority(0, now: ms(460)).actions == [.sendHeartbeat(priority: 1, state: .master)])
    }

    @Test func initialStateIgnoresHeartbeats() {
        var election = Election(settings: settings())
        #expect(election.receive(heartbeat(priority: 200), from: b, now: ms(0)).actions.isEmpty)
        #expect(election.tick(now: ms(1000)).actions.isEmpty)
        #expect(election.shutdown(now: ms(0)).actions.isEmpty)
    }
}
