// libFuzzer target: heartbeat datagrams through the whole receive path —
// HeartbeatCodec.parse, HeartbeatAdmission (VRID, key id, HMAC, peer, echo,
// replay), the PeerTable and the Election — with a fixed keyring (a signing
// key and an accepted one, as during a rotation) and two configured peers.
//
// Input: one mode byte, then records [op][length][length bytes]:
//   mode bit 0 clear: each record's bytes are a datagram as received;
//   mode bit 0 set:   each record's bytes are the datagram without its tag and
//                     the target signs them with the key its key id names
//                     (the signing key for an unknown id), so the fuzzer
//                     reaches everything behind the HMAC.
//   op bits 0-1: 0 from node-b's address, 1 from node-c's, 2 from a stranger,
//                3 a control record (no bytes): reconfigure the peer list
//                (length bit 0: drop node-c; bit 1: move node-b's address).
//   op bits 2-7: time advanced before the record, in 10 ms steps.
// Every input starts from the same fresh state, so a crash reproduces from
// its input alone. Besides memory errors, the target traps on broken
// invariants: a datagram admitted twice, an admitted sequence not above the
// last one of the same epoch from that peer, an admitted heartbeat that does
// not echo this node's epoch, a decoded heartbeat that does not encode back
// to the bytes it came from.
@preconcurrency import Crypto
import FuzzSupport
import VIPCore

let signingBytes = Array("fuzzing-key-0123456789abcdef".utf8)
let acceptedBytes = Array("next-fuzzing-key-0123456789ab".utf8)
let signingKey = HeartbeatKey(bytes: signingBytes)!
let acceptedKey = HeartbeatKey(bytes: acceptedBytes)!
let keyring = HeartbeatKeyring(signing: signingKey, accepted: [acceptedKey])
// Keyed once, copied per datagram (as HeartbeatKey does): signing is most of the cost.
nonisolated(unsafe) let signingMAC = HMAC<SHA256>(key: SymmetricKey(data: signingBytes))
nonisolated(unsafe) let acceptedMAC = HMAC<SHA256>(key: SymmetricKey(data: acceptedBytes))
let ownEpoch: UInt64 = 1_000
let vrid: UInt8 = 51
let addressB = IPAddress("198.18.0.2")!
let addressC = IPAddress("fd00::3")!
let stranger = IPAddress("198.18.0.9")!
let allPeers: [HeartbeatAdmission.Peer] = [.init(id: "node-b", address: addressB), .init(id: "node-c", address: addressC)]
/// The state every input starts from (copied: all of it is values).
let fresh = Run()

@main
enum Target {
    static func main() { LibFuzzer.run(fuzz, seeds: seeds) }
}

/// The key a datagram's key id names, if the keyring has it.
func namedKey(_ datagram: [UInt8]) -> HeartbeatKey? {
    HeartbeatCodec.keyID(of: datagram).flatMap { keyring.key(id: $0) }
}

func fuzz(_ bytes: UnsafeBufferPointer<UInt8>) {
    let input = Array(bytes)
    guard let mode = input.first else { return }
    let signs = mode & 1 == 1
    var run = fresh
    var offset = 1
    while offset + 2 <= input.count {
        let op = input[offset], length = Int(input[offset + 1])
        offset += 2
        run.now = run.now + .milliseconds(10 * Int64(op >> 2))
        switch op & 3 {
        case 3:
            run.reconfigure(dropC: length & 1 != 0, moveB: length & 2 != 0)
        default:
            let end = min(input.count, offset + length)
            var datagram = Array(input[offset..<end])
            offset = end
            if signs {
                var mac = namedKey(datagram) === acceptedKey ? acceptedMAC : signingMAC
                mac.update(data: datagram)
                mac.finalize().withUnsafeBytes { datagram.append(contentsOf: $0) }
            }
            run.receive(datagram, from: [addressB, addressC, stranger][Int(op & 3)])
        }
    }
}

