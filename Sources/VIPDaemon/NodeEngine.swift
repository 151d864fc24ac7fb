import Logging
import NIOCore
import VIPCore

/// Drives one node's `Election`: feeds it datagrams and timer ticks, and runs
/// the actions it returns (send heartbeats, move VIPs, log transitions).
///
/// Every piece of mutable state is confined to `loop`, an event loop that also
/// owns the UDP channel, so a datagram, a timer and a control request never
/// race. Callers from elsewhere go through `loop.submit`/`execute`.
public final class NodeEngine: @unchecked Sendable {
    public let loop: any EventLoop
    var config: VIPConfig
    var keys: HeartbeatKeyring
    /// Boot epoch carried in every heartbeat; larger on each start (`BootEpoch`).
    let epoch: UInt64
    let logger: Logger
    let vips: VIPHolder

    var election: Election
    var admission: HeartbeatAdmission
    var peers: PeerTable
    var sender: (any HeartbeatSending)?
    private var sequence: UInt64 = 0
    /// What the last heartbeat said, for an answer to one peer between
    /// scheduled heartbeats (`answer(_:)`).
    private var lastAdvertised: (priority: UInt8, state: NodeState, flags: HeartbeatFlags, target: String?)?
    /// When each peer was last answered out of schedule (rate limit).
    private var lastAnswered: [String: Instant] = [:]
    /// At most one answer per peer in this span: a flood of captured
    /// datagrams makes this node send at most 100 a second per peer.
    static let answerInterval = Span.milliseconds(10)
    /// The error of the failing sends so far and how many, while sends fail.
    private var sendFailure: (error: String, count: Int)?
    private var timer: (any EngineTimer)?
    /// What `timer` is armed for (nil: disarmed).
    private var timerDeadline: Instant?
    var stateSince: Instant
    var lastReason: TransitionReason?
    /// Set by the backend health check; heartbeats carry it to the peers' nginx managers.
    public private(set) var backendHealthy = true
    var counters = StatusReport.Counters(heartbeatsSent: 0, heartbeatsReceived: 0, sendErrors: 0,
                                                 dropped: [:], transitions: 0)
    public let metrics: VIPMetrics
    /// When this node last became master (for failover timing).
    var lastTakeover: Instant?
    /// When this master began a planned handover (for its duration metric).
    var handoverStartedAt: Instant?
    /// The health checks' current picture, when checks are configured.
    public var checkSnapshot: (@Sendable () -> [HealthMonitor.CheckSnapshot])?
    /// Check states last reported, to log and publish only changes.
    var reportedChecks: [String: CheckState] = [:]
    /// Where events go (webhooks); set before `start`.
    public var webhooks: WebhookDispatcher?
    /// keepalived-style notify scripts; set before `start`.
    public var scripts: NotifyScripts?
    /// Observers of transitions (metrics, webhooks, tests). Called on `loop`.
    public var onTransition: [(NodeState, NodeState, TransitionReason) -> Void] = []

    public convenience init(config: VIPConfig, key: HeartbeatKey, epoch: UInt64, loop: any EventLoop, logger: Logger,
                            addresses: (any AddressManaging)?, announcer: (any Announcing)?) {
        self.init(config: config, keys: HeartbeatKeyring(signing: key), epoch: epoch, loop: loop, logger: logger,
                  addresses: addresses, announcer: announcer)
    }

    public init(config: VIPConfig, keys: HeartbeatKeyring, epoch: UInt64, loop: any EventLoop, logger: Logger,
                addresses: (any AddressManaging)?, announcer: (any Announcing)?) {
        self.config = config
        self.keys = keys
        self.epoch = epoch
        self.loop = loop
        self.logger = logger
        self.metrics = VIPMetrics()
        let peerList = config.peers.map { HeartbeatAdmission.Peer(id: $0.id, address: $0.address) }
        self.election = Election(settings: Election.Settings(config: config))
        self.admission = HeartbeatAdmission(vrid: config.vrid, keys: keys, ownEpoch: epoch, peers: peerList)
        self.peers = PeerTable(peers: peerList)
        self.stateSince = Instant(nanoseconds: Int64(loop.now.uptimeNanoseconds))
        self.vips = VIPHolder(vips: config.vips, addresses: addresses, announcer: announcer, loop: loop, logger: logger)
        for reason in DropReason.allCases { counters.dropped[reason.rawValue] = 0 }
    }

    var now: Instant { Instant(nanoseconds: Int64(loop.now.uptimeNanoseconds)) }

