/// `vipd import-keepalived`: keepalived.conf in, vipd.yaml out, with a
/// refusal (`FILE:LINE: KEYWORD: why`) for everything that does not map
/// (docs/import-keepalived.md). Pure: the caller reads the file and says
/// how to find programs named without a path.
public enum KeepalivedImport {
    public struct Options: Sendable {
        /// `node.id` (`--node-id`, default: the host name).
        public var nodeID: String
        /// Other nodes named on the command line (`--peer ID=ADDRESS`).
        public var peers: [Peer]
        /// `auth.key_file` (`--key-file`).
        public var keyFile: String
        /// `node.address` when the file has no `unicast_src_ip` (`--address`).
        public var address: IPAddress?
        /// What `@id` conditional lines are compared with (keepalived's `-i`).
        public var configID: String
        /// `${_PWD}`: the directory of the file.
        public var directory: String
        /// The absolute path of a program named without one, as keepalived's
        /// PATH search finds it, or nil.
        public var findProgram: @Sendable (String) -> String?

        public init(nodeID: String, peers: [Peer] = [], keyFile: String = "/etc/vipd/auth.key", address: IPAddress? = nil,
                    configID: String? = nil, directory: String = ".", findProgram: @escaping @Sendable (String) -> String? = { _ in nil }) {
            self.nodeID = nodeID
            self.peers = peers
            self.keyFile = keyFile
            self.address = address
            self.configID = configID ?? String(nodeID.prefix { $0 != "." })
            self.directory = directory
            self.findProgram = findProgram
        }
    }

    public struct Peer: Sendable, Equatable {
        public var id: String
        public var address: IPAddress

        public init(id: String, address: IPAddress) {
            self.id = id
            self.address = address
        }
    }

    public struct Result: Sendable {
        /// vipd.yaml, refused items as comments.
        public var yaml: String
        /// In file order; empty when everything mapped.
        public var refusals: [KeepalivedRefusal]
    }

    /// Converts `text` (the contents of `file`). Throws only for input that
    /// cannot be read as keepalived configuration, or that has no `vrrp_instance`.
    public static func convert(_ text: String, file: String, options: Options) throws(KeepalivedSyntaxError) -> Result {
        let (statements, syntaxRefusals) = try KeepalivedSyntax.parse(text, file: file, configID: options.configID,
                                                                      directory: options.directory)
        guard statements.contains(where: { $0.keyword == "vrrp_instance" }) else {
            throw KeepalivedSyntaxError(file: file, line: statements.first?.line ?? 1,
                                        message: "nothing to import: the file has no vrrp_instance")
        }
        let converter = KeepalivedConverter(file: file, options: options)
        converter.refusals = syntaxRefusals
        converter.read(statements)
        converter.resolve()
        converter.refuseWhatVipdRefuses(converter.emit())
        // By line; at one line, in the order found.
        converter.refusals = converter.refusals.enumerated().sorted { ($0.1.line, $0.0) < ($1.1.line, $1.0) }.map(\.1)
        return Result(yaml: converter.emit().text, refusals: converter.refusals)
    }
}

/// One conversion: what was read (drafts), then resolved across sections,
/// then written out. Internal and single-threaded.
final class KeepalivedConverter {
    let file: String
    let options: KeepalivedImport.Options
    var refusals: [KeepalivedRefusal] = []
    /// Comments at the top of the YAML: what was ignored, and why.
    var notes: [String] = []

    var realtimePriority: (Int, Int)?
    var lockMemory: Int?
    var globalVersion: (Int, Int)?
    var scripts: [ScriptDraft] = []
    var instances: [InstanceDraft] = []
    var groups: [GroupDraft] = []

    // Resolved
    var node: (interface: String?, address: IPAddress?, priority: Int) = (nil, nil, 100)
    var peers: [KeepalivedImport.Peer] = []
    var checks: [CheckDraft] = []
    var notify: [(key: String, argv: [String], line: Int)] = []

    init(file: String, options: KeepalivedImport.Options) {
        self.file = file
        self.options = options
    }

    func refuse(_ statement: KeepalivedStatement, _ reason: String, owner: String? = nil, keyword: String? = nil) {
        refuse(line: statement.line, keyword ?? statement.keyword, reason, owner: owner)
    }

    func refuse(line: Int, _ keyword: String, _ reason: String, owner: String? = nil) {
        refusals.append(KeepalivedRefusal(file: file, line: line, keyword: keyword, reason: reason, owner: owner))
    }

    /// The top level: what vipd maps is read, the rest refused block by block.
    func read(_ statements: [KeepalivedStatement]) {
        for statement in statements {
            switch statement.keyword {
            case "global_defs": readGlobals(statement)
            case "vrrp_script": readScript(statement)
            case "vrrp_instance": readInstance(statement)
            case "vrrp_sync_group": readGroup(statement)
            default:
                let reason = KeepalivedKeywords.topLevelRefusals[statement.keyword]
                    ?? (statement.block == nil ? "not a keepalived keyword vipd knows" : "a block vipd has no equivalent for")
                refuse(statement, "\(reason) (\(statement.lines))")
            }
        }
    }

    /// The one argument of `statement`, or nil (refused) when it has none or several.
    func single(_ statement: KeepalivedStatement, owner: String?) -> String? {
        guard statement.arguments.count == 1, statement.block == nil else {
            refuse(statement, "expected one value, got \"\(statement.arguments.joined(separator: " "))\"", owner: owner)
            return nil
        }
        return statement.arguments[0]
    }

    func integer(_ statement: KeepalivedStatement, _ range: ClosedRange<Int>, owner: String?) -> Int? {
        guard let text = single(statement, owner: owner) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            refuse(statement, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"", owner: owner)
            return nil
        }
        return value
    }

    /// keepalived's `<TIMER>`: seconds with a fraction, e.g. `1` or `0.92`.
    func seconds(_ statement: KeepalivedStatement, _ range: ClosedRange<Span>, owner: String?) -> Span? {
        guard let text = single(statement, owner: owner) else { return nil }
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(text), value < 1e9 else {
            refuse(statement, "expected seconds such as 1 or 0.5, got \"\(text)\"", owner: owner)
            return nil
        }
        let span = Span(nanoseconds: Int64((value * 1e6).rounded()) * 1000)
        guard range.contains(span) else {
            refuse(statement, "vipd allows \(range.lowerBound) to \(range.upperBound), got \(span)", owner: owner)
            return nil
        }
        return span
    }

    /// keepalived's `<BOOL>`; a bare keyword is true.
    func flag(_ statement: KeepalivedStatement, owner: String?) -> Bool? {
        guard let text = statement.arguments.first else { return true }
        switch text.lowercased() {
        case "on", "true", "yes": return true
        case "off", "false", "no": return false
        default:
            refuse(statement, "expected on, off, true, false, yes or no, got \"\(text)\"", owner: owner)
            return nil
        }
    }
}
