import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VIPCore
#if canImport(Glibc)
import Glibc
#endif

extension StatusReport: ResponseEncodable {}

/// The control API: HTTP/1.1 on a Unix socket, for vipctl and operators.
public enum ControlAPI {
    /// The routes, separate from the socket so tests drive them in-process.
    public static func router(engine: NodeEngine) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/status") { _, _ -> StatusReport in
            try await engine.loop.submit { engine.status() }.get()
        }
        return router
    }

    /// The server bound to `socket` (mode 0660 once listening).
    public static func application(engine: NodeEngine, socket: String, logger: Logger) throws -> some Service {
        Application(
            router: router(engine: engine),
            configuration: .init(address: .unixDomainSocket(path: socket), serverName: "vipd"),
            onServerRunning: { _ in
                // Connecting needs write permission: owner and group only.
                _ = chmod(socket, 0o660)
            },
            logger: logger)
    }

    /// Creates the socket's directory (owned by `owner`, who vipd becomes) if
    /// needed and removes a stale socket left by a crashed run — but never a
    /// regular file someone put there. Runs before privileges are dropped.
    public static func prepareSocketPath(_ socket: String, owner: String) throws {
        if let slash = socket.lastIndex(of: "/"), slash != socket.startIndex {
            let directory = String(socket[..<slash])
            var info = stat()
            if stat(directory, &info) != 0 {
                guard mkdir(directory, 0o755) == 0 else {
                    throw ControlSocketError(description: "cannot create \(directory): \(String(cString: strerror(errno)))")
                }
                if geteuid() == 0, let user = getpwnam(owner) { _ = chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) }
            }
        }
        var info = stat()
        guard lstat(socket, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ControlSocketError(description: "\(socket) exists and is not a socket; refusing to replace it")
        }
        guard !isAccepting(socket) else {
            throw ControlSocketError(description: "another vipd is running (its control socket \(socket) accepts connections); refusing to start a second one")
        }
        unlink(socket)
    }
}

/// Whether some process is listening on the Unix socket at `path`.
func isAccepting(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8.prefix(107))
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
        }
    }
}

public struct ControlSocketError: Error, CustomStringConvertible {
    public var description: String
}
