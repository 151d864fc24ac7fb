#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore
import VIPDaemon
import VIPLinux

/// A `CommandRunning` that records every command and answers by program
/// (`argv[0]`) from a script that tests can change while running.
final class FakeCommandRunner: CommandRunning {
    private let state = Mutex<(calls: [[String]], outcomes: [String: CommandOutcome])>(([], [:]))

    var calls: [[String]] { state.withLock { $0.calls } }

    /// `outcome` for every later run of `program`; unscripted programs exit 0.
    func script(_ program: String, _ outcome: CommandOutcome) {
        state.withLock { $0.outcomes[program] = outcome }
    }

    func run(_ argv: [String], timeout: Span) async -> CommandOutcome {
        state.withLock { state in
            state.calls.append(argv)
            return state.outcomes[argv[0]] ?? CommandOutcome(termination: .exited(0))
        }
    }
}

/// A `CheckProbing` whose answers come from a queue per check name; the last
/// one repeats. An optional delay makes one check slow.
final class ScriptedProber: CheckProbing {
    private let state = Mutex<[String: [ProbeResult]]>([:])
    private let delays: [String: Duration]

    init(_ script: [String: [ProbeResult]], delays: [String: Duration] = [:]) {
        state.withLock { $0 = script }
        self.delays = delays
    }

    func then(_ name: String, _ results: [ProbeResult]) {
        state.withLock { $0[name] = results }
    }

    /// When each probe of each check started.
    var starts: [String: [ContinuousClock.Instant]] { startTimes.withLock { $0 } }
    private let startTimes = Mutex<[String: [ContinuousClock.Instant]]>([:])

    func probe(_ check: CheckConfig) async -> ProbeResult {
        startTimes.withLock { $0[check.name, default: []].append(.now) }
        if let delay = delays[check.name] { try? await Task.sleep(for: delay) }
        return state.withLock { script in
            let queue = script[check.name] ?? [.fail("unscripted")]
            if queue.count > 1 { script[check.name] = Array(queue.dropFirst()) }
            return queue[0]
        }
    }
}

/// Collects values handed over from other tasks.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    var all: [Value] { values.withLock { $0 } }
    func append(_ value: Value) { values.withLock { $0.append(value) } }
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass. The
/// limit is generous: `swift test` runs CPU-bound suites (fuzzing, the
/// simulation) in parallel on as many threads as cores, which can hold these
/// tasks back for seconds on a small machine.
func eventually(_ seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A fresh directory under /tmp for one test; `removeTemporaryDirectory` deletes it with its files.
func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/vipd-test.XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func removeTemporaryDirectory(_ directory: String) {
    if let dir = opendir(directory) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink("\(directory)/\(name)") }
        }
        closedir(dir)
    }
    rmdir(directory)
}
