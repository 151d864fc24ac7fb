import VIPCore

/// Several elections wired together through a simulated network with a
/// virtual clock: real codec, real authentication and replay checks, random
/// latency and loss, crashes and restarts. No sockets, no sleeping.
public struct SimulatedCluster {
    public struct Member {
        public let settings: Election.Settings
        /// nil while the node is crashed.
        public var router: VirtualRouter?
        var epoch: UInt64 = 1
        /// Whether this member ever ran (a later start is a restart).
        var started = false
        public var holdsVIP = false
        /// The member's election, while it runs.
        public var election: Election? { router?.election }
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
    private let keys: HeartbeatKeyring
    private var inFlight: [Delivery] = []
    private let vrid: UInt8 = 7
    private let peerLists: [[HeartbeatAdmission.Peer]]
    /// Datagrams a receiver dropped, by reason (what a node's counters show).
    public private(set) var dropped: [DropReason: Int] = [:]
    /// How many times each member re-announced VIPs it held (heal, reclaim).
    public private(set) var reannouncements: [Int] = []

    /// Pairs of members (lower index first) whose datagrams are lost both
    /// ways: a cut link, with the rest of the network intact.
    public private(set) var cuts: Set<[Int]> = []

    public mutating func cut(_ first: Int, _ second: Int) { cuts.insert([min(first, second), max(first, second)]) }
    public mutating func heal(_ first: Int, _ second: Int) { cuts.remove([min(first, second), max(first, second)]) }
    /// Cuts every link of `index`: the node runs but hears and reaches nobody.
    public mutating func isolate(_ index: Int) { for other in members.indices where other != index { cut(index, other) } }
    public mutating func healAll() { cuts.removeAll() }

    /// `quorum`: every member runs the majority rule; `witnesses` only vote.
    public init(priorities: [UInt8], interval: Span = .milliseconds(100), standbyInterval: Span? = nil,
                preempt: Bool = true, quorum: Bool = false, witnesses: Set<Int> = [], seed: UInt64) {
        keys = HeartbeatKeyring(signing: HeartbeatKey(bytes: Array("simulated-cluster-key".utf8))!)
        random = SeededRandom(seed: seed)
        let addresses = priorities.indices.map { IPAddress("198.18.0.\($0 + 1)")! }
        let peers = priorities.indices.map { HeartbeatAdmission.Peer(id: "n\($0)", address: addresses[$0]) }
        peerLists = priorities.indices.map { index in peers.filter { $0.id != "n\(index)" } }
        members = priorities.enumerated().map { index, priority in
            var settings = Election.Settings(nodeID: "n\(index)", address: addresses[index], priority: priority,
                                             advertInterval: interval, standbyInterval: quorum ? interval : standbyInterval,
                                             preempt: preempt)
            settings.quorum = quorum
            settings.witness = witnesses.contains(index)
            return Member(settings: settings, router: nil)
        }
        reannouncements = Array(repeating: 0, count: priorities.count)
    }

    /// Nodes currently in the master state.
    public var masters: [String] {
        members.compactMap { $0.router?.state == .master ? $0.settings.nodeID : nil }
    }

    public var alive: [Int] { members.indices.filter { members[$0].router != nil } }

    /// Starts a node; one that ran before starts as a fresh process (`restart`).
    public mutating func start(_ index: Int) {
        guard members[index].router == nil else { return }
        if members[index].started { return restart(index) }
        boot(index)
    }

    public mutating func startAll() {
        for index in members.indices { start(index) }
    }

    /// Loses all state at once, like SIGKILL with the link down.
    public mutating func crash(_ index: Int) {
        members[index].router = nil
        members[index].holdsVIP = false
    }

    /// A fresh process: new boot epoch (`epoch`, or one more than before),
    /// sequence from zero, and no memory of what it heard.
    public mutating func restart(_ index: Int, epoch: UInt64? = nil) {
        crash(index)
        let wasRun = members[index].started || epoch != nil
        members[index].epoch = epoch ?? members[index].epoch + (wasRun ? 1 : 0)
        boot(index)
    }

    /// The very type the daemon runs (`VirtualRouter`), fresh.
    private mutating func boot(_ index: Int) {
        var router = VirtualRouter(identity: .init(instance: "sim", vrid: vrid, epoch: members[index].epoch),
                                   settings: members[index].settings, keys: keys, peers: peerLists[index])
        let output = router.start(now: now)
        members[index].router = router
        members[index].started = true
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

    /// Runs `body` on a live member's router and applies what it returns.
    public mutating func operate(_ index: Int, _ body: (inout VirtualRouter, Instant) -> VirtualRouter.Output) {
        guard var router = members[index].router else { return }
        let output = body(&router, now)
        members[index].router = router
        apply(output.actions, from: index)
    }

    public mutating func stopGracefully(_ index: Int) {
        operate(index) { router, now in router.shutdown(now: now) }
        members[index].router = nil
    }

    /// Advances the virtual clock by `span`, delivering datagrams and firing timers in order.
    public mutating func run(for span: Span) {
        let end = now + span
        while true {
            let nextDelivery = inFlight.map(\.at).min()
            let nextTimer = members.compactMap { $0.router?.nextDeadline }.min()
            guard let next = [nextDelivery, nextTimer].compactMap({ $0 }).min(), next <= end else { break }
            now = max(now, next)
            if let index = inFlight.firstIndex(where: { $0.at <= now }) {
                deliver(inFlight.remove(at: index))
                continue
            }
            for index in members.indices {
                guard let due = members[index].router?.nextDeadline, due <= now else { continue }
                operate(index) { router, now in router.tick(now: now) }
            }
        }
        now = end
    }

    private mutating func deliver(_ delivery: Delivery) {
        operate(delivery.to) { router, now in router.receive(delivery.bytes, from: delivery.from, now: now) }
    }

    private mutating func apply(_ actions: [VirtualRouter.Action], from index: Int) {
        let source = members[index].settings.address
        for action in actions {
            switch action {
            case .transition(let from, let to, _):
                transitions.append((members[index].settings.nodeID, from, to, now))
            case .send(_, let datagrams):
                for datagram in datagrams {
                    guard let target = members.firstIndex(where: { $0.settings.nodeID == datagram.peer }) else { continue }
                    if capturing { capture.append((now, target, datagram.bytes, source)) }
                    if cuts.contains([min(index, target), max(index, target)]) { continue }
                    if Double.random(in: 0..<1, using: &random) < lossRate { continue }
                    let latency = Span(nanoseconds: Int64.random(in: 100_000...max(100_000, maxLatency.nanoseconds), using: &random))
                    inFlight.append(Delivery(at: now + latency, to: target, bytes: datagram.bytes, from: source))
                }
            case .acquireVIPs:
                members[index].holdsVIP = true
                if let last = vipGaps.last, last.to == nil { vipGaps[vipGaps.count - 1].to = now }
            case .releaseVIPs:
                members[index].holdsVIP = false
                if !members.contains(where: \.holdsVIP) { vipGaps.append((now, nil)) }
            case .reannounceVIPs:
                if members[index].holdsVIP { reannouncements[index] += 1 }
            case .dropped(let reason, _):
                dropped[reason, default: 0] += 1
            case .handoverAborted, .peer, .sendVRRP, .addressMismatch:
                break
            }
        }
    }
}
