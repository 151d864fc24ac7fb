import Logging
import NIOCore
import VIPCore
import VIPLinux

/// Drives this node's virtual routers (`VirtualRouter`, one per instance):
/// hands each datagram to the instance its VRID names, runs the timers, and
/// carries out the actions the cores return (send, move VIPs, log, notify).
///
/// Every piece of mutable state is confined to `loop`, an event loop that also
/// owns the UDP channel, so a datagram, a timer and a control request never
/// race. Callers from elsewhere go through `loop.submit`/`execute`.
public final class NodeEngine: HeartbeatReceiving, @unchecked Sendable {
    public let loop: any EventLoop
    var config: VIPConfig
    var keys: HeartbeatKeyring
    /// Boot epoch carried in every heartbeat; larger on each start (`BootEpoch`).
    let epoch: UInt64
    let logger: Logger
    let addresses: (any AddressManaging)?
    let announcer: (any Announcing)?
    /// Installs `routes:` (nil: routes are not managed, e.g. in tests).
    let routeManager: (any RouteManaging)?
    /// The instances, in configuration order; `byVRID` finds one for a datagram.
    var instances: [InstanceRunner] = []
    var byVRID: [UInt8: InstanceRunner] = [:]
    var sender: (any HeartbeatSending)?
    /// Sends one VRRP advert (`protocol: vrrp3` instances): payload, destination.
    public var vrrpSender: (@Sendable ([UInt8], IPAddress) throws -> Void)?
    /// Set by a graceful stop before it closes the VRRP socket.
    public var stoppingVRRP = false
    var timer: (any EngineTimer)?
    /// What `timer` is armed for (nil: disarmed).
    private var timerDeadline: Instant?
    /// Datagrams no instance could be asked about (unparseable, or a VRID
    /// this node does not run), by DropReason raw value.
    var unclaimedDrops: [String: Int] = [:]
    /// Set by the backend health check; heartbeats carry it to the peers' nginx managers.
    public private(set) var backendHealthy = true
    public let metrics: VIPMetrics
    /// The health checks' current picture, when checks are configured.
    public var checkSnapshot: (@Sendable () -> [HealthMonitor.CheckSnapshot])?
    /// The checks as the policy weighs them (`HealthService.policyInputs`).
    public var checkInputs: (@Sendable () -> [HealthPolicy.Input])?
    /// Applies a reload's checks and nginx section to the running services
    /// (set by `Daemon.healthServices`; nil for a section that had no service).
    public var reconfigureChecks: (@Sendable ([CheckConfig]) -> Void)?
    public var reconfigureNginx: (@Sendable (NginxConfig) -> Void)?
    /// Check states last reported, to log and publish only changes.
    var reportedChecks: [String: CheckState] = [:]
    /// Where events go (webhooks); set before `start`.
    public var webhooks: WebhookDispatcher?
    /// Gives back what one-off work touched once things are quiet (set
    /// before the services start; read from the control server's threads).
    var trimmer: MemoryTrimmer?
    /// keepalived-style notify scripts; set before `start` (one per instance
    /// is made from it, with the instance's name).
    public var notify: (config: NotifyConfig, metrics: VIPMetrics)?
    /// Observers of transitions (tests): instance name, from, to, reason. Called on `loop`.
    public var onTransition: [(String, NodeState, NodeState, TransitionReason) -> Void] = []
    /// Tracked interfaces: whether each has carrier, and since when it is back.
    var links: [String: LinkTracking] = [:]
    /// Reads whether an interface is up and running (`NetworkInterfaces.isRunning`);
    /// nil where interfaces cannot be read (tests).
    public var linkReader: (@Sendable (String) -> Bool)?
    /// Ends the connections a VIP move leaves dead; nil in tests.
    let connections: (any ConnectionEnding)?
    /// The checks' last verdict, re-applied per instance after a reload.
    var lastVerdict: HealthVerdict?

    public convenience init(config: VIPConfig, key: HeartbeatKey, epoch: UInt64, loop: any EventLoop, logger: Logger,
                            addresses: (any AddressManaging)?, routes: (any RouteManaging)? = nil,
                            announcer: (any Announcing)?, connections: (any ConnectionEnding)? = nil) {
        self.init(config: config, keys: HeartbeatKeyring(signing: key), epoch: epoch, loop: loop, logger: logger,
                  addresses: addresses, routes: routes, announcer: announcer, connections: connections)
    }

