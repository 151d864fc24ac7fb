import Logging
import ServiceLifecycle
import UnixSignals
import VIPLinux
#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP re-reads the configuration, as `vipctl reload` does (systemd's
/// ExecReload sends it). An invalid file is logged and the running config kept.
struct ReloadOnHangup: Service {
    let engine: NodeEngine
    let source: @Sendable () throws -> LoadedConfig
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading configuration")
            let systemd = SystemdNotify()
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            // Type=notify-reload (systemd 253+) wants the monotonic timestamp; older ones ignore it.
            systemd.send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
            defer { systemd.send("READY=1") }
            do {
                let loaded = try source()
                let engine = self.engine
                let outcome: Result<[String], ControlRefusal> = try await engine.onLoop {
                    Result { () throws(ControlRefusal) in try engine.reload(loaded) }
                }
                if case .failure(let refusal) = outcome { logger.error("reload refused: \(refusal.message)") }
            } catch {
                logger.error("reload failed, the running configuration is kept:\n\(error)")
            }
        }
    }
}
