import Testing
import VIPCore

/// A `VirtualRouter` with `vrrp3.auth_hmac`: signed adverts, and each way an
/// advert is refused counted under its reason. Virtual clock, fixed UTC.
@Suite struct VRRPHMACRouterTests {
    static let a = IPAddress("198.18.0.1")!, b = IPAddress("198.18.0.2")!, vip = IPAddress("198.18.0.100")!
    static let keys = HeartbeatKeyring(signing: HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!)
    static let key: [UInt8] = Array(0...31)
    static let utc: Int64 = 0x6800_0000

    static func router(_ id: String, _ address: IPAddress, priority: UInt8, key: [UInt8] = key,
                       mode: VRRPAuthHMACSettings.Mode = .enforce, utc: Int64 = utc) -> VirtualRouter {
        let other = id == "a" ? ("b", b) : ("a", a)
        let hmac = VRRPAuthHMACSettings(keyFile: "/k", keyID: 1, key: key, timeWindow: 5, mode: mode)
        var router = VirtualRouter(
            identity: .init(instance: "VI_1", vrid: 51, epoch: 1),
            settings: Election.Settings(nodeID: id, address: address, priority: priority, advertInterval: .milliseconds(100)),
            keys: keys, peers: [.init(id: other.0, address: other.1)],
            vrrp: .init(settings: VRRP3Settings(multicast: false, authHMAC: hmac), source: address, addresses: [vip]))
        router.wallClock = WallClock { (utc, 0) }
        return router
    }

    static func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }

    /// The adverts of a master (a started at priority 150, master after master-down).
    static func adverts(_ router: inout VirtualRouter, count: Int) -> [[UInt8]] {
        _ = router.start(now: ms(0))
        var sent: [[UInt8]] = []
        var now: Int64 = 0
        while sent.count < count {
            now += 10
            for action in router.tick(now: ms(now)).actions {
                if case .sendVRRP(_, let datagrams) = action { sent += datagrams.map(\.bytes) }
            }
        }
        return sent
    }

    static func dropped(_ output: VirtualRouter.Output) -> DropReason? {
        for action in output.actions { if case .dropped(let reason, _) = action { return reason } }
        return nil
    }

    func receive(_ router: inout VirtualRouter, _ bytes: [UInt8]) -> DropReason? {
        Self.dropped(router.receiveVRRP(bytes, from: Self.a, to: Self.b, ttl: 255, now: Self.ms(1)))
    }

    @Test func theMasterSignsAndTheBackupVerifiesEachAdvertOnce() {
        var master = Self.router("a", Self.a, priority: 150)
        let sent = Self.adverts(&master, count: 2)
        #expect(sent.allSatisfy { $0.count == 12 + VRRPAuthHMAC.trailerLength })
        #expect(sent[0].suffix(28).prefix(4) == [1, 1, 0, 0], "ext type 1, key id 1, reserved 0")
        #expect(sent[0][16..<20] == [0x68, 0, 0, 0], "UTC seconds")
        #expect(sent[1][20..<24] == [0, 0, 0, 1], "same clock reading: the counter grows")
        var backup = Self.router("b", Self.b, priority: 100)
        _ = backup.start(now: Self.ms(0))
        #expect(receive(&backup, sent[0]) == nil)
        #expect(backup.election.currentMaster == "a")
        #expect(receive(&backup, sent[0]) == .replay, "the same advert again")
        #expect(receive(&backup, sent[1]) == nil)
    }

    @Test func forgedUnsignedStaleAndUnknownKeyAdvertsAreDropped() {
        var forger = Self.router("a", Self.a, priority: 150, key: Array(repeating: 0x41, count: 32))
        var backup = Self.router("b", Self.b, priority: 100)
        _ = backup.start(now: Self.ms(0))
        let forged = Self.adverts(&forger, count: 1)[0]
        #expect(receive(&backup, forged) == .badAuth)
        #expect(backup.election.currentMaster == nil)
        #expect(receive(&backup, Array(forged.prefix(12))) == .hmacMissing)
        var late = Self.router("a", Self.a, priority: 150, utc: Self.utc - 6)
        #expect(receive(&backup, Self.adverts(&late, count: 1)[0]) == .hmacStale)
        var other = forged
        other[12 + 1] = 7
        #expect(receive(&backup, other) == .unknownKey)
        var reserved = forged
        reserved[12 + 3] = 1
        #expect(receive(&backup, reserved) == .badAuth)
    }

    @Test func receiveOnlySendsNoTrailerAndTakesBoth() {
        var master = Self.router("a", Self.a, priority: 150, mode: .receiveOnly)
        let plain = Self.adverts(&master, count: 1)[0]
        #expect(plain.count == 12)
        var backup = Self.router("b", Self.b, priority: 100, mode: .receiveOnly)
        _ = backup.start(now: Self.ms(0))
        #expect(receive(&backup, plain) == nil)
        var signer = Self.router("a", Self.a, priority: 150)
        let signed = Self.adverts(&signer, count: 1)[0]
        #expect(receive(&backup, signed) == nil)
        var forger = Self.router("a", Self.a, priority: 150, key: Array(repeating: 0x41, count: 32), utc: Self.utc + 1)
        #expect(receive(&backup, Self.adverts(&forger, count: 1)[0]) == .badAuth, "a trailer present must verify")
        var permissive = Self.router("b", Self.b, priority: 100, mode: .permissive)
        _ = permissive.start(now: Self.ms(0))
        #expect(receive(&permissive, plain) == nil)
    }
}
