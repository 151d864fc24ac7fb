import CSpawn
#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// How a command ended, with what it printed.
public struct CommandOutcome: Sendable, Equatable, CustomStringConvertible {
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Still running at the timeout; it was killed with its process group.
        case timedOut(Span)
        /// posix_spawn failed (no such program, not executable, ...).
        case failedToStart(String)
        /// waitpid failed, so how it ended is unknown (never counted as success).
        case statusLost(String)
    }

    public var termination: Termination
    /// Standard output and standard error, interleaved, at most `ChildProcess.outputLimit` bytes.
    public var output: String

    public init(termination: Termination, output: String = "") {
        self.termination = termination
        self.output = output
    }

    public var succeeded: Bool { termination == .exited(0) }

    /// "exit 1", "killed by signal 9", "timed out after 1s (killed)", "cannot start: ..."
    public var description: String {
        switch termination {
        case .exited(let code): return "exit \(code)"
        case .signalled(let signal): return "killed by signal \(signal)"
        case .timedOut(let limit): return "timed out after \(limit) (killed)"
        case .failedToStart(let why): return "cannot start: \(why)"
        case .statusLost(let why): return "exit status lost: \(why)"
        }
    }

    /// The first non-empty line of the output, for one-line logs.
    public var firstLine: String? {
        output.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingWhitespace() }.first { !$0.isEmpty }
    }
}

/// Runs a program without a shell, with a timeout. Blocking: call it from a
/// thread of its own (`BlockingThread.run`), never from an event loop.
///
/// The child gets standard input from /dev/null, its output on a pipe, the
/// default disposition and an empty mask for every signal (vipd ignores
/// SIGPIPE, and ignored signals would otherwise survive exec), and a process
/// group of its own, so that a timeout kills everything it started. Every
/// descriptor vipd opens is close-on-exec, so none leaks into it, and since
/// vipd has no ambient capabilities the child gets none.
public enum ChildProcess {
    public static let outputLimit = 4096

    public static func run(_ argv: [String], timeout: Span) -> CommandOutcome {
        guard let program = argv.first else { return CommandOutcome(termination: .failedToStart("empty command")) }
        // A socket pair rather than pipe(2): it is created close-on-exec
        // atomically (Glibc's pipe2 is not visible to Swift), so a command
        // spawned concurrently by another check never inherits this one's
        // write end, which would hold back the end of file read below.
        var pipeFDs: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pipeFDs) == 0 else {
            return CommandOutcome(termination: .failedToStart("socketpair: \(String(cString: strerror(errno)))"))
        }
        let (reader, writer) = (pipeFDs[0], pipeFDs[1])
        defer { close(reader) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writer, 1)
        posix_spawn_file_actions_adddup2(&actions, writer, 2)
        // Nothing but these three reaches the command: SwiftNIO creates its
        // sockets (the control socket, its connections, HTTP clients)
        // without close-on-exec, and a script must not hold them open.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        // vipd's threads may run SCHED_RR (realtime_priority); commands must
        // not inherit that and compete with the heartbeats.
        var normal = sched_param()
        normal.sched_priority = 0
        posix_spawnattr_setschedpolicy(&attributes, SCHED_OTHER)
        posix_spawnattr_setschedparam(&attributes, &normal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                                    | POSIX_SPAWN_SETSCHEDULER))

        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, cArguments, environ)
        close(writer)
        guard spawned == 0 else {
            return CommandOutcome(termination: .failedToStart("\(program): \(String(cString: strerror(spawned)))"))
        }

        let deadline = monotonicNanoseconds() + timeout.nanoseconds
        var output: [UInt8] = []
        let readAll = readUntilEOF(reader, into: &output, deadline: deadline)
        var status: Int32 = 0
        if readAll {
            let text = String(decoding: output, as: UTF8.self)
            switch waitForExit(pid, &status, deadline: deadline) {
            case .exited where status & 0x7f == 0:
                return CommandOutcome(termination: .exited((status >> 8) & 0xff), output: text)
            case .exited:
                return CommandOutcome(termination: .signalled(status & 0x7f), output: text)
            case .lost(let code):
                // Never report success for a child whose status is unknown.
                return CommandOutcome(termination: .statusLost("waitpid: \(String(cString: strerror(code)))"), output: text)
            case .deadline:
                break
            }
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return CommandOutcome(termination: .timedOut(timeout), output: String(decoding: output, as: UTF8.self))
    }

    /// Reads until end of file (true) or the deadline (false). Keeps the first `outputLimit` bytes.
    private static func readUntilEOF(_ fd: Int32, into output: inout [UInt8], deadline: Int64) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var poller = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let left = deadline - monotonicNanoseconds()
            guard left > 0 else { return false }
            let ready = poll(&poller, 1, Int32(min((left + 999_999) / 1_000_000, Int64(Int32.max))))
            if ready < 0 && errno != EINTR { return false }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return true }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return true
            }
            output.append(contentsOf: buffer[0..<min(count, max(0, outputLimit - output.count))])
        }
    }

    /// Polls for the child's exit until the deadline. The pipe is closed by
    /// then, so this is normally immediate; a child that closed its output
    /// but keeps running is caught by the deadline.
    private static func waitForExit(_ pid: pid_t, _ status: inout Int32, deadline: Int64) -> WaitResult {
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return .exited }
            if result < 0 && errno != EINTR { return .lost(errno) }
            if monotonicNanoseconds() >= deadline { return .deadline }
            usleep(2_000)
        }
    }

    private enum WaitResult { case exited, lost(Int32), deadline }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
