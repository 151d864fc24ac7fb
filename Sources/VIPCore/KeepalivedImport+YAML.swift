/// Writes the resolved drafts as vipd.yaml: each value with a comment
/// naming the keepalived line it comes from, each refused item as a
/// comment where it would have gone. Every output line remembers its
/// source line, so what vipd's own parser refuses points back into
/// keepalived.conf.
struct YAMLOutput {
    var lines: [String] = []
    var sources: [Int?] = []

    mutating func add(_ text: String, _ source: Int? = nil, comment: String? = nil) {
        var line = text
        if let comment {
            line = (line.count < 40 ? line + String(repeating: " ", count: 40 - line.count) : line + " ") + "# " + comment
        }
        lines.append(line)
        sources.append(source)
    }

    var text: String { lines.joined(separator: "\n") + "\n" }

    /// The keepalived line behind YAML line `line` (1-based): its own, or the nearest one above.
    func source(at line: Int) -> Int? {
        guard line >= 1 else { return nil }
        return sources.prefix(min(line, sources.count)).reversed().lazy.compactMap { $0 }.first
    }
}

extension KeepalivedConverter {
    static let protocolNote = """
        # protocol: vrrp3 (every instance): VRRPv3 (RFC 9568) on the wire, so this node runs next to the
        # keepalived nodes during the migration. Plain VRRPv3 has no authentication (unauthenticated: true;
        # keepalived 2.4's auth_hmac, where an instance has it, is vrrp3.auth_hmac). Once the last keepalived
        # node is gone, switch each instance to protocol: vipd (heartbeats authenticated with auth.key_file)
        # and remove its vrrp3: line, on every node (a restart of vipd, node by node).
        """

    func emit() -> YAMLOutput {
        var out = YAMLOutput()
        let emitted = Set(live.map { instances[$0].owner } + checks.map { "check:\($0.script.name)" }
            + groups.filter { !$0.refused }.map(\.owner))
        out.add("# vipd.yaml imported from \(file) by vipd import-keepalived (docs/import-keepalived.md).")
        out.add("# Review it, write the key file, then: vipd check-config")
        for note in Self.protocolNote.split(separator: "\n") { out.add(String(note)) }
        let top = refusals.filter { $0.owner.map { !emitted.contains($0) } ?? true }
        if !top.isEmpty { out.add("# Refused (not carried over):") }
        for refusal in top { out.add("#   line \(refusal.line): \(refusal.keyword): \(refusal.reason)", refusal.line) }
        if !notes.isEmpty { out.add("# Left out:") }
        for note in notes { out.add("#   \(note)") }
        emitNode(&out)
        emitChecks(&out)
        out.add("instances:")
        for index in live { emitInstance(instances[index], &out) }
        let kept = groups.filter { !$0.refused }
        if !kept.isEmpty { out.add("sync_groups:") }
        for group in kept {
            out.add("  - name: \(YAMLText.scalar(group.name))", group.line, comment: "vrrp_sync_group \(group.name) (line \(group.line))")
            out.add("    instances: \(YAMLText.list(group.members.map(\.0)))", group.line)
            emitRefusals(owner: group.owner, indent: "    ", &out)
        }
        return out
    }

    func emitNode(_ out: inout YAMLOutput) {
        let first = live.first.map { instances[$0] }
        out.add("node:")
        out.add("  id: \(YAMLText.scalar(options.nodeID))", comment: "--node-id")
        out.add("  interface: \(node.interface.map(YAMLText.scalar) ?? "null")", first?.interface?.1, comment: "interface")
        let source = options.address == nil ? "unicast_src_ip" : "--address"
        out.add("  address: \(node.address.map { "\($0)" } ?? "null")", first?.sourceAddress?.1, comment: source)
        out.add("  priority: \(node.priority)", first?.priorityLine, comment: first.map { "priority of \($0.name)" })
        out.add(peers.isEmpty ? "peers: []" : "peers:", comment: peers.isEmpty ? "none known: name them with --peer ID=ADDRESS" : nil)
        for peer in peers {
            let given = options.peers.contains(peer)
            out.add("  - id: \(YAMLText.scalar(peer.id))", comment: given ? "--peer" : "unicast_peer; name it with --peer ID=\(peer.address)")
            out.add("    address: \(peer.address)")
        }
        out.add("auth:")
        out.add("  key_file: \(YAMLText.scalar(options.keyFile))",
                comment: "--key-file: required; signs vipd's own heartbeats (protocol: vipd)")
        if let (priority, line) = realtimePriority {
            out.add("realtime_priority: \(priority)", line, comment: "vrrp_rt_priority (line \(line))")
        }
        if let line = lockMemory { out.add("lock_memory: true", line, comment: "vrrp_no_swap (line \(line))") }
        if !notify.isEmpty { out.add("notify:") }
        for (key, argv, line) in notify {
            out.add("  \(key): \(YAMLText.list(argv))", line, comment: "\(key == "generic" ? "notify" : "notify_\(key)") (line \(line))")
        }
    }

