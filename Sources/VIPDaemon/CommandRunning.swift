import VIPCore
import VIPLinux

/// Runs an external command (exec checks, `nginx -t`, `nginx -s reload`).
/// Tests substitute a fake that records the calls and scripts the outcomes.
public protocol CommandRunning: Sendable {
    /// Runs `argv` (argv[0] an absolute path, no shell) and returns how it
    /// ended. Must not block the caller's thread: implementations suspend.
    func run(_ argv: [String], timeout: Span) async -> CommandOutcome
}

/// The real runner: `posix_spawn` on a thread of its own (`BlockingThread`),
/// so a hanging command blocks neither an event loop nor the Swift
/// concurrency pool; it is killed with its process group at the timeout.
public struct SpawnCommandRunner: CommandRunning {
    public init() {}

    public func run(_ argv: [String], timeout: Span) async -> CommandOutcome {
        await BlockingThread.run { ChildProcess.run(argv, timeout: timeout) }
    }
}
