/// keepalived.conf read as keepalived reads it (keepalived.conf(5)): lines of
/// words, `{ ... }` blocks, `#` and `!` comments, quoted strings. Pure: the
/// caller reads the file. The result is a tree of statements, each with the
/// line it is on, for `KeepalivedImport` to map onto vipd.yaml.
public struct KeepalivedStatement: Sendable, Equatable {
    /// The first word: `vrrp_instance`, `priority`, or a list item such as an address.
    public var keyword: String
    /// The other words of the line, quotes removed.
    public var arguments: [String]
    public var line: Int
    /// The statements inside `{ ... }`; nil when the statement opens no block.
    public var block: [KeepalivedStatement]?
    /// The line of the closing `}` (the statement's own line without a block).
    public var endLine: Int

    public init(keyword: String, arguments: [String] = [], line: Int, block: [KeepalivedStatement]? = nil,
                endLine: Int? = nil) {
        self.keyword = keyword
        self.arguments = arguments
        self.line = line
        self.block = block
        self.endLine = endLine ?? line
    }

    /// `keyword arguments...` as written (quoting aside).
    public var words: [String] { [keyword] + arguments }

    /// `line 12` or `lines 12-30`.
    public var lines: String { endLine == line ? "line \(line)" : "lines \(line)-\(endLine)" }
}

/// Input the importer cannot read at all: an unbalanced brace, an unterminated quote.
public struct KeepalivedSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// Something of the keepalived file that vipd.yaml does not carry:
/// `FILE:LINE: KEYWORD: why`.
public struct KeepalivedRefusal: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var keyword: String
    public var reason: String
    /// Where the YAML shows it as a comment: nil at the top, else an instance's,
    /// check's or sync group's name prefixed with `instance:`, `check:` or `group:`.
    public var owner: String?

    public init(file: String, line: Int, keyword: String, reason: String, owner: String? = nil) {
        self.file = file
        self.line = line
        self.keyword = keyword
        self.reason = reason
        self.owner = owner
    }

    public var description: String { "\(file):\(line): \(keyword): \(reason)" }
}

public enum KeepalivedSyntax {
    enum Token: Equatable {
        case word(String)
        case open
        case close
    }

    static let includeKeywords: Set<String> = ["include", "includer", "includem", "includew", "includeb", "includea"]

    /// The statements of `text`, after conditional lines and parameters
    /// (`KeepalivedPreprocessor`); `include` lines are left out and refused.
    public static func parse(_ text: String, file: String, configID: String, directory: String)
        throws(KeepalivedSyntaxError) -> (statements: [KeepalivedStatement], refusals: [KeepalivedRefusal]) {
        var preprocessor = KeepalivedPreprocessor(file: file, configID: configID, directory: directory)
        var builder = TreeBuilder(file: file)
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let uncommented = stripComment(String(raw))
            guard let expanded = preprocessor.process(uncommented, line: line) else { continue }
            for token in try tokens(expanded, file: file, line: line) { try builder.add(token, line: line) }
            builder.endLine()
        }
        let statements = try builder.finish()
        return (statements, preprocessor.refusals + builder.refusals)
    }

    /// The line without its comment: from an unquoted `#` or `!` to the end.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        var kept = ""
        for character in line {
            if escaped {
                escaped = false
            } else if let open = quote {
                if character == "\\" { escaped = true } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" || character == "!" {
                break
            }
            kept.append(character)
        }
        return kept
    }

    /// Words, `{` and `}` of one line. Whitespace separates words except
    /// inside quotes; the quotes themselves are removed (`ab"c d"` is `abc d`).
    static func tokens(_ line: String, file: String, line number: Int) throws(KeepalivedSyntaxError) -> [Token] {
        var tokens: [Token] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var characters = Array(line)[...]
        func flush() {
            if inWord { tokens.append(.word(word)) }
            word = ""
            inWord = false
        }
        while let character = characters.popFirst() {
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" {
                    word += unescape(&characters)
                } else {
                    word.append(character)
                }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" || character == "\r" {
                flush()
            } else if character == "{" || character == "}" {
                flush()
                tokens.append(character == "{" ? .open : .close)
            } else {
                word.append(character)
                inWord = true
            }
        }
        if quote != nil { throw KeepalivedSyntaxError(file: file, line: number, message: "unterminated quoted string") }
        flush()
        return tokens
    }

    /// The character after a backslash in a quoted string: `\n`, `\t`,
    /// `\nnn` (octal), `\xXX`, and `\C` for C itself.
    static func unescape(_ rest: inout ArraySlice<Character>) -> String {
        guard let next = rest.popFirst() else { return "\\" }
        let simple: [Character: String] = ["a": "\u{07}", "b": "\u{08}", "E": "\u{1B}", "f": "\u{0C}", "n": "\n",
                                           "r": "\r", "t": "\t", "v": "\u{0B}"]
        if let text = simple[next] { return text }
        func number(_ first: String, radix: Int, digits: Int) -> String {
            var text = first
            while text.count < digits, let digit = rest.first, digit.isHexDigit, Int(String(digit), radix: radix) != nil {
                text.append(digit)
                rest.removeFirst()
            }
            return Int(text, radix: radix).flatMap { Unicode.Scalar($0) }.map { String(Character($0)) } ?? ""
        }
        if ("0"..."7").contains(next) { return number(String(next), radix: 8, digits: 3) }
        if next == "x" { return number("", radix: 16, digits: 2) }
        return String(next)
    }
}

/// Statements from tokens: a statement starts with the first word of a line
/// (or after a brace), `{` opens its block, `}` closes the innermost one.
struct TreeBuilder {
    let file: String
    var levels: [[KeepalivedStatement]] = [[]]
    var parents: [KeepalivedStatement] = []
    var current: KeepalivedStatement?
    var refusals: [KeepalivedRefusal] = []

    init(file: String) { self.file = file }

    mutating func add(_ token: KeepalivedSyntax.Token, line: Int) throws(KeepalivedSyntaxError) {
        switch token {
        case .word(let word):
            if current == nil { current = KeepalivedStatement(keyword: word, line: line) } else { current?.arguments.append(word) }
        case .open:
            var parent: KeepalivedStatement
            if let statement = current {
                parent = statement
                current = nil
            } else if let last = levels[levels.count - 1].last, last.block == nil {
                parent = levels[levels.count - 1].removeLast()  // the keyword was on the line before
            } else {
                throw KeepalivedSyntaxError(file: file, line: line, message: "'{' without a keyword before it")
            }
            parent.block = []
            parents.append(parent)
            levels.append([])
        case .close:
            endLine()
            guard var parent = parents.popLast() else {
                throw KeepalivedSyntaxError(file: file, line: line, message: "'}' without a block to close")
            }
            parent.block = levels.removeLast()
            parent.endLine = line
            levels[levels.count - 1].append(parent)
        }
    }

    mutating func endLine() {
        guard let statement = current else { return }
        current = nil
        if KeepalivedSyntax.includeKeywords.contains(statement.keyword) {
            refusals.append(KeepalivedRefusal(
                file: file, line: statement.line, keyword: statement.keyword,
                reason: "not followed: import the included file (\(statement.arguments.joined(separator: " "))) on its own, or paste it in"))
            return
        }
        levels[levels.count - 1].append(statement)
    }

    mutating func finish() throws(KeepalivedSyntaxError) -> [KeepalivedStatement] {
        endLine()
        if let open = parents.last {
            throw KeepalivedSyntaxError(file: file, line: open.line, message: "'{' of \(open.keyword) is never closed")
        }
        return levels[0]
    }
}
