import Testing
import VIPCore

/// Check states combined into fault, backend health and priority.
@Suite struct HealthPolicyTests {
    typealias Input = HealthPolicy.Input

    @Test func noChecksMeansHealthy() {
        #expect(HealthPolicy.evaluate([], basePriority: 150) ==
                HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: 150))
    }

    @Test func frontNotUpIsAFault() {
        let up = Input(name: "nginx", role: .front, state: .up)
        #expect(HealthPolicy.evaluate([up], basePriority: 100).faultReason == nil)
        let down = Input(name: "nginx", role: .front, state: .down, downDetail: "connection refused")
        #expect(HealthPolicy.evaluate([up, down], basePriority: 100).faultReason ==
                "front check \"nginx\" down: connection refused")
        let unknown = Input(name: "nginx", role: .front, state: .unknown)
        #expect(HealthPolicy.evaluate([unknown], basePriority: 100).faultReason ==
                "front check \"nginx\" has no result yet")
    }

    @Test func frontFaultDoesNotTouchBackendOrPriority() {
        let verdict = HealthPolicy.evaluate([Input(name: "f", role: .front, state: .down)], basePriority: 100)
        #expect(verdict.backendHealthy)
        #expect(verdict.effectivePriority == 100)
    }

    @Test func backendHealthyOnlyWhileEveryBackendCheckIsUp() {
        let a = Input(name: "a", role: .backend, state: .up)
        #expect(HealthPolicy.evaluate([a], basePriority: 100).backendHealthy)
        for other in [CheckState.down, .unknown] {
            let verdict = HealthPolicy.evaluate([a, Input(name: "b", role: .backend, state: other)], basePriority: 100)
            #expect(!verdict.backendHealthy, "\(other)")
            #expect(verdict.faultReason == nil, "a backend failure keeps the node eligible")
        }
    }

    @Test func aMonitorCheckChangesNothing() {
        for state in [CheckState.down, .unknown, .up] {
            let verdict = HealthPolicy.evaluate([Input(name: "pool-1", role: .monitor, state: state)], basePriority: 100)
            #expect(verdict == HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: 100), "\(state)")
        }
    }

    @Test func weightsFollowKeepalived() {
        func priority(_ checks: [(Int, CheckState)], base: UInt8 = 100) -> UInt8 {
            HealthPolicy.evaluate(checks.enumerated().map {
                Input(name: "w\($0.offset)", role: .weight, weight: $0.element.0, state: $0.element.1)
            }, basePriority: base).effectivePriority
        }
        #expect(priority([(-50, .down)]) == 50)     // negative: applied while failing
        #expect(priority([(-50, .up)]) == 100)
        #expect(priority([(20, .up)]) == 120)       // positive: applied while succeeding
        #expect(priority([(20, .down)]) == 100)
        #expect(priority([(-50, .unknown), (20, .unknown)]) == 100)
        #expect(priority([(-50, .down), (-30, .down), (20, .up)]) == 40)
        #expect(priority([(-200, .down)]) == 1)     // clamped
        #expect(priority([(200, .up)], base: 200) == 254)
    }
}
