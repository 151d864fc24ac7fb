import VIPCore

/// A tracked interface as the engine knows it.
struct LinkTracking: Sendable {
    var up: Bool
    /// When it last changed (a fault clears only after the debounce from here).
    var since: Instant
}

/// What puts an instance in FAULT besides its own front checks: tracked
/// interfaces, and the partners of its sync group. Call on `loop`.
extension NodeEngine {
    /// Every interface some instance tracks.
    var trackedInterfaceNames: [String] {
        var names: [String] = []
        for runner in instances {
            for interface in runner.config.trackInterfaces where !names.contains(interface.name) { names.append(interface.name) }
        }
        return names
    }

    /// The state of a tracked interface changed (the link watcher, or the
    /// first reading at start). A link that goes down faults its instances at
    /// once; one that comes back clears the fault after `up_debounce`.
    public func linkChanged(_ name: String, up: Bool) {
        loop.preconditionInEventLoop()
        guard trackedInterfaceNames.contains(name) else { return }
        if let known = links[name], known.up == up { return }
        let first = links[name] == nil
        links[name] = LinkTracking(up: up, since: first && up ? .zero : now)
        logger.log(level: up ? .notice : .warning, "tracked interface \(name) is \(up ? "up" : "down")")
        tickLinks(now: now)
        reschedule()
    }

    /// Re-derives each instance's interface faults: down now, or up for less
    /// than the debounce.
    func tickLinks(now: Instant) {
        guard !links.isEmpty else { return }
        var changed = false
        for runner in instances {
            for interface in runner.config.trackInterfaces {
                let key = "interface \(interface.name)"
                let link = links[interface.name]
                let reason: String?
                if let link, !link.up {
                    reason = "tracked interface \(interface.name) is down"
                } else if let link, runner.faults[key] != nil, now - link.since < interface.upDebounce {
                    reason = runner.faults[key]  // back, but not for long enough yet
                } else {
                    reason = nil
                }
                if runner.faults[key] != reason {
                    runner.faults[key] = reason
                    changed = true
                }
            }
        }
        if changed { applyFaults() }
    }

    /// When the next tracked link leaves its debounce.
    var linkDeadline: Instant? {
        var earliest: Instant?
        for runner in instances {
            for interface in runner.config.trackInterfaces {
                guard let link = links[interface.name], link.up, runner.faults["interface \(interface.name)"] != nil else { continue }
                earliest = Instant.earliest(earliest, link.since + interface.upDebounce)
            }
        }
        return earliest
    }

    /// Hands every instance the union of its own fault sources and those of
    /// its sync-group partners; the election enters or leaves FAULT.
    func applyFaults() {
        let now = self.now
        let own = Dictionary(instances.map { ($0.name, $0.faultReason) }, uniquingKeysWith: { first, _ in first })
        for runner in instances {
            var reasons = runner.faultReason.map { [$0] } ?? []
            if let group = syncGroup(of: runner.name) {
                for partner in group.instances where partner != runner.name {
                    if let why = own[partner] ?? nil { reasons.append("sync group \(group.name): \(partner) in fault (\(why))") }
                }
            }
            let reason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
            guard reason != runner.appliedFault else { continue }
            runner.appliedFault = reason
            run(runner.router.setFault(reason, now: now), runner)
        }
    }

    func syncGroup(of instance: String) -> SyncGroupConfig? {
        config.syncGroups.first { $0.instances.contains(instance) }
    }

    /// keepalived's `vrrp_sync_group`: a takeover by one instance takes the
    /// group; one leaving master for backup takes the group's masters with
    /// it (they resign, and hold off preempting until the group takes over
    /// again). Faults travel through `applyFaults`. Transitions the group
    /// itself caused are not passed on again.
    func syncGroupFollow(_ runner: InstanceRunner, from: NodeState, to: NodeState) {
        guard let group = syncGroup(of: runner.name), case let reason = runner.lastReason,
              !Self.causedBySyncGroup(reason) else { return }
        let partners = instances.filter { $0 !== runner && group.instances.contains($0.name) }
        let why = TransitionReason.syncGroup(group.name, partner: runner.name, to)
        let now = self.now
        if to == .master {
            for partner in partners where partner.state == .backup { run(partner.router.takeOver(because: why, now: now), partner) }
        } else if from == .master && to == .backup {
            for partner in partners where partner.state == .master { run(partner.router.resign(because: why, now: now), partner) }
        }
    }

    static func causedBySyncGroup(_ reason: TransitionReason?) -> Bool {
        if case .syncGroup = reason { return true }
        return false
    }
}
