import Yams

/// `instances:` and `sync_groups:` (docs/config.md#instances). A file
/// without `instances:` describes one virtual router with the top-level
/// `vrid`, `vips` and `timing`, as before; with it, those live per instance
/// and the top-level `timing` is what every instance starts from.
extension ConfigParser {
    static let instanceKeys = ["name", "vrid", "priority", "vips", "timing", "peers", "track_checks",
                               "track_interfaces", "routes", "rules", "protocol", "vrrp3", "quorum"]

    static func parseInstances(_ top: MappingView, _ reader: YAMLReader, node: NodeConfig?, peers: [PeerConfig],
                               timing: TimingConfig, owners: [(IPAddress, String)],
                               checks: [CheckConfig]) -> [InstanceConfig] {
        guard top.child("instances") != nil else {
            let vrid: UInt8? = top.integer("vrid", 1...255, required: true)
            let vips = parseVIPs(top, reader, defaultInterface: node?.interface, owners: owners)
            let tracked = parseTrackedInterfaces(top, reader)
            let routes = parseRoutes(top, reader)
            let rules = parseRules(top, reader)
            guard let node, let vrid else { return [] }
            var only = InstanceConfig(name: InstanceConfig.implicitName(vrid: vrid), vrid: vrid, priority: node.priority,
                                      vips: vips, timing: timing, peers: peers, trackInterfaces: tracked, routes: routes)
            only.rules = rules
            return [only]
        }
        for key in ["vrid", "vips", "track_interfaces", "routes", "rules", "protocol", "vrrp3"] where top.child(key) != nil {
            reader.fail(key, top.child(key), "set \(key) per instance when the file has instances:")
        }
        var instances: [InstanceConfig] = []
        var names: Set<String> = []
        var vrids: Set<UInt8> = []
        var vipOwners: [IPAddress: String] = [:]
        for (item, path) in top.list("instances") {
            guard let map = reader.mapping(item, at: path, allowed: instanceKeys) else { continue }
            let name = map.string("name", required: true)
            if let name {
                if !validID(name) {
                    reader.fail(map.path("name"), map.child("name"),
                                "must be 1-64 characters of letters, digits, '.', '_' or '-', got \"\(name)\"")
                } else if !names.insert(name).inserted {
                    reader.fail(map.path("name"), map.child("name"), "instance \"\(name)\" is defined twice")
                }
            }
            let vrid: UInt8? = map.integer("vrid", 1...255, required: true)
            if let vrid, !vrids.insert(vrid).inserted {
                // The VRID is what a datagram names its instance by.
                reader.fail(map.path("vrid"), map.child("vrid"), "vrid \(vrid) is used by another instance")
            }
            let priority: UInt8? = map.integer("priority", 1...254) ?? node?.priority
            let vips = parseVIPs(map, reader, defaultInterface: node?.interface, owners: owners)
            for vip in vips {
                if let other = vipOwners[vip.address] {
                    reader.fail(map.path("vips"), map.child("vips"), "\(vip.address) is also a VIP of instance \(other)")
                }
                vipOwners[vip.address] = name ?? path
            }
            let instanceTiming = parseTiming(map, reader, defaults: timing)
            let instancePeers = parseInstancePeers(map, reader, peers: peers)
            let tracked = parseTrackedChecks(map, reader, checks: checks)
            let interfaces = parseTrackedInterfaces(map, reader)
            let routes = parseRoutes(map, reader)
            let rules = parseRules(map, reader)
            guard let name, let vrid, let priority, let instanceTiming else { continue }
            var instance = InstanceConfig(name: name, vrid: vrid, priority: priority, vips: vips, timing: instanceTiming,
                                          peers: instancePeers, trackChecks: tracked, trackInterfaces: interfaces,
                                          routes: routes)
            instance.rules = rules
            if let wire = parseWire(map, reader) { instance.wire = wire }
            instance.quorum = parseQuorum(map, reader, instance: instance)
            if case .vrrp3 = instance.wire {
                if case .adaptive = instance.timing.detection {
                    reader.fail(map.path("timing"), map.child("timing") ?? map.node,
                                "timing.detection: adaptive needs vipd's sequence numbers; VRRPv3 has none (use rfc)")
                }
                if node?.address.isIPv4 == false {
                    reader.fail(map.path("protocol"), map.child("protocol"), "protocol: vrrp3 over IPv6 is not in this revision")
                }
                if instance.timing.advertInterval > VRRPCodec.maxInterval {
                    reader.fail(map.path("timing"), map.child("timing") ?? map.node, "VRRPv3 carries at most 40.95s of advert interval")
                }
            }
            instances.append(instance)
        }
        if instances.isEmpty && reader.issues.isEmpty {
            reader.fail("instances", top.child("instances"), "list at least one instance")
        }
        if node?.witness == true, !instances.isEmpty, !instances.contains(where: \.quorum) {
            reader.fail("node.witness", top.child("node"), "a witness only votes in instances with quorum: true, and none has it")
        }
        return instances
    }

