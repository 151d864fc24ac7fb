/// The VRRP-like election of one node, as a pure state machine.
///
/// Inputs are events with the current time; outputs are actions plus the next
/// deadline at which `tick` must be called. It never reads a clock, sends a
/// packet or touches an address, so every transition is tested with a virtual
/// clock (Tests/VIPCoreTests/ElectionTests.swift).
///
/// Unlike VRRP, every node sends heartbeats, not only the master: peers learn
/// each other's state and backend health. Only heartbeats whose state is
/// `master` take part in the election.
///
/// The state carries its own data (`Phase`): what a backup waits on exists
/// only while backup, a master's announcements and handover only while
/// master. The rules are in Election+Rules.swift.
public struct Election: Sendable {
    /// What a backup waits on.
    struct Backup: Sendable {
        /// When the silent master is declared dead.
        var masterDown: Instant
        /// The last time a master was heard, for the takeover reason.
        var lastMasterHeard: Instant
        /// The master resigned (priority 0) and Skew_Time is running;
        /// `planned`: a handover to "the best backup".
        var resigned: (master: String, planned: Bool)?
        /// An operator's request that the master hand over, repeated in this
        /// node's heartbeats until it expires.
        var request: HandoverRequest?
        /// `quorum`: the master is lost but a majority still follows it; the
        /// takeover (with this reason) waits for their consent.
        var awaitingConsent: TransitionReason?
    }

    /// What only a master has.
    struct Master: Sendable {
        /// When to announce the VIPs again (the first announcement goes with
        /// `acquireVIPs`). Gone the moment this node stops being master, so a
        /// node that has yielded never pulls clients back.
        var announcements: [Instant]
        /// A planned switchover this master is running.
        var handover: Handover?
    }

    enum Phase: Sendable {
        case initial
        case backup(Backup)
        case master(Master)
        case fault
        case maintenance
    }

    var phase: Phase = .initial
    public internal(set) var settings: Settings
    /// Priority after weighted checks; what heartbeats carry.
    public internal(set) var effectivePriority: UInt8
    /// The master this node follows (itself while master), if it knows one.
    public internal(set) var currentMaster: String?

    var startedAt: Instant?
    var faultReason: String?
    /// `quorum` instances: the last verdict from the peers' votes (nil
    /// before the first; no quorum then, as no peer has been heard).
    public internal(set) var quorum: QuorumVerdict?
    /// When the next heartbeat is due (every running state sends them).
    var nextHeartbeat: Instant?
    /// The interval the master followed advertises (RFC 5798
    /// Master_Adver_Interval); this node's own while master.
    var masterAdverInterval: Span
    /// What each master's heartbeats taught about the link (adaptive detection).
    public internal(set) var links: [String: LinkEstimate] = [:]
    var maintenance = false
    /// Heartbeats still to carry `releasedVIPs` after leaving master: a few,
    /// as any one of them may be lost.
    var releasedVIPsHeartbeats = 0
    public static let releasedVIPsRepeats = 3
    /// The repeats of the gratuitous ARP / NA after taking over.
    public static let announceRepeats: [Span] = [.milliseconds(100), .milliseconds(500), .seconds(2)]
    /// Set after yielding to another master (a completed handover, or
    /// outranked): the VIPs stay on this node until then, so that requests it
    /// had already received when the clients moved can still be answered.
    /// Removing the address at once made those answers undeliverable (no
    /// source address), and the client timed out (issue 18 item 8).
    var releaseDue: Instant?
    /// How long a node that yielded to another master keeps the VIPs.
    public static let drainTime: Span = .milliseconds(250)
    /// Set after this node handed over on purpose, so preemption does not take
    /// the VIPs straight back; cleared when it becomes master again, when
    /// maintenance is switched off, or when an operator asks for it by name.
    public internal(set) var preemptSuppressed = false

