/// Items of `virtual_ipaddress`, `virtual_routes` and `virtual_rules`:
/// the options vipd has are mapped, an item with one it lacks is refused.
extension KeepalivedConverter {
    /// `ADDRESS[/PREFIX] [dev IF] [label L] ...`; keepalived's default prefix is /32 (/128).
    func readVIP(_ item: KeepalivedStatement, into instance: inout InstanceDraft) {
        let owner = instance.owner
        let text = item.words.joined(separator: " ")
        func refuseItem(_ why: String) { refuse(item, "\(text): \(why)", owner: owner, keyword: "virtual_ipaddress") }
        guard let (address, prefix) = Self.prefix(item.keyword) else {
            refuseItem("expected ADDRESS or ADDRESS/PREFIX")
            return
        }
        var vip = VIPDraft(address: address, prefix: prefix, line: item.line)
        var words = item.arguments[...]
        while let option = words.popFirst() {
            switch option {
            case "dev", "label":
                guard let value = words.popFirst() else { return refuseItem("\(option) without a value") }
                if option == "dev" { vip.interface = value } else { vip.label = value }
            case "no_track":
                instance.notes.append("\(address) no_track (line \(item.line)): vipd restores a deleted VIP on the master")
            case "scope" where words.first == "global":
                words.removeFirst()
            case "brd", "scope", "peer", "preferred_lft", "track_group":
                words = words.dropFirst()
                fallthrough
            default:
                refuseItem("\(option): no equivalent (vipd adds the address as ip addr add ADDRESS/PREFIX dev IF [label L]); the VIP is kept without it")
            }
        }
        if let label = vip.label {
            let interface = vip.interface ?? instance.interface?.0 ?? ""
            if !address.isIPv4 || !(label == interface || label.hasPrefix(interface + ":")) || label.count > 15 {
                refuseItem("label \(label): vipd's label must start with \"\(interface):\" (IPv4, at most 15 characters); the VIP is kept without it")
                vip.label = nil
            }
        }
        if instance.vips.contains(where: { $0.address == address }) {
            return refuseItem("\(address) is listed twice in this instance; the first is kept")
        }
        instance.vips.append(vip)
    }

    /// `[TYPE] [src IP] [to] PREFIX [via|gw IP] [dev IF] [metric N] [table N] [no_track]`.
    func readRoute(_ item: KeepalivedStatement, into instance: inout InstanceDraft) {
        let text = item.words.joined(separator: " ")
        func refuseRoute(_ why: String) {
            refuse(item, "\(text): \(why); the route is left out", owner: instance.owner, keyword: "virtual_routes")
        }
        var words = item.words[...]
        var fields: [String] = []
        if words.first == "unicast" { words.removeFirst() }
        if let type = words.first, ["blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "multicast", "nat", "anycast"].contains(type) {
            return refuseRoute("\(type) routes have no equivalent (vipd installs unicast routes)")
        }
        if words.first == "src" { return refuseRoute("src (the source address of the route) has no equivalent") }
        if words.first == "to" { words.removeFirst() }
        guard let destination = words.popFirst() else { return refuseRoute("no destination") }
        if destination == "default" {
            fields.append("to: default")
        } else if let (address, prefix) = Self.prefix(destination) {
            fields.append("to: \(address)/\(prefix)")
        } else {
            return refuseRoute("\(destination) is neither ADDRESS/PREFIX nor default")
        }
        var hasGateway = false
        var hasDevice = false
        let pairs: [(String, String)]
        switch Self.optionPairs(words) {
        case .success(let found): pairs = found
        case .failure(let problem): return refuseRoute(problem.text)
        }
        if words.contains("no_track") { instance.notes.append("route no_track (line \(item.line)): \(Self.noTrack)") }
        for (option, value) in pairs {
            switch option {
            case "via", "gw":
                guard let gateway = IPAddress(value) else { return refuseRoute("\(value) is not an address") }
                fields.append("via: \(gateway)")
                hasGateway = true
            case "dev", "oif":
                fields.append("dev: \(YAMLText.scalar(value))")
                hasDevice = true
            case "metric", "priority", "preference":
                guard let metric = UInt32(value) else { return refuseRoute("metric \(value) is not a number") }
                fields.append("metric: \(metric)")
            case "table":
                guard let table = Self.table(value) else { return refuseRoute(Self.badTable(value)) }
                if table != 254 { fields.append("table: \(table)") }
            default:
                return refuseRoute("\(option) has no equivalent (vipd's routes have to, via, dev, metric and table)")
            }
        }
        guard hasGateway || hasDevice else { return refuseRoute("vipd needs via (a gateway) or dev (an interface)") }
        instance.routes.append(("{\(fields.joined(separator: ", "))}", item.line))
    }

