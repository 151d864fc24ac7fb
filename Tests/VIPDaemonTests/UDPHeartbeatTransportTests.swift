import Glibc
import Logging
import NIOCore
import NIOPosix
import Testing
import VIPCore
import VIPLinux
@testable import VIPDaemon

/// The heartbeat socket on 127.0.0.1: sends reach each peer, a taken port is
/// refused, and a closed transport says so instead of writing to a stale descriptor.
@Suite struct UDPHeartbeatTransportTests {
    /// A plain UDP socket on 127.0.0.1 and its port, standing in for a peer.
    func peerSocket() throws -> (fd: CInt, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    func engine(port: UInt16, peers: [PeerConfig]) -> NodeEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let config = VIPConfig(
            node: NodeConfig(id: "a", interface: "lo", address: IPAddress("127.0.0.1")!, priority: 100, port: port),
            peers: peers, vrid: 7, vips: [], timing: TimingConfig(advertInterval: .seconds(20)), auth: AuthConfig(keyFile: "/k"),
            control: ControlConfig(), logLevel: "info")
        return NodeEngine(config: config, key: HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!, epoch: 1,
                          loop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger, addresses: nil, announcer: nil)
    }

    @Test func sendsReachEveryPeerAndATakenPortIsRefused() async throws {
        let (first, firstPort) = try peerSocket()
        let (second, secondPort) = try peerSocket()
        defer { close(first); close(second) }
        // Take a free port for the node, then let the transport have it.
        let (probe, port) = try peerSocket()
        close(probe)
        let peers = [PeerConfig(id: "b", address: IPAddress("127.0.0.1")!, port: firstPort),
                     PeerConfig(id: "c", address: IPAddress("127.0.0.1")!, port: secondPort)]
        let engine = engine(port: port, peers: peers)
        let transport = try await UDPHeartbeatTransport.bind(config: engine.config, engine: engine)
        try await engine.onLoop { try transport.send([[1, 2, 3], [1, 2, 3]], to: peers) }
        for fd in [first, second] {
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(recv(fd, &buffer, buffer.count, 0) == 3)
            #expect(buffer.prefix(3) == [1, 2, 3])
        }
        // A second vipd on the same address and port must not start.
        await #expect(throws: SystemError.self) {
            _ = try await UDPHeartbeatTransport.bind(config: engine.config, engine: engine)
        }
        try await transport.close()
        await #expect(throws: ChannelError.self) {
            try await engine.onLoop { try transport.send([[1], [1]], to: peers) }
        }
    }
}

/// The engine's timerfd, watched by SwiftNIO: due deadlines call back on the loop.
@Suite struct TimerFDEngineTimerTests {
    final class Calls: @unchecked Sendable {  // touched on the loop only
        var count = 0
    }

    @Test func aDueDeadlineCallsBackOnTheLoopAndRearmingReplacesIt() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let calls = Calls()
        let timer = try await TimerFDEngineTimer.make(on: loop) {
            loop.preconditionInEventLoop()
            calls.count += 1
        }
        let now = Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds))
        // Armed far out, then replaced by a passed deadline: one call.
        try await loop.submit {
            timer.arm(at: now + .seconds(3600))
            timer.arm(at: now)
        }.get()
        for _ in 0..<1000 where try await loop.submit({ calls.count }).get() == 0 {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await loop.submit { calls.count }.get() == 1)
        try await loop.submit { timer.close() }.get()
    }

    /// Calls `arm` from the handler of another descriptor that epoll reports
    /// in the same batch as the timerfd's expiry: what a heartbeat read does
    /// when it moves the engine's deadline. Re-programming the timerfd there
    /// cleared the expiry epoll had already reported, and SwiftNIO's read of
    /// it then found nothing (a debug build aborted: issue 18, item 1).
    @Test func rearmingInTheBatchThatReportsTheExpiryDoesNotLoseIt() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let calls = Calls()
        let timer = try await TimerFDEngineTimer.make(on: loop) {
            loop.preconditionInEventLoop()
            calls.count += 1
        }
        var fds: [CInt] = [0, 0]
        try #require(pipe(&fds) == 0)
        let writeEnd = fds[1]
        defer { close(writeEnd) }
        let later = Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) + .seconds(3600)
        let pipeChannel = try await NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RearmOnRead(timer: timer, to: later))
                }
            }
            .takingOwnershipOfDescriptor(input: fds[0]).get()
        // While the loop is busy: the pipe becomes readable, then the timer
        // expires, so the next epoll_wait returns both, the pipe first.
        try await loop.submit {
            var byte: UInt8 = 1
            _ = write(writeEnd, &byte, 1)
            timer.arm(at: Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)))
            usleep(5_000)
        }.get()
        try await Task.sleep(for: .milliseconds(50))
        // The re-arming to an hour from now replaced the expiry: no call yet.
        #expect(try await loop.submit { calls.count }.get() == 0)
        // And the timer still works.
        try await loop.submit { timer.arm(at: Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds))) }.get()
        for _ in 0..<1000 where try await loop.submit({ calls.count }).get() == 0 {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await loop.submit { calls.count }.get() == 1)
        try await pipeChannel.close()
        try await loop.submit { timer.close() }.get()
    }

    /// Re-arms `timer` for `deadline` whenever its descriptor is read.
    final class RearmOnRead: ChannelInboundHandler, @unchecked Sendable {  // used on the loop only
        typealias InboundIn = ByteBuffer
        let timer: TimerFDEngineTimer
        let deadline: Instant
        init(timer: TimerFDEngineTimer, to deadline: Instant) { self.timer = timer; self.deadline = deadline }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { timer.arm(at: deadline) }
    }
}
