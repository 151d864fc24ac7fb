import Prometheus
import Synchronization
import VIPCore

/// Prometheus metrics (`vipd_` prefix), served on `GET /metrics`.
///
/// Counters are bumped where events happen; gauges that describe the current
/// picture (state, priority, peers) are refreshed from a status snapshot at
/// scrape time, so they can never drift from what `vipctl status` shows.
public final class VIPMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    // The per-heartbeat counters are looked up once: makeCounter validates
    // the name and takes a lock, too much to do ten times a second per peer.
    let sent: Counter
    let received: Counter
    let droppedByReason: [DropReason: Counter]
    /// The snapshot gauges the last scrape set, by name and labels: a series
    /// whose subject a reload removed (an instance, a VIP, a peer, a check) is
    /// unregistered at the next scrape instead of showing its last value for ever.
    private let snapshotGauges = Mutex<[String: Gauge]>([:])

    public init() {
        sent = registry.makeCounter(name: "vipd_heartbeats_sent_total")
        received = registry.makeCounter(name: "vipd_heartbeats_received_total")
        var dropped: [DropReason: Counter] = [:]
        for reason in DropReason.allCases {
            dropped[reason] = registry.makeCounter(name: "vipd_packets_dropped_total", labels: [("reason", reason.rawValue)])
        }
        droppedByReason = dropped
        // Zero-valued series exist from the start, so rate() works at once.
        for name in ["vipd_heartbeats_sent_total", "vipd_heartbeats_received_total",
                     "vipd_webhook_deliveries_total", "vipd_webhook_failures_total", "vipd_webhook_dropped_total",
                     "vipd_nginx_reloads_total", "vipd_nginx_reload_failures_total", "vipd_notify_failures_total",
                     "vipd_heartbeat_send_errors_total", "vipd_heartbeat_socket_reopened_total"] {
            _ = registry.makeCounter(name: name)
        }
    }

    public func heartbeatSent() { sent.increment() }
    public func heartbeatReceived() { received.increment() }
    public func dropped(_ reason: DropReason) { droppedByReason[reason]?.increment() }

    public func transition(instance: String, from: NodeState, to: NodeState) {
        registry.makeCounter(name: "vipd_transitions_total",
                             labels: [("vrrp_instance", instance), ("from", from.description), ("to", to.description)]).increment()
    }

    /// Seconds from the old master's last heartbeat (or the handover request)
    /// until this node held the VIPs.
    public func failoverDuration(instance: String, seconds: Double) {
        registry.makeGauge(name: "vipd_last_failover_duration_seconds", labels: [("vrrp_instance", instance)]).set(seconds)
    }

    public func count(_ name: String, labels: [(String, String)] = []) {
        registry.makeCounter(name: name, labels: labels).increment()
    }

    /// A check's state changed: the gauge, and a counter of transitions to down.
    public func checkState(name: String, up: Bool) {
        registry.makeGauge(name: "vipd_check_up", labels: [("check", name)]).set(up ? 1.0 : 0.0)
        if !up { count("vipd_check_down_total", labels: [("check", name)]) }
    }

    /// The exposition text, after refreshing the snapshot gauges from `status`.
    /// The per-instance gauges carry a `vrrp_instance` label (`vrid<N>` for a
    /// single-router file). Not `instance`: Prometheus sets that label on
    /// every scraped series itself (the target), and would rename ours.
    public func render(_ status: StatusReport) -> String {
        var fresh: [String: Gauge] = [:]
        func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
            let gauge = registry.makeGauge(name: name, labels: labels)
            fresh[name + labels.map { "|\($0.0)=\($0.1)" }.joined()] = gauge
            return gauge
        }
        for instance in status.instances ?? [status] {
            let name = instance.instance ?? "vrid\(instance.vrid)"
            for state in NodeState.allCases {
                gauge("vipd_state", [("vrrp_instance", name), ("state", state.description)]).set(instance.state == state ? 1.0 : 0.0)
            }
            gauge("vipd_priority", [("vrrp_instance", name)]).set(Double(instance.priority))
            gauge("vipd_base_priority", [("vrrp_instance", name)]).set(Double(instance.basePriority))
            gauge("vipd_maintenance", [("vrrp_instance", name)]).set(instance.state == .maintenance ? 1.0 : 0.0)
            if let quorum = instance.quorum {
                gauge("vipd_quorum_held", [("vrrp_instance", name)]).set(quorum.held ? 1.0 : 0.0)
                gauge("vipd_quorum_heard", [("vrrp_instance", name)]).set(Double(quorum.heard))
                gauge("vipd_quorum_members", [("vrrp_instance", name)]).set(Double(quorum.members))
            }
            for vip in instance.vips {
                gauge("vipd_vip_held", [("vrrp_instance", name), ("address", vip.address)]).set(vip.held ? 1.0 : 0.0)
            }
        }
        for check in status.checks {
            gauge("vipd_check_up", [("check", check.name)]).set(check.state == "up" ? 1.0 : 0.0)
            gauge("vipd_check_state_seconds", [("check", check.name)]).set(check.stateForMs / 1000)
        }
        // A peer is up when any instance hears it (instances may run with subsets).
        var peers: [String: StatusReport.Peer] = [:]
        for peer in (status.instances ?? [status]).flatMap(\.peers) where peers[peer.id]?.alive != true { peers[peer.id] = peer }
        for peer in peers.values.sorted(by: { $0.id < $1.id }) {
            gauge("vipd_peer_up", [("peer", peer.id)]).set(peer.alive ? 1.0 : 0.0)
            if let heard = peer.lastHeardMs { gauge("vipd_peer_last_heard_seconds", [("peer", peer.id)]).set(heard / 1000) }
            if let healthy = peer.backendHealthy {
                gauge("vipd_peer_backend_up", [("peer", peer.id)]).set(healthy ? 1.0 : 0.0)
            }
        }
        let stale = snapshotGauges.withLock { previous in
            defer { previous = fresh }
            return previous.filter { fresh[$0.key] == nil }.map(\.value)
        }
        for gauge in stale { registry.unregisterGauge(gauge) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
