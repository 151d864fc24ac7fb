#if canImport(Glibc)
import Glibc
#endif
import Testing
import VIPCore
@testable import VIPLinux

/// Commands run without a shell, with a timeout, as exec checks and nginx -t use them.
@Suite struct ChildProcessTests {
    let second = Span.seconds(1)

    @Test func exitStatusAndOutput() {
        #expect(ChildProcess.run(["/bin/true"], timeout: second) == CommandOutcome(termination: .exited(0)))
        #expect(ChildProcess.run(["/bin/false"], timeout: second).termination == .exited(1))
        let echo = ChildProcess.run(["/bin/echo", "a b", "$HOME", "*"], timeout: second)
        #expect(echo.output == "a b $HOME *\n", "arguments reach the program verbatim: no shell")
        #expect(echo.succeeded)
        let both = ChildProcess.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: second)
        #expect(both.termination == .exited(3))
        #expect(both.output == "out\nerr\n")
        #expect(both.description == "exit 3")
        #expect(both.firstLine == "out")
    }

    @Test func missingProgramFailsToStart() {
        let outcome = ChildProcess.run(["/nonexistent/check"], timeout: second)
        #expect(outcome.termination == .failedToStart("/nonexistent/check: No such file or directory"))
        #expect(!outcome.succeeded)
    }

    @Test func standardInputIsEmpty() {
        // cat would wait forever on an inherited terminal or pipe.
        #expect(ChildProcess.run(["/bin/cat"], timeout: second) == CommandOutcome(termination: .exited(0)))
    }

    @Test func deathBySignalIsReported() {
        let outcome = ChildProcess.run(["/bin/sh", "-c", "kill -TERM $$"], timeout: second)
        #expect(outcome.termination == .signalled(SIGTERM))
        #expect(outcome.description == "killed by signal 15")
    }

    @Test func timeoutKillsTheWholeProcessGroup() throws {
        let start = ChildProcess.monotonicNanoseconds()
        let outcome = ChildProcess.run(["/bin/sh", "-c", "sleep 30 & echo $!; wait"], timeout: .milliseconds(300))
        let took = Span(nanoseconds: ChildProcess.monotonicNanoseconds() - start)
        #expect(outcome.termination == .timedOut(.milliseconds(300)))
        #expect(outcome.description == "timed out after 300ms (killed)")
        #expect(took < .seconds(2))
        // The grandchild (sleep) was in the group and dies too. SIGKILL takes
        // effect when the process is next scheduled, so allow it a moment.
        let pid = try #require(Int32(outcome.output.trimmingCharacters()))
        var alive = true
        for _ in 0..<200 where alive {
            alive = Self.isLive(pid)
            if alive { usleep(10_000) }
        }
        #expect(!alive, "sleep \(pid) survived the timeout")
    }

    /// Whether `pid` exists and is not a zombie.
    static func isLive(_ pid: Int32) -> Bool {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return false }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, 512, file) != nil else { return false }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return !line.contains(") Z ")
    }

    @Test func closedOutputDoesNotEndTheWait() {
        // Closes its output at once but keeps running: the timeout still applies.
        let outcome = ChildProcess.run(["/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30"], timeout: .milliseconds(200))
        #expect(outcome.termination == .timedOut(.milliseconds(200)))
    }

    @Test func ignoredSignalsAreResetForTheChild() {
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        let outcome = ChildProcess.run(["/bin/grep", "^SigIgn:", "/proc/self/status"], timeout: second)
        // Signals 1-31; glibc's internal real-time signals (32, 33) are its own business.
        let mask = UInt64(outcome.output.dropFirst("SigIgn:".count).filter(\.isHexDigit), radix: 16)
        #expect(mask.map { $0 & 0x7fff_ffff } == 0, "\(outcome.output)")
    }

    @Test func outputIsCapped() {
        let outcome = ChildProcess.run(["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"], timeout: second)
        #expect(outcome.succeeded)
        #expect(outcome.output.utf8.count == ChildProcess.outputLimit)
    }

    @Test func blockingThreadRunsOffTheCallersThread() async {
        let caller = pthread_self()
        let other = await BlockingThread.run { pthread_equal(pthread_self(), caller) == 0 }
        #expect(other)
        let outcome = await BlockingThread.run { ChildProcess.run(["/bin/echo", "hi"], timeout: .seconds(1)) }
        #expect(outcome.output == "hi\n")
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
