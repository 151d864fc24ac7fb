#if canImport(Glibc)
import Glibc
#endif
import Testing
import VIPLinux

/// Atomic replacement of the nginx upstream file.
@Suite struct AtomicFileTests {
    /// A fresh directory under /tmp, removed with its files afterwards.
    static func withDirectory(_ body: (String) throws -> Void) rethrows {
        var template = Array("/tmp/vipd-atomic.XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer {
            if let dir = opendir(directory) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if name != "." && name != ".." { unlink("\(directory)/\(name)") }
                }
                closedir(dir)
            }
            rmdir(directory)
        }
        try body(directory)
    }

    static func names(in directory: String) -> [String] {
        var names: [String] = []
        guard let dir = opendir(directory) else { return [] }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        return names.sorted()
    }

    @Test func writeReplaceAndRemove() throws {
        try Self.withDirectory { directory in
            let path = "\(directory)/up.conf"
            #expect(try AtomicFile.read(path) == nil)
            try AtomicFile.write("one\n", to: path)
            #expect(try AtomicFile.read(path) == "one\n")
            try AtomicFile.write("two\n", to: path)
            #expect(try AtomicFile.read(path) == "two\n")
            #expect(Self.names(in: directory) == ["up.conf"], "no temporary file is left behind")
            var info = stat()
            stat(path, &info)
            #expect(info.st_mode & 0o777 == 0o644)
            try AtomicFile.remove(path)
            #expect(try AtomicFile.read(path) == nil)
            try AtomicFile.remove(path)   // already gone: not an error
        }
    }

    @Test func replacingKeepsOtherHardLinksOnTheOldContent() throws {
        // rename(2) swaps the directory entry: a reader holding the old file
        // (here: a second link to it) still sees the old content, never a mix.
        try Self.withDirectory { directory in
            let path = "\(directory)/up.conf"
            try AtomicFile.write("old\n", to: path)
            link(path, "\(directory)/held")
            try AtomicFile.write("new\n", to: path)
            #expect(try AtomicFile.read("\(directory)/held") == "old\n")
            #expect(try AtomicFile.read(path) == "new\n")
        }
    }

    @Test func unwritableDirectoryIsAnErrorNamingThePath() throws {
        #expect(throws: SystemError.self) { try AtomicFile.write("x", to: "/nonexistent-dir/up.conf") }
        do {
            try AtomicFile.write("x", to: "/nonexistent-dir/up.conf")
        } catch {
            #expect(error.description.hasPrefix("create /nonexistent-dir/.up.conf."))
            #expect(error.description.hasSuffix("No such file or directory"))
        }
    }
}
