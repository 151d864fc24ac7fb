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
            Exit codes: 0 success; 1 the daemon answered with an error; 2 invalid usage or \
            configuration; 3 the daemon is not running; 4 permission denied on the control socket.
            """,
        version: VIPDVersion.string,
        subcommands: [Status.self, CheckConfig.self, Version.self])
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

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file without contacting the daemon.")

    @Argument(help: "Configuration file.")
    var path: String = ConfigDefaults.path

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: path)
            print("\(path): OK (node \(loaded.config.node.id))")
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
