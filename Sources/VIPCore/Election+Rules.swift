/// The election's rules: what a heartbeat means in each state, and the one
/// place where the state changes.
extension Election {
    mutating func startHandover(to target: String?, then next: NodeState, now: Instant) -> [ElectionAction] {
        guard case .master(var master) = phase, target != settings.nodeID else { return [] }
        master.handover = Handover(target: target, then: next, deadline: now + handoverPatience)
        phase = .master(master)
        nextHeartbeat = now + settings.advertInterval
        return [heartbeat()]
    }

    mutating func backupHeard(_ heartbeat: Heartbeat, _ backup: Backup, now: Instant) -> [ElectionAction] {
        var backup = backup
        // A witness follows whoever is master; it never takes over.
        if settings.witness { return follow(heartbeat, backup, now: now) }
        if heartbeat.priority == 0, heartbeat.flags.contains(.handover), let target = heartbeat.target {
            if target == settings.nodeID {
                // Named by a planned handover: take over now; the old master
                // keeps the VIPs until it hears this node's first heartbeat.
                return change(to: .master, .handover(from: heartbeat.nodeID), now: now)
            }
            // Another backup was named: follow, and respect the operator's
            // choice by not preempting it afterwards.
            preemptSuppressed = true
            return follow(heartbeat, backup, now: now)
        }
        if heartbeat.priority == 0 {
            // RFC 5798 6.4.2: a resigning master hands over after Skew_Time only.
            backup.resigned = (heartbeat.nodeID, heartbeat.flags.contains(.handover))
            masterAdverInterval = heartbeat.advertInterval
            backup.masterDown = now + skewTime
            phase = .backup(backup)
            return []
        }
        if preemptAllowed(now: now) && heartbeat.priority < effectivePriority {
            return change(to: .master, .preempting(heartbeat.nodeID), now: now)
        }
        return follow(heartbeat, backup, now: now)
    }

    /// Accepts `heartbeat`'s sender as the master and restarts the wait for it.
    mutating func follow(_ heartbeat: Heartbeat, _ backup: Backup, now: Instant) -> [ElectionAction] {
        var backup = backup
        if currentMaster != heartbeat.nodeID { backup.request = nil }
        currentMaster = heartbeat.nodeID
        backup.resigned = nil
        backup.awaitingConsent = nil
        backup.lastMasterHeard = now
        masterAdverInterval = heartbeat.advertInterval
        if case .adaptive(_, let ceiling) = settings.detection {
            links[heartbeat.nodeID, default: LinkEstimate()].observe(
                sequence: heartbeat.sequence, interval: heartbeat.advertInterval, now: now, cap: ceiling)
        }
        backup.masterDown = now + masterDownInterval
        phase = .backup(backup)
        return []
    }

    mutating func masterHeard(_ heartbeat: Heartbeat, _ master: Master, from source: IPAddress,
                              now: Instant) -> [ElectionAction] {
        var master = master
        if let pending = master.handover {
            // Handing over: the first real master heartbeat completes it.
            guard heartbeat.priority > 0 else { return [] }
            currentMaster = heartbeat.nodeID
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
            master.announcements = Array(Set(master.announcements.filter { $0 > now } + repeats)).sorted()
            phase = .master(master)
            return [self.heartbeat(), .reannounceVIPs]
        }
        currentMaster = heartbeat.nodeID
        masterAdverInterval = heartbeat.advertInterval
        return change(to: .backup, .outranked(by: heartbeat.nodeID), now: now)
    }

    func preemptAllowed(now: Instant) -> Bool {
        guard settings.preempt, !preemptSuppressed, let startedAt else { return false }
        return now - startedAt >= settings.preemptDelay
    }

    func heartbeat() -> ElectionAction {
        .sendHeartbeat(priority: handover != nil ? 0 : effectivePriority, state: state)
    }

    /// The one place where the state changes: records the transition, then
    /// runs the exit actions of the old state and the entry actions of the
    /// new, whose data (`Phase`) starts fresh.
    mutating func change(to next: NodeState, _ reason: TransitionReason, now: Instant) -> [ElectionAction] {
        let previous = state
        guard next != previous else { return [] }
        // Only a shutdown ends a run; anything else reaching here is a bug in the rules.
        precondition(next != .initial || reason == .shutdown, "\(previous) -> init (\(reason))")
        var actions: [ElectionAction] = [.transition(from: previous, to: next, reason: reason)]
        if previous == .master {
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
            actions += releaseNow(now: now, state: next)
        }
        switch next {
        case .master:
            releasedVIPsHeartbeats = 0
            releaseDue = nil  // still held: acquireVIPs adds them again (idempotent) and announces
            phase = .master(Master(announcements: Self.announceRepeats.map { now + $0 }, handover: nil))
            preemptSuppressed = false
            currentMaster = settings.nodeID
            masterAdverInterval = settings.advertInterval
            actions.append(heartbeat())
            nextHeartbeat = now + settings.advertInterval
            actions.append(.acquireVIPs)
        case .backup:
            if currentMaster == settings.nodeID { currentMaster = nil }
            // After currentMaster: the master-down time depends on whose link it is.
            phase = .backup(Backup(masterDown: now + masterDownInterval, lastMasterHeard: now, resigned: nil, request: nil))
        case .fault:
            currentMaster = nil
            phase = .fault
        case .maintenance:
            currentMaster = nil
            phase = .maintenance
        case .initial:
            currentMaster = nil
            phase = .initial
        }
        return actions
    }

    /// The end of a drain: remove the VIPs and say so in the next heartbeats,
    /// the first at once, so the master announces them again for any client
    /// this node answered meanwhile. `state`: the state this node is in (or
    /// entering).
    mutating func releaseNow(now: Instant, state: NodeState) -> [ElectionAction] {
        releaseDue = nil
        releasedVIPsHeartbeats = Self.releasedVIPsRepeats
        if state != .initial { nextHeartbeat = now }
        return [.releaseVIPs]
    }

    static func yieldsToAnotherMaster(_ reason: TransitionReason) -> Bool {
        switch reason {
        case .handedOver, .outranked: true
        default: false
        }
    }
}
