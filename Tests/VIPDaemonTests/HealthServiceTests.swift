import Logging
import Testing
import VIPCore
@testable import VIPDaemon

/// The check runner: probes on their intervals, hysteresis, verdicts handed over in order.
@Suite struct HealthServiceTests {
    let logger = Logger(label: "test")

    func check(_ name: String, _ role: CheckConfig.Role, interval: Span = .milliseconds(10), rise: Int = 2,
               fall: Int = 2, weight: Int = 0) -> CheckConfig {
        CheckConfig(name: name, role: role, probe: .exec(.init(command: ["/bin/true"])), interval: interval,
                    rise: rise, fall: fall, weight: weight)
    }

    @Test func frontFailureBecomesAFaultAfterFallAndClearsAfterRise() async throws {
        let prober = ScriptedProber(["nginx": [.pass("HTTP 200")]])
        let verdicts = Recorder<HealthVerdict>()
        let service = HealthService(checks: [check("nginx", .front)], basePriority: 100, logger: logger,
                                    prober: prober) { verdicts.append($0) }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await eventually { verdicts.all.count == 2 })
        #expect(verdicts.all == [
            HealthVerdict(faultReason: "front check \"nginx\" has no result yet", backendHealthy: true, effectivePriority: 100),
            HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: 100),
        ])
        prober.then("nginx", [.fail("connection refused")])
        #expect(await eventually { verdicts.all.count == 3 })
        #expect(verdicts.all.last?.faultReason == "front check \"nginx\" down: connection refused")
        let snapshot = try #require(service.checkSnapshot().first)
        #expect(snapshot.state == .down)
        #expect(snapshot.failures >= 2)
        prober.then("nginx", [.pass("HTTP 200")])
        #expect(await eventually { verdicts.all.count == 4 })
        #expect(verdicts.all.last?.faultReason == nil)
    }

    @Test func backendAndWeightVerdicts() async {
        let prober = ScriptedProber(["bingo": [.pass("pong")], "disk": [.fail("exit 1")]])
        let verdicts = Recorder<HealthVerdict>()
        let service = HealthService(checks: [check("bingo", .backend), check("disk", .weight, weight: -60)],
                                    basePriority: 150, logger: logger, prober: prober) { verdicts.append($0) }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        let settled = HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: 90)
        #expect(await eventually { verdicts.all.last == settled })
        #expect(verdicts.all.first == HealthVerdict(faultReason: nil, backendHealthy: false, effectivePriority: 150))
        prober.then("bingo", [.fail("HTTP 500 (expected 200)")])
        #expect(await eventually { verdicts.all.last?.backendHealthy == false })
        #expect(verdicts.all.last?.faultReason == nil, "a sick backend does not make the node faulty")
    }

    @Test func aSlowCheckDelaysNoOtherCheck() async throws {
        let prober = ScriptedProber(["slow": [.pass("exit 0")], "fast": [.pass("exit 0")]],
                                    delays: ["slow": .seconds(30)])
        let service = HealthService(checks: [check("slow", .weight, interval: .seconds(60), weight: 10),
                                             check("fast", .backend)],
                                    basePriority: 100, logger: logger, prober: prober) { _ in }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await eventually { (service.checkSnapshot().last?.probes ?? 0) >= 5 })
        #expect(service.checkSnapshot().first?.probes == 0)
    }

    @Test func probesStartOneIntervalApartWithoutCatchUpBursts() async throws {
        let prober = ScriptedProber(["a": [.pass("exit 0")]])
        let service = HealthService(checks: [check("a", .backend, interval: .milliseconds(100))],
                                    basePriority: 100, logger: logger, prober: prober) { _ in }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await eventually { (prober.starts["a"]?.count ?? 0) >= 6 })
        let starts = try #require(prober.starts["a"])
        // From start to start at least the interval: a late start is never
        // followed by a burst of catch-up probes.
        for (earlier, later) in zip(starts, starts.dropFirst()) {
            #expect(later - earlier >= .milliseconds(99), "\(later - earlier)")  // stamps taken inside the probe
        }
    }

    /// A sick backend (HTTP 500 on every request) is restarted once it has
    /// fallen, the restart is reported, and a check that stays down waits out
    /// the backoff instead of restarting on every probe.
    @Test func aFallenCheckWithRestartRunsItsCommandOnceThenBacksOff() async throws {
        let prober = ScriptedProber(["bingo": [.pass("pong"), .pass("pong"), .fail("HTTP 500 (expected 200)")]])
        let runner = FakeCommandRunner()
        let events = Recorder<RestartEvent>()
        var config = check("bingo", .backend)
        config.restart = RestartConfig(command: ["/usr/bin/systemctl", "restart", "bingo.service"],
                                       backoff: .seconds(60), maxBackoff: .seconds(60))
        let service = HealthService(checks: [config], basePriority: 100, logger: logger, prober: prober, runner: runner,
                                    onRestart: { events.append($0) }) { _ in }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await eventually { events.all.count == 2 })
        #expect(runner.calls == [["/usr/bin/systemctl", "restart", "bingo.service"]])
        #expect(events.all.map(\.phase) == [.started, .finished(succeeded: true)])
        // Still down for many more probes: no second restart within the backoff.
        #expect(await eventually { (service.checkSnapshot().first?.probes ?? 0) >= 20 })
        #expect(runner.calls.count == 1)
        let restart = try #require(service.checkSnapshot().first?.restart)
        #expect(restart.total == 1 && restart.lastOutcome == "exit 0" && restart.notBefore != nil)
    }

    /// A reload's checks: a kept check keeps its state (no fault while it is
    /// re-probed), a removed one stops, an added front check does not fault
    /// the node before its first result.
    @Test func reconfigureKeepsStateStartsAddedAndStopsRemovedChecks() async throws {
        let prober = ScriptedProber(["nginx": [.pass("HTTP 200")], "old": [.pass("exit 0")], "new": [.pass("HTTP 200")]],
                                    delays: ["new": .milliseconds(300)])
        let verdicts = Recorder<HealthVerdict>()
        let service = HealthService(checks: [check("nginx", .front), check("old", .backend)], basePriority: 100,
                                    logger: logger, prober: prober) { verdicts.append($0) }
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await eventually { verdicts.all.last == HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: 100) })
        var slower = check("nginx", .front, interval: .milliseconds(20))
        slower.rise = 3
        service.reconfigure([slower, check("new", .front)])
        #expect(verdicts.all.last?.faultReason == nil, "kept state, and the added check has no result yet")
        #expect(service.checkSnapshot().map(\.name) == ["nginx", "new"])
        #expect(service.checkSnapshot().first?.state == .up)
        let oldProbes = prober.starts["old"]?.count ?? 0
        #expect(await eventually { (prober.starts["new"]?.count ?? 0) >= 1 })
        #expect(await eventually { service.checkSnapshot().last?.state == .up })
        try await Task.sleep(for: .milliseconds(100))
        #expect((prober.starts["old"]?.count ?? 0) <= oldProbes + 1, "the removed check stopped")
        #expect(verdicts.all.allSatisfy { $0.faultReason == nil || $0 == verdicts.all.first })
    }
}
