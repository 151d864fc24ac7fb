import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import VIPCore

/// Runs every configured check on its interval, counts the results in a
/// `HealthMonitor` (rise/fall, policy) and hands each new `HealthVerdict` to
/// `apply` — in the daemon, `engine.loop.execute { engine.applyHealth(v) }`.
///
/// Each check has a task of its own, so a slow probe delays nothing but its
/// own next run. Probes never run on the engine's event loop: HTTP uses the
/// prober's own loop, commands a thread each. The initial verdict (front
/// checks fault until their first result, backends unhealthy) is applied
/// when the service starts.
public final class HealthService: Service, Sendable {
    /// The checks now (a reload may change them: `reconfigure`).
    var checks: [CheckConfig] { monitor.withLock { $0.checks } }
    /// Names of checks a reload added, for `run` to start their loops.
    private let added: (stream: AsyncStream<String>, continuation: AsyncStream<String>.Continuation)
    let logger: Logger
    private let monitor: Mutex<HealthMonitor>
    private let apply: @Sendable (HealthVerdict) -> Void
    private let prober: (any CheckProbing)?
    private let runner: any CommandRunning
    /// Told when a check's restart command starts and when it ends (the
    /// daemon counts, logs and publishes it through the engine).
    private let onRestart: @Sendable (RestartEvent) -> Void

    /// - Parameters:
    ///   - prober: the probes to use; `nil` makes a `LiveCheckProber` for the
    ///     life of `run()` (tests pass a fake).
    ///   - apply: called with each changed verdict, in order, from a probe's
    ///     task while holding the monitor's lock: it must only hand off
    ///     (e.g. `loop.execute`), never block.
    public init(checks: [CheckConfig], basePriority: UInt8, logger: Logger, prober: (any CheckProbing)? = nil,
                runner: any CommandRunning = SpawnCommandRunner(),
                onRestart: @escaping @Sendable (RestartEvent) -> Void = { _ in },
                apply: @escaping @Sendable (HealthVerdict) -> Void) {
        self.added = AsyncStream.makeStream(of: String.self)
        self.logger = logger
        self.prober = prober
        self.runner = runner
        self.onRestart = onRestart
        self.apply = apply
        monitor = Mutex(HealthMonitor(checks: checks, basePriority: basePriority, now: Self.now()))
    }

    /// Every check's state, last result and counters (for status and metrics).
    public func checkSnapshot() -> [HealthMonitor.CheckSnapshot] {
        monitor.withLock { $0.snapshot() }
    }

    /// The verdict the checks add up to now.
    public var verdict: HealthVerdict { monitor.withLock { $0.verdict } }

    /// The checks as `HealthPolicy` weighs them, for per-instance verdicts.
    public func policyInputs() -> [HealthPolicy.Input] { monitor.withLock { $0.policyInputs } }

    /// A reload's check list: kept checks keep their state and pick up their
    /// new settings at their next probe; removed ones stop after the probe
    /// under way; added ones start now. The verdict is applied again.
    public func reconfigure(_ newChecks: [CheckConfig]) {
        let now = Self.now()
        let fresh = monitor.withLock { monitor in
            let before = Set(monitor.checks.map(\.name))
            monitor.reconfigure(newChecks, now: now)
            apply(monitor.verdict)
            return newChecks.map(\.name).filter { !before.contains($0) }
        }
        logger.notice("health checks reconfigured: \(newChecks.map(\.name).joined(separator: ", "))")
        for name in fresh { added.continuation.yield(name) }
    }

    public func run() async throws {
        let live = prober == nil ? LiveCheckProber() : nil
        let prober: any CheckProbing = prober ?? live!
        monitor.withLock { apply($0.verdict) }
        logger.info("health checks: \(checks.map { "\($0.name) (\($0.role.rawValue), every \($0.interval))" }.joined(separator: ", "))")
        await withDiscardingTaskGroup { group in
            for check in checks {
                group.addTask { await self.runCheck(check.name, prober: prober) }
            }
            // Shutdown ends the stream of added checks, and with it this loop.
            group.addTask {
                try? await gracefulShutdown()
                self.added.continuation.finish()
            }
            for await name in added.stream { group.addTask { await self.runCheck(name, prober: prober) } }
            group.cancelAll()
        }
        await live?.shutdown()
    }

