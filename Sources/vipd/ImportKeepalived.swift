import ArgumentParser
import Glibc
import VIPCore
import VIPLinux

/// `vipd import-keepalived FILE`: vipd.yaml on stdout, one `FILE:LINE:
/// KEYWORD: why` line on stderr per item that does not map
/// (docs/import-keepalived.md).
struct ImportKeepalived: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-keepalived",
        abstract: "Translate a keepalived.conf into vipd.yaml (stdout); refusals on stderr.",
        discussion: """
            Exit 0: everything mapped. Exit 2: something was refused (each refusal is a FILE:LINE: line on \
            stderr and a comment in the YAML, which is printed all the same). Exit 1: the file cannot be read \
            or parsed, or has no vrrp_instance.
            """)

    /// keepalived's PATH when systemd starts it: where it finds a script named without a path.
    static let keepalivedPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    @Argument(help: "The keepalived configuration file.")
    var file: String

    @Option(name: .customLong("node-id"), help: "node.id of this node (default: the host name).")
    var nodeID: String?

    @Option(name: .customLong("peer"), help: ArgumentHelp(
        "Another node, ID=ADDRESS (repeatable). Names unicast_peer addresses (else peer1, peer2, ...); required for multicast instances.",
        valueName: "id=address"))
    var peers: [String] = []

    @Option(name: .customLong("key-file"), help: "auth.key_file.")
    var keyFile: String = "/etc/vipd/auth.key"

    @Option(name: .customLong("address"), help: "node.address when the file has no unicast_src_ip or mcast_src_ip.")
    var address: String?

    @Option(name: .customLong("config-id"),
            help: "What @ID conditional lines are matched against, as keepalived's -i (default: the host name up to its first dot).")
    var configID: String?

    /// node.id's rule (docs/config.md).
    static func validID(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    func validate() throws {
        guard keyFile.hasPrefix("/") else { throw ValidationError("--key-file must be an absolute path") }
        if let nodeID, !Self.validID(nodeID) {
            throw ValidationError("--node-id: 1-64 letters, digits, '.', '_' or '-'; got \(nodeID)")
        }
        if let address, IPAddress(address) == nil { throw ValidationError("--address: not an IPv4 or IPv6 address: \(address)") }
        _ = try namedPeers()
    }

    func namedPeers() throws -> [KeepalivedImport.Peer] {
        try peers.map { text in
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let address = IPAddress(parts[1]), Self.validID(parts[0]) else {
                throw ValidationError("--peer expects ID=ADDRESS (ID: 1-64 letters, digits, '.', '_' or '-'), such as node-b=198.18.0.2; got \(text)")
            }
            return KeepalivedImport.Peer(id: parts[0], address: address)
        }
    }

    func run() throws {
        let text: String
        do {
            text = try TextFile.read(file)
        } catch {
            writeStderr("vipd: \(error.description)\n")
            throw ExitCode(1)
        }
        let host = nodeID ?? Self.hostName()
        let directory = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        let options = KeepalivedImport.Options(
            nodeID: host, peers: try namedPeers(), keyFile: keyFile, address: address.flatMap(IPAddress.init),
            configID: configID ?? String(Self.hostName().prefix { $0 != "." }), directory: directory.isEmpty ? "/" : directory,
            findProgram: Self.findProgram)
        let result: KeepalivedImport.Result
        do {
            result = try KeepalivedImport.convert(text, file: file, options: options)
        } catch {
            writeStderr("vipd: \(error.description)\n")
            throw ExitCode(1)
        }
        print(result.yaml, terminator: "")
        for refusal in result.refusals { writeStderr("\(refusal)\n") }
        if !result.refusals.isEmpty { throw ExitCode(2) }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "node" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "node" : name
    }

    /// The first executable regular file of that name on keepalived's PATH.
    @Sendable static func findProgram(_ name: String) -> String? {
        guard !name.contains("/") else { return nil }
        for directory in keepalivedPath {
            let path = "\(directory)/\(name)"
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(path, X_OK) == 0 { return path }
        }
        return nil
    }
}
