/// Decides whether a received datagram may reach the election: well-formed,
/// our VRID, signed with a key this node has, authentic, from a configured
/// peer at its configured address, built after this node started (it echoes
/// this node's epoch), and newer than anything that peer sent before.
///
/// Why the echo and not only (epoch, sequence): a node that restarts has
/// forgotten what it saw, so "newer than before" would accept a capture of
/// any earlier traffic; and a peer whose clock (or boot counter) went back
/// would be refused for ever. The echo proves a heartbeat was built after
/// this node's start, whatever the clocks say; within this node's life the
/// peer's epochs and sequences order the rest (docs/protocol.md, "Replay").
///
/// Pure: holds, per peer, the epoch and sequence last admitted, the epochs
/// that peer has left behind, and the epoch to echo back to it.
public struct HeartbeatAdmission: Sendable {
    public struct Peer: Sendable, Hashable {
        public var id: String
        public var address: IPAddress
        public init(id: String, address: IPAddress) {
            self.id = id
            self.address = address
        }
    }

    /// What this node knows of one peer's boots.
    struct Freshness: Sendable {
        /// The peer's epoch and highest sequence admitted; nil until one of
        /// its heartbeats echoed this node's epoch.
        var current: (epoch: UInt64, sequence: UInt64)?
        /// Epochs of the peer replaced by a later one during this node's life:
        /// their heartbeats are replays.
        var retired: [UInt64] = []
        /// Until `current` is known: the highest epoch seen in the peer's
        /// authentic heartbeats, echoed back so the peer can prove freshness.
        /// Highest, because epochs grow from boot to boot: a capture of an
        /// older boot cannot displace the live one.
        var candidate: UInt64?
    }

    /// How many left-behind epochs are remembered per peer.
    static let retiredLimit = 16

    private let vrid: UInt8
    /// This node's epoch: what every admitted heartbeat must echo.
    public let ownEpoch: UInt64
    private var keys: HeartbeatKeyring
    private var peersByID: [String: IPAddress]
    private var freshness: [String: Freshness] = [:]

    public init(vrid: UInt8, keys: HeartbeatKeyring, ownEpoch: UInt64, peers: [Peer]) {
        self.vrid = vrid
        self.keys = keys
        self.ownEpoch = ownEpoch
        self.peersByID = Dictionary(peers.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
    }

    /// New keys and peer list (config reload). What is known of peers that
    /// remain is kept, so a reload never reopens them to old packets.
    public mutating func reconfigure(keys: HeartbeatKeyring, peers: [Peer]) {
        self.keys = keys
        peersByID = Dictionary(peers.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
        freshness = freshness.filter { peersByID[$0.key] != nil }
    }

    /// The epoch to echo in heartbeats to `peer` (0: nothing heard yet).
    public func echo(for peer: String) -> UInt64 {
        guard let known = freshness[peer] else { return 0 }
        return known.current?.epoch ?? known.candidate ?? 0
    }

    /// What an admitted heartbeat says about its sender's boot.
    public enum Boot: Sendable, Equatable {
        /// Same boot as the heartbeats admitted before.
        case known
        /// The first admitted heartbeat of this epoch: the peer (or this
        /// node) restarted. The peer needs this node's epoch at once.
        case new
    }

    /// Checks one datagram received from `source`. On success the peer's
    /// replay window advances, so the same bytes are refused a second time.
    public mutating func admit(_ bytes: [UInt8], from source: IPAddress) -> Result<Heartbeat, DropReason> {
        admitWithBoot(bytes, from: source).map(\.heartbeat)
    }

    /// `admit`, also telling whether the sender's boot is new to this node.
    public mutating func admitWithBoot(_ bytes: [UInt8], from source: IPAddress) -> Result<(heartbeat: Heartbeat, boot: Boot), DropReason> {
        let heartbeat: Heartbeat
        switch HeartbeatCodec.parse(bytes) {
        case .failure(let reason): return .failure(reason)
        case .success(let decoded): heartbeat = decoded
        }
        guard heartbeat.vrid == vrid else { return .failure(.wrongVRID) }
        guard let keyID = HeartbeatCodec.keyID(of: bytes), let key = keys.key(id: keyID) else {
            return .failure(.unknownKey)
        }
        guard HeartbeatCodec.isAuthentic(bytes, key: key) else { return .failure(.badAuth) }
        guard let expected = peersByID[heartbeat.nodeID], expected == source else { return .failure(.unknownPeer) }
        var known = freshness[heartbeat.nodeID] ?? Freshness()
        defer { freshness[heartbeat.nodeID] = known }
        guard !known.retired.contains(heartbeat.epoch) else { return .failure(.replay) }
        guard heartbeat.echo == ownEpoch else {
            // Not proven fresh. Learn the epoch to echo only while none is
            // confirmed: a confirmed peer learns this node's epoch from this
            // node's heartbeats instead, and a capture must not move it.
            if known.current == nil, heartbeat.epoch > (known.candidate ?? 0) { known.candidate = heartbeat.epoch }
            return .failure(.unverified)
        }
        if let current = known.current, current.epoch == heartbeat.epoch {
            guard heartbeat.sequence > current.sequence else { return .failure(.replay) }
            known.current = (heartbeat.epoch, heartbeat.sequence)
            return .success((heartbeat, .known))
        }
        // A boot of the peer not seen before, built after this node started.
        // Its epoch may be lower than the one it replaces (a clock or boot
        // counter that went back): freshness comes from the echo, not from it.
        if let current = known.current {
            known.retired.append(current.epoch)
            if known.retired.count > Self.retiredLimit { known.retired.removeFirst() }
        }
        known.current = (heartbeat.epoch, heartbeat.sequence)
        known.candidate = nil
        return .success((heartbeat, .new))
    }
}