    // MARK: Inputs (call on `loop`)

    /// Starts the election; heartbeats go out through `sender`, and `timer`
    /// (by default a scheduled task on `loop`) calls `timerFired`.
    public func start(sender: any HeartbeatSending, timer: (any EngineTimer)? = nil) {
        loop.preconditionInEventLoop()
        self.sender = sender
        self.timer = timer ?? ScheduledTaskEngineTimer(loop: loop) { [weak self] in self?.timerFired() }
        vips.releaseLeftovers()
        run(election.start(now: now))
    }

    /// One datagram from `source` (any bytes: they are checked here).
    public func receive(_ bytes: [UInt8], from source: IPAddress) {
        loop.preconditionInEventLoop()
        let now = self.now
        switch admission.admitWithBoot(bytes, from: source) {
        case .failure(let reason):
            counters.dropped[reason.rawValue, default: 0] += 1
            metrics.dropped(reason)
            logger.debug("dropped heartbeat from \(source): \(reason.rawValue)")
            // Authentic but not echoing our epoch: the peer may not know it
            // yet (one of us restarted). Tell it now, not at the next
            // scheduled heartbeat, which may come after our master-down time.
            if reason == .unverified, let peer = config.peers.first(where: { $0.address == source }) { answer(peer) }
        case .success(let (heartbeat, boot)):
            if boot == .new, let peer = config.peers.first(where: { $0.id == heartbeat.nodeID }) { answer(peer) }
            counters.heartbeatsReceived += 1
            metrics.heartbeatReceived()
            let events = peers.record(heartbeat, now: now)
            for event in events { log(event) }
            reannounceAfterHeal(events, heartbeat)
            reportBackendsIfChanged()
            run(election.receive(heartbeat, from: source, now: now))
        }
    }

    /// Graceful stop: resign if master (the resignation is with the kernel
    /// when this returns) and release the VIPs.
    public func shutdown() {
        loop.preconditionInEventLoop()
        run(election.shutdown(now: now))
        timer?.arm(at: nil)
        timerDeadline = nil
    }

    /// The timer's deadline passed: expire silent peers, run the election's clock.
    func timerFired() {
        loop.preconditionInEventLoop()
        timerDeadline = nil
        let now = self.now
        for event in peers.expire(now: now) { log(event) }
        reportBackendsIfChanged()
        run(election.tick(now: now))
    }

    /// Sets or clears a front fault (a failing front check).
    public func setFault(_ reason: String?) {
        loop.preconditionInEventLoop()
        run(election.setFault(reason, now: now))
    }

    /// The address watcher saw `address` disappear from an interface.
    public func addressDeleted(_ address: IPAddress) {
        loop.preconditionInEventLoop()
        vips.restoreIfHeld(address)
    }

    /// Netlink dropped notifications: check every held VIP is still there.
    public func recheckVIPs() {
        loop.preconditionInEventLoop()
        vips.recheck()
    }

    public func setBackendHealthy(_ healthy: Bool) {
        loop.preconditionInEventLoop()
        guard healthy != backendHealthy else { return }
        backendHealthy = healthy
        // Peers' nginx should hear it now, not at the next (standby) heartbeat.
        run(election.announce(now: now))
    }

    // MARK: Running actions

    func run(_ output: ElectionOutput) {
        for action in output.actions {
            switch action {
            case .transition(let from, let to, let reason):
                counters.transitions += 1
                metrics.transition(from: from, to: to)
                if to == .master { lastTakeover = now }
                recordFailoverDuration(from: from, to: to, reason: reason)
                publish(from: from, to: to, reason: reason)
                stateSince = now
                lastReason = reason
                logger.notice("\(from) -> \(to) (\(reason))")
                for observer in onTransition { observer(from, to, reason) }
            case .sendHeartbeat(let priority, let state):
                send(priority: priority, state: state)
            case .acquireVIPs:
                vips.acquire()
            case .releaseVIPs:
                vips.release()
            case .reannounceVIPs:
                vips.reannounce()
            case .handoverAborted:
                logger.warning("planned handover aborted: no peer took over within \(election.handoverPatience); staying master")
            }
        }
        reschedule()
    }

    private func send(priority: UInt8, state: NodeState) {
        let signal = election.handoverSignal
        var flags = signal.flags.union(backendHealthy ? [.backendHealthy] : [])
        if election.takeReleasedVIPsFlag(sentAs: state) { flags.insert(.releasedVIPs) }
        lastAdvertised = (priority, state, flags, signal.target)
        send(priority: priority, state: state, flags: flags, target: signal.target, to: config.peers)
    }

