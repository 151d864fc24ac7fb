import Yams

/// Walks a composed YAML tree, remembering the dotted path and line of each
/// field so that every complaint names both. Problems are collected, not
/// thrown, so one `check-config` run reports all of them.
final class YAMLReader {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) { self.file = file }

    func fail(_ field: String, _ node: Node?, _ message: String) {
        issues.append(ConfigIssue(file: file, line: node?.mark?.line, field: field, message: message))
    }

    /// A mapping whose keys are checked against `allowed` (unknown keys are errors).
    func mapping(_ node: Node?, at field: String, allowed: [String]) -> MappingView? {
        guard let node else { return nil }
        guard let mapping = node.mapping else {
            fail(field, node, "expected a mapping (key: value lines), got \(kind(of: node))")
            return nil
        }
        var seen = Set<String>()
        for (key, _) in mapping {
            guard let name = key.scalar?.string else {
                fail(field, key, "keys must be plain strings")
                continue
            }
            let path = field.isEmpty ? name : "\(field).\(name)"
            if !allowed.contains(name) {
                let hint = allowed.sorted().joined(separator: ", ")
                fail(path, key, "unknown key (allowed here: \(hint))")
            }
            if !seen.insert(name).inserted { fail(path, key, "duplicate key") }
        }
        return MappingView(reader: self, node: node, mapping: mapping, field: field)
    }

    func kind(of node: Node) -> String {
        switch node {
        case .scalar(let s): return "\"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// The fields of one YAML mapping, read by typed accessors that record errors.
struct MappingView {
    let reader: YAMLReader
    let node: Node
    let mapping: Node.Mapping
    let field: String

    func path(_ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }
    func child(_ key: String) -> Node? { mapping[key] }

    /// A scalar string; `nil` (and an error if `required`) when absent or not a scalar.
    func string(_ key: String, required: Bool = false) -> String? {
        guard let value = mapping[key] else {
            if required { reader.fail(path(key), node, "missing required key") }
            return nil
        }
        guard let scalar = value.scalar, value.tag.description != "tag:yaml.org,2002:null" else {
            reader.fail(path(key), value, "expected a single value, got \(reader.kind(of: value))")
            return nil
        }
        return scalar.string
    }

    func integer<T: FixedWidthInteger>(_ key: String, _ range: ClosedRange<T>, required: Bool = false) -> T? {
        guard let text = string(key, required: required) else { return nil }
        guard let value = T(text), range.contains(value) else {
            reader.fail(path(key), mapping[key], "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
            return nil
        }
        return value
    }

    func bool(_ key: String) -> Bool? {
        guard let text = string(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            reader.fail(path(key), mapping[key], "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    func span(_ key: String, _ range: ClosedRange<Span>) -> Span? {
        guard let text = string(key) else { return nil }
        guard let value = Span(parsing: text) else {
            reader.fail(path(key), mapping[key], "expected a duration such as \"100ms\" or \"2s\", got \"\(text)\"")
            return nil
        }
        guard range.contains(value) else {
            reader.fail(path(key), mapping[key], "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    func address(_ key: String, required: Bool = false) -> IPAddress? {
        guard let text = string(key, required: required) else { return nil }
        guard let address = IPAddress(text) else {
            reader.fail(path(key), mapping[key], "expected an IPv4 or IPv6 address, got \"\(text)\"")
            return nil
        }
        return address
    }

    /// The items of a list, each with its `field[i]` path.
    func list(_ key: String) -> [(Node, String)] {
        guard let value = mapping[key] else { return [] }
        guard let sequence = value.sequence else {
            reader.fail(path(key), value, "expected a list, got \(reader.kind(of: value))")
            return []
        }
        return sequence.enumerated().map { ($1, "\(path(key))[\($0)]") }
    }
}
