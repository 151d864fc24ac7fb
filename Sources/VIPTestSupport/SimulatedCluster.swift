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

    public init(priorities: [UInt8], interval: Span = .milliseconds(100), preempt: Bool = true, seed: UInt64) {
        key = HeartbeatKey(bytes: Array("simulated-cluster-key".utf8))!
        random = SeededRandom(seed: seed)
        let addresses = priorities.indices.map { IPAddress("198.18.0.\($0 + 1)")! }
        let peers = priorities.indices.map { HeartbeatAdmission.Peer(id: "n\($0)", address: addresses[$0]) }
        let key = self.key
        members = priorities.enumerated().map { index, priority in
            let settings = Election.Settings(nodeID: "n\(index)", address: addresses[index], priority: priority,
                                             advertInterval: interval, preempt: preempt)
            let others = peers.filter { $0.id != settings.nodeID }
            return Member(settings: settings, election: nil,
                          admission: HeartbeatAdmission(vrid: 7, key: key, peers: others))
        }
    }

    /// Nodes currently in the master state.
    public var masters: [String] {
        members.compactMap { $0.election?.state == .master ? $0.settings.nodeID : nil }
    }

    public var alive: [Int] { members.indices.filter { members[$0].election != nil } }

    public mutating func start(_ index: Int) {
        guard members[index].election == nil else { return }
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

    /// A fresh process: new boot epoch, sequence from zero.
    public mutating func restart(_ index: Int) {
        crash(index)
        members[index].epoch += 1
        members[index].sequence = 0
        start(index)
    }

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
        guard case .success(let heartbeat) = members[delivery.to].admission.admit(delivery.bytes, from: delivery.from)
        else { return }
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
                members[index].sequence += 1
                let member = members[index]
                let signal = member.election?.handoverSignal ?? (flags: [], target: nil)
                let bytes = HeartbeatCodec.encode(Heartbeat(
                    vrid: vrid, priority: priority, state: state, flags: signal.flags.union(.backendHealthy),
                    advertInterval: member.settings.advertInterval, epoch: member.epoch,
                    sequence: member.sequence, nodeID: member.settings.nodeID, target: signal.target), key: key)
                for target in members.indices where target != index {
                    if Double.random(in: 0..<1, using: &random) < lossRate { continue }
                    let latency = Span(nanoseconds: Int64.random(in: 100_000...max(100_000, maxLatency.nanoseconds), using: &random))
                    inFlight.append(Delivery(at: now + latency, to: target, bytes: bytes, from: member.settings.address))
                }
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
}