    /// `quorum: true`: the majority rule (docs/config.md, "Quorum"). A
    /// majority of two is both, so it needs two peers at least, one of them
    /// may be a witness; VRRPv3 carries no votes.
    static func parseQuorum(_ map: MappingView, _ reader: YAMLReader, instance: InstanceConfig) -> Bool {
        guard let quorum = map.bool("quorum"), quorum else { return false }
        if instance.peers.count < 2 {
            reader.fail(map.path("quorum"), map.child("quorum"),
                        "needs at least three members (this node and two peers, e.g. a witness); the instance has \(instance.peers.count + 1)")
        }
        if case .vrrp3 = instance.wire {
            reader.fail(map.path("quorum"), map.child("quorum"), "protocol: vrrp3 carries no votes; quorum needs protocol: vipd")
        }
        return true
    }

    /// `peers: [id, ...]`: a subset of the file's peers (default: all).
    static func parseInstancePeers(_ map: MappingView, _ reader: YAMLReader, peers: [PeerConfig]) -> [PeerConfig] {
        guard map.child("peers") != nil else { return peers }
        var chosen: [PeerConfig] = []
        for (item, path) in map.list("peers") {
            guard let id = item.scalar?.string, let peer = peers.first(where: { $0.id == id }) else {
                reader.fail(path, item, "expected the id of a peer listed under peers: (\(peers.map(\.id).joined(separator: ", ")))")
                continue
            }
            if !chosen.contains(peer) { chosen.append(peer) }
        }
        if chosen.isEmpty && map.child("peers") != nil {
            reader.fail(map.path("peers"), map.child("peers"), "list at least one peer")
        }
        return chosen
    }

    /// `track_checks: [name, {name: N, weight: W}, ...]`; absent: every check.
    static func parseTrackedChecks(_ map: MappingView, _ reader: YAMLReader, checks: [CheckConfig]) -> [TrackedCheck]? {
        guard map.child("track_checks") != nil else { return nil }
        var tracked: [TrackedCheck] = []
        for (item, path) in map.list("track_checks") {
            var check: TrackedCheck?
            if let name = item.scalar?.string {
                check = TrackedCheck(name: name)
            } else if let entry = reader.mapping(item, at: path, allowed: ["name", "weight"]),
                      let name = entry.string("name", required: true) {
                let weight: Int? = entry.integer("weight", -253...253)
                if weight == 0 { reader.fail(entry.path("weight"), entry.child("weight"), "a weight of 0 does nothing; leave it out or use -253...-1 or 1...253") }
                check = TrackedCheck(name: name, weight: weight)
            }
            guard let check else { continue }
            guard let definition = checks.first(where: { $0.name == check.name }) else {
                reader.fail(path, item, "no check named \"\(check.name)\" under checks: (\(checks.map(\.name).joined(separator: ", ")))")
                continue
            }
            if definition.role == .monitor {
                reader.fail(path, item, "\"\(check.name)\" is role: monitor, which no instance can follow (it only reports and restarts); use role: weight or front to make it count")
                continue
            }
            if check.weight != nil, definition.role != .weight {
                reader.fail(path, item, "a weight applies only to a check with role: weight (\"\(check.name)\" is \(definition.role.rawValue))")
            }
            tracked.append(check)
        }
        return tracked
    }

