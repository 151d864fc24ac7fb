import CTimerFD
import Glibc
import VIPCore

/// A Linux timerfd on CLOCK_MONOTONIC: readable once its deadline passes.
///
/// `set` re-programs it to any deadline, earlier or later, with one syscall,
/// and `nil` disarms it. Reading (done by whoever watches the descriptor)
/// clears it. Deadlines are `Instant`s of CLOCK_MONOTONIC, the clock
/// SwiftNIO's `NIODeadline.now()` and so the engine's `now` read.
public struct TimerFD: Sendable {
    public let descriptor: CInt

    /// A new, disarmed, non-blocking timer; the caller owns the descriptor.
    public static func make() throws -> TimerFD {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK) | Int32(TFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError.fromErrno("timerfd_create") }
        return TimerFD(descriptor: fd)
    }

    /// Fires at `deadline` (at once if it has passed); `nil` disarms.
    public func set(_ deadline: Instant?) throws {
        var spec = itimerspec()
        if let deadline {
            // A zero it_value would disarm: a deadline at or before the
            // clock's epoch means "now", so use the smallest armed value.
            let ns = max(deadline.nanoseconds, 1)
            spec.it_value.tv_sec = Int(ns / 1_000_000_000)
            spec.it_value.tv_nsec = Int(ns % 1_000_000_000)
        }
        guard timerfd_settime(descriptor, Int32(TFD_TIMER_ABSTIME), &spec, nil) == 0 else {
            throw SystemError.fromErrno("timerfd_settime")
        }
    }
}