    public init(config: VIPConfig, keys: HeartbeatKeyring, epoch: UInt64, loop: any EventLoop, logger: Logger,
                addresses: (any AddressManaging)?, routes: (any RouteManaging)? = nil, announcer: (any Announcing)?,
                connections: (any ConnectionEnding)? = nil) {
        self.connections = connections
        self.routeManager = routes
        self.config = config
        self.keys = keys
        self.epoch = epoch
        self.loop = loop
        self.logger = logger
        self.addresses = addresses
        self.announcer = announcer
        self.metrics = VIPMetrics()
        for instance in config.instances { add(instance) }
        for reason in DropReason.allCases { unclaimedDrops[reason.rawValue] = 0 }
    }

    var now: Instant { Instant(nanoseconds: Int64(loop.now.uptimeNanoseconds)) }

    /// The first instance: what the top-level fields of status describe.
    var primary: InstanceRunner { instances[0] }

    @discardableResult
    func add(_ instance: InstanceConfig) -> InstanceRunner {
        var vrrp: VirtualRouter.VRRP?
        if case .vrrp3(let settings) = instance.wire {
            vrrp = .init(settings: settings, source: config.node.address, addresses: instance.vips.map(\.address))
        }
        let router = VirtualRouter(
            identity: .init(instance: instance.name, vrid: instance.vrid, epoch: epoch),
            settings: Election.Settings(node: config.node, instance: instance), keys: keys,
            peers: instance.peers.map { .init(id: $0.id, address: $0.address) }, vrrp: vrrp)
        var instanceLogger = logger
        instanceLogger[metadataKey: "instance"] = "\(instance.name)"
        let holder = VIPHolder(vips: instance.vips, routes: instance.routes, rules: instance.rules, addresses: addresses,
                               routeManager: routeManager, announcer: announcer, connections: connections, loop: loop,
                               logger: instanceLogger)
        let runner = InstanceRunner(config: instance, router: router, vips: holder, now: now, logger: instanceLogger)
        if let notify { runner.scripts = NotifyScripts(config: notify.config, instance: instance.name, metrics: notify.metrics, logger: logger) }
        instances.append(runner)
        byVRID[instance.vrid] = runner
        return runner
    }

    /// The instance an operator names; the only one when there is one.
    func instance(named name: String?) throws(ControlRefusal) -> InstanceRunner {
        guard let name else {
            guard instances.count == 1 else {
                throw ControlRefusal(400, "this node runs \(instances.count) instances (\(instances.map(\.name).joined(separator: ", "))); name one with --instance")
            }
            return primary
        }
        guard let found = instances.first(where: { $0.name == name }) else {
            throw ControlRefusal(404, "no instance named \(name) (instances: \(instances.map(\.name).joined(separator: ", ")))")
        }
        return found
    }

    // MARK: Inputs (call on `loop`)

    /// Starts every instance; heartbeats go out through `sender`, and `timer`
    /// (by default a scheduled task on `loop`) calls `timerFired`.
    public func start(sender: any HeartbeatSending, timer: (any EngineTimer)? = nil) {
        loop.preconditionInEventLoop()
        self.sender = sender
        self.timer = timer ?? ScheduledTaskEngineTimer(loop: loop) { [weak self] in self?.timerFired() }
        if let notify {
            for runner in instances where runner.scripts == nil {
                runner.scripts = NotifyScripts(config: notify.config, instance: runner.name, metrics: notify.metrics, logger: logger)
            }
        }
        let now = self.now
        for runner in instances {
            runner.vips.releaseLeftovers()
            run(runner.router.start(now: now), runner)
        }
        readLinks()
        applyFaults()
    }

    /// One datagram from `source` (any bytes: they are checked here). The
    /// VRID byte names the instance; admission then checks everything else
    /// against that instance alone.
    public func receive(_ bytes: [UInt8], from source: IPAddress) {
        loop.preconditionInEventLoop()
        let claimed = HeartbeatCodec.vrid(of: bytes)
        guard case .success(let vrid) = claimed, let runner = byVRID[vrid] else {
            let reason: DropReason = if case .failure(let why) = claimed { why } else { .wrongVRID }
            unclaimedDrops[reason.rawValue, default: 0] += 1
            metrics.dropped(reason)
            logger.debug("dropped datagram from \(source): \(reason.rawValue)")
            return
        }
        let output = runner.router.receive(bytes, from: source, now: now)
        if !output.actions.contains(where: { if case .dropped = $0 { true } else { false } }) {
            runner.counters.heartbeatsReceived += 1
            metrics.heartbeatReceived()
        }
        run(output, runner)
        reportBackendsIfChanged()
    }

