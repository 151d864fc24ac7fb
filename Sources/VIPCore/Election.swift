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
public struct Election: Sendable {
    public struct Settings: Sendable, Equatable {
        public var nodeID: String
        /// This node's heartbeat source address: the equal-priority tie-break.
        public var address: IPAddress
        public var priority: UInt8
        public var advertInterval: Span
        public var preempt: Bool
        public var preemptDelay: Span

        public init(nodeID: String, address: IPAddress, priority: UInt8, advertInterval: Span,
                    preempt: Bool = true, preemptDelay: Span = .zero) {
            self.nodeID = nodeID
            self.address = address
            self.priority = priority
            self.advertInterval = advertInterval
            self.preempt = preempt
            self.preemptDelay = preemptDelay
        }

        public init(config: VIPConfig) {
            self.init(nodeID: config.node.id, address: config.node.address, priority: config.node.priority,
                      advertInterval: config.timing.advertInterval, preempt: config.timing.preempt,
                      preemptDelay: config.timing.preemptDelay)
        }
    }

    public private(set) var state: NodeState = .initial
    public private(set) var settings: Settings
    /// Priority after weighted checks; what heartbeats carry.
    public private(set) var effectivePriority: UInt8
    /// The master this backup follows, if it has heard one.
    public private(set) var currentMaster: String?

    private var startedAt: Instant?
    private var faultReason: String?
    /// When the next heartbeat is due (every running state sends them).
    private var nextHeartbeat: Instant?
    /// Backup only: when the silent master is declared dead.
    private var masterDown: Instant?
    /// Backup only: the master's advertised interval (RFC 5798 Master_Adver_Interval).
    private var masterAdverInterval: Span
    /// Backup only: the last time a master was heard, for the takeover reason.
    private var lastMasterHeard: Instant?
    /// Backup only: the master resigned (priority 0) and Skew_Time is running.
    private var resignedMaster: String?

    public init(settings: Settings) {
        self.settings = settings
        self.effectivePriority = settings.priority
        self.masterAdverInterval = settings.advertInterval
    }

    /// The earliest instant at which `tick` has work to do.
    public var nextDeadline: Instant? {
        [nextHeartbeat, masterDown].compactMap { $0 }.min()
    }

    public var masterDownInterval: Span {
        ElectionTiming.masterDownInterval(interval: masterAdverInterval, priority: effectivePriority)
    }

    public var skewTime: Span {
        ElectionTiming.skew(interval: masterAdverInterval, priority: effectivePriority)
    }

    // MARK: Inputs

    /// Starts as backup (or fault) and announces this node at once.
    public mutating func start(now: Instant) -> ElectionOutput {
        guard state == .initial else { return output([]) }
        startedAt = now
        nextHeartbeat = now
        if let reason = faultReason {
            let actions = change(to: .fault, .fault(reason), now: now)
            return output(actions)
        }
        let actions = change(to: .backup, .started, now: now)
        return output(actions)
    }

    /// Runs the timers that are due at `now`.
    public mutating func tick(now: Instant) -> ElectionOutput {
        var actions: [ElectionAction] = []
        if state == .backup, let deadline = masterDown, now >= deadline {
            let reason: TransitionReason = resignedMaster.map { .masterResigned($0) }
                ?? .masterDown(silentFor: now - (lastMasterHeard ?? startedAt ?? now))
            actions += change(to: .master, reason, now: now)
        }
        if let due = nextHeartbeat, now >= due {
            actions.append(heartbeat())
            nextHeartbeat = now + settings.advertInterval
        }
        return output(actions)
    }

    /// An authenticated, fresh heartbeat from the peer at `source`.
    public mutating func receive(_ heartbeat: Heartbeat, from source: IPAddress, now: Instant) -> ElectionOutput {
        guard heartbeat.state == .master else { return output([]) }
        switch state {
        case .backup:
            let actions = backupHeard(heartbeat, now: now)
            return output(actions)
        case .master:
            let actions = masterHeard(heartbeat, from: source, now: now)
            return output(actions)
        case .initial, .fault, .maintenance:
            return output([])
        }
    }

    /// Graceful stop: a master resigns with priority 0 so a backup takes over
    /// after Skew_Time instead of Master_Down_Interval.
    public mutating func shutdown(now: Instant) -> ElectionOutput {
        guard state != .initial else { return output([]) }
        var actions: [ElectionAction] = []
        if state == .master { actions.append(.sendHeartbeat(priority: 0, state: .master)) }
        actions += change(to: .initial, .shutdown, now: now)
        nextHeartbeat = nil
        return output(actions)
    }