    /// `track_interfaces: [eth0, {name: eth1, up_debounce: 2s}]`.
    static func parseTrackedInterfaces(_ map: MappingView, _ reader: YAMLReader) -> [TrackedInterface] {
        var tracked: [TrackedInterface] = []
        for (item, path) in map.list("track_interfaces") {
            var interface: TrackedInterface?
            if let name = item.scalar?.string {
                interface = TrackedInterface(name: name)
            } else if let entry = reader.mapping(item, at: path, allowed: ["name", "up_debounce"]),
                      let name = entry.string("name", required: true) {
                interface = TrackedInterface(name: name, upDebounce: entry.span("up_debounce", .zero...Span.seconds(3600))
                                                 ?? TrackedInterface.defaultUpDebounce)
            }
            guard let interface else { continue }
            if interface.name.isEmpty || interface.name.count > 15 || interface.name.contains("/") || interface.name.contains(" ") {
                reader.fail(path, item, "not a valid interface name: \"\(interface.name)\"")
                continue
            }
            tracked.append(interface)
        }
        return tracked
    }

    /// `routes: [{to: 198.18.5.0/24 | default, via: GATEWAY, dev: IFACE, metric: N, table: N}]`:
    /// installed while the instance is master. A route needs `via` or `dev`.
    static func parseRoutes(_ map: MappingView, _ reader: YAMLReader) -> [RouteSpec] {
        var routes: [RouteSpec] = []
        for (item, path) in map.list("routes") {
            guard let entry = reader.mapping(item, at: path, allowed: ["to", "via", "dev", "metric", "table"]),
                  let to = entry.string("to", required: true) else { continue }
            let gateway = entry.address("via")
            var destination: (IPAddress, Int)?
            if to == "default" {
                let v4 = gateway?.isIPv4 ?? true
                destination = (IPAddress(bytes: [UInt8](repeating: 0, count: v4 ? 4 : 16))!, 0)
            } else {
                let parts = to.split(separator: "/", omittingEmptySubsequences: false)
                if let address = IPAddress(String(parts[0])) {
                    let prefix = parts.count == 2 ? Int(parts[1]) : (address.isIPv4 ? 32 : 128)
                    if let prefix, (0...(address.isIPv4 ? 32 : 128)).contains(prefix) { destination = (address, prefix) }
                }
            }
            guard let (address, prefix) = destination else {
                reader.fail(entry.path("to"), entry.child("to"), "expected ADDRESS/PREFIX or default, got \"\(to)\"")
                continue
            }
            if let gateway, gateway.isIPv4 != address.isIPv4 {
                reader.fail(entry.path("via"), entry.child("via"), "must be the same address family as \(to)")
            }
            let dev = entry.string("dev")
            if gateway == nil && dev == nil {
                reader.fail(path, item, "a route needs via (a gateway), dev (an interface) or both")
            }
            let table: UInt32? = entry.integer("table", 1...0xFFFF_FFFE)
            if let table, [253, 255].contains(table) {
                reader.fail(entry.path("table"), entry.child("table"), "table \(table) is reserved by the kernel")
            }
            let route = RouteSpec(destination: address, prefixLength: prefix, gateway: gateway, interface: dev,
                                  metric: entry.integer("metric", 0...UInt32.max), table: table)
            if routes.contains(where: { $0.destination == address && $0.prefixLength == prefix && $0.table == table && $0.metric == route.metric }) {
                reader.fail(path, item, "\(route.description) is listed twice")
            }
            routes.append(route)
        }
        return routes
    }

