import VIPCore

/// Health checks as the outside world sees them: status, metrics, webhooks.
extension NodeEngine {
    func checkReports(now: Instant) -> [StatusReport.Check] {
        guard let snapshot = checkSnapshot?() else { return [] }
        return snapshot.map { check in
            let restart = check.restart
            return StatusReport.Check(
                name: check.name, role: check.role.rawValue, state: check.state.description,
                lastResult: check.lastResult?.detail, lastPassed: check.lastResult?.passed,
                lastResultMsAgo: check.lastResultAt.map { (now - $0).milliseconds },
                stateForMs: (now - check.stateSince).milliseconds, probes: check.probes, failures: check.failures,
                restarts: restart?.total,
                lastRestart: restart?.running == true ? "running" : restart?.lastOutcome,
                lastRestartMsAgo: restart?.lastStarted.map { (now - $0).milliseconds },
                nextRestartInMs: check.state == .down ? restart?.notBefore.map { max(0, ($0 - now).milliseconds) } : nil)
        }
    }

    /// A check's restart command started or ended: count and publish it
    /// (HealthService logs it).
    public func restartReported(_ event: RestartEvent) {
        loop.preconditionInEventLoop()
        let result: String
        switch event.phase {
        case .started: result = "started"
        case .finished(let succeeded): result = succeeded ? "succeeded" : "failed"
        }
        metrics.count("vipd_check_restarts_total", labels: [("check", event.check), ("result", result)])
        webhooks?.emit(NodeEvent(
            node: config.node.id, event: .checkRestart, newState: result,
            reason: event.outcome.map { "attempt \(event.attempt): \($0)" } ?? "attempt \(event.attempt)",
            subject: event.check, timestamp: VIPLogHandler.timestamp()))
    }

    /// Logs, counts and publishes checks whose state changed since last time.
    func reportCheckChanges() {
        guard let snapshot = checkSnapshot?() else { return }
        for check in snapshot where reportedChecks[check.name] != check.state {
            let previous = reportedChecks[check.name]
            reportedChecks[check.name] = check.state
            metrics.checkState(name: check.name, up: check.state == .up)
            guard check.state != .unknown else { continue }
            // HealthService already logs the change; here it is only published.
            let detail = check.lastResult?.detail ?? ""
            webhooks?.emit(NodeEvent(
                node: config.node.id, event: check.state == .up ? .checkUp : .checkDown,
                oldState: previous?.description, newState: check.state.description, reason: detail,
                subject: check.name, timestamp: VIPLogHandler.timestamp()))
        }
    }
}
