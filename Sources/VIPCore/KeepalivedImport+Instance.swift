/// `vrrp_instance NAME { ... }` (keepalived.conf(5), "VRRP instance(s)").
extension KeepalivedConverter {
    func readInstance(_ block: KeepalivedStatement) {
        guard let name = block.arguments.first, block.arguments.count == 1, let body = block.block else {
            refuse(block, "expected vrrp_instance NAME { ... }")
            return
        }
        var instance = InstanceDraft(name: name, line: block.line, endLine: block.endLine)
        let owner = instance.owner
        if !ConfigParser.validID(name) {
            refuse(block, "\"\(name)\" is not a vipd instance name (1-64 letters, digits, '.', '_' or '-'); the instance is left out")
            instance.refused = true
        }
        for statement in body {
            readInstanceStatement(statement, into: &instance, owner: owner)
        }
        if instance.vrid == nil && !instance.refused {
            refuse(block, "has no virtual_router_id; the instance is left out", owner: owner)
            instance.refused = true
        }
        if let other = instances.first(where: { $0.name == name }) {
            refuse(block, "vrrp_instance \(name) is defined twice (first at line \(other.line)); this one is left out")
            instance.refused = true
        } else if let vrid = instance.vrid, !instance.refused,
                  let other = instances.first(where: { $0.vrid == vrid && !$0.refused }) {
            refuse(block, "virtual_router_id \(vrid) is also \(other.name)'s: vipd needs one vrid per instance on a node; the instance is left out")
            instance.refused = true
        }
        instances.append(instance)
    }

    func readInstanceStatement(_ statement: KeepalivedStatement, into instance: inout InstanceDraft, owner: String) {
        switch statement.keyword {
        case "state":
            if let state = single(statement, owner: owner) { instance.state = (state, statement.line) }
        case "interface":
            if let interface = single(statement, owner: owner) { instance.interface = (interface, statement.line) }
        case "virtual_router_id":
            instance.vrid = integer(statement, 1...255, owner: owner)
        case "priority":
            guard let priority = integer(statement, 1...255, owner: owner) else { return }
            instance.priority = min(priority, 254)
            instance.priorityLine = statement.line
            if priority == 255 {
                refuse(statement, "255 (address owner, master at once) does not exist in vipd: 254 is written instead", owner: owner)
            }
        case "advert_int":
            guard let interval = seconds(statement, .milliseconds(10)...Span.seconds(25), owner: owner) else { return }
            if interval.nanoseconds % 10_000_000 != 0 {
                refuse(statement, "VRRPv3 carries centiseconds: \(interval) is not a whole number of them; the default 1s is written",
                       owner: owner)
            } else {
                instance.advertInterval = interval
                instance.advertLine = statement.line
            }
        case "nopreempt":
            instance.preempt = false
        case "preempt_delay":
            instance.preemptDelay = seconds(statement, .zero...Span.seconds(3600), owner: owner)
        case "unicast_src_ip", "mcast_src_ip":
            guard let text = single(statement, owner: owner) else { return }
            guard let address = IPAddress(text) else {
                refuse(statement, "expected an IPv4 or IPv6 address, got \"\(text)\"", owner: owner)
                return
            }
            if statement.keyword == "unicast_src_ip" || instance.sourceAddress == nil { instance.sourceAddress = (address, statement.line) }
        case "unicast_peer":
            for item in statement.block ?? [] {
                guard let address = IPAddress(item.keyword) else {
                    refuse(item, "expected a peer's IPv4 or IPv6 address", owner: owner, keyword: "unicast_peer")
                    continue
                }
                if !item.arguments.isEmpty {
                    refuse(item, "\(item.arguments.joined(separator: " ")): vipd does not check the TTL (min_ttl/max_ttl)",
                           owner: owner, keyword: "unicast_peer")
                }
                instance.unicastPeers.append((address, item.line))
            }
        case "virtual_ipaddress":
            for item in statement.block ?? [] { readVIP(item, into: &instance) }
        case "virtual_routes":
            for item in statement.block ?? [] { readRoute(item, into: &instance) }
        case "virtual_rules":
            for item in statement.block ?? [] { readRule(item, into: &instance) }
        case "track_interface":
            readTrackedInterfaces(statement, into: &instance)
        case "track_script":
            for item in statement.block ?? [] { readTrackedScript(item, into: &instance) }
        case "notify_master", "notify_backup", "notify_fault", "notify":
            let key = statement.keyword == "notify" ? "generic" : String(statement.keyword.dropFirst("notify_".count))
            if let argv = command(statement, owner: owner) { instance.notify.append((key, argv, statement.line)) }
        case "version":
            if let version = integer(statement, 2...3, owner: owner) { instance.version = (version, statement.line) }
        case "old_unicast_checksum":
            instance.checksum = statement.arguments.first == "never" ? .rfc : .unicastLegacy
        case "v3_checksum_as_v2":
            if flag(statement, owner: owner) == true { instance.checksum = .v2 }
        case "auth_hmac":
            readAuthHMAC(statement, into: &instance)
        case "dont_track_primary":
            instance.trackPrimary = false
        case "mcast_dst_ip" where ["224.0.0.18", "ff02::12"].contains(statement.arguments.first ?? ""),
             "down_timer_adverts" where statement.arguments == ["3"],
             "unicast_ttl" where statement.arguments == ["255"]:
            instance.notes.append("\(statement.words.joined(separator: " ")) (line \(statement.line)): vipd's value too")
        default:
            if let why = KeepalivedKeywords.ignoredInInstance[statement.keyword] {
                instance.notes.append("\(statement.keyword) (line \(statement.line)): ignored: \(why)")
            } else {
                refuse(statement, KeepalivedKeywords.instanceRefusal(statement.keyword), owner: owner)
            }
        }
    }

    /// `track_interface { eth1  eth2 weight 10 }`: unweighted ones are faults in both.
    func readTrackedInterfaces(_ statement: KeepalivedStatement, into instance: inout InstanceDraft) {
        for item in statement.block ?? [] {
            if !item.arguments.isEmpty, item.arguments != ["weight", "0"] {
                refuse(item, "\(item.words.joined(separator: " ")): a weight on a tracked interface has no equivalent (in vipd a tracked interface that is down is a fault); left out",
                       owner: instance.owner, keyword: "track_interface")
                continue
            }
            let name = item.keyword
            if name.isEmpty || name.count > 15 || name.contains("/") {
                refuse(item, "\"\(name)\" is not an interface name", owner: instance.owner, keyword: "track_interface")
                continue
            }
            instance.trackInterfaces.append((name, item.line))
        }
    }

    /// `track_script { chk  chk2 weight -20 }`.
    func readTrackedScript(_ item: KeepalivedStatement, into instance: inout InstanceDraft) {
        var weight: Int?
        var rest = item.arguments[...]
        if rest.first == "weight" {
            rest = rest.dropFirst()
            guard let value = rest.popFirst().flatMap({ Int($0) }), (-253...253).contains(value) else {
                refuse(item, "\(item.words.joined(separator: " ")): expected weight -253...253", owner: instance.owner,
                       keyword: "track_script")
                return
            }
            weight = value
        }
        if rest == ["noreverse"] { rest = [] }
        guard rest.isEmpty else {
            refuse(item, "\(item.words.joined(separator: " ")): \(rest.joined(separator: " ")) has no equivalent; left out",
                   owner: instance.owner, keyword: "track_script")
            return
        }
        instance.trackScripts.append(TrackDraft(name: item.keyword, weight: weight, line: item.line))
    }
}
