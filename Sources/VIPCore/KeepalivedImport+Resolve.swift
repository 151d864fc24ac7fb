/// What spans sections: vipd has one node (interface, address), one peer
/// list, one set of checks and one `notify:` for every instance, where
/// keepalived repeats them per instance.
extension KeepalivedConverter {
    var live: [Int] { instances.indices.filter { !instances[$0].refused } }

    func resolve() {
        resolveNode()
        resolvePeers()
        resolveVIPs()
        resolveChecks()
        resolveNotify()
        resolveGroups()
        resolveVersion()
    }

    func resolveNode() {
        var interfaceLine = 0
        var addressLine: Int?
        node.address = options.address
        for index in live {
            let instance = instances[index]
            if let (interface, line) = instance.interface {
                if let chosen = node.interface, chosen != interface {
                    refuse(line: line, "interface", "\(interface) differs from node.interface \(chosen) (line \(interfaceLine)): vipd runs every instance on one interface; the VIPs keep dev \(interface) and the instance tracks it, but its adverts use \(chosen)",
                           owner: instance.owner)
                } else if node.interface == nil {
                    node.interface = interface
                    interfaceLine = line
                }
            }
            guard let (address, line) = instance.sourceAddress else { continue }
            if let chosen = node.address, chosen != address {
                let from = addressLine.map { "line \($0)" } ?? "--address"
                refuse(line: line, "unicast_src_ip", "\(address) differs from node.address \(chosen) (\(from)): vipd has one address for every instance",
                       owner: instance.owner)
            } else if node.address == nil {
                node.address = address
                addressLine = line
            }
        }
        guard let first = live.first.map({ instances[$0] }) else { return }
        node.priority = first.priority
        if node.interface == nil {
            refuse(line: first.line, "interface", "no vrrp_instance names an interface: vipd needs node.interface, the VIPs' default")
        }
        if node.address == nil {
            refuse(line: first.line, "unicast_src_ip",
                   "this node's address is unknown (no unicast_src_ip or mcast_src_ip): give it with --address ADDRESS")
        }
    }

    func resolvePeers() {
        peers = options.peers
        var next = 1
        func id(for address: IPAddress) -> String {
            if let peer = peers.first(where: { $0.address == address }) { return peer.id }
            while peers.contains(where: { $0.id == "peer\(next)" }) || options.nodeID == "peer\(next)" { next += 1 }
            peers.append(KeepalivedImport.Peer(id: "peer\(next)", address: address))
            return "peer\(next)"
        }
        for index in live {
            var ids: [String] = []
            for (address, line) in instances[index].unicastPeers {
                if address == node.address {
                    refuse(line: line, "unicast_peer", "\(address) is this node's own address (node.address); left out",
                           owner: instances[index].owner)
                } else if let own = node.address, own.isIPv4 != address.isIPv4 {
                    refuse(line: line, "unicast_peer", "\(address): vipd's peers have node.address's family (\(own)); left out",
                           owner: instances[index].owner)
                } else if !ids.contains(id(for: address)) {
                    ids.append(id(for: address))
                }
            }
            instances[index].peerIDs = ids.isEmpty ? nil : ids
        }
        for index in live where instances[index].peerIDs.map({ Set($0) == Set(peers.map(\.id)) }) ?? false {
            instances[index].peerIDs = nil  // every peer: the default
        }
        if peers.isEmpty, let first = live.first {
            refuse(line: instances[first].line, "vrrp_instance",
                   "\(instances[first].multicast ? "multicast (no unicast_peer)" : "no usable unicast_peer"): vipd lists the other nodes: name each with --peer ID=ADDRESS")
        }
    }

