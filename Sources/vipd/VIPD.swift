import ArgumentParser
import Glibc
import Logging
import NIOPosix
import ServiceLifecycle
import VIPCore
import VIPDaemon
import VIPLinux

@main
struct VIPD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vipd",
        abstract: "Virtual-IP failover daemon: elects one master among its peers, which holds the floating IP.",
        version: VIPDVersion.string,
        subcommands: [Run.self, CheckConfig.self],
        defaultSubcommand: Run.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file.")
    var config: String = ConfigDefaults.path
}

/// Loads the config or prints every problem and exits 2 (EX_USAGE-like) before anything starts.
func loadOrExit(_ path: String) -> LoadedConfig {
    do {
        return try ConfigLoader.load(path: path)
    } catch {
        FileHandleStderr.write("vipd: invalid configuration, not starting:\n\(error.description)\n")
        Glibc.exit(2)
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(2, &bytes, bytes.count)
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file (and its key file) without starting; exit 0 if valid, 2 if not.")

    @Argument(help: "Configuration file.")
    var path: String = ConfigDefaults.path

    func run() throws {
        let loaded = loadOrExit(path)
        print("\(path): OK (node \(loaded.config.node.id), \(loaded.config.peers.count) peer(s), \(loaded.config.vips.count) VIP(s))")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the daemon in the foreground (the default).")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let loaded = loadOrExit(options.config)
        let config = loaded.config
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vipd")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        // Wall-clock milliseconds: larger on every restart (given NTP), so peers
        // accept the new sequence numbers and refuse replays of the old ones.
        let epoch = UInt64(wall.tv_sec) * 1000 + UInt64(wall.tv_nsec / 1_000_000)
        let engine = NodeEngine(config: config, key: loaded.key, epoch: epoch, loop: loop, logger: logger,
                                addresses: nil, announcer: nil)
        let control = try ControlAPI.application(engine: engine, socket: config.control.socket, logger: logger)
        logger.info("vipd \(VIPDVersion.string) starting: node \(config.node.id) priority \(config.node.priority), peers \(config.peers.map(\.id).joined(separator: ", ")), advert interval \(config.timing.advertInterval)")
        // Graceful shutdown runs in reverse order: the heartbeat service (last)
        // resigns first, then the control socket closes.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: control), .init(service: HeartbeatService(engine: engine, config: config))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("vipd stopped")
    }
}
