import ArgumentParser
import Foundation
import VIPCore
import VIPLinux

@main
struct VIPCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vipctl",
        abstract: "Operate a running vipd.",
        discussion: """
            Exit codes: 0 success; 1 the daemon refused or failed; 2 invalid configuration \
            (check-config); 3 the daemon is not running; 4 permission denied on the control \
            socket; 64 invalid command line.
            """,
        version: VIPDVersion.string,
        subcommands: [Status.self, Failover.self, Maintenance.self, Reload.self, CheckConfig.self, Version.self])
}

struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "Control socket of the daemon.")
    var socket: String = ConfigDefaults.controlSocket
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the node's state, peers and VIPs.")

    @OptionGroup var options: SocketOption
    @Flag(help: "Print the raw JSON (stable keys, for scripts).")
    var json = false

    func run() async throws {
        let body = try await ControlClient(socket: options.socket).get("/v1/status")
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(body))
        print(StatusTable.render(report))
    }
}

/// Prints the daemon's answer and maps a refusal to exit code 1.
func report(_ outcome: (status: Int, result: ActionAnswer)) throws {
    if outcome.result.ok {
        var line = outcome.result.message
        if let ms = outcome.result.duration_ms { line += String(format: " (%.0f ms)", ms) }
        print(line)
    } else {
        FileHandle.standardError.write(Data("vipctl: \(outcome.result.message)\n".utf8))
        throw ExitCode(1)
    }
}

struct Failover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Planned switchover: make the best healthy peer (or --to NODE) master, with no loss.",
        discussion: """
            Works on any node. The master keeps the VIPs until the new master's first heartbeat, \
            then becomes backup and does not preempt back until asked (vipctl failover --to it) \
            or until it becomes master again for another reason. Refused when no healthy peer \
            can take over, unless --force.
            """)

    @OptionGroup var options: SocketOption
    @Option(help: "The node that should become master.")
    var to: String?
    @Option(help: "The instance to switch over (required when the node runs several).")
    var instance: String?
    @Flag(help: "Hand over even if no peer looks ready (a handover nobody takes is aborted; the VIPs stay).")
    var force = false

    func run() async throws {
        try report(try await ControlClient(socket: options.socket)
            .post("/v1/failover", FailoverBody(to: to, force: force, instance: instance)))
    }
}

struct FailoverBody: Encodable {
    var to: String?
    var force: Bool
    var instance: String?
}

struct Maintenance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take this node out of the election (on) or put it back (off).",
        discussion: "A master hands the VIPs over first; with no peer to take them it refuses unless --force.")

    enum Switch: String, ExpressibleByArgument, CaseIterable {
        case on, off
    }

    @OptionGroup var options: SocketOption
    @Argument(help: "on or off")
    var mode: Switch
    @Option(help: "One instance only (default: every instance of the node).")
    var instance: String?
    @Flag(help: "Enter maintenance even if no peer can take over the VIPs (they are dropped).")
    var force = false

    func run() async throws {
        try report(try await ControlClient(socket: options.socket)
            .post("/v1/maintenance", MaintenanceBody(enabled: mode == .on, force: force, instance: instance)))
    }
}

struct MaintenanceBody: Encodable {
    var enabled: Bool
    var force: Bool
    var instance: String?
}

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the daemon's configuration; an invalid one is refused and the running one kept.")

    @OptionGroup var options: SocketOption

    func run() async throws {
        try report(try await ControlClient(socket: options.socket).post("/v1/reload", [String: String]()))
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file without contacting the daemon.")

    @Argument(help: "Configuration file.")
    var path: String = ConfigDefaults.path

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: path)
            let instances = loaded.config.instances.map { "\($0.name) (vrid \($0.vrid))" }.joined(separator: ", ")
            print("\(path): OK (node \(loaded.config.node.id); instances \(instances))")
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print vipctl's version.")
    func run() { print("vipctl \(VIPDVersion.string)") }
}
