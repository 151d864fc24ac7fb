import Logging
import VIPCore

/// What the daemon keeps for one virtual router besides its pure core: the
/// VIPs it moves, its notify scripts, counters and the times status reports.
/// Confined to the engine's loop, like everything the engine owns.
final class InstanceRunner: @unchecked Sendable {
    var config: InstanceConfig
    var router: VirtualRouter
    let vips: VIPHolder
    private(set) var peersByID: [String: PeerConfig]
    var stateSince: Instant
    var lastReason: TransitionReason?
    /// When this instance last became master.
    var lastTakeover: Instant?
    /// When this master began a planned handover (for its duration metric).
    var handoverStartedAt: Instant?
    var counters = StatusReport.Counters(heartbeatsSent: 0, heartbeatsReceived: 0, sendErrors: 0,
                                         dropped: [:], transitions: 0)
    var scripts: NotifyScripts?
    /// Why this instance must be in FAULT, by source: "checks", "interface
    /// eth0", "sync group g". The election sees their union as one reason.
    var faults: [String: String] = [:]
    /// The fault reason last handed to the election (own and sync group).
    var appliedFault: String?
    /// The error of the failing sends so far and how many, while sends fail.
    var sendFailure: (error: String, count: Int)?
    let logger: Logger

    /// `logger` carries the instance's name as metadata.
    init(config: InstanceConfig, router: VirtualRouter, vips: VIPHolder, now: Instant, logger: Logger) {
        self.config = config
        self.router = router
        self.vips = vips
        self.peersByID = Dictionary(config.peers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.stateSince = now
        self.logger = logger
        for reason in DropReason.allCases { counters.dropped[reason.rawValue] = 0 }
    }

    var name: String { config.name }
    /// The router's next deadline, from the last output it returned. Read on
    /// every event for every instance: `router.nextDeadline` would copy the
    /// whole router each time (with 100 instances, half of an idle daemon's
    /// CPU went to those copies; docs/benchmarks.md "idle-instances").
    var deadline: Instant?
    /// Its state as of the last output, for the same reason.
    private(set) var cachedState: NodeState = .initial

    var state: NodeState { cachedState }

    /// Called after every input the router took.
    func took(_ output: VirtualRouter.Output) {
        deadline = output.nextDeadline
        cachedState = router.state
    }

    func peer(_ id: String) -> PeerConfig? { peersByID[id] }

    func update(_ config: InstanceConfig) {
        self.config = config
        peersByID = Dictionary(config.peers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        vips.update(config.vips)
        vips.routing.update(routes: config.routes, rules: config.rules)
    }

    /// The union of the fault sources, in a stable order; nil when none.
    var faultReason: String? {
        faults.isEmpty ? nil : faults.keys.sorted().map { faults[$0]! }.joined(separator: "; ")
    }

    var peerList: [HeartbeatAdmission.Peer] { config.peers.map { .init(id: $0.id, address: $0.address) } }
}