    /// A VIP is one instance's, and no node's own address.
    func resolveVIPs() {
        var owners: [IPAddress: String] = [:]
        if let address = node.address { owners[address] = "node.address, this node's own address" }
        for peer in peers { owners[peer.address] = "the address of peer \(peer.id)" }
        for index in live {
            let owner = instances[index].owner
            instances[index].vips = instances[index].vips.filter { vip in
                if let other = owners[vip.address] {
                    refuse(line: vip.line, "virtual_ipaddress", "\(vip.address) is \(other): vipd deletes a VIP whenever it is not master; left out",
                           owner: owner)
                    return false
                }
                owners[vip.address] = "also a VIP of \(instances[index].name)"
                return true
            }
            if let (interface, _) = instances[index].interface, interface != node.interface {
                for vip in instances[index].vips.indices where instances[index].vips[vip].interface == nil {
                    instances[index].vips[vip].interface = interface
                }
            }
        }
    }

    func resolveNotify() {
        for key in ["master", "backup", "fault", "generic"] {
            let keyword = key == "generic" ? "notify" : "notify_\(key)"
            let uses = live.flatMap { index in instances[index].notify.filter { $0.key == key }.map { (index, $0.argv, $0.line) } }
            guard let (firstIndex, argv, line) = uses.first else { continue }
            notify.append((key, argv, line))
            for (index, other, otherLine) in uses.dropFirst() where other != argv {
                refuse(line: otherLine, keyword, "vipd has one notify.\(key) for every instance: \(instances[firstIndex].name)'s (line \(line)) is kept",
                       owner: instances[index].owner)
            }
            let without = live.filter { index in !instances[index].notify.contains { $0.key == key } }.map { instances[$0].name }
            if !without.isEmpty {
                refuse(line: line, keyword, "vipd runs notify.\(key) for every instance: also for \(without.joined(separator: ", ")), which have none in keepalived",
                       owner: instances[firstIndex].owner)
            }
        }
    }

    func resolveGroups() {
        var member: [String: String] = [:]
        for group in groups.indices where !groups[group].refused {
            var kept: [(String, Int)] = []
            for (name, line) in groups[group].members {
                let instance = instances.first { $0.name == name }
                if instance == nil || instance?.refused == true {
                    refuse(line: line, "group", "\(name): \(instance == nil ? "no vrrp_instance \(name)" : "the instance is left out")",
                           owner: groups[group].owner)
                } else if let other = member[name] {
                    refuse(line: line, "group", "\(name) is already in sync group \(other)", owner: groups[group].owner)
                } else {
                    member[name] = groups[group].name
                    kept.append((name, line))
                }
            }
            groups[group].members = kept
            if kept.count < 2 {
                refuse(line: groups[group].line, "vrrp_sync_group", "\(groups[group].name): vipd's sync groups have two instances or more; left out")
                groups[group].refused = true
            }
        }
    }

    /// keepalived speaks VRRPv2 unless told otherwise (IPv6 is always v3);
    /// vipd's `protocol: vrrp3` speaks only VRRPv3.
    func resolveVersion() {
        var implicit: [String] = []
        for index in live {
            let instance = instances[index]
            if let (version, line) = instance.version {
                if version == 2, !instance.isIPv6 {
                    refuse(line: line, "version", "VRRPv2: vipd's protocol: vrrp3 speaks VRRPv3 (RFC 9568) only: set version 3 on every keepalived node before this node runs next to them",
                           owner: instance.owner)
                }
            } else if (globalVersion?.0 ?? 2) == 2, !instance.isIPv6 {
                implicit.append(instance.name)
            }
        }
        guard let first = implicit.first, let instance = instances.first(where: { $0.name == first }) else { return }
        let (line, keyword) = globalVersion.map { ($0.1, "vrrp_version") } ?? (instance.line, "vrrp_instance")
        refuse(line: line, keyword, "keepalived speaks VRRPv2 for \(implicit.joined(separator: ", ")) (\(globalVersion == nil ? "its default" : "vrrp_version 2")); vipd's protocol: vrrp3 speaks VRRPv3 (RFC 9568) only: set vrrp_version 3 in global_defs on every keepalived node before this node runs next to them")
    }
}