    /// The last heartbeat again, to `peer` only, at most once per
    /// `answerInterval`: the peer learns this node's epoch at once.
    private func answer(_ peer: PeerConfig) {
        guard let last = lastAdvertised else { return }
        let now = self.now
        if let previous = lastAnswered[peer.id], now - previous < Self.answerInterval { return }
        lastAnswered[peer.id] = now
        send(priority: last.priority, state: last.state, flags: last.flags, target: last.target, to: [peer])
    }

    /// One datagram per peer, each echoing that peer's epoch.
    private func send(priority: UInt8, state: NodeState, flags: HeartbeatFlags, target: String?, to peers: [PeerConfig]) {
        guard let sender else { return }
        sequence += 1
        var heartbeat = Heartbeat(
            vrid: config.vrid, priority: priority, state: state,
            flags: flags,
            advertInterval: election.interval(advertisedAs: state), epoch: epoch, sequence: sequence,
            nodeID: config.node.id, target: target)
        let datagrams = peers.map { peer in
            heartbeat.echo = admission.echo(for: peer.id)
            return HeartbeatCodec.encode(heartbeat, key: keys.signing)
        }
        counters.heartbeatsSent += 1
        metrics.heartbeatSent()
        do {
            try sender.send(datagrams, to: peers)
            if let failing = sendFailure {
                sendFailure = nil
                logger.notice("sending heartbeats again (after \(failing.count) failed)")
            }
        } catch {
            counters.sendErrors += 1
            metrics.count("vipd_heartbeat_send_errors_total")
            // Once per failure, not ten times a second while a link is down.
            let text = "\(error)"
            if sendFailure?.error != text { logger.warning("sending heartbeat failed: \(text)") }
            sendFailure = (text, (sendFailure?.count ?? 0) + 1)
        }
    }

    /// Keeps the timer armed for the earliest of the election's and the peer
    /// table's deadlines, re-arming only when that moves. A tick that comes
    /// early is harmless: `tick` and `expire` act only on what is due.
    func reschedule() {
        guard let timer else { return }
        let deadline = Instant.earliest(election.nextDeadline, peers.nextDeadline)
        guard deadline != timerDeadline else { return }
        timerDeadline = deadline
        timer.arm(at: deadline)
    }

    /// Unplanned: how long the old master was silent. Planned: from the
    /// handover request until the new master's first heartbeat.
    private func recordFailoverDuration(from: NodeState, to: NodeState, reason: TransitionReason) {
        switch reason {
        case .masterDown(let silence):
            metrics.failoverDuration(seconds: silence.seconds)
        case .handedOver:
            if let started = handoverStartedAt { metrics.failoverDuration(seconds: (now - started).seconds) }
            handoverStartedAt = nil
        default:
            if from == .master { handoverStartedAt = nil }
        }
    }

    /// Tells webhooks and notify scripts about a transition (never blocks).
    private func publish(from: NodeState, to: NodeState, reason: TransitionReason) {
        scripts?.stateChanged(to: to, priority: election.effectivePriority)
        guard let webhooks else { return }
        let stamp = VIPLogHandler.timestamp()
        let node = config.node.id
        webhooks.emit(NodeEvent(node: node, event: .stateChange, oldState: from.description, newState: to.description,
                                reason: reason.description, timestamp: stamp))
        guard !config.vips.isEmpty else { return }
        let vipList = config.vips.map { "\($0.address)/\($0.prefixLength)" }.joined(separator: ",")
        if to == .master {
            webhooks.emit(NodeEvent(node: node, event: .vipAcquired, newState: to.description, reason: reason.description,
                                    subject: vipList, timestamp: stamp))
        } else if from == .master {
            webhooks.emit(NodeEvent(node: node, event: .vipReleased, oldState: from.description, newState: to.description,
                                    reason: reason.description, subject: vipList, timestamp: stamp))
        }
    }

    /// A peer that comes back (a healed partition), or one that stops being
    /// master while this node is master, may have answered for the VIPs:
    /// clients may still point at it, so announce them once more. The
    /// election re-announces when it hears a lower master; this covers the
    /// race where that peer yielded before its master heartbeat reached us.
    private func reannounceAfterHeal(_ events: [PeerTable.Event], _ heartbeat: Heartbeat) {
        guard election.state == .master, !config.vips.isEmpty else { return }
        // The peer says it held the VIPs until just now (it may have yielded
        // to us before any of its master heartbeats got through).
        if heartbeat.flags.contains(.releasedVIPs) {
            vips.reannounce()
            return
        }
        let healed = events.contains { event in
            switch event {
            case .found: true
            case .stateChanged(_, let from, _): from == .master
            case .lost: false
            }
        }
        if healed { vips.reannounce() }
    }

