/// The election state of a node, as logged, reported and carried on the wire.
public enum NodeState: UInt8, Sendable, CaseIterable, CustomStringConvertible, Codable {
    /// Not started, or shut down.
    case initial = 0
    /// Eligible, waiting for the master to fall silent.
    case backup = 1
    /// Holds the VIPs and announces them.
    case master = 2
    /// Its front check failed: holds no VIP and does not compete.
    case fault = 3
    /// Taken out by an operator: holds no VIP and does not compete.
    case maintenance = 4

    public var description: String {
        switch self {
        case .initial: "init"
        case .backup: "backup"
        case .master: "master"
        case .fault: "fault"
        case .maintenance: "maintenance"
        }
    }

    public init?(name: String) {
        guard let state = NodeState.allCases.first(where: { $0.description == name }) else { return nil }
        self = state
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let state = NodeState(name: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown state \(name)")
        }
        self = state
    }
}

/// Bits of the heartbeat's flags byte.
public struct HeartbeatFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The sender's local backend (bingo) passes its health check.
    public static let backendHealthy = HeartbeatFlags(rawValue: 1 << 0)
    /// Planned switchover: the sending master (priority 0) hands over to
    /// `target`, or to the best backup when there is none, and keeps the VIPs
    /// until the new master's first heartbeat.
    public static let handover = HeartbeatFlags(rawValue: 1 << 1)
    /// A backup asks the master to hand over to `target` (or to the best backup).
    public static let handoverRequest = HeartbeatFlags(rawValue: 1 << 2)
    /// The sender held the VIPs until moments ago (its first heartbeats after
    /// leaving master). Clients may still point at it: a master that hears
    /// this announces the VIPs again. Needed because a loser of a split brain
    /// can yield before any of its master heartbeats reached the winner.
    public static let releasedVIPs = HeartbeatFlags(rawValue: 1 << 3)
    /// A `quorum` instance: followed on the wire by the master the sender
    /// follows (itself while master; empty: none), after the target field.
    public static let vote = HeartbeatFlags(rawValue: 1 << 4)
    /// The sender is a witness (`node.witness`): it votes and runs no
    /// backend, so the nginx upstream leaves it out.
    public static let witness = HeartbeatFlags(rawValue: 1 << 5)
    /// Bits a receiver understands; others are ignored so later versions can add flags.
    public static let known: HeartbeatFlags = [.backendHealthy, .handover, .handoverRequest, .releasedVIPs, .vote, .witness]
    /// Flags followed on the wire by the target field.
    public static let carriesTarget: HeartbeatFlags = [.handover, .handoverRequest]
}

/// One heartbeat (VRRP advertisement) as the election sees it, after decoding
/// and authentication. See docs/protocol.md for the byte layout.
public struct Heartbeat: Equatable, Sendable {
    /// Virtual router id (1 byte); a cluster shares one.
    public var vrid: UInt8
    /// Sender's effective priority (1 byte); 0 = a master resigning.
    public var priority: UInt8
    /// Sender's election state (1 byte).
    public var state: NodeState
    /// Sender's health flags (1 byte).
    public var flags: HeartbeatFlags
    /// Sender's advert interval (2 bytes on the wire, in centiseconds).
    public var advertInterval: Span
    /// Sender's boot epoch (8 bytes): larger on every start of the sender.
    public var epoch: UInt64
    /// Sequence number within the epoch (8 bytes), strictly increasing.
    public var sequence: UInt64
    /// The receiver's boot epoch as the sender last admitted it (8 bytes; 0
    /// before the sender has heard the receiver). A heartbeat that echoes the
    /// receiver's current epoch was built after the receiver started, which
    /// is what makes a capture from before that start useless (docs/protocol.md).
    public var echo: UInt64
    /// Sender's node id (1-64 bytes of UTF-8).
    public var nodeID: String
    /// With `.handover`/`.handoverRequest`: the node that should become master;
    /// nil for "the best backup" (0-64 bytes on the wire, after the node id).
    public var target: String?
    /// With `.vote`: the master the sender follows (itself while master);
    /// nil for none (0-64 bytes on the wire, after the target).
    public var vote: String?

    public init(vrid: UInt8, priority: UInt8, state: NodeState, flags: HeartbeatFlags,
                advertInterval: Span, epoch: UInt64, sequence: UInt64, nodeID: String, target: String? = nil,
                vote: String? = nil, echo: UInt64 = 0) {
        self.target = target
        self.vote = vote
        self.echo = echo
        self.vrid = vrid
        self.priority = priority
        self.state = state
        self.flags = flags
        self.advertInterval = advertInterval
        self.epoch = epoch
        self.sequence = sequence
        self.nodeID = nodeID
    }
}
