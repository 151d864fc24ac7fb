/// One problem found in a configuration file, located as precisely as possible.
///
/// Rendered as `FILE:LINE: FIELD: MESSAGE` so an operator can jump straight to it.
public struct ConfigIssue: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line, when the YAML parser could tell.
    public var line: Int?
    /// Dotted path of the field, e.g. `timing.advert_interval` or `peers[1].address`.
    public var field: String
    public var message: String

    public init(file: String, line: Int?, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return field.isEmpty ? "\(location): \(message)" : "\(location): \(field): \(message)"
    }
}

/// Every problem found in one configuration file; a config is accepted only with none.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public init(_ issues: [ConfigIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
