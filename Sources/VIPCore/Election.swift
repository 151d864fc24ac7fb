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
    /// What each master's heartbeats taught about the link (adaptive detection).
    public private(set) var links: [String: LinkEstimate] = [:]
    /// Backup only: the last time a master was heard, for the takeover reason.
    private var lastMasterHeard: Instant?
    /// Backup only: the master resigned (priority 0) and Skew_Time is running.
    private var resignedMaster: String?
    /// Backup only: that resignation was a planned handover to "the best backup".
    private var resignationPlanned = false
    private var maintenance = false
    /// Heartbeats still to carry `releasedVIPs` after leaving master: a few,
    /// as any one of them may be lost.
    private var releasedVIPsHeartbeats = 0
    public static let releasedVIPsRepeats = 3
    /// Master only: when to announce the VIPs again (the first announcement
    /// goes with `acquireVIPs`). Dropped the moment this node stops being
    /// master, so a node that has yielded never pulls clients back.
    private var announcements: [Instant] = []
    /// The repeats of the gratuitous ARP / NA after taking over.
    public static let announceRepeats: [Span] = [.milliseconds(100), .milliseconds(500), .seconds(2)]
    /// Set after yielding to another master (a completed handover, or
    /// outranked): the VIPs stay on this node until then, so that requests it
    /// had already received when the clients moved can still be answered.
    /// Removing the address at once made those answers undeliverable (no
    /// source address), and the client timed out (issue 18 item 8).
    private var releaseDue: Instant?
    /// How long a node that yielded to another master keeps the VIPs.
    public static let drainTime: Span = .milliseconds(250)
    /// Set after this node handed over on purpose, so preemption does not take
    /// the VIPs straight back; cleared when it becomes master again, when
    /// maintenance is switched off, or when an operator asks for it by name.
    public private(set) var preemptSuppressed = false

    /// A planned switchover this master is running: it advertises priority 0
    /// with the handover flag and keeps the VIPs until the new master speaks.
    public struct Handover: Sendable, Equatable {
        /// The node that should take over; nil for the best backup.
        public var target: String?
        /// The state to enter once handed over: backup, or maintenance.
        public var then: NodeState
        public var deadline: Instant
    }
    public private(set) var handover: Handover?

    /// A backup's request that the master hand over, repeated in this node's
    /// heartbeats until the deadline.
    public struct HandoverRequest: Sendable, Equatable {
        public var target: String?
        public var until: Instant
    }
    public private(set) var handoverRequest: HandoverRequest?

    public init(settings: Settings) {
        self.settings = settings
        self.effectivePriority = settings.priority
        self.masterAdverInterval = settings.advertInterval
    }

    /// The earliest instant at which `tick` has work to do.
    public var nextDeadline: Instant? {
        let vips = Instant.earliest(releaseDue, announcements.first)
        return Instant.earliest(Instant.earliest(Instant.earliest(nextHeartbeat, masterDown),
                                                 Instant.earliest(handover?.deadline, handoverRequest?.until)), vips)
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

    /// Sends a heartbeat now, off the regular cadence (a changed backend
    /// flag), when this node is running.
    public mutating func announce(now: Instant) -> ElectionOutput {
        guard state != .initial else { return output([]) }
        return output([heartbeat()])
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

    // MARK: Inputs

    /// Starts as backup (or fault) and announces this node at once.
    public mutating func start(now: Instant) -> ElectionOutput {
        guard state == .initial else { return output([]) }
        startedAt = now
        nextHeartbeat = now
        if maintenance {
            let actions = change(to: .maintenance, .maintenance(on: true), now: now)
            return output(actions)
        }
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
        if let pending = handover, now >= pending.deadline {
            handover = nil
            // Nobody took over: stay master, and say so instead of keeping a
            // maintenance request that cannot be honoured without an outage.
            if pending.then == .maintenance { maintenance = false }
            actions.append(.handoverAborted)
            nextHeartbeat = now
        }
        if let request = handoverRequest, now >= request.until { handoverRequest = nil }
        if let due = releaseDue, now >= due { actions += releaseNow(now: now) }
        if state == .master, let due = announcements.first, now >= due {
            announcements.removeAll { $0 <= now }
            // Not while handing over: the new master may have announced already.
            if handover == nil { actions.append(.reannounceVIPs) }
        }
        if state == .backup, let deadline = masterDown, now >= deadline {
            let reason: TransitionReason = resignedMaster.map { resignationPlanned ? .handover(from: $0) : .masterResigned($0) }
                ?? .masterDown(silentFor: now - (lastMasterHeard ?? startedAt ?? now))
            actions += change(to: .master, reason, now: now)
        }
        if let due = nextHeartbeat, now >= due {
            actions.append(heartbeat())
            nextHeartbeat = now + heartbeatInterval
        }
        return output(actions)
    }

    /// An authenticated, fresh heartbeat from the peer at `source`.
    public mutating func receive(_ heartbeat: Heartbeat, from source: IPAddress, now: Instant) -> ElectionOutput {
        if state == .master, handover == nil, heartbeat.state != .master, heartbeat.flags.contains(.handoverRequest) {
            let actions = startHandover(to: heartbeat.target, then: .backup, now: now)
            return output(actions)
        }
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

    /// Applies new settings from a config reload without leaving the current
    /// state. A new base priority replaces the effective one (checks re-apply
    /// their weights on their next run).
    public mutating func reconfigure(_ newSettings: Settings, now: Instant) -> ElectionOutput {
        let priorityChanged = newSettings.priority != settings.priority
        settings = newSettings
        if state == .master { masterAdverInterval = newSettings.advertInterval }
        guard priorityChanged else { return output([]) }
        let actions = setPriority(newSettings.priority, now: now).actions
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

    /// Planned switchover on a master: advertise priority 0 with the handover
    /// flag, keep the VIPs until the new master's first heartbeat, then become
    /// backup (or maintenance). Gives up after two Master_Down_Intervals.
    public mutating func beginHandover(to target: String?, now: Instant) -> ElectionOutput {
        let actions = startHandover(to: target, then: .backup, now: now)
        return output(actions)
    }

    /// Planned switchover asked on a backup: its heartbeats carry the request
    /// to the master for a while. Naming itself lifts its preemption hold.
    public mutating func requestHandover(to target: String?, now: Instant) -> ElectionOutput {
        guard state == .backup else { return output([]) }
        if target == settings.nodeID { preemptSuppressed = false }
        handoverRequest = HandoverRequest(target: target, until: now + handoverPatience)
        nextHeartbeat = now + settings.advertInterval
        return output([heartbeat()])
    }

    /// A sync-group partner became master: a backup takes over at once, as
    /// if its master had fallen silent, so the group moves together.
    public mutating func takeOver(_ reason: TransitionReason, now: Instant) -> ElectionOutput {
        guard state == .backup else { return output([]) }
        let actions = change(to: .master, reason, now: now)
        return output(actions)
    }

    /// A sync-group partner left master: a master resigns (priority 0, so
    /// the peer takes over after Skew_Time) and does not preempt back until
    /// the group takes over again (`takeOver` ignores the hold).
    public mutating func resign(_ reason: TransitionReason, now: Instant) -> ElectionOutput {
        guard state == .master, handover == nil else { return output([]) }
        var actions: [ElectionAction] = [.sendHeartbeat(priority: 0, state: .master)]
        actions += change(to: .backup, reason, now: now)
        preemptSuppressed = true
        return output(actions)
    }

    /// Maintenance: never master while on. A master hands over first when
    /// `handOver` is true (a peer can take over), otherwise it resigns at once.
    public mutating func setMaintenance(_ on: Bool, handOver: Bool = true, now: Instant) -> ElectionOutput {
        maintenance = on
        let actions: [ElectionAction]
        switch (state, on) {
        case (.master, true) where handOver:
            actions = startHandover(to: nil, then: .maintenance, now: now)
        case (.master, true):
            actions = [.sendHeartbeat(priority: 0, state: .master)] + change(to: .maintenance, .maintenance(on: true), now: now)
        case (.backup, true), (.fault, true):
            actions = change(to: .maintenance, .maintenance(on: true), now: now)
        case (.maintenance, false):
            preemptSuppressed = false
            actions = faultReason.map { change(to: .fault, .fault($0), now: now) }
                ?? change(to: .backup, .maintenance(on: false), now: now)
        default:
            actions = []
        }
        return output(actions)
    }

    /// The handover signal this node's next heartbeat must carry, if any.
    public var handoverSignal: (flags: HeartbeatFlags, target: String?) {
        if state == .master, let pending = handover { return (.handover, pending.target) }
        if state == .backup, let request = handoverRequest { return (.handoverRequest, request.target) }
        return ([], nil)
    }

    /// Whether the heartbeat being sent must carry `releasedVIPs`; counts it.
    public mutating func takeReleasedVIPsFlag(sentAs sentState: NodeState) -> Bool {
        guard sentState != .master, releasedVIPsHeartbeats > 0 else { return false }
        releasedVIPsHeartbeats -= 1
        return true
    }

    /// How long a handover or a handover request may take before it is dropped.
    public var handoverPatience: Span {
        2 * ElectionTiming.masterDownInterval(interval: settings.advertInterval, priority: 1)
    }

    // MARK: Rules

    private mutating func startHandover(to target: String?, then next: NodeState, now: Instant) -> [ElectionAction] {
        guard state == .master, target != settings.nodeID else { return [] }
        handover = Handover(target: target, then: next, deadline: now + handoverPatience)
        nextHeartbeat = now + settings.advertInterval
        return [heartbeat()]
    }

    private mutating func backupHeard(_ heartbeat: Heartbeat, now: Instant) -> [ElectionAction] {
        if heartbeat.priority == 0, heartbeat.flags.contains(.handover), let target = heartbeat.target {
            if target == settings.nodeID {
                // Named by a planned handover: take over now; the old master
                // keeps the VIPs until it hears this node's first heartbeat.
                return change(to: .master, .handover(from: heartbeat.nodeID), now: now)
            }
            // Another backup was named: follow, and respect the operator's
            // choice by not preempting it afterwards.
            preemptSuppressed = true
            return follow(heartbeat, now: now)
        }
        if heartbeat.priority == 0 {
            // RFC 5798 6.4.2: a resigning master hands over after Skew_Time only.
            resignedMaster = heartbeat.nodeID
            resignationPlanned = heartbeat.flags.contains(.handover)
            masterAdverInterval = heartbeat.advertInterval
            masterDown = now + skewTime
            return []
        }
        if preemptAllowed(now: now) && heartbeat.priority < effectivePriority {
            return change(to: .master, .preempting(heartbeat.nodeID), now: now)
        }
        return follow(heartbeat, now: now)
    }

    /// Accepts `heartbeat`'s sender as the master and restarts the wait for it.
    private mutating func follow(_ heartbeat: Heartbeat, now: Instant) -> [ElectionAction] {
        if currentMaster != heartbeat.nodeID { handoverRequest = nil }
        currentMaster = heartbeat.nodeID
        resignedMaster = nil
        lastMasterHeard = now
        masterAdverInterval = heartbeat.advertInterval
        if case .adaptive(_, let ceiling) = settings.detection {
            links[heartbeat.nodeID, default: LinkEstimate()].observe(
                sequence: heartbeat.sequence, interval: heartbeat.advertInterval, now: now, cap: ceiling)
        }
        masterDown = now + masterDownInterval
        return []
    }

    private mutating func masterHeard(_ heartbeat: Heartbeat, from source: IPAddress, now: Instant) -> [ElectionAction] {
        if let pending = handover {
            // Handing over: the first real master heartbeat completes it.
            guard heartbeat.priority > 0 else { return [] }
            currentMaster = heartbeat.nodeID
            lastMasterHeard = now
            masterAdverInterval = heartbeat.advertInterval
            if pending.then == .backup { preemptSuppressed = true }
            return change(to: pending.then, .handedOver(to: heartbeat.nodeID), now: now)
        }
        if heartbeat.priority == 0 {
            // Another master resigned: assert ourselves at once (RFC 5798 6.4.3).
            nextHeartbeat = now + settings.advertInterval
            return [self.heartbeat()]
        }
        let outranked = heartbeat.priority > effectivePriority
            || (heartbeat.priority == effectivePriority && source > settings.address)
        // The other master yields on our next heartbeat; send it now, and win
        // back clients that followed the other master's announcements — with
        // the same repeats as a takeover: a reclaim happens when the link
        // loses packets (that is how the other node came to take over), and
        // one lost announcement would leave clients on the node that yields
        // until the next trigger, a second or more later.
        guard outranked else {
            nextHeartbeat = now + settings.advertInterval
            let repeats = Self.announceRepeats.map { now + $0 }
            announcements = Array(Set(announcements.filter { $0 > now } + repeats)).sorted()
            return [self.heartbeat(), .reannounceVIPs]
        }
        currentMaster = heartbeat.nodeID
        lastMasterHeard = now
        masterAdverInterval = heartbeat.advertInterval
        return change(to: .backup, .outranked(by: heartbeat.nodeID), now: now)
    }

    private func preemptAllowed(now: Instant) -> Bool {
        guard settings.preempt, !preemptSuppressed, let startedAt else { return false }
        return now - startedAt >= settings.preemptDelay
    }

    private func heartbeat() -> ElectionAction {
        .sendHeartbeat(priority: state == .master && handover != nil ? 0 : effectivePriority, state: state)
    }

    /// The one place where the state changes: records the transition, then
    /// runs the exit actions of the old state and the entry actions of the new.
    private mutating func change(to next: NodeState, _ reason: TransitionReason, now: Instant) -> [ElectionAction] {
        let previous = state
        guard next != previous else { return [] }
        state = next
        var actions: [ElectionAction] = [.transition(from: previous, to: next, reason: reason)]
        if previous == .master {
            announcements = []
            if Self.yieldsToAnotherMaster(reason) {
                // That master has announced the VIPs; keep them for the
                // requests already here (`drainTime`).
                releaseDue = now + Self.drainTime
            } else {
                actions.append(.releaseVIPs)
            }
            // Tell the peers now, not at the next standby heartbeat; the
            // releasedVIPs flag makes a master re-announce.
            releasedVIPsHeartbeats = Self.releasedVIPsRepeats
            if next != .initial { nextHeartbeat = now }
        } else if releaseDue != nil, next == .initial || next == .fault {
            // Stopping, or a broken front: no reason to keep them.
            actions += releaseNow(now: now)
        }
        masterDown = nil
        resignedMaster = nil
        handover = nil
        switch next {
        case .master:
            releasedVIPsHeartbeats = 0
            releaseDue = nil  // still held: acquireVIPs adds them again (idempotent) and announces
            announcements = Self.announceRepeats.map { now + $0 }
            preemptSuppressed = false
            handoverRequest = nil
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

    /// The end of a drain: remove the VIPs and say so in the next heartbeats,
    /// the first at once, so the master announces them again for any client
    /// this node answered meanwhile.
    private mutating func releaseNow(now: Instant) -> [ElectionAction] {
        releaseDue = nil
        releasedVIPsHeartbeats = Self.releasedVIPsRepeats
        if state != .initial { nextHeartbeat = now }
        return [.releaseVIPs]
    }

    private static func yieldsToAnotherMaster(_ reason: TransitionReason) -> Bool {
        switch reason {
        case .handedOver, .outranked: true
        default: false
        }
    }

    /// Call only with actions already computed: `output(change(...))` would
    /// read `self` before `change` mutates it and report a stale deadline.
    private func output(_ actions: [ElectionAction]) -> ElectionOutput {
        ElectionOutput(actions: actions, nextDeadline: nextDeadline)
    }
}
