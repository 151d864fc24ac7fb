import Testing
import VIPCore

/// A `VirtualRouter` speaking VRRPv3: only the master advertises, adverts
/// are checked for TTL, checksum and sender, and a backup takes over after
/// Master_Down_Interval of the master's advertised interval. Virtual clock.
@Suite struct VRRPRouterTests {
    static let a = IPAddress("198.18.0.1")!, b = IPAddress("198.18.0.2")!, vip = IPAddress("198.18.0.100")!
    static let keys = HeartbeatKeyring(signing: HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!)

    static func router(_ id: String, _ address: IPAddress, priority: UInt8, multicast: Bool = false) -> VirtualRouter {
        let other = id == "a" ? ("b", b) : ("a", a)
        return VirtualRouter(
            identity: .init(instance: "VI_1", vrid: 51, epoch: 1),
            settings: Election.Settings(nodeID: id, address: address, priority: priority, advertInterval: .milliseconds(100)),
            keys: keys, peers: [.init(id: other.0, address: other.1)],
            vrrp: .init(settings: VRRP3Settings(multicast: multicast, unauthenticated: true), source: address, addresses: [vip]))
    }

    static func adverts(_ output: VirtualRouter.Output) -> [VirtualRouter.RawDatagram] {
        output.actions.flatMap { action -> [VirtualRouter.RawDatagram] in
            if case .sendVRRP(_, let datagrams) = action { return datagrams }
            return []
        }
    }

    static func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

    @Test func onlyTheMasterAdvertisesToItsPeersOrTheGroup() {
        var backup = Self.router("b", Self.b, priority: 100)
        #expect(Self.adverts(backup.start(now: Self.ms(0))).isEmpty, "a backup is silent")
        #expect(Self.adverts(backup.tick(now: Self.ms(200))).isEmpty, "still backup: nothing heard, not yet master-down")
        var master = Self.router("a", Self.a, priority: 150, multicast: true)
        _ = master.start(now: Self.ms(0))
        let took = master.tick(now: Self.ms(400))
        #expect(master.state == .master)
        #expect(Self.adverts(took).map(\.destination) == [VRRPCodec.multicastIPv4])
    }

    @Test func aBackupFollowsTheMasterAndTakesOverWhenItFallsSilent() {
        var master = Self.router("a", Self.a, priority: 150)
        var backup = Self.router("b", Self.b, priority: 100)
        _ = master.start(now: Self.ms(0))
        _ = backup.start(now: Self.ms(0))
        var sent: [VirtualRouter.RawDatagram] = []
        var now: Int64 = 0
        while now < 1000 {
            now += 10
            sent += Self.adverts(master.tick(now: Self.ms(now)))
            for datagram in sent {
                _ = backup.receiveVRRP(datagram.bytes, from: Self.a, to: datagram.destination, ttl: 255, now: Self.ms(now))
            }
            sent = []
            _ = backup.tick(now: Self.ms(now))
        }
        #expect(master.state == .master && backup.state == .backup)
        #expect(backup.election.currentMaster == "a")
        // Silence: Master_Down_Interval = 3 x 100 ms + Skew_Time (61 ms at priority 100).
        _ = backup.tick(now: Self.ms(now + 300))
        #expect(backup.state == .backup)
        _ = backup.tick(now: Self.ms(now + 370))
        #expect(backup.state == .master)
    }

    @Test func wrongTTLStrangersAndOtherAddressesAreTold() {
        var backup = Self.router("b", Self.b, priority: 100)
        _ = backup.start(now: Self.ms(0))
        let advert = VRRPAdvert(vrid: 51, priority: 150, interval: .milliseconds(100), addresses: [Self.vip])
        let bytes = VRRPCodec.encode(advert, source: Self.a, destination: Self.b)
        #expect(backup.receiveVRRP(bytes, from: Self.a, to: Self.b, ttl: 64, now: Self.ms(1)).actions == [.dropped(.badTTL, from: Self.a)])
        let stranger = IPAddress("198.18.0.9")!
        let forged = VRRPCodec.encode(advert, source: stranger, destination: Self.b)
        #expect(backup.receiveVRRP(forged, from: stranger, to: Self.b, ttl: 255, now: Self.ms(2)).actions
                == [.dropped(.unknownPeer, from: stranger)])
        var other = advert
        other.addresses = [IPAddress("198.18.0.200")!]
        let actions = backup.receiveVRRP(VRRPCodec.encode(other, source: Self.a, destination: Self.b), from: Self.a,
                                         to: Self.b, ttl: 255, now: Self.ms(3)).actions
        #expect(actions.first == .addressMismatch(from: Self.a, listed: other.addresses))
        #expect(backup.election.currentMaster == "a", "a mismatch is counted, not fatal")
    }

    @Test func aResignationIsAPriorityZeroAdvertAndTheBackupWaitsSkewTime() throws {
        var master = Self.router("a", Self.a, priority: 150)
        var backup = Self.router("b", Self.b, priority: 100)
        _ = master.start(now: Self.ms(0))
        _ = backup.start(now: Self.ms(0))
        _ = master.tick(now: Self.ms(400))
        let resign = Self.adverts(master.shutdown(now: Self.ms(500)))
        let (advert, _) = try VRRPCodec.parse(resign[0].bytes, source: Self.a, destination: Self.b).get()
        #expect(advert.priority == 0)
        _ = backup.receiveVRRP(resign[0].bytes, from: Self.a, to: Self.b, ttl: 255, now: Self.ms(500))
        _ = backup.tick(now: Self.ms(560))
        #expect(backup.state == .backup)
        _ = backup.tick(now: Self.ms(562))
        #expect(backup.state == .master, "Skew_Time = (256 - 100) x 100 ms / 256 = 60.9 ms")
    }
}
