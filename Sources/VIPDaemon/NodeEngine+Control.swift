import NIOCore
import VIPCore
import VIPLinux

/// An operator request the node will not carry out, with the HTTP status the
/// control API answers and a sentence for vipctl to print.
public struct ControlRefusal: Error, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var description: String { message }

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Operator actions: planned failover, maintenance, reload, health. Call on
/// `loop`. Failover and maintenance act on one instance (`--instance`; the
/// only one when there is one) or, for maintenance, on all of them.
extension NodeEngine {
    /// Starts a planned switchover of `instance`; returns a sentence saying what started.
    public func failover(instance name: String? = nil, to target: String?, force: Bool) throws(ControlRefusal) -> String {
        loop.preconditionInEventLoop()
        let runner = try instance(named: name)
        let router = runner.router
        let election = router.election
        let peerIDs = runner.config.peers.map(\.id)
        if let target, target != config.node.id, router.peers[target] == nil {
            throw ControlRefusal(404, "no peer named \(target) (peers: \(peerIDs.joined(separator: ", ")))")
        }
        if let target, target != config.node.id, !force, !router.eligiblePeers.contains(where: { $0.id == target }) {
            let entry = router.peers[target]
            let why = entry?.alive == true ? "is \(entry?.state?.description ?? "unknown")" : "is not heard from"
            throw ControlRefusal(409, "\(target) \(why), not a healthy backup; use --force to try anyway")
        }
        if router.vrrp != nil, election.state == .backup || (target != nil && target != config.node.id) {
            // VRRPv3 has no handover request and cannot name the next master.
            throw ControlRefusal(409, "instance \(runner.name) speaks VRRPv3, which has no planned handover to a named node or from a backup: run vipctl failover without --to on the master (it resigns with priority 0 and the best backup takes over)")
        }
        switch election.state {
        case .master:
            if target == config.node.id { throw ControlRefusal(409, "\(config.node.id) is already master") }
            if target == nil, router.eligiblePeers.isEmpty, !force {
                throw ControlRefusal(409, "no healthy peer can take over (none is a live backup); use --force to try anyway")
            }
            if election.handover != nil { throw ControlRefusal(409, "a handover is already in progress") }
            // A sync group moves as one: its other masters hand over too, or
            // the new master's partners would be outranked and pull it back.
            for member in withSyncPartners(runner) where member.state == .master && member.router.election.handover == nil {
                member.handoverStartedAt = now
                run(member.router.beginHandover(to: target, now: now), member)
            }
            return "handing over to \(target ?? "the best backup"); this node keeps the VIPs until it takes over"
        case .backup:
            guard let master = election.currentMaster else {
                throw ControlRefusal(409, "no master is known to this node; nothing to fail over")
            }
            if target == master { throw ControlRefusal(409, "\(master) is already master") }
            for member in withSyncPartners(runner) where member.state == .backup {
                run(member.router.requestHandover(to: target, now: now), member)
            }
            return "asked master \(master) to hand over to \(target ?? "the best backup")"
        case .fault, .maintenance, .initial:
            throw ControlRefusal(409, "this node is in \(election.state); ask the master or a backup")
        }
    }

    /// Maintenance on/off for one instance, or every instance when `instance`
    /// is nil. A master hands over first; with no peer to take over it
    /// refuses unless `force` (then it drops the VIPs at once).
    public func setMaintenance(_ on: Bool, instance name: String? = nil, force: Bool) throws(ControlRefusal) -> String {
        loop.preconditionInEventLoop()
        // One instance of a sync group takes its group with it (see failover).
        let targets = try name.map { name throws(ControlRefusal) in withSyncPartners(try instance(named: name)) } ?? instances
        if on, !force, let stuck = targets.first(where: { $0.state == .master && $0.router.eligiblePeers.isEmpty }) {
            let which = instances.count > 1 ? " of instance \(stuck.name)" : ""
            throw ControlRefusal(409, "no healthy peer can take over the VIPs\(which); use --force to drop them anyway")
        }
        let now = self.now
        for runner in targets {
            if on, runner.state == .master { runner.handoverStartedAt = now }
            run(runner.router.setMaintenance(on, handOver: !runner.router.eligiblePeers.isEmpty, now: now), runner)
        }
        if on && targets.contains(where: { $0.state == .master }) {
            return "handing the VIPs over; maintenance starts when a peer takes over"
        }
        return on ? "maintenance on" : "maintenance off"
    }

