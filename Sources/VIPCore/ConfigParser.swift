import Yams

/// Turns YAML text into a validated `VIPConfig`, or every problem found.
///
/// Pure: the caller reads the file; checks that need the file system (the key
/// file's mode) happen in the daemon's loader.
public enum ConfigParser {
    static let topKeys = ["node", "peers", "vrid", "vips", "timing", "auth", "control", "log_level", "user",
                          "notify", "realtime_priority", "lock_memory", "checks", "nginx", "state_dir",
                          "instances", "sync_groups", "track_interfaces", "routes", "rules"]
    static let idCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> VIPConfig {
        let reader = YAMLReader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigErrors([ConfigIssue(file: file, line: nil, field: "", message: "not valid YAML: \(error)")])
        }
        guard let root else {
            throw ConfigErrors([ConfigIssue(file: file, line: nil, field: "", message: "the file is empty")])
        }
        guard let top = reader.mapping(root, at: "", allowed: topKeys) else { throw ConfigErrors(reader.issues) }

        let node = parseNode(top, reader)
        let peers = parsePeers(top, reader, defaultPort: node?.port ?? ConfigDefaults.port)
        let owners = (node.map { [($0.address, "node.address, this host's own address")] } ?? [])
            + peers.map { ($0.address, "the address of peer \($0.id)") }
        let timing = parseTiming(top, reader)
        let auth = parseAuth(top, reader)
        let control = parseControl(top, reader)
        let logLevel = top.string("log_level") ?? ConfigDefaults.logLevel
        if !ConfigDefaults.logLevels.contains(logLevel) {
            reader.fail("log_level", top.child("log_level"),
                        "expected one of \(ConfigDefaults.logLevels.joined(separator: ", ")), got \"\(logLevel)\"")
        }
        let user = top.string("user") ?? ConfigDefaults.user
        if user.isEmpty || user.count > 32 || !user.allSatisfy({ idCharacters.contains($0) }) {
            reader.fail("user", top.child("user"), "not a valid user name: \"\(user)\"")
        }
        let notify = parseNotify(top, reader)
        let realtimePriority: Int = top.integer("realtime_priority", 0...99) ?? ConfigDefaults.realtimePriority
        let lockMemory = top.bool("lock_memory") ?? true
        let stateDirectory = top.string("state_dir") ?? ConfigDefaults.stateDirectory
        if !stateDirectory.hasPrefix("/") {
            reader.fail("state_dir", top.child("state_dir"), "must be an absolute path, got \"\(stateDirectory)\"")
        }
        if let node { checkClusterConsistency(node: node, peers: peers, top: top, reader) }
        let checks = parseChecks(top, reader)
        let nginx = parseNginx(top, reader)
        let instances = parseInstances(top, reader, node: node, peers: peers, timing: timing ?? TimingConfig(),
                                       owners: owners, checks: checks)
        let syncGroups = parseSyncGroups(top, reader, instances: instances)