    func emitChecks(_ out: inout YAMLOutput) {
        if !checks.isEmpty { out.add("checks:") }
        for check in checks {
            let script = check.script
            out.add("  - name: \(YAMLText.scalar(check.name))", script.line, comment: "vrrp_script \(script.name) (line \(script.line))")
            for note in check.notes { out.add("    # \(note)") }
            if let weight = check.weight {
                out.add("    role: weight")
                out.add("    weight: \(weight)")
            } else {
                out.add("    role: front", comment: "weight 0: a failing script is a fault")
            }
            out.add("    exec: {command: \(YAMLText.list(script.argv ?? []))}")
            out.add("    interval: \(script.interval)")
            if let timeout = script.timeout { out.add("    timeout: \(timeout)") }
            out.add("    rise: \(script.rise)")
            out.add("    fall: \(script.fall)")
            emitRefusals(owner: "check:\(script.name)", indent: "    ", &out)
            for note in script.notes { out.add("    # \(note)") }
        }
    }

    func emitInstance(_ instance: InstanceDraft, _ out: inout YAMLOutput) {
        let line = instance.line
        out.add("  - name: \(YAMLText.scalar(instance.name))", line, comment: "vrrp_instance \(instance.name) (lines \(line)-\(instance.endLine))")
        if let (state, stateLine) = instance.state {
            out.add("    # state \(state) (line \(stateLine)): only keepalived's initial state; vipd starts as backup and the highest priority becomes master")
        }
        out.add("    vrid: \(instance.vrid ?? 0)", line)
        if instance.priority != node.priority { out.add("    priority: \(instance.priority)", instance.priorityLine) }
        var timing = ["advert_interval: \(instance.advertInterval)"]
        if !instance.preempt { timing.append("preempt: false") }
        if let delay = instance.preemptDelay { timing.append("preempt_delay: \(delay)") }
        var origin = [instance.advertLine == nil ? "keepalived's default advert_int" : "advert_int"]
        if instance.preemptDelay != nil { origin.append("preempt_delay counts from vipd's start") }
        out.add("    timing: {\(timing.joined(separator: ", "))}", instance.advertLine ?? line, comment: origin.joined(separator: "; "))
        if let ids = instance.peerIDs { out.add("    peers: \(YAMLText.list(ids))", instance.unicastPeers.first?.1, comment: "unicast_peer") }
        if !instance.vips.isEmpty { out.add("    vips:") }
        for vip in instance.vips { out.add("      - \(vip.yaml)", vip.line, comment: "line \(vip.line)") }
        var tracked = instance.trackInterfaces.map(\.name)
        if instance.trackPrimary, let (interface, _) = instance.interface, !tracked.contains(interface) { tracked.insert(interface, at: 0) }
        if !tracked.isEmpty {
            out.add("    track_interfaces: \(YAMLText.list(tracked))",
                    instance.trackPrimary ? instance.interface?.1 : instance.trackInterfaces.first?.line,
                    comment: instance.trackPrimary && instance.interface != nil ? "keepalived tracks the instance's interface (no dont_track_primary)" : "track_interface")
        }
        if let checks = instance.trackChecks {
            out.add("    track_checks: [\(checks.joined(separator: ", "))]", instance.trackScripts.first?.line ?? line,
                    comment: checks.isEmpty ? "tracks no script" : "track_script")
        }
        for (key, items) in [("routes", instance.routes), ("rules", instance.rules)] where !items.isEmpty {
            out.add("    \(key):", comment: key == "routes" ? "virtual_routes" : "virtual_rules")
            for item in items { out.add("      - \(item.yaml)", item.line, comment: "line \(item.line)") }
        }
        out.add("    protocol: vrrp3", line, comment: "until the last keepalived node is gone; then protocol: vipd")
        var wire = ["multicast: \(instance.multicast)"]
        if let checksum = instance.checksum { wire.append("checksum: \(checksum.rawValue)") }
        wire.append(instance.authHMAC.map { "auth_hmac: {\($0)}" } ?? "unauthenticated: true")
        out.add("    vrrp3: {\(wire.joined(separator: ", "))}", line,
                comment: instance.multicast ? "adverts to 224.0.0.18 on node.interface, keepalived's default" : "unicast_peer: adverts to each peer")
        for note in instance.notes { out.add("    # \(note)") }
        emitRefusals(owner: instance.owner, indent: "    ", &out)
    }

    func emitRefusals(owner: String, indent: String, _ out: inout YAMLOutput) {
        for refusal in refusals where refusal.owner == owner {
            out.add("\(indent)# refused: line \(refusal.line): \(refusal.keyword): \(refusal.reason)", refusal.line)
        }
    }

    /// What vipd's own parser refuses in the output (a case the importer
    /// does not foresee), as refusals at the keepalived line behind it.
    func refuseWhatVipdRefuses(_ output: YAMLOutput) {
        do {
            _ = try ConfigParser.parse(output.text, file: "vipd.yaml")
        } catch {
            for issue in error.issues {
                let line = issue.line.flatMap { output.source(at: $0) } ?? live.first.map { instances[$0].line } ?? 1
                let field = issue.field.isEmpty ? "" : "\(issue.field): "
                refuse(line: line, "vipd.yaml", "vipd check-config would refuse the result: \(field)\(issue.message)")
            }
        }
    }
}
