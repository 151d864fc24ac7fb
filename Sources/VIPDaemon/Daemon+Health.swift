import Logging
import ServiceLifecycle
import VIPCore

extension Daemon {
    /// The optional services of `checks:` and `nginx:`, wired to the engine:
    /// the nginx manager hears every change of the backends' health on the
    /// engine's loop; the health service hands each verdict to the loop.
    /// Empty when neither is configured.
    static func healthServices(config: VIPConfig, engine: NodeEngine,
                               logger: Logger) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let nginx = config.nginx {
            let manager = NginxFrontManager(config: nginx, node: config.node, logger: logger, metrics: engine.metrics)
            try await engine.loop.submit {
                engine.onBackendsChanged.append { manager.update($0) }
                engine.reconfigureNginx = { manager.reconfigure($0) }
                manager.update(engine.backendView())
            }.get()
            services.append(.init(service: manager))
        }
        if !config.checks.isEmpty {
            let loop = engine.loop
            let health = HealthService(checks: config.checks, basePriority: config.node.priority, logger: logger,
                                       onRestart: { event in loop.execute { engine.restartReported(event) } }) { verdict in
                loop.execute { engine.applyHealth(verdict) }
            }
            try await engine.onLoop {
                engine.checkSnapshot = { health.checkSnapshot() }
                engine.checkInputs = { health.policyInputs() }
                engine.reconfigureChecks = { health.reconfigure($0) }
            }
            services.append(.init(service: health))
        }
        return services
    }
}
