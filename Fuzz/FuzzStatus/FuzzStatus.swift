// libFuzzer target: the body of GET /v1/status as `vipctl status` reads it —
// JSONDecoder into StatusReport, then vipctl's table (StatusTable.swift here is
// a link to Sources/vipctl/StatusTable.swift, the same source). A decoded
// report must encode and decode back to itself.
import Foundation
import FuzzSupport
import VIPCore

@main
enum Target {
    static func main() { LibFuzzer.run(fuzz, seeds: seeds) }
}

func fuzz(_ input: UnsafeBufferPointer<UInt8>) {
    let body = Data(buffer: input)
    guard let report = try? JSONDecoder().decode(StatusReport.self, from: body) else { return }
    _ = StatusTable.render(report)
    let again = try! JSONDecoder().decode(StatusReport.self, from: try! JSONEncoder().encode(report))
    precondition(again == report, "status JSON round trip")
}

/// Seeds: reports as the daemon encodes them (a master with peers, VIPs and
/// checks; a backup that never heard anyone), and the smallest one accepted.
func seeds() -> [[UInt8]] {
    let counters = StatusReport.Counters(heartbeatsSent: 1200, heartbeatsReceived: 1180, sendErrors: 1,
                                         dropped: ["bad_auth": 2, "replay": 0], transitions: 3)
    let master = StatusReport(
        node: "node-a", state: .master, priority: 150, basePriority: 200, vrid: 51, master: "node-a",
        stateForMs: 125_000.5, lastTransitionReason: "peer node-b is silent", advertIntervalMs: 100,
        vips: [.init(address: "198.18.0.100/24", interface: "eth0", held: true),
               .init(address: "2001:db8::10/64", interface: "eth0", held: false)],
        peers: [.init(id: "node-b", address: "198.18.0.2", alive: true, state: .backup, priority: 100,
                      backendHealthy: true, lastHeardMs: 42.5),
                .init(id: "node-c", address: "fd00::3", alive: false, state: nil, priority: nil,
                      backendHealthy: nil, lastHeardMs: nil)],
        counters: counters, version: VIPDVersion.string,
        checks: [.init(name: "front", role: "front", state: "passing", lastResult: "HTTP 200", lastPassed: true,
                       lastResultMsAgo: 900, stateForMs: 3_600_000, probes: 10, failures: 0)],
        preemptHeld: true, handover: "node-b")
    let backup = StatusReport(
        node: "node-b", state: .backup, priority: 100, basePriority: 100, vrid: 51, master: nil,
        stateForMs: 10, lastTransitionReason: nil, advertIntervalMs: 1000, vips: [], peers: [],
        counters: counters, version: VIPDVersion.string)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return [try! encoder.encode(master), try! encoder.encode(backup)].map { Array($0) }
}
