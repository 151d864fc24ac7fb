#if canImport(Glibc)
import Glibc
#endif

/// Replaces a file so that a reader (nginx) sees either the old content or
/// the new, never a mix: write a temporary file in the same directory, fsync
/// it, rename it over the target, fsync the directory.
///
/// The temporary name starts with "." and ends in ".vipd-tmp", so a glob
/// such as `include vipd/*.conf` never picks it up.
public enum AtomicFile {
    /// Writes `text` to `path` atomically with mode 0644.
    public static func write(_ text: String, to path: String) throws(SystemError) {
        let (directory, name) = split(path)
        let temporary = "\(directory)/.\(name).\(getpid()).vipd-tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError.fromErrno("create \(temporary)") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, Array(text.utf8), path: temporary)
            guard fchmod(fd, 0o644) == 0 else { throw SystemError.fromErrno("chmod \(temporary)") }
            guard fsync(fd) == 0 else { throw SystemError.fromErrno("fsync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw SystemError.fromErrno("rename \(temporary) to \(path)") }
        ok = true
        syncDirectory(directory)
    }

    /// Removes `path` (restoring "no file"); a missing file is not an error.
    public static func remove(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError.fromErrno("unlink \(path)") }
        syncDirectory(split(path).directory)
    }

    /// The file's content, or nil if it does not exist.
    public static func read(_ path: String) throws(SystemError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SystemError.fromErrno("read \(path)")
        }
        defer { close(fd) }
        do {
            return String(decoding: try ReadOnlyFile.readAll(fd, path: path, limit: 16 << 20), as: UTF8.self)
        } catch {
            throw SystemError(operation: "read \(path)", code: errno == 0 ? EIO : errno)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemError.fromErrno("write \(path)")
            }
            offset += written
        }
    }

    /// Makes the rename durable. Best effort: some file systems refuse fsync on directories.
    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
