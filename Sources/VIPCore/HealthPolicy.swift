/// What the checks, taken together, ask of the node.
public struct HealthVerdict: Sendable, Equatable {
    /// Non-nil: the node must be in FAULT (a front check is not up); says which check and why.
    public var faultReason: String?
    /// Whether heartbeats say this node's backend is healthy (every backend check up).
    public var backendHealthy: Bool
    /// `node.priority` plus the weights that apply, clamped to 1...254.
    public var effectivePriority: UInt8

    public init(faultReason: String?, backendHealthy: Bool, effectivePriority: UInt8) {
        self.faultReason = faultReason
        self.backendHealthy = backendHealthy
        self.effectivePriority = effectivePriority
    }
}

/// Combines check states into a `HealthVerdict` (docs/config.md#checks):
///
/// - `front`: any front check not `up` (down, or no result yet) is a fault.
/// - `backend`: the backend is healthy only while every backend check is `up`.
/// - `weight`: keepalived `vrrp_script` semantics — a negative weight applies
///   while the check is down, a positive one while it is up, none while unknown.
///
/// Pure and total: the same states always give the same verdict.
public enum HealthPolicy {
    /// One check as the policy needs it.
    public struct Input: Sendable, Equatable {
        public var name: String
        public var role: CheckConfig.Role
        public var weight: Int
        public var state: CheckState
        /// The failure that turned it down (for the fault reason).
        public var downDetail: String?

        public init(name: String, role: CheckConfig.Role, weight: Int = 0, state: CheckState, downDetail: String? = nil) {
            self.name = name
            self.role = role
            self.weight = weight
            self.state = state
            self.downDetail = downDetail
        }
    }

    public static func evaluate(_ checks: [Input], basePriority: UInt8) -> HealthVerdict {
        let fault = checks.first { $0.role == .front && $0.state != .up }.map { check in
            check.state == .unknown
                ? "front check \"\(check.name)\" has no result yet"
                : "front check \"\(check.name)\" down: \(check.downDetail ?? "failed")"
        }
        let backendHealthy = checks.allSatisfy { $0.role != .backend || $0.state == .up }
        var priority = Int(basePriority)
        for check in checks where check.role == .weight {
            if (check.weight < 0 && check.state == .down) || (check.weight > 0 && check.state == .up) {
                priority += check.weight
            }
        }
        return HealthVerdict(faultReason: fault, backendHealthy: backendHealthy,
                             effectivePriority: UInt8(min(max(priority, 1), 254)))
    }

    /// The verdict for one instance: only the checks it tracks (all when it
    /// names none), with the weights it gives them, on its own priority.
    public static func evaluate(_ checks: [Input], for instance: InstanceConfig) -> HealthVerdict {
        guard let tracked = instance.trackChecks else { return evaluate(checks, basePriority: instance.priority) }
        let chosen: [Input] = tracked.compactMap { track in
            guard var input = checks.first(where: { $0.name == track.name }) else { return nil }
            if let weight = track.weight { input.weight = weight }
            return input
        }
        return evaluate(chosen, basePriority: instance.priority)
    }
}