    /// `protocol: vipd | vrrp3` and, for vrrp3, `vrrp3: {multicast, checksum, unauthenticated, auth_hmac}`.
    static func parseWire(_ map: MappingView, _ reader: YAMLReader) -> InstanceConfig.Wire? {
        let name = map.string("protocol") ?? "vipd"
        switch name {
        case "vipd":
            if map.child("vrrp3") != nil { reader.fail(map.path("vrrp3"), map.child("vrrp3"), "only with protocol: vrrp3") }
            return .vipd
        case "vrrp3":
            var settings = VRRP3Settings()
            if let raw = map.child("vrrp3"),
               let entry = reader.mapping(raw, at: map.path("vrrp3"),
                                          allowed: ["multicast", "checksum", "unauthenticated", "auth_hmac"]) {
                settings.multicast = entry.bool("multicast") ?? true
                if let text = entry.string("checksum") {
                    if let mode = VRRPChecksumMode(rawValue: text) {
                        settings.checksum = mode
                    } else {
                        reader.fail(entry.path("checksum"), entry.child("checksum"),
                                    "expected one of \(VRRPChecksumMode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
                    }
                }
                settings.unauthenticated = entry.bool("unauthenticated") ?? false
                settings.authHMAC = parseAuthHMAC(entry, reader)
            }
            if !settings.unauthenticated && settings.authHMAC == nil {
                reader.fail(map.path("protocol"), map.child("protocol"),
                            "VRRPv3 carries no authentication: anyone on the segment can take the VIP with one packet; configure vrrp3.auth_hmac (keepalived 2.4's HMAC trailer) or set vrrp3.unauthenticated: true to run it anyway")
            }
            return .vrrp3(settings)
        default:
            reader.fail(map.path("protocol"), map.child("protocol"), "expected vipd or vrrp3, got \"\(name)\"")
            return nil
        }
    }

    /// `rules: [{from: PREFIX, to: PREFIX, iif: IFACE, oif: IFACE, table: N, priority: N}]`:
    /// held while the instance is master. `table` is required; one selector at least.
    static func parseRules(_ map: MappingView, _ reader: YAMLReader) -> [RuleSpec] {
        var rules: [RuleSpec] = []
        for (item, path) in map.list("rules") {
            guard let entry = reader.mapping(item, at: path, allowed: ["from", "to", "iif", "oif", "table", "priority"]) else { continue }
            func prefix(_ key: String) -> (IPAddress, Int)? {
                guard let text = entry.string(key) else { return nil }
                let parts = text.split(separator: "/", omittingEmptySubsequences: false)
                if let address = IPAddress(String(parts[0])) {
                    let length = parts.count == 2 ? Int(parts[1]) : (address.isIPv4 ? 32 : 128)
                    if let length, (0...(address.isIPv4 ? 32 : 128)).contains(length) { return (address, length) }
                }
                reader.fail(entry.path(key), entry.child(key), "expected ADDRESS or ADDRESS/PREFIX, got \"\(text)\"")
                return nil
            }
            let from = prefix("from"), to = prefix("to")
            let table: UInt32? = entry.integer("table", 1...0xFFFF_FFFE, required: true)
            if let table, [253, 255].contains(table) {
                reader.fail(entry.path("table"), entry.child("table"), "table \(table) is reserved by the kernel")
            }
            let iif = entry.string("iif"), oif = entry.string("oif")
            if from == nil && to == nil && iif == nil && oif == nil {
                reader.fail(path, item, "a rule needs a selector: from, to, iif or oif (a rule for all traffic would take over the host)")
            }
            if let from, let to, from.0.isIPv4 != to.0.isIPv4 {
                reader.fail(entry.path("to"), entry.child("to"), "must be the same address family as from")
            }
            let priority: UInt32? = entry.integer("priority", 1...32765)
            guard let table else { continue }
            let rule = RuleSpec(from: from, to: to, inputInterface: iif, outputInterface: oif, table: table,
                                priority: priority, isIPv4: (from ?? to)?.0.isIPv4 ?? true)
            if rules.contains(rule) { reader.fail(path, item, "\(rule.description) is listed twice") }
            rules.append(rule)
        }
        return rules
    }

    /// `sync_groups: [{name: G, instances: [a, b]}]`: each instance in one group at most.
    static func parseSyncGroups(_ top: MappingView, _ reader: YAMLReader, instances: [InstanceConfig]) -> [SyncGroupConfig] {
        var groups: [SyncGroupConfig] = []
        var member: [String: String] = [:]
        for (item, path) in top.list("sync_groups") {
            guard let map = reader.mapping(item, at: path, allowed: ["name", "instances"]) else { continue }
            let name = map.string("name", required: true)
            if let name, !validID(name) {
                reader.fail(map.path("name"), map.child("name"), "not a valid group name: \"\(name)\"")
            }
            if let name, groups.contains(where: { $0.name == name }) {
                reader.fail(map.path("name"), map.child("name"), "sync group \"\(name)\" is defined twice")
            }
            var names: [String] = []
            for (entry, field) in map.list("instances") {
                guard let instance = entry.scalar?.string, instances.contains(where: { $0.name == instance }) else {
                    reader.fail(field, entry, "expected the name of an instance (\(instances.map(\.name).joined(separator: ", ")))")
                    continue
                }
                if let other = member[instance] {
                    reader.fail(field, entry, "instance \(instance) is already in sync group \(other)")
                    continue
                }
                member[instance] = name ?? path
                names.append(instance)
            }
            if names.count < 2 && reader.issues.isEmpty {
                reader.fail(map.path("instances"), map.child("instances") ?? map.node, "a sync group needs at least two instances")
            }
            if let name { groups.append(SyncGroupConfig(name: name, instances: names)) }
        }
        return groups
    }
}
