import VIPCore

/// Several elections wired together through a simulated network with a
/// virtual clock: real codec, real authentication and replay checks, random
/// latency and loss, crashes and restarts. No sockets, no sleeping.
public struct SimulatedCluster {
    public struct Member {
        public let settings: Election.Settings
        /// nil while the node is crashed.
        public var election: Election?
        var admission: HeartbeatAdmission
        var epoch: UInt64 = 1
        var sequence: UInt64 = 0
        public var holdsVIP = false
        /// The last heartbeat's priority and state, for answers out of schedule.
        var lastAdvertised: (priority: UInt8, state: NodeState)?
        var lastAnswered: [Int: Instant] = [:]
    }

    struct Delivery {
        var at: Instant
        var to: Int
        var bytes: [UInt8]
        var from: IPAddress
    }

    public private(set) var members: [Member]
    public private(set) var now = Instant.zero
    public private(set) var transitions: [(node: String, from: NodeState, to: NodeState, at: Instant)] = []
    /// Spans during which no member held the VIP (after someone first held it).
    public private(set) var vipGaps: [(from: Instant, to: Instant?)] = []
    /// Probability that one datagram is lost.
    public var lossRate = 0.0
    /// Largest one-way latency; each datagram takes a random share of it.
    public var maxLatency = Span.milliseconds(2)
    public var random: SeededRandom
    private let key: HeartbeatKey
    private var inFlight: [Delivery] = []
    private let vrid: UInt8 = 7
    private let peerLists: [[HeartbeatAdmission.Peer]]
    /// Datagrams a receiver dropped, by reason (what a node's counters show).
    public private(set) var dropped: [DropReason: Int] = [:]

    public init(priorities: [UInt8], interval: Span = .milliseconds(100), preempt: Bool = true, seed: UInt64) {
        key = HeartbeatKey(bytes: Array("simulated-cluster-key".utf8))!
        random = SeededRandom(seed: seed)
        let addresses = priorities.indices.map { IPAddress("198.18.0.\($0 + 1)")! }
        let peers = priorities.indices.map { HeartbeatAdmission.Peer(id: "n\($0)", address: addresses[$0]) }
        let key = self.key
        peerLists = priorities.indices.map { index in peers.filter { $0.id != "n\(index)" } }
        let peerLists = self.peerLists
        members = priorities.enumerated().map { index, priority in
            let settings = Election.Settings(nodeID: "n\(index)", address: addresses[index], priority: priority,
                                             advertInterval: interval, preempt: preempt)
            return Member(settings: settings, election: nil,
                          admission: HeartbeatAdmission(vrid: 7, keys: HeartbeatKeyring(signing: key), ownEpoch: 1,
                                                        peers: peerLists[index]))
        }
    }

    /// Nodes currently in the master state.
    public var masters: [String] {
        members.compactMap { $0.election?.state == .master ? $0.settings.nodeID : nil }
    }

    public var alive: [Int] { members.indices.filter { members[$0].election != nil } }

    /// Starts a node; one that ran before starts as a fresh process (`restart`).
    public mutating func start(_ index: Int) {
        guard members[index].election == nil else { return }
        if members[index].sequence > 0 { return restart(index) }
        var election = Election(settings: members[index].settings)
        let output = election.start(now: now)
        members[index].election = election
        apply(output.actions, from: index)
    }

    public mutating func startAll() {
        for index in members.indices { start(index) }
    }

    /// Loses all state at once, like SIGKILL with the link down.
    public mutating func crash(_ index: Int) {
        members[index].election = nil
        members[index].holdsVIP = false
    }

    /// A fresh process: new boot epoch (`epoch`, or one more than before),
    /// sequence from zero, and no memory of what it heard.
    public mutating func restart(_ index: Int, epoch: UInt64? = nil) {
        crash(index)
        let wasRun = members[index].sequence > 0 || epoch != nil
        members[index].epoch = epoch ?? members[index].epoch + (wasRun ? 1 : 0)
        members[index].sequence = 0
        members[index].admission = HeartbeatAdmission(vrid: vrid, keys: HeartbeatKeyring(signing: key),
                                                      ownEpoch: members[index].epoch, peers: peerLists[index])
        members[index].lastAdvertised = nil
        members[index].lastAnswered = [:]
        var election = Election(settings: members[index].settings)
        let output = election.start(now: now)
        members[index].election = election
        apply(output.actions, from: index)
    }

    /// Puts `bytes` on the wire to `index` as if sent from `source` (a replay).
    public mutating func inject(_ bytes: [UInt8], to index: Int, from source: IPAddress, after delay: Span = .zero) {
        inFlight.append(Delivery(at: now + delay, to: index, bytes: bytes, from: source))
    }

