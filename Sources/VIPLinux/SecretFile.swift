import Glibc

/// Reads secrets (the heartbeat key, API tokens) from files that only their
/// owner may read. A readable-by-others key is refused, not warned about:
/// anyone who can read it can forge heartbeats and steal the VIP.
public enum SecretFile {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The file's bytes with trailing whitespace (a final newline) removed.
    ///
    /// The checks look at the opened descriptor (`fstat`), not the path: a
    /// path checked with `stat` and then opened can be swapped in between.
    public static func read(_ path: String) throws(Problem) -> [UInt8] {
        let fd = try ReadOnlyFile.open(path)
        defer { close(fd) }
        try check(descriptor: fd, path: path)
        var bytes = try ReadOnlyFile.readAll(fd, path: path, limit: 65536)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        return bytes
    }

    /// Refuses anything but a regular file that group and others cannot read.
    static func check(descriptor fd: CInt, path: String) throws(Problem) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Problem(description: "\(path) is not a regular file")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw Problem(description: "\(path) has mode \(String(mode, radix: 8, uppercase: false)); it must not be readable by group or others (chmod 600 \(path))")
        }
    }
}

/// Reads a whole text file (configuration).
public enum TextFile {
    public static func read(_ path: String) throws(SecretFile.Problem) -> String {
        let fd = try ReadOnlyFile.open(path)
        defer { close(fd) }
        return String(decoding: try ReadOnlyFile.readAll(fd, path: path, limit: 16 << 20), as: UTF8.self)
    }
}

/// Opening and reading files the way every reader in vipd must.
enum ReadOnlyFile {
    /// Close-on-exec, so a check or notify script spawned by another thread
    /// at this moment never inherits the descriptor (and with it the key);
    /// non-blocking, so a FIFO put where a file belongs cannot hang vipd.
    static func open(_ path: String) throws(SecretFile.Problem) -> CInt {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            throw SecretFile.Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// The rest of `fd`, refusing more than `limit` bytes.
    static func readAll(_ fd: CInt, path: String, limit: Int) throws(SecretFile.Problem) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SecretFile.Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > limit {
                throw SecretFile.Problem(description: "\(path) is larger than \(limit) bytes")
            }
        }
        return bytes
    }
}

/// The whole file at `path`, refusing one larger than `limit` bytes.
func readAll(_ path: String, limit: Int) throws(SecretFile.Problem) -> [UInt8] {
    let fd = try ReadOnlyFile.open(path)
    defer { close(fd) }
    return try ReadOnlyFile.readAll(fd, path: path, limit: limit)
}
