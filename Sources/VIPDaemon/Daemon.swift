import Logging
import NIOPosix
import ServiceLifecycle
import VIPCore
import VIPLinux
#if canImport(Glibc)
import Glibc
#endif

/// Assembles the running daemon: the engine, its heartbeat and control
/// services, and the watcher that restores VIPs deleted behind its back.
public enum Daemon {
    /// `epoch`: this start's boot epoch (`BootEpoch.next`, taken before
    /// root is dropped so the state directory is writable).
    public static func run(loaded: LoadedConfig, epoch: UInt64, addresses: (any AddressManaging)?,
                           routes: (any RouteManaging)? = nil, announcer: (any Announcing)?, logger: Logger) async throws {
        let config = loaded.config
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let engine = NodeEngine(config: config, keys: loaded.keys, epoch: epoch, loop: loop, logger: logger,
                                addresses: addresses, routes: routes, announcer: announcer)
        // The watchers run whenever vipd manages addresses, so a reload that
        // adds the first VIPs, tracked interfaces or routes is covered too.
        let watcher: NetlinkAddressWatcher? = addresses == nil ? nil : try NetlinkAddressWatcher(
            onDelete: { address, _ in loop.execute { engine.addressDeleted(address) } },
            onOverflow: { loop.execute { engine.recheckVIPs() } })
        defer { watcher?.stop() }
        if !config.notify.webhooks.isEmpty {
            engine.webhooks = WebhookDispatcher(config: config.notify, secrets: loaded.webhookSecrets,
                                                metrics: engine.metrics, logger: logger)
        }
        engine.notify = (config.notify, engine.metrics)
        engine.linkReader = { NetworkInterfaces.isRunning($0) }
        let linkWatcher: NetlinkAddressWatcher? = addresses == nil ? nil : try NetlinkAddressWatcher.links(
            onChange: { link in loop.execute { engine.linkChanged(link.name, up: link.up) } },
            onOverflow: { loop.execute { engine.rereadLinks() } })
        defer { linkWatcher?.stop() }
        // Routes deleted behind vipd's back are put back while held; lost
        // notifications (ENOBUFS on a busy table) put back every held route.
        let routeWatcher: NetlinkAddressWatcher? = routes == nil ? nil : try NetlinkAddressWatcher.routes(
            onDelete: { info in
                loop.execute {
                    engine.routeDeleted { route in
                        route.matches(info, interfaceIndex: route.interface.flatMap { try? NetworkInterfaces.index(of: $0) })
                    }
                }
            },
            onOverflow: { loop.execute { engine.routeDeleted { _ in true } } })
        defer { routeWatcher?.stop() }
        let path = loaded.path
        let reloadSource: @Sendable () throws -> LoadedConfig = { try ConfigLoader.load(path: path) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ControlAPI.application(engine: engine, socket: config.control.socket, logger: logger,
                                                  reloadSource: reloadSource)),
        ]
        if let address = config.control.listenAddress, let port = config.control.listenPort, let token = loaded.controlToken {
            services.append(.init(service: ControlAPI.tcpApplication(
                engine: engine, host: address.description, port: Int(port), token: token, logger: logger,
                reloadSource: reloadSource)))
        }
        let hangup = ReloadOnHangup(engine: engine, source: reloadSource, logger: logger)
        logger.info("vipd \(VIPDVersion.string) starting: node \(config.node.id) peers \(config.peers.map(\.id).joined(separator: ", ")), instances \(config.instances.map { "\($0.name) (vrid \($0.vrid), priority \($0.priority), advert interval \($0.timing.advertInterval))" }.joined(separator: ", ")); \(Privileges.currentDescription())")
        let health = try await healthServices(config: config, engine: engine, logger: logger)
        // Graceful shutdown runs in reverse order: the heartbeat service (last)
        // resigns first, then checks and the nginx manager stop, then webhooks
        // drain, then the control socket closes.
        services.append(.init(service: hangup))
        if let webhooks = engine.webhooks { services.append(.init(service: webhooks)) }
        services += health
        services.append(.init(service: HeartbeatService(engine: engine, config: config)))
        // The lifecycle library logs whole service descriptions at debug: keep it at info.
        var lifecycleLogger = logger
        lifecycleLogger.logLevel = max(logger.logLevel, .info)
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: lifecycleLogger))
        try await group.run()
        logger.info("vipd stopped")
    }
}
