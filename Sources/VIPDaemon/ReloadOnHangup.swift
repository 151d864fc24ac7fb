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
