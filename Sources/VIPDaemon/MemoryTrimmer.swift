import Logging
import NIOCore
import VIPLinux

/// Gives back the memory that one-off work touched, once the daemon has been
/// quiet for `quiet`.
///
/// A `vipctl status`, a reload or a failover runs code an idle daemon never
/// runs (Hummingbird's request path, JSON encoding, the transition's logging
/// and webhooks), and each first touch maps up to 16 neighbouring pages of
/// the executable (fault-around): about 5 MiB that would stay in the resident
/// set for ever (docs/benchmarks.md, "Idle cost"). After `quiet` without such
/// work the executable's mappings are dropped again
/// (`StartupPages.forgetUnused`: the pages stay in the page cache, what still
/// runs is mapped back on its next touch) and malloc returns its free pages
/// (`malloc_trim`).
///
/// Why a quiet period and not after every request: a node scraped by
/// Prometheus every 15 s uses the metrics path all the time; trimming
/// between scrapes would pay a /proc/self/smaps read and the faults back on
/// every scrape, for memory the next scrape needs again. With the default
/// minute, such a node keeps its working set and a node that served one
/// request gives it back. One wake-up per quiet period at most, none while
/// nothing happens.
final class MemoryTrimmer: @unchecked Sendable {  // state confined to `loop`
    static let defaultQuiet: TimeAmount = .seconds(60)

    private let loop: any EventLoop
    private let quiet: TimeAmount
    private let logger: Logger
    private let trim: @Sendable () -> Void
    private var lastWork: NIODeadline?
    private var scheduled = false

    init(loop: any EventLoop, quiet: TimeAmount = MemoryTrimmer.defaultQuiet, logger: Logger,
         trim: (@Sendable () -> Void)? = nil) {
        self.loop = loop
        self.quiet = quiet
        self.logger = logger
        self.trim = trim ?? { MemoryTrimmer.giveBack(logger: logger) }
    }

    /// Something one-off ran; callable from any thread.
    func worked() {
        loop.execute { [self] in
            lastWork = .now()
            guard !scheduled else { return }
            scheduled = true
            loop.scheduleTask(in: quiet) { [self] in due() }
        }
    }

    private func due() {
        guard let lastWork else { scheduled = false; return }
        let ready = lastWork + quiet
        if ready > .now() {
            // More work came meanwhile: wait for the quiet after it.
            loop.scheduleTask(deadline: ready) { [self] in due() }
            return
        }
        scheduled = false
        self.lastWork = nil
        let trim = self.trim
        // /proc/self/smaps and madvise take a millisecond or two: not on the
        // engine's loop, which times heartbeats.
        BlockingThread.detach { trim() }
    }

    static func giveBack(logger: Logger) {
        let forgotten = StartupPages.forgetUnused()
        let released = StartupPages.trimHeap()
        switch forgotten {
        case .success(let bytes):
            logger.debug("quiet again: \(bytes >> 10) KiB of read-only mappings forgotten, malloc \(released ? "released" : "had no") free pages")
        case .failure(let error):
            logger.debug("quiet again: mappings kept (\(error)), malloc \(released ? "released" : "had no") free pages")
        }
    }
}
