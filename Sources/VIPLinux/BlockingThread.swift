#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (a child process, a slow file system) on a new thread
/// of its own and awaits its result, so that neither an event loop nor Swift
/// concurrency's small cooperative pool (one thread per core) ever waits on it.
///
/// A thread per call is deliberate: calls are rare (one per check interval or
/// nginx reload) and each may block for up to its timeout; a shared pool of
/// fixed size would queue a fast check behind a hanging one.
public enum BlockingThread {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            detach { continuation.resume(returning: body()) }
        }
    }

    /// Runs `body` on a new thread of its own and returns at once.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Job(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attributes) }
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().work()
            return nil
        }, context)
        if created != 0 {
            // No thread to be had (resource limits): run here rather than never.
            Unmanaged<Job>.fromOpaque(context).takeRetainedValue().work()
        }
    }

    private final class Job: Sendable {
        let work: @Sendable () -> Void
        init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    }
}
