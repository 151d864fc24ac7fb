/// keepalived's line-level features before words are split
/// (keepalived.conf(5), "ADVANCED CONFIGURATION"): conditional lines
/// (`@id ...`, `@^id ...`) against the config id, and `$NAME=VALUE`
/// parameters with `$NAME` / `${NAME}` substitution. Multi-line definitions,
/// `~SEQ`/`~LST` blocks, `${_ENV}` and `${_RANDOM}` are refused.
struct KeepalivedPreprocessor {
    let file: String
    let configID: String
    var parameters: [String: String]
    var refusals: [KeepalivedRefusal] = []
    /// Inside a multi-line definition: its continuation lines are skipped.
    var skippingContinuation = false

    static let nameStart = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
    static let nameCharacters = nameStart.union("0123456789")

    init(file: String, configID: String, directory: String) {
        self.file = file
        self.configID = configID
        parameters = ["_PWD": directory, "_INSTANCE": configID, "_HASH": "#", "_BANG": "!"]
    }

    /// The line to tokenize, or nil when it is not part of this host's configuration.
    mutating func process(_ text: String, line: Int) -> String? {
        if skippingContinuation {
            skippingContinuation = text.hasSuffix("\\")
            return nil
        }
        var body = Substring(text.drop { $0 == " " || $0 == "\t" })
        if body.hasPrefix("@") {
            let word = body.prefix { $0 != " " && $0 != "\t" }
            body = body.dropFirst(word.count)
            let negated = word.hasPrefix("@^")
            let id = word.dropFirst(negated ? 2 : 1)
            if (id == configID) == negated { return nil }
        }
        body = body.drop { $0 == " " || $0 == "\t" }
        if body.hasPrefix("~SEQ") || body.hasPrefix("~LST") {
            refuse(line, String(body.prefix { $0 != "(" }),
                   "sequence and list blocks are not expanded: expand them by hand, or import keepalived's own dump of the configuration")
            return nil
        }
        if body.hasPrefix("$"), let equals = body.firstIndex(of: "=") {
            let name = body[body.index(after: body.startIndex)..<equals]
            if let first = name.first, Self.nameStart.contains(first), name.allSatisfy({ Self.nameCharacters.contains($0) }) {
                let value = String(body[body.index(after: equals)...]).trimmingWhitespace
                if value.hasSuffix("\\") {
                    skippingContinuation = true
                    refuse(line, "$\(name)", "multi-line parameter definitions are not expanded: write the lines out")
                } else {
                    parameters[String(name)] = value
                }
                return nil
            }
        }
        return substitute(String(body), line: line)
    }

    /// `$NAME` followed by whitespace or the end, and `${NAME}`, replaced
    /// until nothing changes (definitions may use others); undefined ones stay.
    mutating func substitute(_ text: String, line: Int) -> String {
        guard text.contains("$") else { return text }
        var current = text
        for _ in 0..<20 {
            let next = substituteOnce(current, line: line)
            if next == current { break }
            current = next
        }
        return current
    }

    mutating func substituteOnce(_ text: String, line: Int) -> String {
        var output = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            if rest.hasPrefix("{"), let close = rest.firstIndex(of: "}") {
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                let name = inner.prefix { $0 != " " }
                if name == "_ENV" || name == "_RANDOM" {
                    // Left as a word without braces, which would open and close blocks.
                    refuse(line, "${\(name)}", "not expanded: its value depends on keepalived's process; write the value in")
                    output += "$" + inner.split(separator: " ").joined(separator: "_")
                    rest = rest[rest.index(after: close)...]
                    continue
                } else if let value = parameters[String(inner)] {
                    output += value
                    rest = rest[rest.index(after: close)...]
                    continue
                }
                output += "$"
                continue
            }
            let name = rest.prefix { Self.nameCharacters.contains($0) }
            let after = rest.dropFirst(name.count)
            if !name.isEmpty, after.isEmpty || after.first == " " || after.first == "\t", let value = parameters[String(name)] {
                output += value
                rest = after
            } else {
                output += "$"
            }
        }
        return output + rest
    }

    mutating func refuse(_ line: Int, _ keyword: String, _ reason: String) {
        guard !refusals.contains(where: { $0.line == line && $0.keyword == keyword }) else { return }
        refusals.append(KeepalivedRefusal(file: file, line: line, keyword: keyword, reason: reason))
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