    /// A planned switchover a master runs: it advertises priority 0 with the
    /// handover flag and keeps the VIPs until the new master speaks.
    public struct Handover: Sendable, Equatable {
        /// The node that should take over; nil for the best backup.
        public var target: String?
        /// The state to enter once handed over: backup, or maintenance.
        public var then: NodeState
        public var deadline: Instant
    }

    /// A backup's request that the master hand over, repeated in this node's
    /// heartbeats until the deadline.
    public struct HandoverRequest: Sendable, Equatable {
        public var target: String?
        public var until: Instant
    }

    public init(settings: Settings) {
        self.settings = settings
        self.effectivePriority = settings.priority
        self.masterAdverInterval = settings.advertInterval
    }

    // MARK: Queries

    public var state: NodeState {
        switch phase {
        case .initial: .initial
        case .backup: .backup
        case .master: .master
        case .fault: .fault
        case .maintenance: .maintenance
        }
    }

    /// The handover this master is running, if any.
    public var handover: Handover? {
        if case .master(let master) = phase { return master.handover }
        return nil
    }

    /// The handover this backup is asking for, if any.
    public var handoverRequest: HandoverRequest? {
        if case .backup(let backup) = phase { return backup.request }
        return nil
    }

    /// The earliest instant at which `tick` has work to do.
    public var nextDeadline: Instant? {
        var deadline = Instant.earliest(nextHeartbeat, releaseDue)
        switch phase {
        case .backup(let backup):
            deadline = Instant.earliest(Instant.earliest(deadline, backup.masterDown), backup.request?.until)
        case .master(let master):
            deadline = Instant.earliest(Instant.earliest(deadline, master.announcements.first), master.handover?.deadline)
        case .initial, .fault, .maintenance:
            break
        }
        return deadline
    }

    /// Whether this node still has the VIPs after yielding (see `drainTime`).
    public var draining: Bool { releaseDue != nil }

    /// How often this node sends heartbeats now, and what they advertise:
    /// the advert interval as master (the election runs on it) and while a
    /// handover request must reach the master; the standby interval
    /// otherwise. Peers judge a node lost by the interval its heartbeats carry.
    public var heartbeatInterval: Span { interval(advertisedAs: state) }

    /// The interval a heartbeat sent in `sentState` carries. Actions are run
    /// after the state they came from may have changed (a resignation is sent
    /// as master by a node already stopping), so the engine asks by the
    /// action's state, not the current one.
    public func interval(advertisedAs sentState: NodeState) -> Span {
        sentState == .master || handoverRequest != nil ? settings.advertInterval : settings.standbyInterval
    }

    /// The silence after which the master followed now is dead: RFC 5798's
    /// Master_Down_Interval, or what `timing.detection: adaptive` derives from
    /// the link (`DetectionPolicy`).
    public var masterDownInterval: Span {
        settings.detection.masterDown(interval: masterAdverInterval, priority: effectivePriority,
                                      link: currentMaster.flatMap { links[$0] })
    }

    public var skewTime: Span {
        ElectionTiming.skew(interval: masterAdverInterval, priority: effectivePriority)
    }

    /// How long a handover or a handover request may take before it is dropped.
    public var handoverPatience: Span {
        2 * ElectionTiming.masterDownInterval(interval: settings.advertInterval, priority: 1)
    }

    /// The handover signal this node's next heartbeat must carry, if any.
    public var handoverSignal: (flags: HeartbeatFlags, target: String?) {
        switch phase {
        case .master(let master): master.handover.map { (.handover, $0.target) } ?? ([], nil)
        case .backup(let backup): backup.request.map { (.handoverRequest, $0.target) } ?? ([], nil)
        case .initial, .fault, .maintenance: ([], nil)
        }
    }

    /// Whether the heartbeat being sent must carry `releasedVIPs`; counts it.
    public mutating func takeReleasedVIPsFlag(sentAs sentState: NodeState) -> Bool {
        guard sentState != .master, releasedVIPsHeartbeats > 0 else { return false }
        releasedVIPsHeartbeats -= 1
        return true
    }
}
