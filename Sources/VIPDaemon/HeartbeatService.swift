import Logging
import NIOCore
import ServiceLifecycle
import VIPCore
import VIPLinux
#if canImport(Glibc)
import Glibc
#endif
import NIOPosix

/// Runs the election for the life of the daemon. On graceful shutdown
/// (SIGTERM) a master resigns with priority 0 before the socket closes, so a
/// backup takes over after Skew_Time instead of Master_Down_Interval.
public struct HeartbeatService: Service {
    let engine: NodeEngine
    let config: VIPConfig

    public init(engine: NodeEngine, config: VIPConfig) {
        self.engine = engine
        self.config = config
    }

    public func run() async throws {
        let engine = self.engine
        let transport = ReopeningTransport(config: config, engine: engine, logger: engine.logger)
        try await transport.open()
        let vrrp = try await openVRRP()
        let timer = try await TimerFDEngineTimer.make(on: engine.loop) { engine.timerFired() }
        let systemd = SystemdNotify()
        try await engine.loop.submit { engine.start(sender: transport, timer: timer) }.get()
        systemd.send("READY=1\nSTATUS=electing")
        let forget = forgetStartupPages(logger: engine.logger)
        // Pinged from the engine's own loop: a stuck loop stops the pings and
        // systemd restarts vipd (WatchdogSec=).
        let watchdog = systemd.watchdogInterval.map { interval in
            engine.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(interval)) { _ in
                systemd.send("WATCHDOG=1")
            }
        }
        try? await gracefulShutdown()
        forget.cancel()
        systemd.send("STOPPING=1")
        watchdog?.cancel()
        try? await engine.loop.submit { engine.shutdown() }.get()
        try? await engine.loop.submit { timer.close() }.get()
        await transport.close()
        try? await engine.loop.submit { engine.stoppingVRRP = true; engine.vrrpSender = nil }.get()
        try? await vrrp?.close()
    }

    /// The raw socket of `protocol: vrrp3` instances, when there are any:
    /// received on the engine's loop like heartbeats, sent with `sendto(2)`.
    private func openVRRP() async throws -> (any Channel)? {
        let uses = config.instances.contains { if case .vrrp3 = $0.wire { true } else { false } }
        guard uses else { return nil }
        let multicast = config.instances.contains { if case .vrrp3(let settings) = $0.wire { settings.multicast } else { false } }
        let fd = try VRRPSocket.open(interface: config.node.interface, source: config.node.address, multicast: multicast)
        let engine = self.engine
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: engine.loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(VRRPInboundHandler(engine: engine))
                    }
                }
                .withBoundSocket(fd).get()
        } catch {
            Glibc.close(fd)
            throw error
        }
        try await engine.onLoop {
            engine.vrrpSender = { bytes, destination in try VRRPSocket.send(fd, bytes, to: destination) }
        }
        // A closed socket (a fatal read error) leaves a vrrp3 instance deaf and
        // mute: fault it, so it holds no VIP, rather than stay master blind.
        channel.closeFuture.whenComplete { _ in
            engine.loop.execute { engine.vrrpSocketClosed() }
        }
        engine.logger.info("VRRPv3 on \(config.node.interface) (\(multicast ? "multicast 224.0.0.18" : "unicast"))")
        return channel
    }

    /// Once the first election has had time to finish (its Master_Down_Interval
    /// and a second more), start-up is over: the executable pages only it used
    /// are dropped from this process's page tables (`StartupPages.forgetUnused`).
    private func forgetStartupPages(logger: Logger) -> Task<Void, Never> {
        let slowest = config.instances.map(\.timing.advertInterval).max() ?? ConfigDefaults.advertInterval
        let settle = ElectionTiming.masterDownInterval(interval: slowest, priority: 1) + .seconds(1)
        return Task.detached(priority: .background) {
            try? await Task.sleep(for: .nanoseconds(settle.nanoseconds))
            guard !Task.isCancelled else { return }
            switch StartupPages.forgetUnused() {
            case .success(let bytes): logger.debug("start-up pages forgotten: \(bytes >> 10) KiB of read-only mappings")
            case .failure(let error): logger.debug("start-up pages kept: \(error)")
            }
        }
    }
}

/// Hands every datagram of the VRRP raw socket (IP header first) to the engine.
final class VRRPInboundHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let engine: NodeEngine

    init(engine: NodeEngine) { self.engine = engine }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        engine.receiveVRRP(Array(unwrapInboundIn(data).data.readableBytesView))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        engine.logger.debug("VRRP socket error: \(error)")
    }
}