    /// Graceful stop: every master resigns (the resignations are with the
    /// kernel when this returns) and releases its VIPs.
    public func shutdown() {
        loop.preconditionInEventLoop()
        let now = self.now
        for runner in instances { run(runner.router.shutdown(now: now), runner) }
        timer?.arm(at: nil)
        timerDeadline = nil
    }

    /// The timer's deadline passed: run every instance whose clock is due.
    func timerFired() {
        loop.preconditionInEventLoop()
        timerDeadline = nil
        let now = self.now
        for runner in instances {
            guard let due = runner.deadline, due <= now else { continue }
            run(runner.router.tick(now: now), runner)
        }
        tickLinks(now: now)
        reportBackendsIfChanged()
        reschedule()
    }

    /// The address watcher saw `address` disappear from an interface.
    public func addressDeleted(_ address: IPAddress) {
        loop.preconditionInEventLoop()
        for runner in instances { runner.vips.restoreIfHeld(address) }
    }

    /// A route or rule was deleted; the closures say whether it is a given
    /// configured one. Held ones are put back.
    public func routingDeleted(routes: (RouteSpec) -> Bool = { _ in false }, rules: (RuleSpec) -> Bool = { _ in false }) {
        loop.preconditionInEventLoop()
        for runner in instances { runner.vips.routing.restore(routes: routes, rules: rules) }
    }

    /// Netlink dropped notifications: check every held VIP is still there.
    public func recheckVIPs() {
        loop.preconditionInEventLoop()
        for runner in instances { runner.vips.recheck() }
    }

    public func setBackendHealthy(_ healthy: Bool) {
        loop.preconditionInEventLoop()
        guard healthy != backendHealthy else { return }
        backendHealthy = healthy
        let now = self.now
        for runner in instances { run(runner.router.setBackendHealthy(healthy, now: now), runner) }
    }

    // MARK: Running actions

    func run(_ output: VirtualRouter.Output, _ runner: InstanceRunner) {
        runner.took(output)
        for action in output.actions {
            switch action {
            case .transition(let from, let to, let reason):
                transitioned(runner, from: from, to: to, reason: reason)
            case .send(_, let datagrams):
                send(datagrams, runner)
            case .acquireVIPs:
                runner.vips.acquire()
            case .releaseVIPs:
                runner.vips.release()
            case .reannounceVIPs:
                runner.vips.reannounce()
            case .handoverAborted:
                runner.logger.warning("planned handover aborted: no peer took over within \(runner.router.election.handoverPatience); staying master")
            case .peer(let event):
                log(event, runner)
            case .sendVRRP(_, let datagrams):
                sendVRRP(datagrams, runner)
            case .addressMismatch(let source, let listed):
                metrics.count("vipd_vrrp_address_mismatch_total", labels: [("vrrp_instance", runner.name)])
                runner.logger.warning("VRRP advert from \(source) lists \(listed.map(\.description).joined(separator: ",")), not this instance's VIPs; accepted (RFC 9568 6.4.2)")
            case .dropped(let reason, let source):
                runner.counters.dropped[reason.rawValue, default: 0] += 1
                metrics.dropped(reason)
                runner.logger.debug("dropped heartbeat from \(source): \(reason.rawValue)")
            }
        }
        reschedule()
    }

    private func transitioned(_ runner: InstanceRunner, from: NodeState, to: NodeState, reason: TransitionReason) {
        let now = self.now
        trimmer?.worked()
        runner.counters.transitions += 1
        metrics.transition(instance: runner.name, from: from, to: to)
        if to == .master { runner.lastTakeover = now }
        recordFailoverDuration(runner, from: from, reason: reason)
        publish(runner, from: from, to: to, reason: reason)
        runner.stateSince = now
        runner.lastReason = reason
        runner.logger.notice("\(from) -> \(to) (\(reason))")
        for observer in onTransition { observer(runner.name, from, to, reason) }
        syncGroupFollow(runner, from: from, to: to)
    }

    private func send(_ datagrams: [VirtualRouter.Datagram], _ runner: InstanceRunner) {
        guard let sender else { return }
        let peers = datagrams.compactMap { runner.peer($0.peer) }
        guard peers.count == datagrams.count else { return }
        sent(runner, what: "heartbeat") { try sender.send(datagrams.map(\.bytes), to: peers) }
    }

