import NIOCore
import NIOPosix
import VIPCore
import VIPLinux

/// The engine's one wake-up. Called on the engine's loop only.
public protocol EngineTimer: AnyObject {
    /// Calls the engine at `deadline`, replacing any earlier arming; `nil` disarms.
    func arm(at deadline: Instant?)
    func close()
}

/// A timerfd that SwiftNIO watches like a pipe, on the engine's loop.
///
/// Why not `EventLoop.scheduleTask`: cancelling a scheduled task does not
/// re-program SwiftNIO's own timer, so the loop still wakes at the cancelled
/// deadline. A backup pushes its master-down deadline out with every
/// heartbeat it hears, and so woke three times a second for nothing. A
/// timerfd is set to the exact deadline, later or earlier, with one syscall,
/// and wakes the loop only when something is due.
final class TimerFDEngineTimer: EngineTimer, @unchecked Sendable {
    private let timer: TimerFD
    private let channel: any Channel
    private let fired: @Sendable () -> Void
    /// False once closed: the descriptor's number may then belong to another file.
    private var isOpen = true
    /// What the timerfd is set to; nil while disarmed or once its expiry was read.
    private var armed: Instant?
    /// An arming asked for while the timerfd held an unread expiry, applied
    /// when SwiftNIO reads it (`.some(nil)`: disarm).
    private var deferred: Instant??

    private init(timer: TimerFD, channel: any Channel, fired: @escaping @Sendable () -> Void) {
        self.timer = timer
        self.channel = channel
        self.fired = fired
    }

    /// A disarmed timer on `loop` that calls `fired` (on `loop`) when due.
    static func make(on loop: any EventLoop, fired: @escaping @Sendable () -> Void) async throws -> TimerFDEngineTimer {
        let timer = try TimerFD.make()
        let expiry = ExpiryHandler()
        let channel: any Channel
        do {
            channel = try await NIOPipeBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(expiry)
                    }
                }
                .takingOwnershipOfDescriptor(input: timer.descriptor).get()
        } catch {
            _ = Glibc.close(timer.descriptor)
            throw error
        }
        let engineTimer = TimerFDEngineTimer(timer: timer, channel: channel, fired: fired)
        try await loop.submit { expiry.owner = engineTimer }.get()
        return engineTimer
    }

    /// Re-programs the timerfd, unless it may hold an unread expiry.
    ///
    /// Why the exception: `timerfd_settime` clears a pending expiry. If epoll
    /// has already reported the timerfd readable in the batch SwiftNIO is
    /// working through (a heartbeat read earlier in the same batch re-arms
    /// the timer), SwiftNIO's read then finds nothing, and a debug build
    /// aborts in `BaseSocketChannel.readable0` (`assert(readResult == .some)`);
    /// a release build silently loses the wake-up. A timer whose deadline has
    /// not passed has no expiry, so it is never in such a batch and is set at
    /// once; otherwise the new arming waits for SwiftNIO's read (at most one
    /// loop turn, since the expiry is due).
    func arm(at deadline: Instant?) {
        channel.eventLoop.preconditionInEventLoop()
        guard isOpen else { return }
        if let armed, armed <= Self.now() {
            deferred = .some(deadline)
            return
        }
        set(deadline)
    }

    func close() {
        channel.eventLoop.preconditionInEventLoop()
        isOpen = false
        channel.close(promise: nil)
    }

    private func set(_ deadline: Instant?) {
        // Cannot fail for an open timerfd and a deadline after the epoch.
        try? timer.set(deadline)
        armed = deadline
    }

    /// SwiftNIO read the expiry: the timerfd is clear. Call the engine if the
    /// latest arming is due; otherwise apply the arming that waited.
    fileprivate func expired() {
        guard isOpen else { return }
        armed = nil
        guard let wanted = deferred else { return fired() }
        deferred = nil
        guard let deadline = wanted else { return }
        if deadline <= Self.now() { fired() } else { set(deadline) }
    }

    /// CLOCK_MONOTONIC, the timerfd's clock and the engine's.
    private static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    /// Each read is the 8-byte expiry count: the deadline has passed.
    private final class ExpiryHandler: ChannelInboundHandler, @unchecked Sendable {  // used on the loop only
        typealias InboundIn = ByteBuffer
        weak var owner: TimerFDEngineTimer?
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { owner?.expired() }
    }
}

/// `EventLoop.scheduleTask`: for engines started without a timerfd (tests).
/// A re-arm to a later deadline may still wake the loop at the earlier one
/// (harmless: the engine acts only on what is due).
final class ScheduledTaskEngineTimer: EngineTimer, @unchecked Sendable {
    private let loop: any EventLoop
    private let fired: () -> Void
    private var task: Scheduled<Void>?

    init(loop: any EventLoop, fired: @escaping () -> Void) {
        self.loop = loop
        self.fired = fired
    }

    func arm(at deadline: Instant?) {
        loop.preconditionInEventLoop()
        task?.cancel()
        task = deadline.map { deadline in
            loop.scheduleTask(deadline: .uptimeNanoseconds(UInt64(max(0, deadline.nanoseconds)))) { [self] in
                task = nil
                fired()
            }
        }
    }

    func close() {
        task?.cancel()
        task = nil
    }
}
