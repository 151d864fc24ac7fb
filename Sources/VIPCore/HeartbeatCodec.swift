@preconcurrency import Crypto

/// The shared secret that authenticates heartbeats.
public struct HeartbeatKey: @unchecked Sendable {  // SymmetricKey is immutable bytes
    let key: SymmetricKey
    /// HMAC state with the key already absorbed (both pads hashed). Every
    /// heartbeat starts from a copy, so the key schedule runs once per key, not
    /// once per packet: this is most of the cost of sending and checking one.
    let keyed: HMAC<SHA256>
    /// Keys shorter than this are refused: HMAC-SHA256 is only as strong as its key.
    public static let minimumLength = 16

    /// Identifies the key in logs and reload reports without revealing it.
    public let fingerprint: String
    /// The same 4 bytes as `fingerprint`, carried in every heartbeat so the
    /// receiver knows which of its keys to check it with (key rotation).
    public let id: UInt32

    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.minimumLength else { return nil }
        key = SymmetricKey(data: bytes)
        keyed = HMAC<SHA256>(key: key)
        let digest = Array(SHA256.hash(data: bytes).prefix(4))
        fingerprint = digest.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        id = digest.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// HMAC-SHA256 of `message` under this key.
    func tag(_ message: ArraySlice<UInt8>) -> HashedAuthenticationCode<SHA256> {
        var mac = keyed
        mac.update(data: message)
        return mac.finalize()
    }
}

/// The keys a node accepts heartbeats under: the one it signs with, and
/// others it still (or already) accepts while a new key is rolled out.
public struct HeartbeatKeyring: Sendable {
    /// Signs every heartbeat this node sends; also accepted.
    public let signing: HeartbeatKey
    /// Accepted only (`auth.accept_key_files`).
    public let accepted: [HeartbeatKey]

    public init(signing: HeartbeatKey, accepted: [HeartbeatKey] = []) {
        self.signing = signing
        self.accepted = accepted.filter { $0.id != signing.id }
    }

    /// The key a heartbeat names by its key id, if this node has it.
    public func key(id: UInt32) -> HeartbeatKey? {
        signing.id == id ? signing : accepted.first { $0.id == id }
    }

    /// Fingerprints, the signing key first (logs, reload reports).
    public var fingerprints: [String] { [signing.fingerprint] + accepted.map(\.fingerprint) }
}

/// Why a datagram was not acted on. Each reason has its own counter.
public enum DropReason: String, Error, Sendable, CaseIterable, Hashable {
    /// Shorter than the fixed header, the announced id, or the tag.
    case truncated
    /// Wrong version or type, bad lengths, unknown state, invalid id, zero interval.
    case malformed
    /// Well-formed, but for another virtual router.
    case wrongVRID = "wrong_vrid"
    /// Signed with a key id this node has neither as its key nor as an
    /// accepted one (a rotation half done, or a stranger).
    case unknownKey = "unknown_key"
    /// The HMAC tag does not match: wrong key or tampered packet.
    case badAuth = "bad_auth"
    /// Authentic, but from a node id or address this node does not list as a peer.
    case unknownPeer = "unknown_peer"
    /// Authentic, but its epoch/sequence is not newer than one already seen,
    /// or from an epoch of the peer that a later one replaced.
    case replay
    /// Authentic, but it does not echo this node's current epoch: built
    /// before this node started (a capture), or the peer has not heard this
    /// node yet. This node answers with a heartbeat of its own so a live peer
    /// learns its epoch at once.
    case unverified
    /// VRRPv3: the checksum matches none of the accepted forms.
    case badChecksum = "bad_checksum"
    /// VRRPv3: TTL / hop limit not 255 (the packet crossed a router).
    case badTTL = "bad_ttl"
    /// VRRPv3 with `auth_hmac` in enforce mode: an advert without the trailer.
    case hmacMissing = "hmac_missing"
    /// VRRPv3 `auth_hmac`: the trailer's timestamp is outside the time window
    /// (clock skew, or a capture replayed late). A bad HMAC or trailer counts
    /// as `bad_auth`, an unknown key id as `unknown_key`, a sequence that does
    /// not grow as `replay`.
    case hmacStale = "hmac_stale"
}

/// Builds and parses heartbeat datagrams (layout in docs/protocol.md).
///
/// `parse` checks only the format; the caller checks meaning (VRID, key, peer,
/// freshness) so that each failure is counted under its own reason.
public enum HeartbeatCodec {
    /// 2 since the key id and the echo (version 1 had neither).
    public static let version: UInt8 = 2
    public static let typeAdvertisement: UInt8 = 1
    public static let headerLength = 36
    public static let tagLength = 32
    public static let maxNodeIDLength = 64
    public static var minimumLength: Int { headerLength + 1 + tagLength }