extension HeartbeatKey {
    static func === (a: HeartbeatKey?, b: HeartbeatKey) -> Bool { a?.id == b.id }
}

struct Run {
    var now = Instant(nanoseconds: 1_000_000_000)
    var peers = allPeers
    var admission = HeartbeatAdmission(vrid: vrid, keys: keyring, ownEpoch: ownEpoch, peers: allPeers)
    var table = PeerTable(peers: allPeers)
    var election = Election(settings: .init(nodeID: "node-a", address: IPAddress("198.18.0.1")!, priority: 100,
                                            advertInterval: .milliseconds(100), standbyInterval: .seconds(1)))
    /// The model: the (epoch, sequence) last admitted from each peer.
    var lastAdmitted: [String: (epoch: UInt64, sequence: UInt64)] = [:]

    init() { _ = election.start(now: now) }

    mutating func reconfigure(dropC: Bool, moveB: Bool) {
        peers = allPeers.filter { !(dropC && $0.id == "node-c") }
        if moveB { peers[0].address = stranger }
        admission.reconfigure(keys: keyring, peers: peers)
        table.reconfigure(peers: peers)
        lastAdmitted = lastAdmitted.filter { entry in peers.contains { $0.id == entry.key } }
    }

    mutating func receive(_ datagram: [UInt8], from source: IPAddress) {
        let parsed = HeartbeatCodec.parse(datagram)
        let key = namedKey(datagram)
        // The checks below run the HMAC only where the verdict needs it, so
        // that most of the time goes to the code under test.
        var authentic: Bool { key.map { HeartbeatCodec.isAuthentic(datagram, key: $0) } ?? false }
        let result = admission.admitWithBoot(datagram, from: source)
        if case .success(let heartbeat) = parsed, let key,
           ([.success(heartbeat), .failure(.unknownPeer), .failure(.unverified), .failure(.replay)] as [Result<Heartbeat, DropReason>])
               .contains(result.map(\.heartbeat)) {
            // Authentic: decoding keeps only the known flags; with no others
            // set, the bytes must be exactly what the encoder makes of it.
            let encoded = HeartbeatCodec.encode(heartbeat, key: key)
            if datagram[4] & ~HeartbeatFlags.known.rawValue == 0 {
                precondition(encoded == datagram, "decode/encode round trip")
            }
            precondition(HeartbeatCodec.parse(encoded) == .success(heartbeat), "encode/decode round trip")
        }
        switch result {
        case .success(let (heartbeat, boot)):
            precondition(parsed == .success(heartbeat) && authentic && heartbeat.vrid == vrid, "admitted a bad datagram")
            precondition(peers.contains { $0.id == heartbeat.nodeID && $0.address == source }, "admitted a stranger")
            precondition(heartbeat.echo == ownEpoch, "admitted a heartbeat that does not echo this node's epoch")
            let last = lastAdmitted[heartbeat.nodeID]
            if let last, last.epoch == heartbeat.epoch {
                precondition(heartbeat.sequence > last.sequence, "admitted a replay")
                precondition(boot == .known, "a known boot reported as new")
            } else {
                precondition(boot == .new, "a new boot reported as known")
            }
            lastAdmitted[heartbeat.nodeID] = (heartbeat.epoch, heartbeat.sequence)
            precondition(admission.admit(datagram, from: source) == .failure(.replay), "admitted the same datagram twice")
            precondition(admission.echo(for: heartbeat.nodeID) == heartbeat.epoch, "echoes another epoch than admitted")
            _ = table.record(heartbeat, now: now)
            precondition(table[heartbeat.nodeID]?.alive == true && table[heartbeat.nodeID]?.state == heartbeat.state,
                         "peer table did not record")
            _ = election.receive(heartbeat, from: source, now: now)
        case .failure(let reason):
            if case .failure(let parseReason) = parsed { precondition(reason == parseReason, "parse reason lost") }
            if reason == .unknownKey { precondition(key == nil, "refused a known key id") }
            if reason == .badAuth { precondition(!authentic, "refused an authentic datagram as bad_auth") }
        }
        for peer in allPeers { _ = admission.echo(for: peer.id) }
        _ = table.expire(now: now)
        _ = table.nextDeadline
        if let deadline = election.nextDeadline, deadline <= now { _ = election.tick(now: now) }
    }
}

