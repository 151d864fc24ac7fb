import Logging
import NIOCore
import VIPCore

/// The heartbeat socket, reopened whenever it closes under us.
///
/// Sends go straight to the socket and cannot close it, but SwiftNIO closes
/// the channel on a fatal read error. A node whose socket is gone neither
/// hears nor speaks — a lasting split brain — so the socket is bound again,
/// retrying every second until it succeeds. State is confined to the
/// engine's loop.
final class ReopeningTransport: HeartbeatSending, @unchecked Sendable {
    let config: VIPConfig
    let engine: NodeEngine
    let logger: Logger
    private var current: UDPHeartbeatTransport?
    private var stopping = false
    private(set) var reopenCount = 0

    init(config: VIPConfig, engine: NodeEngine, logger: Logger) {
        self.config = config
        self.engine = engine
        self.logger = logger
    }

    /// The first bind; its failure is fatal (wrong address, another vipd).
    func open() async throws {
        let transport = try await UDPHeartbeatTransport.bind(config: config, engine: engine)
        try await engine.onLoop { self.adopt(transport) }
    }

    func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws {
        guard let current else { throw ChannelError.ioOnClosedChannel }
        try current.send(datagrams, to: peers)
    }

    func close() async {
        let transport: UDPHeartbeatTransport? = try? await engine.onLoop {
            self.stopping = true
            defer { self.current = nil }
            return self.current
        }
        try? await transport?.close()
    }

    private func adopt(_ transport: UDPHeartbeatTransport) {
        current = transport
        transport.channel.closeFuture.whenComplete { [self] _ in
            engine.loop.execute { [self] in
                guard !stopping, current === transport else { return }
                current = nil
                logger.error("heartbeat socket closed unexpectedly; reopening it")
                reopen(after: .milliseconds(100))
            }
        }
    }

    private func reopen(after delay: TimeAmount) {
        engine.loop.scheduleTask(in: delay) { [self] in
            guard !stopping else { return }
            Task {
                do {
                    let transport = try await UDPHeartbeatTransport.bind(config: config, engine: engine)
                    engine.loop.execute { [self] in
                        guard !stopping else {
                            transport.channel.close(promise: nil)
                            return
                        }
                        reopenCount += 1
                        engine.metrics.count("vipd_heartbeat_socket_reopened_total")
                        logger.notice("heartbeat socket reopened on \(config.node.address):\(config.node.port)")
                        adopt(transport)
                    }
                } catch {
                    engine.loop.execute { [self] in
                        logger.error("reopening the heartbeat socket failed: \(error); retrying in 1s")
                        reopen(after: .seconds(1))
                    }
                }
            }
        }
    }
}