    /// Sets (non-nil) or clears (nil) the front fault. A faulty master resigns.
    public mutating func setFault(_ reason: String?, now: Instant) -> ElectionOutput {
        faultReason = reason
        let actions: [ElectionAction]
        switch (state, reason) {
        case (.master, let reason?):
            actions = [.sendHeartbeat(priority: 0, state: .master)] + change(to: .fault, .fault(reason), now: now)
        case (.backup, let reason?):
            actions = change(to: .fault, .fault(reason), now: now)
        case (.fault, nil):
            actions = change(to: .backup, .faultCleared, now: now)
        default:
            actions = []
        }
        return output(actions)
    }

    /// Changes the effective priority (weighted checks). Clamped to 1...254.
    public mutating func setPriority(_ priority: UInt8, now: Instant) -> ElectionOutput {
        let clamped = min(max(priority, 1), 254)
        guard clamped != effectivePriority else { return output([]) }
        effectivePriority = clamped
        // A master tells its peers at once so a now-higher backup can preempt.
        guard state == .master else { return output([]) }
        nextHeartbeat = now + settings.advertInterval
        return output([heartbeat()])
    }

    // MARK: Rules

    private mutating func backupHeard(_ heartbeat: Heartbeat, now: Instant) -> [ElectionAction] {
        if heartbeat.priority == 0 {
            // RFC 5798 6.4.2: a resigning master hands over after Skew_Time only.
            resignedMaster = heartbeat.nodeID
            masterAdverInterval = heartbeat.advertInterval
            masterDown = now + skewTime
            return []
        }
        if preemptAllowed(now: now) && heartbeat.priority < effectivePriority {
            return change(to: .master, .preempting(heartbeat.nodeID), now: now)
        }
        currentMaster = heartbeat.nodeID
        resignedMaster = nil
        lastMasterHeard = now
        masterAdverInterval = heartbeat.advertInterval
        masterDown = now + masterDownInterval
        return []
    }

    private mutating func masterHeard(_ heartbeat: Heartbeat, from source: IPAddress, now: Instant) -> [ElectionAction] {
        if heartbeat.priority == 0 {
            // Another master resigned: assert ourselves at once (RFC 5798 6.4.3).
            nextHeartbeat = now + settings.advertInterval
            return [self.heartbeat()]
        }
        let outranked = heartbeat.priority > effectivePriority
            || (heartbeat.priority == effectivePriority && source > settings.address)
        // The other master yields on our next heartbeat; send it now, and win
        // back clients that followed the other master's announcements.
        guard outranked else {
            nextHeartbeat = now + settings.advertInterval
            return [self.heartbeat(), .reannounceVIPs]
        }
        currentMaster = heartbeat.nodeID
        lastMasterHeard = now
        masterAdverInterval = heartbeat.advertInterval
        return change(to: .backup, .outranked(by: heartbeat.nodeID), now: now)
    }

    private func preemptAllowed(now: Instant) -> Bool {
        guard settings.preempt, let startedAt else { return false }
        return now - startedAt >= settings.preemptDelay
    }

    private func heartbeat() -> ElectionAction {
        .sendHeartbeat(priority: effectivePriority, state: state)
    }

    /// The one place where the state changes: records the transition, then
    /// runs the exit actions of the old state and the entry actions of the new.
    private mutating func change(to next: NodeState, _ reason: TransitionReason, now: Instant) -> [ElectionAction] {
        let previous = state
        guard next != previous else { return [] }
        state = next
        var actions: [ElectionAction] = [.transition(from: previous, to: next, reason: reason)]
        if previous == .master { actions.append(.releaseVIPs) }
        masterDown = nil
        resignedMaster = nil
        switch next {
        case .master:
            currentMaster = settings.nodeID
            masterAdverInterval = settings.advertInterval
            actions.append(heartbeat())
            nextHeartbeat = now + settings.advertInterval
            actions.append(.acquireVIPs)
        case .backup:
            if currentMaster == settings.nodeID { currentMaster = nil }
            lastMasterHeard = now
            masterDown = now + masterDownInterval
        case .fault, .maintenance, .initial:
            currentMaster = nil
        }
        return actions
    }

    /// Call only with actions already computed: `output(change(...))` would
    /// read `self` before `change` mutates it and report a stale deadline.
    private func output(_ actions: [ElectionAction]) -> ElectionOutput {
        ElectionOutput(actions: actions, nextDeadline: nextDeadline)
    }
}
