import ServiceLifecycle
import VIPCore

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
        let transport = try await UDPHeartbeatTransport.bind(config: config, engine: engine)
        let engine = self.engine
        try await engine.loop.submit { engine.start(sender: transport) }.get()
        try? await gracefulShutdown()
        try await engine.loop.flatSubmit { engine.shutdown() }.get()
        try await transport.close()
    }
}
