import VIPCore

/// The human-readable form of `vipctl status`.
import Foundation

enum StatusTable {
    /// One block per instance when the node runs several (then the
    /// checks and counters once, for the node).
    static func render(_ report: StatusReport) -> String {
        guard let instances = report.instances, instances.count > 1 else { return renderOne(report) }
        var lines = ["node      \(report.node)    \(instances.count) instances", ""]
        lines.append(row(["INSTANCE", "VRID", "STATE", "PRIO", "MASTER", "VIPS"], widths: [14, 6, 13, 6, 12, 10]))
        for instance in instances {
            let held = instance.vips.filter(\.held).count
            lines.append(row([instance.instance ?? "-", "\(instance.vrid)", instance.state.description, "\(instance.priority)",
                              instance.master ?? "-", "\(held)/\(instance.vips.count) held"], widths: [14, 6, 13, 6, 12, 10]))
        }
        for instance in instances {
            lines.append("")
            lines.append("--- instance \(instance.instance ?? "-")")
            var one = instance
            one.checks = []
            lines.append(renderOne(one, footer: false))
        }
        var node = report
        node.peers = []
        node.vips = []
        lines.append(checksAndCounters(node))
        return lines.joined(separator: "\n")
    }

    static func renderOne(_ report: StatusReport, footer: Bool = true) -> String {
        var lines: [String] = []
        let priority = report.priority == report.basePriority ? "\(report.priority)" : "\(report.priority) (base \(report.basePriority))"
        lines.append("node      \(report.node)")
        lines.append("state     \(report.state) for \(duration(report.stateForMs))\(report.lastTransitionReason.map { " (\($0))" } ?? "")")
        lines.append("priority  \(priority)    vrid \(report.vrid)    interval \(whole(report.advertIntervalMs))ms")
        lines.append("master    \(report.master ?? "none known")")
        if let down = report.masterDownMs {
            lines.append("detect    master dead after \(whole(down))ms of silence (\(report.detection))")
        }
        if let handover = report.handover { lines.append("handover  in progress to \(handover)") }
        if report.preemptHeld { lines.append("preempt   held: this node handed over and will not preempt until asked") }
        for vip in report.vips {
            lines.append("vip       \(vip.address) on \(vip.interface): \(vip.held ? "held here" : "not held")")
        }
        for link in report.interfaces ?? [] {
            lines.append("track     interface \(link.name): \(link.up ? "up" : "DOWN")")
        }
        for fault in report.faults ?? [] { lines.append("fault     \(fault)") }
        if let quorum = report.quorum {
            lines.append("quorum    \(quorum.held ? "held" : "LOST"): hears \(quorum.heard) of \(quorum.members), "
                         + "\(quorum.consenting) would let it take over; votes for \(quorum.vote ?? "no master")"
                         + (quorum.witness ? " (witness: never master)" : ""))
        }
        lines.append("")
        lines.append(row(["PEER", "ADDRESS", "STATE", "PRIO", "BACKEND", "LAST HEARD"]))
        for peer in report.peers {
            lines.append(row([
                peer.id, peer.address,
                peer.alive ? (peer.state?.description ?? "?") : "lost",
                peer.priority.map(String.init) ?? "-",
                peer.backendHealthy.map { $0 ? "up" : "down" } ?? "-",
                peer.lastHeardMs.map(duration) ?? "never",
            ]) + (peer.vote.map { "  votes \($0.isEmpty ? "none" : $0)" } ?? ""))
            if let link = peer.link {
                let k = link.intervals.map { "\($0) intervals" } ?? "the RFC rule (too little seen)"
                lines.append(String(format: "  link: %.0f heartbeats seen, loss %.2g, burstiness %.2g, jitter %.1fms -> %@",
                                    link.observed, link.lossRate, link.burstiness, link.jitterMs, k))
            }
        }
        if footer { lines.append(checksAndCounters(report)) }
        return lines.joined(separator: "\n")
    }

    /// The node-wide part: checks and heartbeat counters.
    static func checksAndCounters(_ report: StatusReport) -> String {
        var lines: [String] = []
        if !report.checks.isEmpty {
            lines.append("")
            let widths = [12, 40, 12, 9, 10]
            lines.append(row(["CHECK", "LAST RESULT", "STATE", "ROLE", "FOR"], widths: widths))
            for check in report.checks {
                lines.append(row([check.name, check.lastResult ?? "-", check.state, check.role,
                                  duration(check.stateForMs)], widths: widths))
                if let restarts = check.restarts, restarts > 0 {
                    var text = "  restarted \(restarts)x, last \(check.lastRestartMsAgo.map(duration) ?? "-") ago (\(check.lastRestart ?? "-"))"
                    if let next = check.nextRestartInMs { text += ", next in \(duration(next)) if still down" }
                    lines.append(text)
                }
            }
        }
        let c = report.counters
        let dropped = c.dropped.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        lines.append("")
        lines.append("heartbeats sent \(c.heartbeatsSent), received \(c.heartbeatsReceived), dropped \(dropped.isEmpty ? "0" : dropped.joined(separator: " "))")
        return lines.joined(separator: "\n")
    }

    static func row(_ cells: [String], widths: [Int] = [12, 40, 12, 5, 8, 10]) -> String {
        return zip(cells, widths).map { $0.padding(toLength: max($1, $0.count + 1), withPad: " ", startingAt: 0) }
            .joined().trimmingTrailingSpaces()
    }

    static func duration(_ ms: Double) -> String {
        if ms < 1000 { return "\(whole(ms))ms" }
        if ms < 120_000 { return String(format: "%.1fs", ms / 1000) }
        return "\(whole(ms / 60_000))m"
    }

    /// Rounded toward zero, for any number the JSON holds: Int(_:) traps
    /// beyond Int's range (advert_interval_ms 1e300 crashed vipctl; Fuzz/FuzzStatus).
    static func whole(_ value: Double) -> String {
        abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
