import Testing
import VIPCore

/// The checks of one node over time, driven by a virtual clock.
@Suite struct HealthMonitorTests {
    func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }

    let front = CheckConfig(name: "nginx", role: .front, probe: .http(.init(url: "http://127.0.0.1:8081/")),
                            interval: .milliseconds(500), rise: 2, fall: 2)
    let backend = CheckConfig(name: "bingo", role: .backend, probe: .http(.init(url: "http://127.0.0.1:30164/ping")),
                              interval: .seconds(1), rise: 2, fall: 3)
    let weight = CheckConfig(name: "disk", role: .weight, probe: .exec(.init(command: ["/bin/true"])), weight: -60)

    @Test func beforeAnyResultFrontIsAFaultAndBackendUnhealthy() {
        let monitor = HealthMonitor(checks: [front, backend, weight], basePriority: 150, now: ms(0))
        #expect(monitor.verdict == HealthVerdict(faultReason: "front check \"nginx\" has no result yet",
                                                 backendHealthy: false, effectivePriority: 150))
        #expect(monitor.snapshot().map(\.state) == [.unknown, .unknown, .unknown])
    }

    @Test func resultsReportTransitionsAndVerdictChangesOnly() {
        var monitor = HealthMonitor(checks: [front, backend], basePriority: 150, now: ms(0))
        let first = monitor.record(0, .pass("HTTP 200"), now: ms(3))
        #expect(first.transition == .init(check: "nginx", role: .front, from: .unknown, to: .up, detail: "HTTP 200"))
        #expect(first.verdict == HealthVerdict(faultReason: nil, backendHealthy: false, effectivePriority: 150))
        let again = monitor.record(0, .pass("HTTP 200"), now: ms(503))
        #expect(again == .init(transition: nil, verdict: nil))
        let backendUp = monitor.record(1, .pass("HTTP 200"), now: ms(5))
        #expect(backendUp.verdict?.backendHealthy == true)
        let oneFailure = monitor.record(0, .fail("connection refused"), now: ms(1003))
        #expect(oneFailure == .init(transition: nil, verdict: nil))
        let down = monitor.record(0, .fail("timed out after 1s"), now: ms(1503))
        #expect(down.transition?.to == .down)
        #expect(down.verdict?.faultReason == "front check \"nginx\" down: timed out after 1s")
        // While down, other failure details do not change the verdict.
        #expect(monitor.record(0, .fail("connection refused"), now: ms(2003)).verdict == nil)
        let snapshot = monitor.snapshot()[0]
        #expect(snapshot.state == .down)
        #expect(snapshot.stateSince == ms(1503))
        #expect(snapshot.lastResultAt == ms(2003))
        #expect(snapshot.probes == 5)
        #expect(snapshot.failures == 3)
    }

    /// A backend that goes bad at `badAt` and recovers at `goodAt`, probed
    /// every interval: the verdict changes within interval × fall (rise).
    @Test func backendDetectionTimeIsIntervalTimesFall() {
        var monitor = HealthMonitor(checks: [backend], basePriority: 100, now: ms(0))
        let badAt = ms(4_300), goodAt = ms(9_100)
        var changes: [(Instant, Bool)] = []
        var now = ms(0)
        while now < ms(15_000) {
            let healthy = now < badAt || now >= goodAt
            let update = monitor.record(0, healthy ? .pass("pong") : .fail("HTTP 500"), now: now + .milliseconds(4))
            if let verdict = update.verdict { changes.append((now + .milliseconds(4), verdict.backendHealthy)) }
            now = now + backend.interval
        }
        #expect(changes.map(\.1) == [true, false, true])
        let wentDown = changes[1].0, cameBack = changes[2].0
        #expect(wentDown - badAt <= 3 * backend.interval + .milliseconds(4))   // fall 3
        #expect(wentDown - badAt > 2 * backend.interval)
        #expect(cameBack - goodAt <= 2 * backend.interval + .milliseconds(4))  // rise 2
    }

    @Test func weightChangesPriorityOnlyAfterHysteresis() {
        var monitor = HealthMonitor(checks: [weight], basePriority: 150, now: ms(0))
        #expect(monitor.record(0, .pass("exit 0"), now: ms(1)).verdict == nil)   // up: -60 does not apply
        #expect(monitor.record(0, .fail("exit 1"), now: ms(1001)).verdict == nil)
        #expect(monitor.record(0, .fail("exit 1"), now: ms(2001)).verdict?.effectivePriority == 90)
        #expect(monitor.record(0, .pass("exit 0"), now: ms(3001)).verdict == nil)
        #expect(monitor.record(0, .pass("exit 0"), now: ms(4001)).verdict?.effectivePriority == 150)
    }
}
