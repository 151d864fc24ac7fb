import Logging
import ServiceLifecycle
import Synchronization
import VIPCore
import VIPLinux

/// Keeps nginx's upstream file in step with the backends' health
/// (docs/nginx.md).
///
/// The engine calls `update` on its loop whenever the `BackendHealthView`
/// changes; that only stores the view and wakes this service, so the VIP
/// logic never waits on nginx. The service then waits `debounce`, renders the
/// latest view and, if the text differs from what nginx runs:
///
/// 1. keeps the file's current content;
/// 2. writes the new text atomically (temporary file, fsync, rename);
/// 3. runs `test_command` (`nginx -t`); if it fails, puts the previous
///    content back, logs nginx's complaint, counts the failure and does not
///    reload (retrying later, with backoff, in case the rest of the nginx
///    configuration gets fixed);
/// 4. otherwise runs `reload_command`.
public final class NginxFrontManager: Service, Sendable {
    /// What the manager has done, for status and metrics.
    public struct Counters: Sendable, Equatable {
        /// Renderings compared with what nginx runs (after each debounce).
        public var renders = 0
        /// Successful reloads with a new rendering.
        public var reloads = 0
        /// Attempts that did not end in a reload: write error, rejected by the test, reload failed.
        public var reloadFailures = 0
        /// The subset of `reloadFailures` that `test_command` rejected.
        public var testFailures = 0
        public var lastError: String?
    }

    /// First and longest wait before retrying a failed attempt with unchanged health.
    static let retryDelays: (first: Duration, max: Duration) = (.seconds(5), .seconds(60))

    /// The `nginx:` section now (a reload may change it: `reconfigure`).
    public var config: NginxConfig { configuration.withLock { $0 } }
    private let configuration: Mutex<NginxConfig>
    let node: NodeConfig
    let runner: any CommandRunning
    let logger: Logger
    /// Where reloads and failures are counted for /metrics (nil in unit tests).
    let metrics: VIPMetrics?
    private let latest = Mutex<BackendHealthView?>(nil)
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private struct State {
        /// The text nginx is known to run (after a reload), or found on disk at start.
        var applied: String?
        var counters = Counters()
        var retryDelay: Duration = NginxFrontManager.retryDelays.first
    }

    public init(config: NginxConfig, node: NodeConfig, runner: any CommandRunning = SpawnCommandRunner(), logger: Logger,
                metrics: VIPMetrics? = nil) {
        self.metrics = metrics
        self.configuration = Mutex(config)
        self.node = node
        self.runner = runner
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Records the newest backend health. Cheap and non-blocking: call it from the engine's loop.
    public func update(_ view: BackendHealthView) {
        latest.withLock { $0 = view }
        wake.yield()
    }

    public func counters() -> Counters { state.withLock { $0.counters } }

    /// A reload's `nginx:` section: the next rendering uses it (now, not at
    /// the next change of health). A new upstream file starts from what is
    /// on disk there.
    public func reconfigure(_ new: NginxConfig) {
        let old = configuration.withLock { configuration in
            defer { configuration = new }
            return configuration
        }
        guard old != new else { return }
        if old.upstreamFile != new.upstreamFile {
            let onDisk = try? AtomicFile.read(new.upstreamFile)
            state.withLock { $0.applied = onDisk }
        }
        logger.notice("nginx manager reconfigured: upstream \(new.upstreamName) in \(new.upstreamFile)")
        wake.yield()
    }

    /// The newest view (nil before the first `update`).
    public var view: BackendHealthView? { latest.withLock { $0 } }

    public func run() async throws {
        let onDisk = try? AtomicFile.read(config.upstreamFile)
        state.withLock { $0.applied = onDisk }
        logger.info("nginx manager: upstream \(config.upstreamName) in \(config.upstreamFile)")
        var retry: Task<Void, Never>?
        for await _ in wakeups.cancelOnGracefulShutdown() {
            if config.debounce > .zero {
                try? await Task.sleep(for: .nanoseconds(config.debounce.nanoseconds))
            }
            guard let view else { continue }
            retry?.cancel()
            retry = nil
            if await apply(view) == false {
                let delay = state.withLock { state in
                    defer { state.retryDelay = min(state.retryDelay * 2, Self.retryDelays.max) }
                    return state.retryDelay
                }
                retry = Task { [wake] in
                    try? await Task.sleep(for: delay)
                    if !Task.isCancelled { wake.yield() }
                }
            } else {
                state.withLock { $0.retryDelay = Self.retryDelays.first }
            }
        }
        retry?.cancel()
    }

    /// Brings nginx to the rendering of `view`. Returns true if nginx runs it
    /// afterwards. Exposed for tests; `run` calls it after the debounce.
    func apply(_ view: BackendHealthView) async -> Bool {
        let config = self.config  // one section for the whole attempt, even if a reload lands meanwhile
        let text = UpstreamRenderer.render(config, node: node, view: view)
        let applied = state.withLock { state in
            state.counters.renders += 1
            return state.applied
        }
        if applied == text { return true }
        let path = config.upstreamFile
        let previous: String?
        do {
            previous = try AtomicFile.read(path)
            if previous != text { try AtomicFile.write(text, to: path) }
        } catch {
            return fail("cannot write \(path): \(error)", rejected: false)
        }
        let test = await runner.run(config.testCommand, timeout: config.commandTimeout)
        guard test.succeeded else {
            var restored = "kept the previous file"
            if previous != text {
                do {
                    if let previous { try AtomicFile.write(previous, to: path) } else { try AtomicFile.remove(path) }
                } catch {
                    restored = "and restoring the previous file failed: \(error)"
                }
            }
            let complaint = test.output.split(whereSeparator: \.isNewline).prefix(3).joined(separator: " | ")
            return fail("nginx test rejected the new upstream (\(test)\(complaint.isEmpty ? "" : ": \(complaint)")); \(restored), not reloading",
                        rejected: true)
        }
        let reload = await runner.run(config.reloadCommand, timeout: config.commandTimeout)
        guard reload.succeeded else {
            return fail("nginx reload failed (\(reload)\(reload.firstLine.map { ": \($0)" } ?? "")); the tested file stays in place",
                        rejected: false)
        }
        state.withLock {
            $0.applied = text
            $0.counters.reloads += 1
        }
        metrics?.count("vipd_nginx_reloads_total")
        logger.notice("nginx upstream \(config.upstreamName) reloaded: \(summary(view))")
        return true
    }

    private func fail(_ message: String, rejected: Bool) -> Bool {
        state.withLock {
            $0.counters.reloadFailures += 1
            if rejected { $0.counters.testFailures += 1 }
            $0.counters.lastError = message
        }
        metrics?.count("vipd_nginx_reload_failures_total")
        logger.error("\(message)")
        return false
    }

    /// "node-a up (...), node-b down (heartbeats stopped)".
    private func summary(_ view: BackendHealthView) -> String {
        let servers = UpstreamRenderer.servers(node: node, view: view)
        let allDown = !servers.contains(where: \.healthy)
        return servers.map { "\($0.node) \($0.healthy || allDown ? "up" : "down") (\($0.note))" }.joined(separator: ", ")
            + (allDown ? "; all listed as up because none is healthy" : "")
    }
}
