import Logging
import VIPCore

/// keepalived-compatible notify scripts: `notify_master`, `notify_backup`,
/// `notify_fault` and the generic `notify` (argv + INSTANCE NAME STATE PRIORITY).
/// Run without a shell, detached from the engine, killed after the timeout.
public struct NotifyScripts: Sendable {
    let config: NotifyConfig
    /// The instance's name (`vrid<N>` for a single-router file), passed
    /// where keepalived passes its `vrrp_instance` name.
    let instance: String
    let metrics: VIPMetrics
    let logger: Logger

    public init(config: NotifyConfig, instance: String, metrics: VIPMetrics, logger: Logger) {
        self.config = config
        self.instance = instance
        self.metrics = metrics
        self.logger = logger
    }

    /// keepalived's state words. Maintenance and shutdown read as STOP.
    static func keepalivedState(_ state: NodeState) -> String {
        switch state {
        case .master: "MASTER"
        case .backup: "BACKUP"
        case .fault: "FAULT"
        case .maintenance, .initial: "STOP"
        }
    }

    /// Starts the scripts for entering `state`; returns at once.
    public func stateChanged(to state: NodeState, priority: UInt8) {
        var commands: [[String]] = []
        switch state {
        case .master: if let argv = config.master { commands.append(argv) }
        case .backup: if let argv = config.backup { commands.append(argv) }
        case .fault: if let argv = config.fault { commands.append(argv) }
        case .maintenance, .initial: break
        }
        if let argv = config.generic {
            commands.append(argv + ["INSTANCE", instance, Self.keepalivedState(state), String(priority)])
        }
        for argv in commands { launch(argv) }
    }

    private func launch(_ argv: [String]) {
        let timeout = config.scriptTimeout
        let logger = self.logger
        let metrics = self.metrics
        // SpawnCommandRunner: no shell, normal scheduling, own process group
        // killed at the timeout, on a thread of its own.
        Task.detached {
            let outcome = await SpawnCommandRunner().run(argv, timeout: timeout)
            if case .exited(0) = outcome.termination { return }
            metrics.count("vipd_notify_failures_total")
            logger.warning("notify script \(argv.joined(separator: " ")): \(outcome)")
        }
    }
}
