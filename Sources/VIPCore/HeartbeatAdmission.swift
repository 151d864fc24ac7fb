/// Decides whether a received datagram may reach the election: well-formed,
/// our VRID, authentic, from a configured peer at its configured address, and
/// newer than anything that peer sent before (replay protection).
///
/// Pure: holds only the last accepted (epoch, sequence) of each peer.
public struct HeartbeatAdmission: Sendable {
    public struct Peer: Sendable, Hashable {
        public var id: String
        public var address: IPAddress
        public init(id: String, address: IPAddress) {
            self.id = id
            self.address = address
        }
    }

    private let vrid: UInt8
    private var key: HeartbeatKey
    private var peersByID: [String: IPAddress]
    private var lastSeen: [String: (epoch: UInt64, sequence: UInt64)] = [:]

    public init(vrid: UInt8, key: HeartbeatKey, peers: [Peer]) {
        self.vrid = vrid
        self.key = key
        self.peersByID = Dictionary(peers.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
    }

    /// New key and peer list (config reload). Replay windows of peers that
    /// remain are kept, so a reload never reopens them to old packets.
    public mutating func reconfigure(key: HeartbeatKey, peers: [Peer]) {
        self.key = key
        peersByID = Dictionary(peers.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
        lastSeen = lastSeen.filter { peersByID[$0.key] != nil }
    }

    /// Checks one datagram received from `source`. On success the peer's
    /// replay window advances, so the same bytes are refused a second time.
    public mutating func admit(_ bytes: [UInt8], from source: IPAddress) -> Result<Heartbeat, DropReason> {
        let heartbeat: Heartbeat
        switch HeartbeatCodec.parse(bytes) {
        case .failure(let reason): return .failure(reason)
        case .success(let decoded): heartbeat = decoded
        }
        guard heartbeat.vrid == vrid else { return .failure(.wrongVRID) }
        guard HeartbeatCodec.isAuthentic(bytes, key: key) else { return .failure(.badAuth) }
        guard let expected = peersByID[heartbeat.nodeID], expected == source else { return .failure(.unknownPeer) }
        if let last = lastSeen[heartbeat.nodeID] {
            let newer = heartbeat.epoch > last.epoch
                || (heartbeat.epoch == last.epoch && heartbeat.sequence > last.sequence)
            guard newer else { return .failure(.replay) }
        }
        lastSeen[heartbeat.nodeID] = (heartbeat.epoch, heartbeat.sequence)
        return .success(heartbeat)
    }
}
