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
    /// False once closed: the descriptor's number may then belong to another file.
    private var isOpen = true

    private init(timer: TimerFD, channel: any Channel) {
        self.timer = timer
        self.channel = channel
    }

    /// A disarmed timer on `loop` that calls `fired` (on `loop`) when due.
    static func make(on loop: any EventLoop, fired: @escaping @Sendable () -> Void) async throws -> TimerFDEngineTimer {
        let timer = try TimerFD.make()
        let channel: any Channel
        do {
            channel = try await NIOPipeBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ExpiryHandler(fired: fired))
                    }
                }
                .takingOwnershipOfDescriptor(input: timer.descriptor).get()
        } catch {
            _ = Glibc.close(timer.descriptor)
            throw error
        }
        return TimerFDEngineTimer(timer: timer, channel: channel)
    }

    func arm(at deadline: Instant?) {
        channel.eventLoop.preconditionInEventLoop()
        guard isOpen else { return }
        // Cannot fail for an open timerfd and a deadline after the epoch.
        try? timer.set(deadline)
    }

    func close() {
        channel.eventLoop.preconditionInEventLoop()
        isOpen = false
        channel.close(promise: nil)
    }

    /// Each read is the 8-byte expiry count: the deadline has passed.
    private final class ExpiryHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let fired: @Sendable () -> Void
        init(fired: @escaping @Sendable () -> Void) { self.fired = fired }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { fired() }
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
