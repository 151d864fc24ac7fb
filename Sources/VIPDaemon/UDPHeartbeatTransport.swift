import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// Heartbeats over UDP unicast, one datagram per peer (SwiftNIO).
///
/// The channel lives on the engine's event loop, so received datagrams reach
/// the engine without a hop between threads. `send` runs on that loop too,
/// which is what makes the mutable address cache safe.
public final class UDPHeartbeatTransport: HeartbeatSending, @unchecked Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Binds `node.address:node.port` and routes datagrams to `engine`.
    public static func bind(config: VIPConfig, engine: NodeEngine) async throws -> UDPHeartbeatTransport {
        let bootstrap = DatagramBootstrap(group: engine.loop)
            // No SO_REUSEADDR: a second vipd on this node must fail to bind
            // rather than silently steal the running one's heartbeats.
            // CS6 ("network control"), as VRRP uses: queued ahead of bulk traffic.
            .channelOption(ChannelOptions.Types.SocketOption(level: .init(rawValue: Int32(IPPROTO_IP)), name: .init(rawValue: IP_TOS)), value: 0xC0)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HeartbeatInboundHandler(engine: engine))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: config.node.address.description, port: Int(config.node.port)).get()
        } catch {
            throw ControlSocketError(description: "cannot bind heartbeat socket \(config.node.address):\(config.node.port) (node.address/node.port): \(error); is another vipd running, or is the address not on this host?")
        }
        return UDPHeartbeatTransport(channel: channel)
    }

    /// Socket addresses of the last peer list sent to. The list changes only
    /// on reload, so addresses are resolved again only then, not per packet.
    private var targets: (peers: [PeerConfig], addresses: [SocketAddress?]) = ([], [])

    public func send(_ bytes: [UInt8], to peers: [PeerConfig]) -> EventLoopFuture<Void> {
        channel.eventLoop.preconditionInEventLoop()
        if targets.peers != peers {
            targets = (peers, peers.map { try? SocketAddress(ipAddress: $0.address.description, port: Int($0.port)) })
        }
        let buffer = channel.allocator.buffer(bytes: bytes)
        let writes = targets.addresses.map { target -> EventLoopFuture<Void> in
            guard let target else { return channel.eventLoop.makeFailedFuture(ChannelError.badInterfaceAddressFamily) }
            return channel.write(AddressedEnvelope(remoteAddress: target, data: buffer))
        }
        channel.flush()
        // The usual case, one peer, needs no combined future.
        return writes.count == 1 ? writes[0] : EventLoopFuture.andAllSucceed(writes, on: channel.eventLoop)
    }

    public func close() async throws {
        try await channel.close()
    }
}

/// Hands every received datagram, with its source address, to the engine.
final class HeartbeatInboundHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let engine: NodeEngine

    init(engine: NodeEngine) { self.engine = engine }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let source = Self.address(of: envelope.remoteAddress) else { return }
        engine.receive(Array(envelope.data.readableBytesView), from: source)
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
        engine.logger.debug("heartbeat socket error: \(error)")
    }
}
