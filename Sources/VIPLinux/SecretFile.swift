import Glibc

/// Reads secrets (the heartbeat key, API tokens) from files that only their
/// owner may read. A readable-by-others key is refused, not warned about:
/// anyone who can read it can forge heartbeats and steal the VIP.
public enum SecretFile {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The file's bytes with trailing whitespace (a final newline) removed.
    public static func read(_ path: String) throws(Problem) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Problem(description: "\(path) is not a regular file")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw Problem(description: "\(path) has mode \(String(mode, radix: 8, uppercase: false)); it must not be readable by group or others (chmod 600 \(path))")
        }
        var bytes = try readAll(path, limit: 65536)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        return bytes
    }
}

/// Reads a whole text file (configuration).
public enum TextFile {
    public static func read(_ path: String) throws(SecretFile.Problem) -> String {
        String(decoding: try readAll(path, limit: 16 << 20), as: UTF8.self)
    }
}

/// The whole file, refusing one larger than `limit` bytes.
func readAll(_ path: String, limit: Int) throws(SecretFile.Problem) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw SecretFile.Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
        if bytes.count > limit {
            throw SecretFile.Problem(description: "\(path) is larger than \(limit) bytes")
        }
    }
    return bytes
}