    /// `runner` and the other instances of its sync group, in configuration order.
    func withSyncPartners(_ runner: InstanceRunner) -> [InstanceRunner] {
        guard let group = syncGroup(of: runner.name) else { return [runner] }
        return instances.filter { $0 === runner || group.instances.contains($0.name) }
    }

    /// For external monitors: healthy while every instance is master or backup.
    public func health() -> (healthy: Bool, reason: String) {
        loop.preconditionInEventLoop()
        for runner in instances {
            let prefix = instances.count > 1 ? "\(runner.name): " : ""
            switch runner.state {
            case .master, .backup: continue
            case .fault: return (false, prefix + (runner.lastReason?.description ?? "fault"))
            case .maintenance: return (false, prefix + "maintenance")
            case .initial: return (false, prefix + "starting")
            }
        }
        return (true, instances.count == 1 ? primary.state.description : instances.map { "\($0.name) \($0.state)" }.joined(separator: ", "))
    }

    /// The top-level fields of `VIPConfig` that `reload` compares, each either
    /// applied, refused (needs a restart) or reported as taking effect after a
    /// restart. A field added to `VIPConfig` and not here fails
    /// `ReloadDiffTests`, so a reload can never answer "nothing changed" for
    /// an edit it ignored.
    public static let reloadComparedFields: Set<String> = [
        "node", "peers", "instances", "syncGroups", "auth", "control", "logLevel", "user", "notify",
        "realtimePriority", "lockMemory", "checks", "nginx", "stateDirectory",
    ]

    /// Applies a re-read configuration; refuses changes that need a restart.
    /// Instances are matched by name: new ones start, removed ones stop
    /// (resigning and releasing their VIPs), changed ones are reconfigured in
    /// place; an unchanged instance is not touched. Returns what changed.
    public func reload(_ loaded: LoadedConfig) throws(ControlRefusal) -> [String] {
        loop.preconditionInEventLoop()
        let new = loaded.config
        let old = config
        let pairs = Self.matchInstances(old: old.instances, new: new.instances)
        var fixed: [(String, Bool)] = [
            ("node.id", new.node.id != old.node.id), ("node.address", new.node.address != old.node.address),
            ("node.port", new.node.port != old.node.port), ("node.interface", new.node.interface != old.node.interface),
            ("control.socket", new.control.socket != old.control.socket), ("user", new.user != old.user),
        ]
        for (before, after) in pairs.kept where before.wire != after.wire {
            if case .vrrp3 = before.wire, case .vrrp3 = after.wire {
                fixed.append(("the vrrp3 settings of instance \(after.name) (auth_hmac and its key included)", true))
            } else {
                fixed.append(("the protocol of instance \(after.name)", true))
            }
        }
        let vrrpAdded = pairs.added.contains { if case .vrrp3 = $0.wire { true } else { false } }
        if vrrpAdded && vrrpSender == nil { fixed.append(("the first protocol: vrrp3 instance (it opens the raw socket)", true)) }
        for (before, after) in pairs.kept where before.vrid != after.vrid {
            fixed.append((old.instances.count == 1 ? "vrid" : "the vrid of instance \(after.name) (rename the instance to replace it)", true))
        }
        let needRestart = fixed.filter(\.1).map(\.0)
        guard needRestart.isEmpty else {
            throw ControlRefusal(409, "changing \(needRestart.joined(separator: ", ")) needs a restart; the running configuration is kept")
        }
        let single = old.instances.count == 1 && new.instances.count == 1
        var changes: [String] = []
        for (before, after) in pairs.kept {
            let prefix = single ? "" : "instance \(after.name): "
            if before.priority != after.priority { changes.append("\(prefix)priority \(before.priority) -> \(after.priority)") }
            if before.timing != after.timing { changes.append("\(prefix)timing") }
            if before.peers != after.peers { changes.append("\(prefix)peers") }
            if before.vips != after.vips { changes.append("\(prefix)vips") }
            if before.trackChecks != after.trackChecks { changes.append("\(prefix)track_checks") }
            if before.trackInterfaces != after.trackInterfaces { changes.append("\(prefix)track_interfaces") }
            if before.routes != after.routes { changes.append("\(prefix)routes") }
            if before.rules != after.rules { changes.append("\(prefix)rules") }
        }
        if single, new.peers != old.peers, !changes.contains("peers") { changes.append("peers") }
        changes += pairs.removed.map { "instance \($0.name) removed" } + pairs.added.map { "instance \($0.name) added" }
        if new.syncGroups != old.syncGroups { changes.append("sync_groups") }
        if new.node.priority != old.node.priority, !single { changes.append("node.priority \(old.node.priority) -> \(new.node.priority)") }
        if loaded.keys.fingerprints != keys.fingerprints { changes.append("auth keys (signing \(loaded.keys.signing.fingerprint), accepting \(loaded.keys.fingerprints.joined(separator: ", ")))") }
        let later: [(String, Bool)] = [
            ("log_level", new.logLevel != old.logLevel), ("notify", new.notify != old.notify),
            ("control.group", new.control.group != old.control.group),
            ("control.listen", new.control.listenAddress != old.control.listenAddress || new.control.listenPort != old.control.listenPort),
            ("control.token_file", new.control.tokenFile != old.control.tokenFile),
            ("realtime_priority", new.realtimePriority != old.realtimePriority), ("lock_memory", new.lockMemory != old.lockMemory),
            // The check and nginx services are built at start (Daemon.healthServices):
            // a section that had none, or was removed, needs a restart.
            ("checks", new.checks != old.checks && !(reconfigureChecks != nil && !new.checks.isEmpty)),
            ("nginx", new.nginx != old.nginx && !(reconfigureNginx != nil && new.nginx != nil)),
            ("state_dir", new.stateDirectory != old.stateDirectory),
        ]
        for (field, changed) in later where changed { changes.append("\(field) (takes effect after a restart)") }
        if new.checks != old.checks, !new.checks.isEmpty, let reconfigureChecks {
            reconfigureChecks(new.checks)
            changes.append("checks")
        }
        if new.nginx != old.nginx, let section = new.nginx, let reconfigureNginx {
            reconfigureNginx(section)
            changes.append("nginx")
        }
        apply(new, keys: loaded.keys, pairs: pairs)
        logger.notice("configuration reloaded: \(changes.isEmpty ? "no changes" : changes.joined(separator: "; "))")
        return changes
    }

