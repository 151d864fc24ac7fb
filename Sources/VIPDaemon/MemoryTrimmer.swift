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
/// request gives it back, one to two minutes later.
final class MemoryTrimmer: @unchecked Sendable {  // state confined to `loop`
    static let defaultQuiet: TimeAmount = .seconds(60)

    private let loop: any EventLoop
    private let quiet: TimeAmount
    private let trim: @Sendable () -> Void
    private let background: @Sendable (@escaping @Sendable () -> Void) -> Void
    /// A check is scheduled `quiet` from when it was armed.
    private var pending = false
    /// Work came after the pending check was armed: it re-arms instead of trimming.
    private var workedSince = false

    /// `trim` (default: `giveBack`) runs through `background` (default: a
    /// thread of its own, since /proc/self/smaps and madvise take a
    /// millisecond or two, not for the engine's loop, which times heartbeats).
    init(loop: any EventLoop, quiet: TimeAmount = MemoryTrimmer.defaultQuiet, logger: Logger,
         trim: (@Sendable () -> Void)? = nil,
         background: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void = { BlockingThread.detach($0) }) {
        self.loop = loop
        self.quiet = quiet
        self.trim = trim ?? { MemoryTrimmer.giveBack(logger: logger) }
        self.background = background
    }

    /// Something one-off ran; callable from any thread.
    func worked() {
        loop.execute { [self] in
            if pending {
                workedSince = true
            } else {
                pending = true
                workedSince = false
                loop.scheduleTask(in: quiet) { [self] in due() }
            }
        }
    }

    /// A quiet period has passed since the check was armed: trim if nothing
    /// came in it, else wait another one. So the trim comes between one and
    /// two quiet periods after the last work, with one wake-up per period
    /// while work goes on and none once it has stopped.
    private func due() {
        if workedSince {
            workedSince = false
            loop.scheduleTask(in: quiet) { [self] in due() }
            return
        }
        pending = false
        background(trim)
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
