/// RFC 5798 timer arithmetic, kept as plain functions so tests and docs can
/// quote the same numbers the daemon uses.
public enum ElectionTiming {
    /// Skew_Time = (256 - priority) × interval / 256: higher priorities react sooner.
    public static func skew(interval: Span, priority: UInt8) -> Span {
        Span(nanoseconds: (256 - Int64(priority)) * interval.nanoseconds / 256)
    }

    /// Master_Down_Interval = 3 × interval + Skew_Time.
    public static func masterDownInterval(interval: Span, priority: UInt8) -> Span {
        3 * interval + skew(interval: interval, priority: priority)
    }
}

/// Why a node changed state; logged as `from -> to (reason)` and reported.
public enum TransitionReason: Equatable, Sendable, CustomStringConvertible {
    /// The daemon started and now waits for a master.
    case started
    /// No heartbeat from any master within Master_Down_Interval.
    case masterDown(silentFor: Span)
    /// The master announced priority 0 (shutdown or handover); took over after Skew_Time.
    case masterResigned(String)
    /// A master with higher priority (or equal priority and higher address) was heard.
    case outranked(by: String)
    /// A lower-priority master was heard and preemption is allowed.
    case preempting(String)
    /// The daemon is shutting down.
    case shutdown
    /// A front check failed.
    case fault(String)
    /// The failing front check recovered.
    case faultCleared
    /// Planned switchover: the master named this node (or it was the best backup).
    case handover(from: String)
    /// Planned switchover: this master handed the VIPs to the new master.
    case handedOver(to: String)
    /// An operator switched maintenance on or off.
    case maintenance(on: Bool)
    /// A partner in the instance's sync group changed state (`sync_groups`):
    /// group, partner, and the partner's new state.
    case syncGroup(String, partner: String, NodeState)

    public var description: String {
        switch self {
        case .started: "started"
        case .masterDown(let silence): "no heartbeat from a master for \(silence)"
        case .masterResigned(let id): "master \(id) resigned"
        case .outranked(let id): "outranked by master \(id)"
        case .preempting(let id): "preempting lower-priority master \(id)"
        case .shutdown: "shutdown"
        case .fault(let why): "fault: \(why)"
        case .faultCleared: "fault cleared"
        case .handover(let id): "planned handover from \(id)"
        case .handedOver(let id): "handed over to \(id)"
        case .maintenance(let on): on ? "maintenance on" : "maintenance off"
        case .syncGroup(let group, let partner, let state): "sync group \(group): \(partner) is \(state)"
        }
    }
}

/// What the election asks its driver to do, in order.
public enum ElectionAction: Equatable, Sendable {
    /// The single record of a state change (log it, count it, notify).
    case transition(from: NodeState, to: NodeState, reason: TransitionReason)
    /// Send one heartbeat to every peer, carrying this priority and state.
    case sendHeartbeat(priority: UInt8, state: NodeState)
    /// Add the VIPs and announce them (gratuitous ARP / unsolicited NA).
    case acquireVIPs
    /// Remove the VIPs.
    case releaseVIPs
    /// A planned handover found no taker in time; this node stays master.
    case handoverAborted
    /// Send one more gratuitous ARP / NA for VIPs already held: another master
    /// was heard (a healed partition), and clients may still point at it.
    case reannounceVIPs
}

/// The result of one input: actions to run now and when to call `tick` next.
public struct ElectionOutput: Equatable, Sendable {
    public var actions: [ElectionAction]
    public var nextDeadline: Instant?
}