        guard reader.issues.isEmpty, let node, timing != nil, let auth, !instances.isEmpty else {
            throw ConfigErrors(reader.issues)
        }
        var config = VIPConfig(node: node, peers: peers, instances: instances,
                               auth: auth, control: control, logLevel: logLevel, user: user, checks: checks, nginx: nginx)
        config.syncGroups = syncGroups
        config.notify = notify
        config.realtimePriority = realtimePriority
        config.lockMemory = lockMemory
        config.stateDirectory = stateDirectory
        return config
    }

    static func validID(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { idCharacters.contains($0) }
    }

    static func parseID(_ map: MappingView, _ reader: YAMLReader) -> String? {
        guard let id = map.string("id", required: true) else { return nil }
        guard validID(id) else {
            reader.fail(map.path("id"), map.child("id"),
                        "must be 1-64 characters of letters, digits, '.', '_' or '-', got \"\(id)\"")
            return nil
        }
        return id
    }

    static func parseNode(_ top: MappingView, _ reader: YAMLReader) -> NodeConfig? {
        guard let raw = top.child("node") else {
            reader.fail("node", top.node, "missing required key")
            return nil
        }
        guard let map = reader.mapping(raw, at: "node", allowed: ["id", "interface", "address", "priority", "port", "witness"]) else { return nil }
        let id = parseID(map, reader)
        let interface = map.string("interface", required: true)
        if let interface, interface.isEmpty || interface.count > 15 || interface.contains("/") || interface.contains(" ") {
            reader.fail("node.interface", map.child("interface"), "not a valid interface name: \"\(interface)\"")
        }
        let address = map.address("address", required: true)
        let priority: UInt8? = map.integer("priority", 1...254, required: true)
        let port: UInt16 = map.integer("port", 1...65535) ?? ConfigDefaults.port
        guard let id, let interface, let address, let priority else { return nil }
        var node = NodeConfig(id: id, interface: interface, address: address, priority: priority, port: port)
        node.witness = map.bool("witness") ?? false
        return node
    }

    static func parsePeers(_ top: MappingView, _ reader: YAMLReader, defaultPort: UInt16) -> [PeerConfig] {
        if top.child("peers") == nil { reader.fail("peers", top.node, "missing required key (list at least one other node)") }
        var peers: [PeerConfig] = []
        for (item, path) in top.list("peers") {
            guard let map = reader.mapping(item, at: path, allowed: ["id", "address", "port"]) else { continue }
            let id = parseID(map, reader)
            let address = map.address("address", required: true)
            let port: UInt16 = map.integer("port", 1...65535) ?? defaultPort
            if let id, let address { peers.append(PeerConfig(id: id, address: address, port: port)) }
        }
        if top.child("peers") != nil && peers.isEmpty && reader.issues.isEmpty {
            reader.fail("peers", top.child("peers"), "list at least one other node")
        }
        return peers
    }

    /// `owners`: addresses that belong to a node (this one's, the peers'),
    /// with how to name them. A VIP equal to one is refused: vipd removes a
    /// VIP whenever it is not master (and at start, as a leftover), and would
    /// take that node's own address, and its network, with it.
    static func parseVIPs(_ top: MappingView, _ reader: YAMLReader, defaultInterface: String?,
                          owners: [(IPAddress, String)] = []) -> [VIPSpec] {
        var vips: [VIPSpec] = []
        for (item, path) in top.list("vips") {
            guard let map = reader.mapping(item, at: path, allowed: ["address", "interface", "label"]) else { continue }
            guard let text = map.string("address", required: true) else { continue }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let address = IPAddress(String(parts[0])), let prefix = Int(parts[1]),
                  (0...(address.isIPv4 ? 32 : 128)).contains(prefix)
            else {
                reader.fail("\(path).address", map.child("address"),
                            "expected ADDRESS/PREFIX such as 198.18.0.100/24 or 2001:db8::10/64, got \"\(text)\"")
                continue
            }
            if let owner = owners.first(where: { $0.0 == address }) {
                reader.fail("\(path).address", map.child("address"),
                            "\(address) is \(owner.1): a VIP must be an address no node owns (vipd deletes it from the interface whenever this node is not master)")
            }
            let label = map.string("label")
            if label != nil, !address.isIPv4 {
                reader.fail("\(path).label", map.child("label"), "labels exist only for IPv4 addresses")
            }
            guard let interface = map.string("interface") ?? defaultInterface else { continue }
            if let label, !(label == interface || label.hasPrefix(interface + ":")) || label.count > 15 {
                reader.fail("\(path).label", map.child("label"),
                            "must be the interface name or start with \"\(interface):\", at most 15 characters")
            }
            let vip = VIPSpec(address: address, prefixLength: prefix, interface: interface, label: label)
            if vips.contains(where: { $0.address == address }) {
                reader.fail("\(path).address", map.child("address"), "\(address) is listed twice")
            }
            vips.append(vip)
        }
        return vips
    }

    /// `timing:` of `top` (the file, or an instance), starting from `defaults`
    /// (an instance inherits the file's timing and overrides what it sets).
    static func parseTiming(_ top: MappingView, _ reader: YAMLReader,
                            defaults: TimingConfig = TimingConfig()) -> TimingConfig? {
        var timing = defaults
        guard let raw = top.child("timing") else { return timing }
        let base = top.path("timing")
        guard let map = reader.mapping(raw, at: base,
                                       allowed: ["advert_interval", "standby_interval", "preempt", "preempt_delay", "nopreempt",
                                                 "detection"]) else { return nil }
        // The wire carries centiseconds in 16 bits; below 10 ms timers outrun schedulers.
        if let interval = map.span("advert_interval", .milliseconds(10)...Span.seconds(25)) {
            if interval.nanoseconds % 10_000_000 != 0 {
                reader.fail("\(base).advert_interval", map.child("advert_interval"),
                            "must be a whole number of centiseconds (10ms steps), got \(interval)")
            }
            timing.advertInterval = interval
        }
        if let standby = map.span("standby_interval", .milliseconds(10)...Span.seconds(25)) {
            if standby.nanoseconds % 10_000_000 != 0 {
                reader.fail("\(base).standby_interval", map.child("standby_interval"),
                            "must be a whole number of centiseconds (10ms steps), got \(standby)")
            } else if standby < timing.advertInterval {
                reader.fail("\(base).standby_interval", map.child("standby_interval"),
                            "must not be shorter than timing.advert_interval (\(timing.advertInterval)), got \(standby)")
            }
            timing.standbyInterval = standby
        }
        let preempt = map.bool("preempt")
        let nopreempt = map.bool("nopreempt")
        if let preempt, let nopreempt, preempt == nopreempt {
            reader.fail("\(base).nopreempt", map.child("nopreempt"),
                        "contradicts timing.preempt; set only one of them (nopreempt is keepalived's spelling of preempt: false)")
        }
        timing.preempt = preempt ?? nopreempt.map { !$0 } ?? defaults.preempt
        if let delay = map.span("preempt_delay", .zero...Span.seconds(3600)) { timing.preemptDelay = delay }
        if let raw = map.child("detection") { timing.detection = parseDetection(raw, reader, at: "\(base).detection") ?? .rfc }
        return timing
    }

    /// `timing.detection`: `mode: rfc` (default) or `mode: adaptive` with the
    /// false-takeover rate it aims at and its ceiling in intervals.
    static func parseDetection(_ raw: Node, _ reader: YAMLReader, at base: String) -> DetectionPolicy? {
        guard let map = reader.mapping(raw, at: base,
                                       allowed: ["mode", "false_takeovers_per_week", "max_intervals"]) else { return nil }
        let mode = map.string("mode") ?? "rfc"
        let ceiling: Int = map.integer("max_intervals", 2...100) ?? ConfigDefaults.detectionMaxIntervals
        var rate = ConfigDefaults.falseTakeoversPerWeek
        if let text = map.string("false_takeovers_per_week") {
            if let value = Double(text), value > 0, value <= 10_000 {
                rate = value
            } else {
                reader.fail("\(base).false_takeovers_per_week", map.child("false_takeovers_per_week"),
                            "expected a number above 0 and at most 10000, got \"\(text)\"")
            }
        }
        switch mode {
        case "rfc":
            return .rfc
        case "adaptive":
            return .adaptive(falseTakeoversPerWeek: rate, ceilingIntervals: ceiling)
        default:
            reader.fail("\(base).mode", map.child("mode"), "expected rfc or adaptive, got \"\(mode)\"")
            return nil
        }
    }

    static func parseAuth(_ top: MappingView, _ reader: YAMLReader) -> AuthConfig? {
        guard let raw = top.child("auth") else {
            reader.fail("auth", top.node, "missing required key (heartbeats are always authenticated: set auth.key_file)")
            return nil
        }
        guard let map = reader.mapping(raw, at: "auth", allowed: ["key_file", "accept_key_files"]),
              let path = map.string("key_file", required: true) else { return nil }
        guard path.hasPrefix("/") else {
            reader.fail("auth.key_file", map.child("key_file"), "must be an absolute path, got \"\(path)\"")
            return nil
        }
        var accepted: [String] = []
        for (item, field) in map.list("accept_key_files") {
            guard let extra = item.string, extra.hasPrefix("/") else {
                reader.fail(field, item, "must be an absolute path of a key file")
                continue
            }
            if extra == path || accepted.contains(extra) {
                reader.fail(field, item, "\(extra) is listed twice (auth.key_file is always accepted)")
                continue
            }
            accepted.append(extra)
        }
        if accepted.count > 4 {
            reader.fail("auth.accept_key_files", map.child("accept_key_files"), "at most 4 keys besides auth.key_file (a rotation needs one)")
        }
        return AuthConfig(keyFile: path, acceptKeyFiles: accepted)
    }

    static func parseControl(_ top: MappingView, _ reader: YAMLReader) -> ControlConfig {
        var control = ControlConfig(socket: ConfigDefaults.controlSocket)
        guard let raw = top.child("control"),
              let map = reader.mapping(raw, at: "control", allowed: ["socket", "group", "listen", "token_file"]) else { return control }
        if let socket = map.string("socket") {
            // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
            if !socket.hasPrefix("/") || socket.utf8.count > 107 {
                reader.fail("control.socket", map.child("socket"), "must be an absolute path of at most 107 bytes")
            }
            control.socket = socket
        }
        if let group = map.string("group") {
            if group.isEmpty || group.count > 32 || !group.allSatisfy({ idCharacters.contains($0) }) {
                reader.fail("control.group", map.child("group"), "not a valid group name: \"\(group)\"")
            }
            control.group = group
        }
        if let listen = map.string("listen") {
            // ADDRESS:PORT, with [v6]:port for IPv6; loopback only: the token is the only other guard.
            var host = Substring(listen)
            var port: UInt16?
            if let colon = listen.lastIndex(of: ":") {
                host = listen[..<colon]
                port = UInt16(listen[listen.index(after: colon)...])
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            let address = IPAddress(String(host))
            let loopback = address.map { $0.isIPv4 ? $0.bytes[0] == 127 : $0.bytes == Array(repeating: 0, count: 15) + [1] } ?? false
            if address == nil || port == nil || port == 0 || !loopback {
                reader.fail("control.listen", map.child("listen"),
                            "expected a loopback ADDRESS:PORT such as 127.0.0.1:9798, got \"\(listen)\"")
            }
            control.listenAddress = address
            control.listenPort = port
            if map.child("token_file") == nil {
                reader.fail("control.token_file", map.node, "required with control.listen (the TCP API needs a bearer token)")
            }
        }
        if let token = map.string("token_file") {
            if !token.hasPrefix("/") { reader.fail("control.token_file", map.child("token_file"), "must be an absolute path") }
            control.tokenFile = token
        }
        return control
    }

    /// Rules that span fields: unique ids and addresses, one address family.
    static func checkClusterConsistency(node: NodeConfig, peers: [PeerConfig], top: MappingView, _ reader: YAMLReader) {
        var ids: Set<String> = [node.id]
        var endpoints: Set<String> = ["\(node.address):\(node.port)"]
        for (index, peer) in peers.enumerated() {
            let field = "peers[\(index)]"
            if !ids.insert(peer.id).inserted {
                reader.fail("\(field).id", top.child("peers"), "node id \"\(peer.id)\" is used twice")
            }
            if !endpoints.insert("\(peer.address):\(peer.port)").inserted {
                reader.fail("\(field).address", top.child("peers"), "\(peer.address):\(peer.port) is used twice")
            }
            if peer.address.isIPv4 != node.address.isIPv4 {
                reader.fail("\(field).address", top.child("peers"), "must be the same address family as node.address")
            }
        }
    }
}