/// Seeds made with the codec's own encoder: authentic heartbeats from both
/// peers under both keys (unverified, then echoing this node's epoch; fresh,
/// replayed, with a handover target, after a restart), and one each for the
/// other drop reasons; as raw datagrams and as unsigned payloads.
func seeds() -> [[UInt8]] {
    func heartbeat(_ id: String, epoch: UInt64, sequence: UInt64, state: NodeState = .master,
                   flags: HeartbeatFlags = [.backendHealthy], target: String? = nil, vrid: UInt8 = vrid,
                   echo: UInt64 = ownEpoch) -> Heartbeat {
        Heartbeat(vrid: vrid, priority: id == "node-b" ? 150 : 100, state: state, flags: flags,
                  advertInterval: .milliseconds(100), epoch: epoch, sequence: sequence, nodeID: id, target: target,
                  echo: echo)
    }
    let strangerKey = HeartbeatKey(bytes: Array("another-key-0123456789abcdef".utf8))!
    let b0 = heartbeat("node-b", epoch: 10, sequence: 1, echo: 0)
    let b1 = heartbeat("node-b", epoch: 10, sequence: 2), b2 = heartbeat("node-b", epoch: 10, sequence: 3)
    let c1 = heartbeat("node-c", epoch: 7, sequence: 40, state: .backup)
    let handover = heartbeat("node-b", epoch: 10, sequence: 4, flags: [.handover], target: "node-c")
    let request = heartbeat("node-c", epoch: 7, sequence: 41, state: .backup, flags: [.handoverRequest])
    let restart = heartbeat("node-b", epoch: 11, sequence: 1, flags: [.releasedVIPs])
    let back = heartbeat("node-b", epoch: 9, sequence: 1)
    // (op, heartbeat, key): op 0 from node-b's address, 1 node-c's, 2 a stranger's, 3 reconfigure.
    let sessions: [[(UInt8, Heartbeat?, HeartbeatKey)]] = [
        [(0, b1, signingKey)],
        [(0, b0, signingKey), (1 << 2, b1, signingKey), (4 << 2, b2, acceptedKey), (0, b1, signingKey)],
        [(1, c1, acceptedKey), (1 << 2, request, signingKey), (0, handover, signingKey), (0, restart, signingKey),
         (0, b2, signingKey), (0, back, signingKey)],
        [(0, b1, signingKey), (3, nil, signingKey), (0 | 10 << 2, b2, signingKey), (1, c1, signingKey)],
        [(0, heartbeat("node-b", epoch: 10, sequence: 1, vrid: 52), signingKey), (0, b1, strangerKey),
         (0, heartbeat("node-x", epoch: 1, sequence: 1), signingKey), (2, b1, signingKey), (1, b1, signingKey)],
        [(1, c1, signingKey), (40 << 2, nil, signingKey),
         (0, heartbeat("node-b", epoch: 10, sequence: 1, state: .fault, flags: []), signingKey)],
    ]
    var seeds: [[UInt8]] = []
    for session in sessions {
        for signs in [false, true] {
            var bytes: [UInt8] = [signs ? 1 : 0]
            for (op, heartbeat, key) in session {
                guard let heartbeat else {
                    bytes += [op | 3, 1]
                    continue
                }
                var datagram = HeartbeatCodec.encode(heartbeat, key: key)
                if signs { datagram.removeLast(HeartbeatCodec.tagLength) }
                bytes += [op, UInt8(datagram.count)] + datagram
            }
            seeds.append(bytes)
        }
    }
    return seeds
}
