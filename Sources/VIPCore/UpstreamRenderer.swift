/// What the nginx upstream depends on: this node's backend verdict and what
/// the peers' heartbeats say about theirs. The engine reports it whenever it
/// changes; equal views render equal text.
public struct BackendHealthView: Sendable, Equatable {
    /// One peer's backend, as its heartbeats describe it.
    public struct Peer: Sendable, Equatable {
        public var id: String
        public var address: IPAddress
        /// Heartbeats are arriving (`PeerTable.Entry.alive`).
        public var alive: Bool
        /// A heartbeat has ever arrived since this node started.
        public var heard: Bool
        /// The last heartbeat carried `.backendHealthy`.
        public var reportsHealthy: Bool

        public init(id: String, address: IPAddress, alive: Bool, heard: Bool, reportsHealthy: Bool) {
            self.id = id
            self.address = address
            self.alive = alive
            self.heard = heard
            self.reportsHealthy = reportsHealthy
        }
    }

    /// This node's own backend checks all pass (`HealthVerdict.backendHealthy`).
    public var localHealthy: Bool
    /// In configuration order.
    public var peers: [Peer]

    public init(localHealthy: Bool, peers: [Peer]) {
        self.localHealthy = localHealthy
        self.peers = peers
    }
}

extension PeerTable {
    /// The peers' part of a `BackendHealthView`.
    public func backendView(localHealthy: Bool) -> BackendHealthView {
        // A witness runs no backend: out of the upstream once it is heard.
        BackendHealthView(localHealthy: localHealthy, peers: entries.filter { !$0.flags.contains(.witness) }.map {
            .init(id: $0.id, address: $0.address, alive: $0.alive, heard: $0.lastHeard != nil,
                  reportsHealthy: $0.flags.contains(.backendHealthy))
        })
    }
}

/// Renders the nginx `upstream` block for the backends of every node
/// (docs/nginx.md). Pure text; the daemon's `NginxFrontManager` writes it.
///
/// - One `server ADDRESS:PORT;` line per node, this node first, then the
///   peers in configuration order, each with a comment saying whose it is.
/// - A peer's backend is `down` when its heartbeats stopped (or never came)
///   or its last heartbeat lacked `.backendHealthy`; this node's when its own
///   backend checks fail.
/// - Never all `down`: nginx would answer 502 to everything. If every backend
///   looks unhealthy, all are listed as up, with a comment saying why, and
///   with `max_fails=0`: otherwise nginx's passive checks take each one out
///   for `fail_timeout` (10 s) after its first failed request, so when both
///   bingo instances die at once the first to come back would get no request
///   until vipd's checks rise and the next rendering reloads nginx. With
///   `max_fails=0` the first request after a backend listens again reaches
///   it (lab/bench_both_die.py measures the difference).
/// - Otherwise every server up has `fail_timeout=1s` (nginx's default is
///   10 s). A database failover or switchover makes both bingos answer 500
///   for about a second; each 500 (listed in proxy_next_upstream) counts as
///   a failure, and with the default both servers then rested for 10 s and
///   nginx answered 502 to everything meanwhile (the acceptance's db items:
///   ~1000 502s for a 0.5 s database pause). vipd's own checks are what
///   take a broken backend out; nginx's passive check need only bridge the
///   moment until they do.
/// - Each server up is listed a second time as `backup max_fails=0`. A
///   failure common to every backend (the database moving: both bingos
///   answer 500 for a fraction of a second) rests all of them at once, and
///   nginx then answered 502 ("no live upstreams") to every request for the
///   whole second of `fail_timeout`, long after the database was back. With
///   the backups it sends those requests to the same healthy backends
///   instead; a dead one costs one connect timeout per second, as before.
/// - No timestamps: the same health gives byte-identical text, which is how
///   the manager knows nothing changed.
public enum UpstreamRenderer {
    /// How long nginx rests a server after a failed request (see above).
    public static let passiveRest = "1s"

    /// One `server` line before rendering.
    public struct Server: Sendable, Equatable {
        public var node: String
        public var address: IPAddress
        public var healthy: Bool
        /// Why it is in this state, for the comment.
        public var note: String
    }

    public static func servers(node: NodeConfig, view: BackendHealthView) -> [Server] {
        var servers = [Server(node: node.id, address: node.address, healthy: view.localHealthy,
                              note: "this node: " + (view.localHealthy ? "backend checks pass" : "backend checks fail"))]
        for peer in view.peers {
            let note = !peer.heard ? "no heartbeat yet"
                : !peer.alive ? "heartbeats stopped"
                : peer.reportsHealthy ? "reports its backend healthy" : "reports its backend unhealthy"
            servers.append(Server(node: peer.id, address: peer.address,
                                  healthy: peer.alive && peer.reportsHealthy, note: note))
        }
        return servers
    }

    public static func render(_ nginx: NginxConfig, node: NodeConfig, view: BackendHealthView) -> String {
        let servers = servers(node: node, view: view)
        let allDown = !servers.contains(where: \.healthy)
        var lines = [
            "# Rendered by vipd on \(node.id). Do not edit: vipd rewrites this file",
            "# whenever a backend's health changes (docs/nginx.md).",
            "upstream \(nginx.upstreamName) {",
        ]
        if allDown {
            lines += [
                "    # Every backend looks unhealthy, so all are listed as up: with every",
                "    # server marked down nginx would answer 502 to every request, while a",
                "    # sick backend may still answer some (nginx's retries still apply).",
                "    # max_fails=0: nginx tries them on every request instead of resting",
                "    # each for fail_timeout after a failure, so one coming back is used at once.",
            ]
        }
        func endpoint(_ server: Server) -> String {
            (server.address.isIPv4 ? "\(server.address)" : "[\(server.address)]") + ":\(nginx.backendPort)"
        }
        for server in servers {
            let down = allDown ? " max_fails=0" : server.healthy ? " fail_timeout=\(passiveRest)" : " down"
            lines.append("    server \(endpoint(server))\(down);  # \(server.node) (\(server.note))")
        }
        if !allDown {
            lines.append("    # The healthy ones again, for when nginx rests all of the above at once.")
            for server in servers where server.healthy {
                lines.append("    server \(endpoint(server)) backup max_fails=0;  # \(server.node)")
            }
        }
        if nginx.keepalive > 0 { lines.append("    keepalive \(nginx.keepalive);") }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