    /// Every datagram sent so far, with its destination (a capture).
    public private(set) var capture: [(at: Instant, to: Int, bytes: [UInt8], from: IPAddress)] = []
    /// Whether sends are recorded into `capture`.
    public var capturing = false

    /// Runs `body` on a live member's election and applies what it returns.
    public mutating func operate(_ index: Int, _ body: (inout Election, Instant) -> ElectionOutput) {
        guard var election = members[index].election else { return }
        let output = body(&election, now)
        members[index].election = election
        apply(output.actions, from: index)
    }

    public mutating func stopGracefully(_ index: Int) {
        guard var election = members[index].election else { return }
        let output = election.shutdown(now: now)
        members[index].election = election
        apply(output.actions, from: index)
        members[index].election = nil
    }

    /// Advances the virtual clock by `span`, delivering datagrams and firing timers in order.
    public mutating func run(for span: Span) {
        let end = now + span
        while true {
            let nextDelivery = inFlight.map(\.at).min()
            let nextTimer = members.compactMap { $0.election?.nextDeadline }.min()
            guard let next = [nextDelivery, nextTimer].compactMap({ $0 }).min(), next <= end else { break }
            now = max(now, next)
            if let index = inFlight.firstIndex(where: { $0.at <= now }) {
                deliver(inFlight.remove(at: index))
                continue
            }
            for index in members.indices {
                guard var election = members[index].election, let due = election.nextDeadline, due <= now else { continue }
                let output = election.tick(now: now)
                members[index].election = election
                apply(output.actions, from: index)
            }
        }
        now = end
    }

    private mutating func deliver(_ delivery: Delivery) {
        guard var election = members[delivery.to].election else { return }
        let sender = members.firstIndex { $0.settings.address == delivery.from }
        let heartbeat: Heartbeat
        switch members[delivery.to].admission.admitWithBoot(delivery.bytes, from: delivery.from) {
        case .failure(let reason):
            dropped[reason, default: 0] += 1
            // As NodeEngine: tell a peer that does not know our epoch at once.
            if reason == .unverified, let sender { answer(from: delivery.to, to: sender) }
            return
        case .success(let (admitted, boot)):
            heartbeat = admitted
            if boot == .new, let sender { answer(from: delivery.to, to: sender) }
        }
        let output = election.receive(heartbeat, from: delivery.from, now: now)
        members[delivery.to].election = election
        apply(output.actions, from: delivery.to)
    }

    private mutating func apply(_ actions: [ElectionAction], from index: Int) {
        for action in actions {
            switch action {
            case .transition(let from, let to, _):
                transitions.append((members[index].settings.nodeID, from, to, now))
            case .sendHeartbeat(let priority, let state):
                members[index].lastAdvertised = (priority, state)
                send(priority: priority, state: state, from: index, to: members.indices.filter { $0 != index })
            case .acquireVIPs:
                members[index].holdsVIP = true
                if let last = vipGaps.last, last.to == nil { vipGaps[vipGaps.count - 1].to = now }
            case .releaseVIPs:
                members[index].holdsVIP = false
                if !members.contains(where: \.holdsVIP) { vipGaps.append((now, nil)) }
            case .reannounceVIPs, .handoverAborted:
                break
            }
        }
    }

    /// The last heartbeat again to one peer, at most every 10 ms (NodeEngine.answerInterval).
    private mutating func answer(from index: Int, to target: Int) {
        guard let last = members[index].lastAdvertised else { return }
        if let previous = members[index].lastAnswered[target], now - previous < .milliseconds(10) { return }
        members[index].lastAnswered[target] = now
        send(priority: last.priority, state: last.state, from: index, to: [target])
    }

    /// One datagram per target, each echoing that target's epoch (as NodeEngine sends).
    private mutating func send(priority: UInt8, state: NodeState, from index: Int, to targets: [Int]) {
        members[index].sequence += 1
        let member = members[index]
        let signal = member.election?.handoverSignal ?? (flags: [], target: nil)
        var heartbeat = Heartbeat(
            vrid: vrid, priority: priority, state: state, flags: signal.flags.union(.backendHealthy),
            advertInterval: member.settings.advertInterval, epoch: member.epoch,
            sequence: member.sequence, nodeID: member.settings.nodeID, target: signal.target)
        for target in targets {
            heartbeat.echo = member.admission.echo(for: members[target].settings.nodeID)
            let bytes = HeartbeatCodec.encode(heartbeat, key: key)
            if capturing { capture.append((now, target, bytes, member.settings.address)) }
            if Double.random(in: 0..<1, using: &random) < lossRate { continue }
            let latency = Span(nanoseconds: Int64.random(in: 100_000...max(100_000, maxLatency.nanoseconds), using: &random))
            inFlight.append(Delivery(at: now + latency, to: target, bytes: bytes, from: member.settings.address))
        }
    }
}
