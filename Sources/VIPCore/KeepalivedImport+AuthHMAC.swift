/// keepalived 2.4's `auth_hmac { ... }` → `vrrp3.auth_hmac` (docs/config.md,
/// "protocol, vrrp3"): the same key file and id, so the imported node signs
/// and checks adverts as its keepalived peers do. No key value is ever
/// written to the YAML or to a refusal.
extension KeepalivedConverter {
    func readAuthHMAC(_ block: KeepalivedStatement, into instance: inout InstanceDraft) {
        let owner = instance.owner
        var keys: [(id: Int, value: String, line: Int)] = []
        var active: (id: Int, line: Int)?
        var options: [String] = []
        for statement in block.block ?? [] {
            switch statement.keyword {
            case "key":
                guard statement.arguments.count == 2, let id = Int(statement.arguments[0]), (1...255).contains(id) else {
                    refuse(statement, "expected key ID VALUE with an ID of 1-255", owner: owner)
                    continue
                }
                keys.append((id, statement.arguments[1], statement.line))
            case "active_key":
                if let id = integer(statement, 1...255, owner: owner) { active = (id, statement.line) }
            case "anti_replay", "mode":
                let allowed = statement.keyword == "mode" ? ["enforce", "permissive", "receive-only"] : ["time", "monotonic"]
                guard let value = single(statement, owner: owner) else { continue }
                guard allowed.contains(value) else {
                    refuse(statement, "expected \(allowed.joined(separator: ", ")), got \"\(value)\"", owner: owner)
                    continue
                }
                options.append("\(statement.keyword): \(value)")
            case "time_window":
                if let seconds = integer(statement, 1...300, owner: owner) { options.append("time_window: \(seconds)s") }
            default:
                refuse(statement, KeepalivedKeywords.noEquivalent, owner: owner)
            }
        }
        guard let first = keys.first else {
            refuse(block, "has no key; left out, so the instance is unauthenticated", owner: owner)
            return
        }
        let id = active?.id ?? first.id
        guard let key = keys.first(where: { $0.id == id }) else {
            refuse(line: active?.line ?? block.line, "active_key", "\(id) names no key; auth_hmac left out, so the instance is unauthenticated",
                   owner: owner)
            return
        }
        for other in keys where other.id != id {
            refuse(line: other.line, "key", "key \(other.id): vipd accepts the active key (\(id)) only; a rotation changes key_file and key_id on every node",
                   owner: owner)
        }
        var file = "/etc/vipd/\(instance.name).hmac.key"
        if key.value.hasPrefix("file:") {
            file = String(key.value.dropFirst("file:".count))
            guard file.hasPrefix("/") else {
                refuse(line: key.line, "key", "key \(id): vipd needs the key file's absolute path; auth_hmac left out, so the instance is unauthenticated",
                       owner: owner)
                return
            }
        } else {
            refuse(line: key.line, "key", "key \(id) is written in keepalived.conf: vipd reads it from a file only: put the value (hex:... or the text, as written there) in \(file), mode 0600, owned by vipd, or use key \(id) file:PATH in keepalived too",
                   owner: owner)
        }
        instance.authHMAC = (["key_file: \(YAMLText.scalar(file))", "key_id: \(id)"] + options).joined(separator: ", ")
    }
}
