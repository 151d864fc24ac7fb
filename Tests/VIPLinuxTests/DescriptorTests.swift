#if canImport(Glibc)
import Glibc
#endif
import Testing
import VIPCore
@testable import VIPLinux

/// Issue 18, item 7: no descriptor of vipd reaches a child, and secret files
/// are judged by what was opened, not by a path that may have changed since.
@Suite(.serialized) struct DescriptorTests {
    func temporaryFile(_ content: String, mode: mode_t) throws -> String {
        var template = Array("/tmp/vipd-descriptor-test.XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        _ = content.withCString { write(fd, $0, strlen($0)) }
        fchmod(fd, mode)
        close(fd)
        return String(cString: template)
    }

    @Test func filesAreOpenedCloseOnExec() throws {
        let path = try temporaryFile("a key of sixteen+ bytes\n", mode: 0o600)
        defer { unlink(path) }
        let fd = try ReadOnlyFile.open(path)
        defer { close(fd) }
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func aSecretIsCheckedOnTheOpenedDescriptor() throws {
        let path = try temporaryFile("a key of sixteen+ bytes\n", mode: 0o644)
        defer { unlink(path) }
        let fd = try ReadOnlyFile.open(path)
        defer { close(fd) }
        // The path is swapped for a private file after opening (what a stat
        // of the path, then an open, could not tell apart); the descriptor
        // still points at the file others could read, and that is what is judged.
        let privateFile = try temporaryFile("a key of sixteen+ bytes\n", mode: 0o600)
        try #require(rename(privateFile, path) == 0)
        #expect(throws: SecretFile.Problem.self) { try SecretFile.check(descriptor: fd, path: path) }
        #expect(try SecretFile.read(path) == Array("a key of sixteen+ bytes".utf8))
        // A FIFO where a key belongs is refused, not waited on.
        let fifo = path + ".fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        #expect(throws: SecretFile.Problem.self) { try SecretFile.read(fifo) }
    }

    /// A descriptor opened without close-on-exec (as SwiftNIO opens its
    /// sockets) is still not inherited by a command vipd runs.
    @Test func aChildInheritsNoDescriptorOfVipd() throws {
        let leaky = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)  // no SOCK_CLOEXEC, on purpose
        try #require(leaky >= 0)
        defer { close(leaky) }
        let outcome = ChildProcess.run(["/bin/ls", "/proc/self/fd"], timeout: .seconds(5))
        let descriptors = outcome.output.split(separator: "\n").compactMap { Int($0) }
        // 0-2, and the one ls opened to list the directory.
        #expect(!descriptors.contains(Int(leaky)), "child saw \(descriptors)")
        #expect(descriptors.filter { $0 > 2 }.count <= 1, "child saw \(descriptors)")
    }

    @Test func theBootEpochGrowsWhateverTheClockSays() throws {
        var template = Array("/tmp/vipd-state-test.XXXXXX".utf8CString)
        try #require(mkdtemp(&template) != nil)
        let directory = String(cString: template)
        defer { unlink(directory + "/epoch"); rmdir(directory) }
        let first = BootEpoch.next(directory: directory, wallClockMilliseconds: 5_000)
        #expect(first.epoch == 5_000 && first.warning == nil)
        // The clock went back: the stored counter still moves the epoch up.
        let second = BootEpoch.next(directory: directory, wallClockMilliseconds: 1_000)
        #expect(second.epoch == 5_001)
        let third = BootEpoch.next(directory: directory, wallClockMilliseconds: 9_000)
        #expect(third.epoch == 9_000)
        // Nowhere to store it: the wall clock, and a warning.
        let unstored = BootEpoch.next(directory: "/proc/vipd-no-such-dir", wallClockMilliseconds: 7)
        #expect(unstored.epoch == 7 && unstored.warning != nil)
    }
}
