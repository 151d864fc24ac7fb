import ArgumentParser
import Dispatch
import Glibc
import Logging
import VIPCore
import VIPDaemon
import VIPLinux

@main
struct VIPD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vipd",
        abstract: "Virtual-IP failover daemon: elects one master among its peers, which holds the floating IP.",
        version: VIPDVersion.string,
        subcommands: [Run.self, CheckConfig.self, ImportKeepalived.self],
        defaultSubcommand: Run.self)
}

/// Loads the config or prints every problem and exits 2 before anything starts.
func loadOrExit(_ path: String) -> LoadedConfig {
    do {
        return try ConfigLoader.load(path: path)
    } catch {
        writeStderr("vipd: invalid configuration, not starting:\n\(error.description)\n")
        Glibc.exit(2)
    }
}

func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    _ = Glibc.write(2, &bytes, bytes.count)
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file (and its key file) without starting; exit 0 if valid, 2 if not.")

    @Argument(help: "Configuration file.")
    var path: String = ConfigDefaults.path

    func run() throws {
        let loaded = loadOrExit(path)
        print("\(path): OK (node \(loaded.config.node.id), \(loaded.config.peers.count) peer(s), \(loaded.config.instances.count) instance(s), \(loaded.config.allVIPs.count) VIP(s))")
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the daemon in the foreground (the default).")

    @Option(name: .shortAndLong, help: "Configuration file.")
    var config: String = ConfigDefaults.path

    /// Synchronous on purpose: capabilities are per thread, so privileges are
    /// dropped here, while the process has one thread, before any event loop
    /// or task exists.
    func run() throws {
        let loaded = loadOrExit(config)
        let level = Logger.Level(rawValue: loaded.config.logLevel) ?? .info
        let node = loaded.config.node.id
        LoggingSystem.bootstrap { _ in VIPLogHandler(node: node, level: level) }
        let logger = Logger(label: "vipd")
        let addresses: NetlinkAddressManager
        let announcer: PacketAnnouncer
        let routes: NetlinkRouteManager
        let connections: StaleConnections?
        let epoch: UInt64
        do {
            for warning in Scheduling.apply(realtimePriority: loaded.config.realtimePriority,
                                            lockMemory: loaded.config.lockMemory) {
                logger.warning("\(warning)")
            }
            announcer = try PacketAnnouncer()
            addresses = try NetlinkAddressManager()
            routes = try NetlinkRouteManager()
            do { connections = try StaleConnections() } catch {
                connections = nil
                logger.warning("connections a VIP move leaves dead will not be ended: \(error)")
            }
            try ControlSocketPath.prepare(loaded.config.control.socket, owner: loaded.config.user,
                                             group: loaded.config.control.group)
            // The last moment the kernel lets vipd page out its own executable
            // (it must own the file or be privileged): see StartupPages.
            switch StartupPages.release() {
            case .success(let bytes): logger.debug("start-up pages released: advised \(bytes >> 20) MiB of read-only mappings")
            case .failure(let error): logger.info("start-up pages not released: \(error)")
            }
            let boot = BootEpoch.next(directory: loaded.config.stateDirectory)
            if let warning = boot.warning { logger.warning("\(warning)") }
            epoch = boot.epoch
            if loaded.config.user != "root" { try Privileges.dropToUser(loaded.config.user) }
            try Privileges.requireNetworkCapabilities()
        } catch {
            writeStderr("vipd: \(error)\n")
            throw ExitCode(1)
        }
        try blockingRun {
            try await Daemon.run(loaded: loaded, epoch: epoch, addresses: addresses, routes: routes, announcer: announcer,
                                 connections: connections, logger: logger)
        }
    }
}

/// Runs async work from the synchronous entry point and waits for it.
func blockingRun(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: (any Error)? }  // written before signal, read after wait
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
