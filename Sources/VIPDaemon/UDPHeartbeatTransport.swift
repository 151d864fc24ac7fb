import Logging
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
import VIPCore
import VIPLinux

/// Heartbeats over UDP unicast, one datagram per peer.
///
/// vipd creates and binds the socket itself. SwiftNIO receives on it (the
/// channel lives on the engine's event loop, so a datagram reaches the engine
/// without a hop between threads); sends skip the channel and call
/// `sendto(2)` directly from that loop. A heartbeat is one small datagram
/// that the kernel either takes at once or refuses, so the channel's write
/// queue, promises and flush buy nothing, and on an idle node they were most
/// of the work of a send (docs/benchmarks.md, "Idle cost"). A refused send
/// (interface down, no route) is reported to the caller and the socket stays
/// open, where a channel write would have closed the channel.
public final class UDPHeartbeatTransport: HeartbeatSending, @unchecked Sendable {
    let channel: any Channel
    /// The socket's descriptor. Owned by `channel`, which closes it; `isOpen`
    /// turns false in the same loop turn, before the number can be reused.
    private let descriptor: CInt
    private var isOpen = true

    init(channel: any Channel, descriptor: CInt) {
        self.channel = channel
        self.descriptor = descriptor
        channel.closeFuture.whenComplete { [self] _ in isOpen = false }
    }

    /// Binds `node.address:node.port` and routes datagrams to `engine`.
    public static func bind(config: VIPConfig, engine: NodeEngine) async throws -> UDPHeartbeatTransport {
        try await bind(config: config, loop: engine.loop, sink: engine, logger: engine.logger)
    }

    /// Binds `node.address:node.port`; every datagram goes to `sink` on `loop`.
    public static func bind(config: VIPConfig, loop: any EventLoop, sink: any HeartbeatReceiving,
                            logger: Logger) async throws -> UDPHeartbeatTransport {
        let descriptor = try HeartbeatSocket.bound(to: config.node.address, port: config.node.port)
        let bootstrap = DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HeartbeatInboundHandler(sink: sink, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.withBoundSocket(descriptor).get()
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        return try await loop.submit { UDPHeartbeatTransport(channel: channel, descriptor: descriptor) }.get()
    }

    /// Socket addresses of the peers sent to. Peers change only on reload,
    /// so an address is resolved once, not per packet.
    private var addresses: [PeerConfig: SocketAddress] = [:]

    public func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws {
        channel.eventLoop.preconditionInEventLoop()
        guard isOpen else { throw ChannelError.ioOnClosedChannel }
        precondition(datagrams.count == peers.count, "one datagram per peer")
        var firstError: (any Error)?
        for (index, peer) in peers.enumerated() {
            guard let target = address(of: peer) else {
                firstError = firstError ?? ChannelError.badInterfaceAddressFamily
                continue
            }
            let sent = datagrams[index].withUnsafeBytes { buffer in
                target.withSockAddr { sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t($1)) }
            }
            if sent < 0 {
                firstError = firstError ?? IOError(errnoCode: errno, reason: "sendto \(peers[index].id)")
            }
        }
        if let firstError { throw firstError }
    }

    private func address(of peer: PeerConfig) -> SocketAddress? {
        if let known = addresses[peer] { return known }
        guard let resolved = try? SocketAddress(ipAddress: peer.address.description, port: Int(peer.port)) else { return nil }
        if addresses.count > 64 { addresses.removeAll() }  // old peers after many reloads
        addresses[peer] = resolved
        return resolved
    }

    public func close() async throws {
        try await channel.close()
    }
}

/// Hands every received datagram, with its source address, to the sink (the engine).
final class HeartbeatInboundHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let sink: any HeartbeatReceiving
    let logger: Logger

    init(sink: any HeartbeatReceiving, logger: Logger) {
        self.sink = sink
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let source = Self.address(of: envelope.remoteAddress) else { return }
        sink.receive(Array(envelope.data.readableBytesView), from: source)
    }

    /// The sender's address from its raw bytes (no text round trip per packet).
    static func address(of socketAddress: SocketAddress) -> IPAddress? {
        switch socketAddress {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { IPAddress(bytes: Array($0)) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { IPAddress(bytes: Array($0)) }
        default:
            return nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable from a stopped peer surfaces here; it is not fatal.
        logger.debug("heartbeat socket error: \(error)")
    }
}
