/// Every check of one node: their hysteresis, their last results and the
/// verdict they add up to. The daemon's `HealthService` runs the probes and
/// feeds each result here with the time it finished; this type decides.
///
/// Pure: no clock, no I/O. Tests drive it with a virtual clock.
public struct HealthMonitor: Sendable {
    /// A check's state changed; for the log line and for metrics.
    public struct Transition: Sendable, Equatable {
        public var check: String
        public var role: CheckConfig.Role
        public var from: CheckState
        public var to: CheckState
        /// The result that caused it ("HTTP 500 (expected 200)", "exit 0").
        public var detail: String

        public init(check: String, role: CheckConfig.Role, from: CheckState, to: CheckState, detail: String) {
            self.check = check
            self.role = role
            self.from = from
            self.to = to
            self.detail = detail
        }
    }

    /// What one result changed: the check's state, the verdict, both or neither.
    public struct Update: Sendable, Equatable {
        public var transition: Transition?
        /// The new verdict, only if it differs from the previous one.
        public var verdict: HealthVerdict?
        /// Run the check's restart command now, then report `restartFinished`.
        public var restart: RestartConfig?

        public init(transition: Transition?, verdict: HealthVerdict?, restart: RestartConfig? = nil) {
            self.transition = transition
            self.verdict = verdict
            self.restart = restart
        }
    }

    /// The self-healing of one check, for status and metrics.
    public struct RestartSnapshot: Sendable, Equatable {
        /// Restarts started since vipd started.
        public var total: Int
        /// Restarts in the current series (reset after `reset_after` up).
        public var attempts: Int
        public var running: Bool
        public var lastStarted: Instant?
        public var lastOutcome: String?
        /// While down: the earliest next restart.
        public var notBefore: Instant?
    }

    /// One check's state for `vipctl status` and metrics.
    public struct CheckSnapshot: Sendable, Equatable {
        public var name: String
        public var role: CheckConfig.Role
        public var state: CheckState
        /// Results in a row that disagree with `state` (toward rise or fall).
        public var streak: Int
        public var lastResult: ProbeResult?
        public var lastResultAt: Instant?
        /// When `state` was entered (start, for `unknown`).
        public var stateSince: Instant
        public var probes: Int
        public var failures: Int
        /// nil when the check has no `restart`.
        public var restart: RestartSnapshot? = nil
    }

    private struct Entry: Sendable {
        var config: CheckConfig
        var hysteresis: CheckHysteresis
        var downDetail: String?
        var lastResult: ProbeResult?
        var lastResultAt: Instant?
        var stateSince: Instant
        var probes = 0
        var failures = 0
        var restart: RestartPolicy?
        /// Added by a reload and not run yet: no result is not yet a fault.
        var addedLive = false
    }

    public private(set) var checks: [CheckConfig]
    public let basePriority: UInt8
    private var entries: [Entry]
    /// The current verdict. Before any result: every front check is a fault, backends unhealthy.
    public private(set) var verdict: HealthVerdict

    public init(checks: [CheckConfig], basePriority: UInt8, now: Instant) {
        self.checks = checks
        self.basePriority = basePriority
        entries = checks.map {
            Entry(config: $0, hysteresis: CheckHysteresis(rise: $0.rise, fall: $0.fall), stateSince: now,
                  restart: $0.restart.map(RestartPolicy.init))
        }
        verdict = HealthVerdict(faultReason: nil, backendHealthy: true, effectivePriority: basePriority)
        verdict = evaluate()
    }

    /// Counts the result of check `index` (an index into `checks`), finished at `now`.
    public mutating func record(_ index: Int, _ result: ProbeResult, now: Instant) -> Update {
        var entry = entries[index]
        let from = entry.hysteresis.state
        entry.probes += 1
        if !result.passed { entry.failures += 1 }
        entry.lastResult = result
        entry.lastResultAt = now
        var transition: Transition?
        if let to = entry.hysteresis.record(passed: result.passed) {
            entry.stateSince = now
            entry.downDetail = to == .down ? result.detail : nil
            transition = Transition(check: entry.config.name, role: entry.config.role, from: from, to: to,
                                    detail: result.detail)
        }
        let restart = entry.restart?.observe(entry.hysteresis.state, refused: result.refused, now: now) == true ? entry.config.restart : nil
        entries[index] = entry
        let next = evaluate()
        defer { verdict = next }
        return Update(transition: transition, verdict: next == verdict ? nil : next, restart: restart)
    }

    /// A reload's new check list. A check that keeps its name keeps its state
    /// (a changed URL or interval must not fault a healthy node); one added
    /// starts unknown, but a front check added this way faults the node only
    /// once a result says it is down, not while it has none (adding a check
    /// to a running master must not move the VIPs before it has run).
    public mutating func reconfigure(_ newChecks: [CheckConfig], now: Instant) {
        let old = Dictionary(entries.map { ($0.config.name, $0) }, uniquingKeysWith: { first, _ in first })
        entries = newChecks.map { check in
            guard var entry = old[check.name] else {
                var fresh = Entry(config: check, hysteresis: CheckHysteresis(rise: check.rise, fall: check.fall), stateSince: now,
                                  restart: check.restart.map(RestartPolicy.init))
                fresh.addedLive = true
                return fresh
            }
            if entry.config.rise != check.rise || entry.config.fall != check.fall {
                entry.hysteresis = CheckHysteresis(rise: check.rise, fall: check.fall, state: entry.hysteresis.state)
            }
            if entry.config.restart != check.restart { entry.restart = check.restart.map(RestartPolicy.init) }
            entry.config = check
            return entry
        }
        checks = newChecks
        verdict = evaluate()
    }

    /// The index of the check named `name` in `checks`.
    public func index(of name: String) -> Int? { entries.firstIndex { $0.config.name == name } }

    /// The restart of check `index` asked for by `record` ended at `now`.
    public mutating func restartFinished(_ index: Int, outcome: String, now: Instant) {
        entries[index].restart?.finished(outcome, now: now)
    }

    public func snapshot() -> [CheckSnapshot] {
        entries.map {
            CheckSnapshot(name: $0.config.name, role: $0.config.role, state: $0.hysteresis.state,
                          streak: $0.hysteresis.streak, lastResult: $0.lastResult, lastResultAt: $0.lastResultAt,
                          stateSince: $0.stateSince, probes: $0.probes, failures: $0.failures,
                          restart: $0.restart.map {
                              RestartSnapshot(total: $0.total, attempts: $0.attempts, running: $0.running,
                                              lastStarted: $0.lastStarted, lastOutcome: $0.lastOutcome, notBefore: $0.notBefore)
                          })
        }
    }

    private func evaluate() -> HealthVerdict {
        HealthPolicy.evaluate(policyInputs, basePriority: basePriority)
    }

    /// The checks as `HealthPolicy` weighs them (per instance too).
    public var policyInputs: [HealthPolicy.Input] {
        entries.compactMap {
            // A check added by reload counts from its first result on.
            if $0.addedLive && $0.hysteresis.state == .unknown { return nil }
            return HealthPolicy.Input(name: $0.config.name, role: $0.config.role, weight: $0.config.weight,
                                      state: $0.hysteresis.state, downDetail: $0.downDetail)
        }
    }
}