    /// `[from PREFIX|all] [to PREFIX] [iif IF] [oif IF] [priority N] table N [no_track]`.
    func readRule(_ item: KeepalivedStatement, into instance: inout InstanceDraft) {
        let text = item.words.joined(separator: " ")
        func refuseRule(_ why: String) {
            refuse(item, "\(text): \(why); the rule is left out", owner: instance.owner, keyword: "virtual_rules")
        }
        var fields: [String] = []
        var hasTable = false
        let pairs: [(String, String)]
        switch Self.optionPairs(item.words[...]) {
        case .success(let found): pairs = found
        case .failure(let problem): return refuseRule(problem.text)
        }
        if item.words.contains("no_track") { instance.notes.append("rule no_track (line \(item.line)): \(Self.noTrack)") }
        for (option, value) in pairs {
            switch option {
            case "from", "to":
                if value == "all" { continue }
                guard let (address, prefix) = Self.prefix(value) else { return refuseRule("\(value) is not ADDRESS or ADDRESS/PREFIX") }
                fields.append("\(option): \(address)/\(prefix)")
            case "iif", "dev", "oif":
                fields.append("\(option == "oif" ? "oif" : "iif"): \(YAMLText.scalar(value))")
            case "priority", "preference", "pref":
                guard let priority = UInt32(value), (1...32765).contains(priority) else {
                    return refuseRule("priority \(value): vipd takes 1...32765")
                }
                fields.append("priority: \(priority)")
            case "table", "lookup":
                guard let table = Self.table(value) else { return refuseRule(Self.badTable(value)) }
                fields.append("table: \(table)")
                hasTable = true
            default:
                return refuseRule("\(option) has no equivalent (vipd's rules select by from, to, iif and oif and look up a table)")
            }
        }
        guard hasTable else { return refuseRule("vipd's rules look up a table: no table given") }
        guard fields.count > 1 else { return refuseRule("vipd needs a selector (from, to, iif or oif): a rule for all traffic would take over the host") }
        instance.rules.append(("{\(fields.joined(separator: ", "))}", item.line))
    }

    static let noTrack = "vipd puts back what is deleted behind its back while master"

    struct Problem: Error {
        var text: String
    }

    /// `option value` pairs of a route or rule; `no_track` stands alone.
    static func optionPairs(_ words: ArraySlice<String>) -> Result<[(String, String)], Problem> {
        var words = words
        var pairs: [(String, String)] = []
        while let option = words.popFirst() {
            if option == "no_track" { continue }
            guard let value = words.popFirst() else { return .failure(Problem(text: "\(option) without a value")) }
            pairs.append((option, value))
        }
        return .success(pairs)
    }

    static func badTable(_ value: String) -> String { "table \(value): vipd takes a table number other than 253 and 255 (or main)" }

    /// `ADDRESS` or `ADDRESS/PREFIX`; a bare address is a host prefix.
    static func prefix(_ text: String) -> (IPAddress, Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let longest = address.isIPv4 ? 32 : 128
        guard parts.count == 2 else { return (address, longest) }
        guard let prefix = Int(parts[1]), (0...longest).contains(prefix) else { return nil }
        return (address, prefix)
    }

    /// A routing table vipd can hold routes and rules in (`main` is 254).
    static func table(_ text: String) -> UInt32? {
        if text == "main" { return 254 }
        guard let table = UInt32(text), (1...0xFFFF_FFFE).contains(table), table != 253, table != 255 else { return nil }
        return table
    }
}