    private func log(_ event: PeerTable.Event) {
        switch event {
        case .found(let id):
            logger.info("peer \(id) found")
            webhooks?.emit(NodeEvent(node: config.node.id, event: .peerFound, subject: id, timestamp: VIPLogHandler.timestamp()))
        case .lost(let id):
            logger.warning("peer \(id) lost (no heartbeat within its master-down interval)")
            webhooks?.emit(NodeEvent(node: config.node.id, event: .peerLost, reason: "no heartbeat within its master-down interval",
                                     subject: id, timestamp: VIPLogHandler.timestamp()))
        case .stateChanged(let id, let from, let to):
            logger.info("peer \(id) is \(to)\(from.map { " (was \($0))" } ?? "")")
        }
    }

    // MARK: Status

    public func status() -> StatusReport {
        loop.preconditionInEventLoop()
        let now = self.now
        let peerReports = peers.entries.map { entry in
            StatusReport.Peer(
                id: entry.id, address: entry.address.description, alive: entry.alive, state: entry.state,
                priority: entry.priority.map(Int.init),
                backendHealthy: entry.lastHeard == nil ? nil : entry.flags.contains(.backendHealthy),
                lastHeardMs: entry.lastHeard.map { (now - $0).milliseconds },
                link: linkReport(entry.id))
        }
        return StatusReport(
            node: config.node.id, state: election.state, priority: Int(election.effectivePriority),
            basePriority: Int(config.node.priority), vrid: Int(config.vrid), master: election.currentMaster,
            stateForMs: (now - stateSince).milliseconds, lastTransitionReason: lastReason?.description,
            advertIntervalMs: config.timing.advertInterval.milliseconds,
            vips: config.vips.map { .init(address: "\($0.address)/\($0.prefixLength)", interface: $0.interface, held: vips.held) },
            peers: peerReports, counters: counters, version: VIPDVersion.string,
            checks: checkReports(now: now),
            preemptHeld: election.preemptSuppressed,
            handover: election.handover.map { $0.target ?? "best" },
            detection: election.settings.detection.name,
            masterDownMs: election.state == .backup ? election.masterDownInterval.milliseconds : nil)
    }

    private func linkReport(_ id: String) -> StatusReport.Peer.Link? {
        guard case .adaptive(let rate, let ceiling) = election.settings.detection,
              let link = election.links[id] else { return nil }
        return .init(observed: link.observed.rounded(), lossRate: link.lossRate, burstiness: link.burstiness,
                     jitterMs: link.jitter.milliseconds,
                     intervals: link.intervals(interval: config.timing.advertInterval, falseTakeoversPerWeek: rate,
                                               ceiling: ceiling))
    }

    // MARK: Health (HealthService, NginxFrontManager)

    /// Observers of the backends' health (the nginx manager). Called on `loop`
    /// when this node's backend verdict, a peer's liveness or a peer's
    /// backend flag changes.
    public var onBackendsChanged: [(BackendHealthView) -> Void] = []
    private var reportedBackends: BackendHealthView?

    /// Applies the health checks' verdict: fault, backend flag, effective priority.
    public func applyHealth(_ verdict: HealthVerdict) {
        loop.preconditionInEventLoop()
        reportCheckChanges()
        setFault(verdict.faultReason)
        setBackendHealthy(verdict.backendHealthy)
        setEffectivePriority(verdict.effectivePriority)
        reportBackendsIfChanged()
    }

    /// Changes the priority heartbeats carry (weighted checks); clamped to 1...254.
    public func setEffectivePriority(_ priority: UInt8) {
        loop.preconditionInEventLoop()
        run(election.setPriority(priority, now: now))
    }

    /// What the nginx upstream is rendered from, now.
    public func backendView() -> BackendHealthView {
        loop.preconditionInEventLoop()
        return peers.backendView(localHealthy: backendHealthy)
    }

    private func reportBackendsIfChanged() {
        let view = peers.backendView(localHealthy: backendHealthy)
        guard view != reportedBackends else { return }
        reportedBackends = view
        for observer in onBackendsChanged { observer(view) }
    }
}
