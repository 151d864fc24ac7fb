import Logging
import Testing
import VIPCore
@testable import VIPDaemon
import VIPLinux

/// Writing, testing and reloading the nginx upstream, with a fake command runner.
@Suite struct NginxFrontManagerTests {
    let node = NodeConfig(id: "node-a", interface: "eth0", address: IPAddress("198.18.0.1")!, priority: 150)
    let healthy = BackendHealthView(localHealthy: true, peers: [
        .init(id: "node-b", address: IPAddress("198.18.0.2")!, alive: true, heard: true, reportsHealthy: true)])
    let peerDown = BackendHealthView(localHealthy: true, peers: [
        .init(id: "node-b", address: IPAddress("198.18.0.2")!, alive: false, heard: true, reportsHealthy: true)])

    func manager(_ directory: String, _ runner: FakeCommandRunner, debounce: Span = .zero) -> NginxFrontManager {
        let config = NginxConfig(upstreamFile: "\(directory)/bingo-upstream.conf", backendPort: 30164,
                                 testCommand: ["/nginx-test", "-t"], reloadCommand: ["/nginx-reload"], debounce: debounce)
        return NginxFrontManager(config: config, node: node, runner: runner, logger: Logger(label: "test"))
    }

    func rendering(_ view: BackendHealthView, _ manager: NginxFrontManager) -> String {
        UpstreamRenderer.render(manager.config, node: node, view: view)
    }

    @Test func passingTestWritesThenReloads() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        let manager = manager(directory, runner)
        #expect(await manager.apply(peerDown))
        #expect(try AtomicFile.read(manager.config.upstreamFile) == rendering(peerDown, manager))
        #expect(runner.calls == [["/nginx-test", "-t"], ["/nginx-reload"]])
        #expect(manager.counters() == .init(renders: 1, reloads: 1, reloadFailures: 0, testFailures: 0, lastError: nil))
        // The same health again: nothing to do.
        #expect(await manager.apply(peerDown))
        #expect(runner.calls.count == 2)
    }

    /// A reload's nginx section (here a new backend port) is rendered and
    /// reloaded, though the backends' health did not change.
    @Test func aReconfiguredSectionIsRenderedAtOnce() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        let manager = manager(directory, runner)
        #expect(await manager.apply(healthy))
        var moved = manager.config
        moved.backendPort = 31000
        manager.reconfigure(moved)
        #expect(await manager.apply(healthy))
        let text = try #require(try AtomicFile.read(moved.upstreamFile))
        #expect(text.contains(":31000") && !text.contains(":30164"))
        #expect(manager.counters().reloads == 2)
    }

    @Test func rejectedRenderingLeavesThePreviousFileAndDoesNotReload() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        let manager = manager(directory, runner)
        #expect(await manager.apply(healthy))
        let good = try AtomicFile.read(manager.config.upstreamFile)
        runner.script("/nginx-test", CommandOutcome(termination: .exited(1),
            output: "nginx: [emerg] host not found in upstream \"x\"\nnginx: configuration file test failed\n"))
        #expect(await manager.apply(peerDown) == false)
        #expect(try AtomicFile.read(manager.config.upstreamFile) == good)
        #expect(runner.calls == [["/nginx-test", "-t"], ["/nginx-reload"], ["/nginx-test", "-t"]])
        let counters = manager.counters()
        #expect(counters.reloads == 1)
        #expect(counters.reloadFailures == 1)
        #expect(counters.testFailures == 1)
        #expect(counters.lastError?.contains("host not found in upstream") == true)
        // Once nginx accepts it again, the pending rendering goes in.
        runner.script("/nginx-test", CommandOutcome(termination: .exited(0)))
        #expect(await manager.apply(peerDown))
        #expect(try AtomicFile.read(manager.config.upstreamFile) == rendering(peerDown, manager))
        #expect(runner.calls.last == ["/nginx-reload"])
    }

    @Test func rejectedFirstRenderingRemovesTheFileItCreated() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        runner.script("/nginx-test", CommandOutcome(termination: .timedOut(.seconds(30))))
        let manager = manager(directory, runner)
        #expect(await manager.apply(healthy) == false)
        #expect(try AtomicFile.read(manager.config.upstreamFile) == nil)
        #expect(!runner.calls.contains(["/nginx-reload"]))
    }

    @Test func failedReloadKeepsTheTestedFileAndTriesAgain() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        runner.script("/nginx-reload", CommandOutcome(termination: .exited(1), output: "nginx: [error] invalid PID number"))
        let manager = manager(directory, runner)
        #expect(await manager.apply(healthy) == false)
        #expect(try AtomicFile.read(manager.config.upstreamFile) == rendering(healthy, manager))
        #expect(manager.counters().testFailures == 0)
        #expect(manager.counters().reloadFailures == 1)
        runner.script("/nginx-reload", CommandOutcome(termination: .exited(0)))
        #expect(await manager.apply(healthy))
        #expect(runner.calls.suffix(2) == [["/nginx-test", "-t"], ["/nginx-reload"]])
    }

    @Test func fileAlreadyRightAtStartIsNotReloaded() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        let manager = manager(directory, runner)
        try AtomicFile.write(rendering(healthy, manager), to: manager.config.upstreamFile)
        manager.update(healthy)
        let running = Task { try await manager.run() }
        defer { running.cancel() }
        #expect(await eventually { manager.counters().renders == 1 })
        #expect(runner.calls.isEmpty)
    }

    @Test func burstOfChangesCostsOneReloadOfTheLatest() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let runner = FakeCommandRunner()
        let manager = manager(directory, runner, debounce: .milliseconds(200))
        let running = Task { try await manager.run() }
        defer { running.cancel() }
        manager.update(healthy)
        manager.update(peerDown)
        manager.update(healthy)
        manager.update(peerDown)
        #expect(await eventually { runner.calls.count >= 2 })
        try await Task.sleep(for: .milliseconds(400))
        #expect(runner.calls == [["/nginx-test", "-t"], ["/nginx-reload"]])
        #expect(try AtomicFile.read(manager.config.upstreamFile) == rendering(peerDown, manager))
    }
}
