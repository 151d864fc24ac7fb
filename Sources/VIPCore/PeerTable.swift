/// What this node knows about each configured peer, from its heartbeats.
///
/// A peer is "alive" while heartbeats keep arriving; it is declared lost after
/// its own Master_Down_Interval of silence — the same patience the election
/// gives a master. Pure: the daemon feeds it heartbeats and the time.
public struct PeerTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var address: IPAddress
        public var alive: Bool = false
        public var state: NodeState?
        public var priority: UInt8?
        public var flags: HeartbeatFlags = []
        public var advertInterval: Span?
        public var lastHeard: Instant?
        /// `quorum` instances: the master this peer follows (nil: none, or
        /// a heartbeat without a vote).
        public var vote: String?
    }

    /// A peer appearing or disappearing, for logs, metrics and webhooks.
    public enum Event: Equatable, Sendable {
        case found(String)
        case lost(String)
        case stateChanged(String, from: NodeState?, to: NodeState)
    }

    public private(set) var entries: [Entry]

    public init(peers: [HeartbeatAdmission.Peer]) {
        entries = peers.map { Entry(id: $0.id, address: $0.address) }
    }

    public subscript(id: String) -> Entry? { entries.first { $0.id == id } }

    /// A new peer list (config reload): what is known about remaining peers is kept.
    public mutating func reconfigure(peers: [HeartbeatAdmission.Peer]) {
        entries = peers.map { peer in
            if var known = entries.first(where: { $0.id == peer.id && $0.address == peer.address }) {
                known.address = peer.address
                return known
            }
            return Entry(id: peer.id, address: peer.address)
        }
    }

    /// Records an admitted heartbeat.
    public mutating func record(_ heartbeat: Heartbeat, now: Instant) -> [Event] {
        guard let index = entries.firstIndex(where: { $0.id == heartbeat.nodeID }) else { return [] }
        var events: [Event] = []
        var entry = entries[index]
        if !entry.alive { events.append(.found(entry.id)) }
        if entry.state != heartbeat.state { events.append(.stateChanged(entry.id, from: entry.state, to: heartbeat.state)) }
        entry.alive = true
        entry.state = heartbeat.state
        entry.priority = heartbeat.priority
        entry.flags = heartbeat.flags
        entry.advertInterval = heartbeat.advertInterval
        entry.lastHeard = now
        entry.vote = heartbeat.flags.contains(.vote) ? heartbeat.vote : nil
        entries[index] = entry
        return events
    }

    /// Marks peers silent for too long as lost.
    public mutating func expire(now: Instant) -> [Event] {
        var events: [Event] = []
        for index in entries.indices {
            guard entries[index].alive, let deadline = lossDeadline(of: entries[index]), now >= deadline else { continue }
            entries[index].alive = false
            events.append(.lost(entries[index].id))
        }
        return events
    }

    /// The earliest time some alive peer would be declared lost.
    public var nextDeadline: Instant? {
        var earliest: Instant?
        for entry in entries where entry.alive {
            if let deadline = lossDeadline(of: entry), earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        }
        return earliest
    }

    func lossDeadline(of entry: Entry) -> Instant? {
        guard let heard = entry.lastHeard, let interval = entry.advertInterval else { return nil }
        return heard + ElectionTiming.masterDownInterval(interval: interval, priority: entry.priority ?? 1)
    }
}