    /// Counts one send of `runner`'s; logs a failure once per error, not ten
    /// times a second while a link is down (log lines: docs/operations.md).
    func sent(_ runner: InstanceRunner, what: String, _ body: () throws -> Void) {
        runner.counters.heartbeatsSent += 1
        metrics.heartbeatSent()
        do {
            try body()
            if let failing = runner.sendFailure {
                runner.sendFailure = nil
                runner.logger.notice("sending \(what)s again (after \(failing.count) failed)")
            }
        } catch {
            runner.counters.sendErrors += 1
            metrics.count("vipd_heartbeat_send_errors_total")
            let text = "\(error)"
            if runner.sendFailure?.error != text { runner.logger.warning("sending \(what) failed: \(text)") }
            runner.sendFailure = (text, (runner.sendFailure?.count ?? 0) + 1)
        }
    }

    /// Keeps the timer armed for the earliest deadline of any instance (and
    /// of a tracked link's debounce), re-arming only when that moves. A tick
    /// that comes early is harmless: cores act only on what is due.
    func reschedule() {
        guard let timer else { return }
        var deadline = linkDeadline
        for runner in instances { deadline = Instant.earliest(deadline, runner.deadline) }
        guard deadline != timerDeadline else { return }
        timerDeadline = deadline
        timer.arm(at: deadline)
    }

    /// Unplanned: how long the old master was silent. Planned: from the
    /// handover request until the new master's first heartbeat.
    private func recordFailoverDuration(_ runner: InstanceRunner, from: NodeState, reason: TransitionReason) {
        switch reason {
        case .masterDown(let silence):
            metrics.failoverDuration(instance: runner.name, seconds: silence.seconds)
        case .handedOver:
            if let started = runner.handoverStartedAt { metrics.failoverDuration(instance: runner.name, seconds: (now - started).seconds) }
            runner.handoverStartedAt = nil
        default:
            if from == .master { runner.handoverStartedAt = nil }
        }
    }

    /// Tells webhooks and notify scripts about a transition (never blocks).
    private func publish(_ runner: InstanceRunner, from: NodeState, to: NodeState, reason: TransitionReason) {
        runner.scripts?.stateChanged(to: to, priority: runner.router.election.effectivePriority)
        guard let webhooks else { return }
        let stamp = VIPLogHandler.timestamp()
        let node = config.node.id
        let instance = runner.name
        webhooks.emit(NodeEvent(node: node, event: .stateChange, oldState: from.description, newState: to.description,
                                reason: reason.description, timestamp: stamp, instance: instance))
        guard !runner.config.vips.isEmpty else { return }
        let vipList = runner.config.vips.map { "\($0.address)/\($0.prefixLength)" }.joined(separator: ",")
        if to == .master {
            webhooks.emit(NodeEvent(node: node, event: .vipAcquired, newState: to.description, reason: reason.description,
                                    subject: vipList, timestamp: stamp, instance: instance))
        } else if from == .master {
            webhooks.emit(NodeEvent(node: node, event: .vipReleased, oldState: from.description, newState: to.description,
                                    reason: reason.description, subject: vipList, timestamp: stamp, instance: instance))
        }
    }

    private func log(_ event: PeerTable.Event, _ runner: InstanceRunner) {
        // Peer liveness is a node matter: said once, by the first instance
        // that runs with that peer, not once per instance.
        let speaks: (String) -> Bool = { [instances] id in instances.first { $0.peer(id) != nil } === runner }
        switch event {
        case .found(let id):
            guard speaks(id) else { return }
            logger.info("peer \(id) found")
            webhooks?.emit(NodeEvent(node: config.node.id, event: .peerFound, subject: id, timestamp: VIPLogHandler.timestamp()))
        case .lost(let id):
            guard speaks(id) else { return }
            logger.warning("peer \(id) lost (no heartbeat within its master-down interval)")
            webhooks?.emit(NodeEvent(node: config.node.id, event: .peerLost, reason: "no heartbeat within its master-down interval",
                                     subject: id, timestamp: VIPLogHandler.timestamp()))
        case .stateChanged(let id, let from, let to):
            runner.logger.info("peer \(id) is \(to)\(from.map { " (was \($0))" } ?? "")")
        }
    }

    // MARK: Health (HealthService, NginxFrontManager)

    /// Observers of the backends' health (the nginx manager). Called on `loop`
    /// when this node's backend verdict, a peer's liveness or a peer's
    /// backend flag changes.
    public var onBackendsChanged: [(BackendHealthView) -> Void] = []
    var reportedBackends: BackendHealthView?

    /// What the nginx upstream is rendered from, now: a peer is alive when
    /// any instance hears it, and its backend flag is the latest heard.
    public func backendView() -> BackendHealthView {
        loop.preconditionInEventLoop()
        return mergedBackendView()
    }
}
