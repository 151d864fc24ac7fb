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

/// Operator actions: planned failover, maintenance, reload, health. Call on `loop`.
extension NodeEngine {
    /// Peers that could take over now: heard recently and in the backup state.
    var eligiblePeers: [PeerTable.Entry] { peers.entries.filter { $0.alive && $0.state == .backup } }

    /// Starts a planned switchover; returns a sentence saying what started.
    public func failover(to target: String?, force: Bool) throws(ControlRefusal) -> String {
        loop.preconditionInEventLoop()
        if let target, target != config.node.id, peers[target] == nil {
            throw ControlRefusal(404, "no peer named \(target) (peers: \(config.peers.map(\.id).joined(separator: ", ")))")
        }
        if let target, target != config.node.id, !force, !eligiblePeers.contains(where: { $0.id == target }) {
            let entry = peers[target]
            let why = entry?.alive == true ? "is \(entry?.state?.description ?? "unknown")" : "is not heard from"
            throw ControlRefusal(409, "\(target) \(why), not a healthy backup; use --force to try anyway")
        }
        switch election.state {
        case .master:
            if target == config.node.id { throw ControlRefusal(409, "\(config.node.id) is already master") }
            if target == nil, eligiblePeers.isEmpty, !force {
                throw ControlRefusal(409, "no healthy peer can take over (none is a live backup); use --force to try anyway")
            }
            if election.handover != nil { throw ControlRefusal(409, "a handover is already in progress") }
            handoverStartedAt = now
            run(election.beginHandover(to: target, now: now))
            return "handing over to \(target ?? "the best backup"); this node keeps the VIPs until it takes over"
        case .backup:
            guard let master = election.currentMaster else {
                throw ControlRefusal(409, "no master is known to this node; nothing to fail over")
            }
            if target == master { throw ControlRefusal(409, "\(master) is already master") }
            run(election.requestHandover(to: target, now: now))
            return "asked master \(master) to hand over to \(target ?? "the best backup")"
        case .fault, .maintenance, .initial:
            throw ControlRefusal(409, "this node is in \(election.state); ask the master or a backup")
        }
    }

    /// Maintenance on/off. A master hands over first; with no peer to take
    /// over it refuses unless `force` (then it drops the VIPs at once).
    public func setMaintenance(_ on: Bool, force: Bool) throws(ControlRefusal) -> String {
        loop.preconditionInEventLoop()
        let canHandOver = !eligiblePeers.isEmpty
        if on, election.state == .master, !canHandOver, !force {
            throw ControlRefusal(409, "no healthy peer can take over the VIPs; use --force to drop them anyway")
        }
        if on, election.state == .master { handoverStartedAt = now }
        run(election.setMaintenance(on, handOver: canHandOver, now: now))
        if on && election.state == .master { return "handing the VIPs over; maintenance starts when a peer takes over" }
        return on ? "maintenance on" : "maintenance off"
    }

    /// For external monitors: healthy while master or backup.
    public func health() -> (healthy: Bool, reason: String) {
        loop.preconditionInEventLoop()
        switch election.state {
        case .master, .backup: return (true, election.state.description)
        case .fault: return (false, lastReason?.description ?? "fault")
        case .maintenance: return (false, "maintenance")
        case .initial: return (false, "starting")
        }
    }

    /// The top-level fields of `VIPConfig` that `reload` compares, each either
    /// applied, refused (needs a restart) or reported as taking effect after a
    /// restart. A field added to `VIPConfig` and not here fails
    /// `ReloadDiffTests`, so a reload can never answer "nothing changed" for
    /// an edit it ignored.
    public static let reloadComparedFields: Set<String> = [
        "node", "peers", "vrid", "vips", "timing", "auth", "control", "logLevel", "user", "notify",
        "realtimePriority", "lockMemory", "checks", "nginx", "stateDirectory",
    ]

    /// Applies a re-read configuration; refuses changes that need a restart.
    /// Returns the list of what changed.
    public func reload(_ loaded: LoadedConfig) throws(ControlRefusal) -> [String] {
        loop.preconditionInEventLoop()
        let new = loaded.config
        let old = config
        let fixed: [(String, Bool)] = [
            ("node.id", new.node.id != old.node.id), ("node.address", new.node.address != old.node.address),
            ("node.port", new.node.port != old.node.port), ("node.interface", new.node.interface != old.node.interface),
            ("vrid", new.vrid != old.vrid),
            ("control.socket", new.control.socket != old.control.socket), ("user", new.user != old.user),
        ]
        let needRestart = fixed.filter(\.1).map(\.0)
        guard needRestart.isEmpty else {
            throw ControlRefusal(409, "changing \(needRestart.joined(separator: ", ")) needs a restart; the running configuration is kept")
        }
        var changes: [String] = []
        if new.node.priority != old.node.priority { changes.append("priority \(old.node.priority) -> \(new.node.priority)") }
        if new.timing != old.timing { changes.append("timing") }
        if new.peers != old.peers { changes.append("peers") }
        if new.vips != old.vips { changes.append("vips") }
        if loaded.keys.fingerprints != keys.fingerprints { changes.append("auth keys (signing \(loaded.keys.signing.fingerprint), accepting \(loaded.keys.fingerprints.joined(separator: ", ")))") }
        let later: [(String, Bool)] = [
            ("log_level", new.logLevel != old.logLevel), ("notify", new.notify != old.notify),
            ("control.group", new.control.group != old.control.group),
            ("control.listen", new.control.listenAddress != old.control.listenAddress || new.control.listenPort != old.control.listenPort),
            ("control.token_file", new.control.tokenFile != old.control.tokenFile),
            ("realtime_priority", new.realtimePriority != old.realtimePriority), ("lock_memory", new.lockMemory != old.lockMemory),
            // The check and nginx services are built at start (Daemon.healthServices);
            // applying them live is issue 13's work. Until then a reload says so.
            ("checks", new.checks != old.checks), ("nginx", new.nginx != old.nginx),
            ("state_dir", new.stateDirectory != old.stateDirectory),
        ]
        for (field, changed) in later where changed { changes.append("\(field) (takes effect after a restart)") }
        let peerList = new.peers.map { HeartbeatAdmission.Peer(id: $0.id, address: $0.address) }
        config = new
        keys = loaded.keys
        admission.reconfigure(keys: loaded.keys, peers: peerList)
        peers.reconfigure(peers: peerList)
        vips.update(new.vips)
        run(election.reconfigure(Election.Settings(config: new), now: now))
        logger.notice("configuration reloaded: \(changes.isEmpty ? "no changes" : changes.joined(separator: "; "))")
        return changes
    }
}