    public static func encode(_ heartbeat: Heartbeat, key: HeartbeatKey) -> [UInt8] {
        let id = Array(heartbeat.nodeID.utf8)
        precondition((1...maxNodeIDLength).contains(id.count), "node id length checked by the config parser")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerLength + id.count + tagLength)
        bytes.append(version << 4 | typeAdvertisement)
        bytes.append(heartbeat.vrid)
        bytes.append(heartbeat.priority)
        bytes.append(heartbeat.state.rawValue)
        bytes.append(heartbeat.flags.rawValue)
        bytes.append(UInt8(id.count))
        let centiseconds = UInt16(clamping: max(1, heartbeat.advertInterval.centiseconds))
        appendBigEndian(centiseconds, to: &bytes)
        appendBigEndian(heartbeat.epoch, to: &bytes)
        appendBigEndian(heartbeat.sequence, to: &bytes)
        appendBigEndian(key.id, to: &bytes)
        appendBigEndian(heartbeat.echo, to: &bytes)
        bytes.append(contentsOf: id)
        if !heartbeat.flags.isDisjoint(with: .carriesTarget) {
            let target = Array((heartbeat.target ?? "").utf8.prefix(maxNodeIDLength))
            bytes.append(UInt8(target.count))
            bytes.append(contentsOf: target)
        }
        if heartbeat.flags.contains(.vote) {
            let vote = Array((heartbeat.vote ?? "").utf8.prefix(maxNodeIDLength))
            bytes.append(UInt8(vote.count))
            bytes.append(contentsOf: vote)
        }
        bytes.append(contentsOf: key.tag(bytes[...]))
        return bytes
    }

    /// Decodes the format of a datagram without judging its authenticity.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<Heartbeat, DropReason> {
        let b = Array(bytes)
        guard b.count >= minimumLength else { return .failure(.truncated) }
        guard b[0] == version << 4 | typeAdvertisement else { return .failure(.malformed) }
        let idLength = Int(b[5])
        guard (1...maxNodeIDLength).contains(idLength) else { return .failure(.malformed) }
        let flags = HeartbeatFlags(rawValue: b[4]).intersection(.known)
        var expected = headerLength + idLength + tagLength
        // Optional fields between the node id and the tag, in this order:
        // the handover target, then the vote; each one length byte and an id.
        var target: String?
        var vote: String?
        if !flags.isDisjoint(with: .carriesTarget) {
            switch optionalID(b, at: &expected) {
            case .failure(let reason): return .failure(reason)
            case .success(let id): target = id
            }
        }
        if flags.contains(.vote) {
            switch optionalID(b, at: &expected) {
            case .failure(let reason): return .failure(reason)
            case .success(let id): vote = id
            }
        }
        guard b.count >= expected else { return .failure(.truncated) }
        guard b.count == expected else { return .failure(.malformed) }
        guard let state = NodeState(rawValue: b[3]) else { return .failure(.malformed) }
        let centiseconds = readBigEndian(b, at: 6, as: UInt16.self)
        guard centiseconds > 0, b[1] != 0 else { return .failure(.malformed) }
        let idBytes = b[headerLength..<(headerLength + idLength)]
        guard let nodeID = String(validating: idBytes, as: UTF8.self) else { return .failure(.malformed) }
        return .success(Heartbeat(
            vrid: b[1], priority: b[2], state: state, flags: flags,
            advertInterval: .centiseconds(Int64(centiseconds)),
            epoch: readBigEndian(b, at: 8, as: UInt64.self),
            sequence: readBigEndian(b, at: 16, as: UInt64.self),
            nodeID: nodeID, target: target, vote: vote,
            echo: readBigEndian(b, at: 28, as: UInt64.self)))
    }

    /// One optional id field (a length byte, then 0-64 bytes of UTF-8) that
    /// starts `expected - tagLength` into `b`; advances `expected` past it.
    /// Length 0 reads as nil ("the best backup", "no master").
    private static func optionalID(_ b: [UInt8], at expected: inout Int) -> Result<String?, DropReason> {
        let start = expected - tagLength
        guard b.count >= expected + 1 else { return .failure(.truncated) }
        let length = Int(b[start])
        guard length <= maxNodeIDLength else { return .failure(.malformed) }
        expected += 1 + length
        guard b.count >= expected else { return .failure(.truncated) }
        guard length > 0 else { return .success(nil) }
        guard let text = String(validating: b[(start + 1)..<(start + 1 + length)], as: UTF8.self) else {
            return .failure(.malformed)
        }
        return .success(text)
    }

    /// The VRID a datagram names, read before anything else so a node with
    /// several instances asks the right one to admit it. The format is
    /// checked only as far as needed to trust that byte's position.
    public static func vrid(of bytes: [UInt8]) -> Result<UInt8, DropReason> {
        guard bytes.count >= minimumLength else { return .failure(.truncated) }
        guard bytes[0] == version << 4 | typeAdvertisement, bytes[1] != 0 else { return .failure(.malformed) }
        return .success(bytes[1])
    }

    /// The id of the key a datagram says it is signed with (offset 24);
    /// nil if it is too short to hold one.
    public static func keyID(of bytes: [UInt8]) -> UInt32? {
        bytes.count >= headerLength ? readBigEndian(bytes, at: 24, as: UInt32.self) : nil
    }

    /// True when the trailing tag is the HMAC of everything before it (constant time).
    public static func isAuthentic(_ bytes: [UInt8], key: HeartbeatKey) -> Bool {
        guard bytes.count > tagLength else { return false }
        let split = bytes.count - tagLength
        // `==` against bytes is the constant-time comparison of swift-crypto.
        return key.tag(bytes[..<split]) == bytes[split...]
    }

    static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    static func readBigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[offset + i]) }
        return value
    }
}