    /// One check's loop: probe, record, sleep until one interval after this
    /// probe started. A probe that took its whole timeout (at most the
    /// interval) or a late wake-up shifts the schedule; it never causes a
    /// burst of catch-up probes.
    /// Ends when a reload removes the check; reads the check's settings
    /// afresh for every probe, so a reload's changes apply from the next one.
    func runCheck(_ name: String, prober: any CheckProbing) async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            guard let check = checks.first(where: { $0.name == name }) else { return }
            let started = clock.now
            let result = await prober.probe(check)
            guard !Task.isCancelled, let index = monitor.withLock({ $0.index(of: name) }) else { return }
            // The check's own loop runs its restart: no probe of a service
            // that is being restarted, and never two restarts at once.
            if let restart = record(index, result) { await self.restart(name, restart) }
            let interval = Duration.nanoseconds(check.interval.nanoseconds)
            do { try await clock.sleep(until: started.advanced(by: interval), tolerance: nil) } catch { return }
        }
    }

    /// Counts `result`; returns the restart to run now, if one is due.
    @discardableResult
    func record(_ index: Int, _ result: ProbeResult) -> RestartConfig? {
        let now = Self.now()
        return monitor.withLock { monitor in
            let update = monitor.record(index, result, now: now)
            if let transition = update.transition { log(transition) }
            if !result.passed { logger.debug("check \(monitor.checks[index].name): \(result.detail)") }
            // Also on a change of state alone: an instance that tracks only
            // some checks may see a change the node's verdict does not.
            if update.verdict != nil || update.transition != nil { apply(monitor.verdict) }
            return update.restart
        }
    }

    /// Runs the restart command of check `name` and records how it ended
    /// (by name: a reload meanwhile may have moved it in the list).
    func restart(_ name: String, _ restart: RestartConfig) async {
        let attempt = monitor.withLock { monitor in monitor.index(of: name).flatMap { monitor.snapshot()[$0].restart?.attempts } ?? 1 }
        logger.warning("check \(name) is down: restarting (attempt \(attempt)): \(restart.command.joined(separator: " "))")
        onRestart(RestartEvent(check: name, phase: .started, attempt: attempt, outcome: nil))
        let outcome = await runner.run(restart.command, timeout: restart.timeout)
        let wait = monitor.withLock { monitor -> Span in
            guard let index = monitor.index(of: name) else { return .zero }
            monitor.restartFinished(index, outcome: outcome.description, now: Self.now())
            return monitor.snapshot()[index].restart.map { $0.notBefore.map { $0 - Self.now() } ?? .zero } ?? .zero
        }
        let text = "restart of \(name) \(outcome.succeeded ? "done" : "failed") (\(outcome.description)\(outcome.firstLine.map { ": \($0)" } ?? "")); no other restart for \(wait) while it stays down"
        if outcome.succeeded { logger.notice("\(text)") } else { logger.error("\(text)") }
        onRestart(RestartEvent(check: name, phase: .finished(succeeded: outcome.succeeded), attempt: attempt,
                               outcome: outcome.description))
    }

    private func log(_ transition: HealthMonitor.Transition) {
        let text = "check \(transition.check) (\(transition.role.rawValue)): \(transition.from) -> \(transition.to) (\(transition.detail))"
        if transition.to == .down { logger.warning("\(text)") } else { logger.notice("\(text)") }
    }

    /// The monotonic clock the engine uses too (`NIODeadline`), so instants compare.
    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }
}

/// A check's restart command started or ended (for metrics, webhooks, notify).
public struct RestartEvent: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case started
        case finished(succeeded: Bool)
    }
    public var check: String
    public var phase: Phase
    /// The restart's number in its series (1 for the first after a fall).
    public var attempt: Int
    /// How the command ended ("exit 0", "timed out after 60s (killed)").
    public var outcome: String?
}
