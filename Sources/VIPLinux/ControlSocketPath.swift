#if canImport(Glibc)
import Glibc
#endif

/// The control socket's place in the file system, prepared before root is
/// dropped: its directory, and what a crashed run left there.
public enum ControlSocketPath {
    /// Creates the socket's directory (owned by `owner`, who vipd becomes) if
    /// needed and removes a stale socket left by a crashed run — but never a
    /// regular file someone put there. The directory gets the control group
    /// and the setgid bit, so the socket created inside it later (by the
    /// unprivileged user, who cannot chgrp to a group it is not in) inherits
    /// that group.
    public static func prepare(_ socket: String, owner: String, group: String?) throws(SystemError) {
        if let slash = socket.lastIndex(of: "/"), slash != socket.startIndex {
            let directory = String(socket[..<slash])
            var info = stat()
            // Only a directory vipd creates is given to it: an existing one
            // (/run, /tmp, systemd's RuntimeDirectory) keeps its owner and mode.
            guard stat(directory, &info) != 0 else { return try removeStale(socket) }
            guard mkdir(directory, 0o750) == 0 else { throw SystemError.fromErrno("cannot create \(directory)") }
            if geteuid() == 0 {
                guard let user = getpwnam(owner) else {
                    throw SystemError(refusal: "user \(owner) does not exist (config key user); create it: useradd --system \(owner)")
                }
                var gid = user.pointee.pw_gid
                if let group {
                    guard let entry = getgrnam(group) else {
                        throw SystemError(refusal: "group \(group) does not exist (config key control.group)")
                    }
                    gid = entry.pointee.gr_gid
                }
                _ = chown(directory, user.pointee.pw_uid, gid)
                _ = chmod(directory, 0o2750)
            }
        }
        try removeStale(socket)
    }

    /// Removes a socket left by a crashed run, refusing to touch a live one or a non-socket.
    static func removeStale(_ socket: String) throws(SystemError) {
        var info = stat()
        guard lstat(socket, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemError(refusal: "\(socket) exists and is not a socket; refusing to replace it")
        }
        guard !isAccepting(socket) else {
            throw SystemError(refusal: "another vipd is running (its control socket \(socket) accepts connections); refusing to start a second one")
        }
        unlink(socket)
    }

    /// Whether some process is listening on the Unix socket at `path`.
    public static func isAccepting(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
}
