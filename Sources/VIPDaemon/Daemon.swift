import Logging
import NIOCore
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
                           routes: (any RouteManaging)? = nil, announcer: (any Announcing)?,
                           connections: (any ConnectionEnding)? = nil, logger: Logger) async throws {
        let config = loaded.config
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let engine = NodeEngine(config: config, keys: loaded.keys, epoch: epoch, loop: loop, logger: logger,
                                addresses: addresses, routes: routes, announcer: announcer, connections: connections)
        // One rtnetlink listener for deleted VIPs, tracked links, and deleted
        // routes and rules; it runs whenever vipd manages addresses, so a
        // reload that adds the first VIPs, tracked interfaces or routes is
        // covered too. Lost notifications (ENOBUFS) make it check everything.
        let groups = NetlinkWatcher.Groups.self
        let watcher: NetlinkWatcher? = addresses == nil ? nil : try NetlinkWatcher(
            groups: groups.addresses | groups.links | (routes == nil ? 0 : groups.routes | groups.rules),
            onMessage: { message in Self.dispatch(message, to: engine, on: loop) },
            onOverflow: {
                loop.execute {
                    engine.recheckVIPs()
                    engine.rereadLinks()
                    engine.routingDeleted(routes: { _ in true }, rules: { _ in true })
                }
            })
        defer { watcher?.stop() }
        if !config.notify.webhooks.isEmpty {
            engine.webhooks = WebhookDispatcher(config: config.notify, secrets: loaded.webhookSecrets,
                                                metrics: engine.metrics, logger: logger)
        }
        engine.notify = (config.notify, engine.metrics)
        engine.trimmer = MemoryTrimmer(loop: loop, logger: logger)
        engine.linkReader = { NetworkInterfaces.isRunning($0) }
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

    /// Hands one rtnetlink message to the engine's loop, as the change it is.
    static func dispatch(_ message: NetlinkMessage.Parsed, to engine: NodeEngine, on loop: any EventLoop) {
        switch message.type {
        case NetlinkMessage.typeDeleteAddress:
            guard let address = NetlinkMessage.parseAddress(message.payload)?.address else { return }
            loop.execute { engine.addressDeleted(address) }
        case NetlinkMessage.typeNewLink, NetlinkMessage.typeDeleteLink:
            guard let link = NetlinkMessage.parseLink(message.payload, deleted: message.type == NetlinkMessage.typeDeleteLink)
            else { return }
            loop.execute { engine.linkChanged(link.name, up: link.up) }
        case NetlinkMessage.typeDeleteRoute:
            guard let info = NetlinkMessage.parseRoute(message.payload) else { return }
            loop.execute {
                engine.routingDeleted(routes: { route in
                    route.matches(info, interfaceIndex: route.interface.flatMap { try? NetworkInterfaces.index(of: $0) })
                })
            }
        case NetlinkMessage.typeDeleteRule:
            let payload = message.payload
            loop.execute { engine.routingDeleted(rules: { $0.matches(payload: payload) }) }
        default:
            break
        }
    }
}