    /// Old and new instances by name. Two single-router files are one
    /// instance whatever their implicit names say.
    static func matchInstances(old: [InstanceConfig], new: [InstanceConfig])
        -> (kept: [(InstanceConfig, InstanceConfig)], added: [InstanceConfig], removed: [InstanceConfig]) {
        if old.count == 1, new.count == 1, old[0].name == InstanceConfig.implicitName(vrid: old[0].vrid),
           new[0].name == InstanceConfig.implicitName(vrid: new[0].vrid) {
            return ([(old[0], new[0])], [], [])
        }
        let kept = new.compactMap { after in old.first { $0.name == after.name }.map { ($0, after) } }
        return (kept, new.filter { after in !old.contains { $0.name == after.name } },
                old.filter { before in !new.contains { $0.name == before.name } })
    }

    private func apply(_ new: VIPConfig, keys newKeys: HeartbeatKeyring,
                       pairs: (kept: [(InstanceConfig, InstanceConfig)], added: [InstanceConfig], removed: [InstanceConfig])) {
        let now = self.now
        config = new
        keys = newKeys
        for removed in pairs.removed {
            guard let runner = instances.first(where: { $0.name == removed.name }) else { continue }
            run(runner.router.shutdown(now: now), runner)
            instances.removeAll { $0 === runner }
            byVRID[removed.vrid] = nil
        }
        for (before, after) in pairs.kept {
            guard let runner = instances.first(where: { $0.name == before.name }) else { continue }
            runner.update(after)
            run(runner.router.reconfigure(Election.Settings(node: new.node, instance: after), keys: newKeys,
                                          peers: runner.peerList, now: now), runner)
        }
        // Kept instances first, in the new file's order; then new ones start.
        instances.sort { a, b in
            (new.instances.firstIndex { $0.name == a.name } ?? .max) < (new.instances.firstIndex { $0.name == b.name } ?? .max)
        }
        for added in pairs.added {
            let runner = add(added)
            if sender != nil {
                runner.vips.releaseLeftovers()
                run(runner.router.start(now: now), runner)
            }
        }
        readLinks()
        refreshHealth()
        applyFaults()
        reportBackendsIfChanged()
    }
}
