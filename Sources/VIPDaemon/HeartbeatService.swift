import Logging
import NIOCore
import ServiceLifecycle
import VIPCore
import VIPLinux

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
