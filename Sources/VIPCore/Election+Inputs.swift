/// The election's inputs: start, the clock, heartbeats, and what the daemon
/// and operators ask of it. Each returns the actions to run and the next deadline.
extension Election {
    /// Sends a heartbeat now, off the regular cadence (a changed backend
    /// flag), when this node is running.
    public mutating func announce(now: Instant) -> ElectionOutput {
        guard state != .initial else { return output([]) }
        return output([heartbeat()])
    }

    /// Starts as backup (or fault, or maintenance) and announces this node at once.
    public mutating func start(now: Instant) -> ElectionOutput {
        guard state == .initial else { return output([]) }
        startedAt = now
        nextHeartbeat = now
        let actions: [ElectionAction]
        if maintenance {
            actions = change(to: .maintenance, .maintenance(on: true), now: now)
        } else if let reason = effectiveFault {
            actions = change(to: .fault, .fault(reason), now: now)
        } else {
            actions = change(to: .backup, .started, now: now)
        }
        return output(actions)
    }

    /// Runs the timers that are due at `now`.
    public mutating func tick(now: Instant) -> ElectionOutput {
        var actions: [ElectionAction] = []
        if case .master(var master) = phase, let pending = master.handover, now >= pending.deadline {
            master.handover = nil
            phase = .master(master)
            // Nobody took over: stay master, and say so instead of keeping a
            // maintenance request that cannot be honoured without an outage.
            if pending.then == .maintenance { maintenance = false }
            actions.append(.handoverAborted)
            nextHeartbeat = now
        }
        if case .backup(var backup) = phase, let request = backup.request, now >= request.until {
            backup.request = nil
            phase = .backup(backup)
        }
        if let due = releaseDue, now >= due { actions += releaseNow(now: now, state: state) }
        if case .master(var master) = phase, let due = master.announcements.first, now >= due {
            master.announcements.removeAll { $0 <= now }
            phase = .master(master)
            // Not while handing over: the new master may have announced already.
            if master.handover == nil { actions.append(.reannounceVIPs) }
        }
        if case .backup(let backup) = phase, now >= backup.masterDown {
            let reason: TransitionReason = backup.awaitingConsent
                ?? backup.resigned.map { $0.planned ? .handover(from: $0.master) : .masterResigned($0.master) }
                ?? .masterDown(silentFor: now - backup.lastMasterHeard)
            actions += masterLost(backup, reason: reason, now: now)
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
        let actions: [ElectionAction]
        switch phase {
        case .backup(let backup): actions = backupHeard(heartbeat, backup, now: now)
        case .master(let master): actions = masterHeard(heartbeat, master, from: source, now: now)
        case .initial, .fault, .maintenance: actions = []
        }
        return output(actions)
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
        let actions = applyFault(now: now)
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
        guard case .backup(var backup) = phase else { return output([]) }
        if target == settings.nodeID { preemptSuppressed = false }
        backup.request = HandoverRequest(target: target, until: now + handoverPatience)
        phase = .backup(backup)
        nextHeartbeat = now + settings.advertInterval
        return output([heartbeat()])
    }

    /// A sync-group partner became master: a backup takes over at once, as
    /// if its master had fallen silent, so the group moves together.
    public mutating func takeOver(_ reason: TransitionReason, now: Instant) -> ElectionOutput {
        // Quorum outranks the group: a member without consent stays backup.
        guard state == .backup, !settings.witness, takeoverAllowed else { return output([]) }
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
            actions = effectiveFault.map { change(to: .fault, .fault($0), now: now) }
                ?? change(to: .backup, .maintenance(on: false), now: now)
        default:
            actions = []
        }
        return output(actions)
    }

    /// Call only with actions already computed: `output(change(...))` would
    /// read `self` before `change` mutates it and report a stale deadline.
    func output(_ actions: [ElectionAction]) -> ElectionOutput {
        ElectionOutput(actions: actions, nextDeadline: nextDeadline)
    }
}
