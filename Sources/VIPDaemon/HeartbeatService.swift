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
        // Pinged from the engine's own loop: a stuck loop stops the pings and
        // systemd restarts vipd (WatchdogSec=).
        let watchdog = systemd.watchdogInterval.map { interval in
            engine.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(interval)) { _ in
                systemd.send("WATCHDOG=1")
            }
        }
        try? await gracefulShutdown()
        systemd.send("STOPPING=1")
        watchdog?.cancel()
        try? await engine.loop.submit { engine.shutdown() }.get()
        try? await engine.loop.submit { timer.close() }.get()
        await transport.close()
    }
}
