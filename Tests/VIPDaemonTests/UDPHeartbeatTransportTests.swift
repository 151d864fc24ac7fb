import Glibc
import Logging
import NIOCore
import NIOPosix
import Testing
import VIPCore
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
        try await engine.onLoop { try transport.send([1, 2, 3], to: peers) }
        for fd in [first, second] {
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(recv(fd, &buffer, buffer.count, 0) == 3)
            #expect(buffer.prefix(3) == [1, 2, 3])
        }
        // A second vipd on the same address and port must not start.
        await #expect(throws: ControlSocketError.self) {
            _ = try await UDPHeartbeatTransport.bind(config: engine.config, engine: engine)
        }
        try await transport.close()
        await #expect(throws: ChannelError.self) {
            try await engine.onLoop { try transport.send([1], to: peers) }
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
}
