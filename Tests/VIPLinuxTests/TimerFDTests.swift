import Glibc
import Testing
import VIPCore
@testable import VIPLinux

/// TimerFD's arming, judged by whether the descriptor is readable (no sleeping:
/// deadlines are far in the past or far in the future).
@Suite struct TimerFDTests {
    func readable(_ timer: TimerFD, waitingMs: Int32 = 0) -> Bool {
        var entry = pollfd(fd: timer.descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, waitingMs) == 1
    }

    func monotonicNow() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    @Test func aNewTimerIsDisarmed() throws {
        let timer = try TimerFD.make()
        defer { close(timer.descriptor) }
        #expect(!readable(timer))
    }

    @Test func aPassedDeadlineFiresAtOnceAndReadingClearsIt() throws {
        let timer = try TimerFD.make()
        defer { close(timer.descriptor) }
        try timer.set(monotonicNow() + .milliseconds(-1))
        #expect(readable(timer, waitingMs: 5_000))
        var expirations: UInt64 = 0
        #expect(read(timer.descriptor, &expirations, 8) == 8 && expirations == 1)
        #expect(!readable(timer))
        // The clock's epoch itself (a zero value would mean "disarm").
        try timer.set(Instant(nanoseconds: 0))
        #expect(readable(timer, waitingMs: 5_000))
    }

    @Test func rearmingLaterOrDisarmingClearsAPendingExpiry() throws {
        let timer = try TimerFD.make()
        defer { close(timer.descriptor) }
        try timer.set(monotonicNow() + .milliseconds(-1))
        #expect(readable(timer, waitingMs: 5_000))
        try timer.set(monotonicNow() + .seconds(3600))
        #expect(!readable(timer))
        try timer.set(monotonicNow() + .milliseconds(-1))
        #expect(readable(timer, waitingMs: 5_000))
        try timer.set(nil)
        #expect(!readable(timer))
    }

    @Test func aClosedDescriptorIsAnError() throws {
        let timer = try TimerFD.make()
        close(timer.descriptor)
        #expect(throws: SystemError.self) { try timer.set(nil) }
    }
}
