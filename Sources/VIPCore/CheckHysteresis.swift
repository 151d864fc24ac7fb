/// The state of one health check as the policy sees it.
public enum CheckState: String, Sendable, Equatable, CustomStringConvertible {
    /// No probe has finished since start.
    case unknown
    case up
    case down

    public var description: String { rawValue }
}

/// The outcome of one probe, as the checker reports it.
public struct ProbeResult: Sendable, Equatable {
    public var passed: Bool
    /// Why it failed, or what it saw ("HTTP 200", "exit 0"), for logs and status.
    public var detail: String
    /// The connection was refused: nothing listens (a dead process, or one
    /// not yet started). `RestartConfig.refusedGrace` leaves that to the supervisor.
    public var refused: Bool

    public init(passed: Bool, detail: String, refused: Bool = false) {
        self.passed = passed
        self.detail = detail
        self.refused = refused
    }

    public static func pass(_ detail: String) -> ProbeResult { ProbeResult(passed: true, detail: detail) }
    public static func fail(_ detail: String) -> ProbeResult { ProbeResult(passed: false, detail: detail) }
}

/// Rise/fall counting for one check: `rise` passes in a row turn it up,
/// `fall` failures in a row turn it down (keepalived's and HAProxy's meaning).
///
/// From `unknown` the first result decides at once, so a node learns its
/// front's state one probe after start instead of `rise` probes later. Pure:
/// it counts results; the caller decides when probes run.
public struct CheckHysteresis: Sendable, Equatable {
    public let rise: Int
    public let fall: Int
    public private(set) var state: CheckState = .unknown
    /// Results in a row that disagree with `state` (passes while down, failures while up).
    public private(set) var streak = 0

    public init(rise: Int, fall: Int, state: CheckState = .unknown) {
        precondition(rise >= 1 && fall >= 1, "rise and fall are at least 1")
        self.rise = rise
        self.fall = fall
        self.state = state
    }

    /// Counts one result. Returns the new state if it changed.
    public mutating func record(passed: Bool) -> CheckState? {
        let toward: CheckState = passed ? .up : .down
        switch state {
        case .unknown:
            state = toward
            streak = 0
            return toward
        case toward:
            streak = 0
            return nil
        default:
            streak += 1
            guard streak >= (passed ? rise : fall) else { return nil }
            state = toward
            streak = 0
            return toward
        }
    }
}
