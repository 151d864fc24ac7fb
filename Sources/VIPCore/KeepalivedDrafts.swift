/// What the importer read from keepalived.conf, before it is resolved
/// across sections (peers, checks, notify) and written as vipd.yaml.
/// Values are kept as the YAML will show them.

struct InstanceDraft {
    var name: String
    var line: Int
    var endLine: Int
    var vrid: Int?
    var priority = 100
    var priorityLine: Int?
    var state: (String, Int)?
    var interface: (String, Int)?
    var sourceAddress: (IPAddress, Int)?
    var unicastPeers: [(IPAddress, Int)] = []
    var advertInterval = Span.seconds(1)
    var advertLine: Int?
    var preempt = true
    var preemptDelay: Span?
    var version: (Int, Int)?
    var checksum: VRRPChecksumMode?
    /// `vrrp3.auth_hmac`'s fields, from keepalived's `auth_hmac`.
    var authHMAC: String?
    var trackPrimary = true
    var vips: [VIPDraft] = []
    var routes: [(yaml: String, line: Int)] = []
    var rules: [(yaml: String, line: Int)] = []
    var trackInterfaces: [(name: String, line: Int)] = []
    var trackScripts: [TrackDraft] = []
    /// `notify_master` and the rest: vipd's notify key, argv, line.
    var notify: [(key: String, argv: [String], line: Int)] = []
    /// Comments shown with the instance.
    var notes: [String] = []
    /// Refused as a whole: shown as a comment only.
    var refused = false

    // Resolved
    var peerIDs: [String]?
    var trackChecks: [String]?

    var owner: String { "instance:\(name)" }
    var multicast: Bool { unicastPeers.isEmpty }
    var isIPv6: Bool { vips.first.map { !$0.address.isIPv4 } ?? false }
}

struct VIPDraft {
    var address: IPAddress
    var prefix: Int
    var interface: String?
    var label: String?
    var line: Int

    /// The YAML flow mapping of this VIP.
    var yaml: String {
        var fields = ["address: \(address)/\(prefix)"]
        if let interface { fields.append("interface: \(YAMLText.scalar(interface))") }
        if let label { fields.append("label: \(YAMLText.scalar(label))") }
        return "{\(fields.joined(separator: ", "))}"
    }
}

struct TrackDraft {
    var name: String
    var weight: Int?
    var line: Int
}

struct ScriptDraft {
    var name: String
    var line: Int
    var argv: [String]?
    var interval = Span.seconds(1)
    var timeout: Span?
    var rise = 1
    var fall = 1
    var weight = 0
    var refused = false
    var notes: [String] = []
}

/// A check as written: a script, with the role its uses need.
struct CheckDraft {
    var name: String
    var script: ScriptDraft
    /// nil: `role: front`.
    var weight: Int?
    var notes: [String] = []
}

struct GroupDraft {
    var name: String
    var line: Int
    var members: [(String, Int)] = []
    var refused = false
    var owner: String { "group:\(name)" }
}

/// Scalars as vipd.yaml writes them: plain when that is unambiguous, else double-quoted.
enum YAMLText {
    static let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-=@")
    static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"]

    static func scalar(_ text: String) -> String {
        let looksTyped = reserved.contains(text.lowercased()) || Double(text) != nil || Int(text) != nil
            || text.hasPrefix("0x") || text.hasPrefix("0o") || text.hasPrefix(".")
        if !text.isEmpty, !looksTyped, text.allSatisfy({ plain.contains($0) }), !text.hasPrefix("-") || text.count > 1,
           text.first != "@" {
            return text
        }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    quoted += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }

    /// `[a, b, "c d"]`.
    static func list(_ items: [String]) -> String { "[\(items.map(scalar).joined(separator: ", "))]" }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
