import Testing
import VIPCore

/// The auth_hmac trailer, byte-exact against the draft's appendix vectors
/// (as keepalived 2.4.3's test/auth_hmac_test.c carries them): key 00..1f,
/// VRID 51, priority 200, sequence 0x6800000080000000.
@Suite struct VRRPAuthHMACTests {
    static let key: [UInt8] = Array(0...31)
    static let source4 = IPAddress("198.51.100.10")!
    static let source6 = IPAddress("fe80::10")!

    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    /// IPv4: src 198.51.100.10, VIP 192.0.2.100, message-only checksum.
    static let ipv4 = hex("3133c80100644402c0000264" + "010100006800000080000000" + "1b84bc4e8e43892dc6d98448f8ee2265")
    /// IPv6: src fe80::10, VIP fe80::100, the kernel's checksum for fe80::20 over the trailer too.
    static let ipv6 = hex("3133c8010064a2e9" + "fe800000000000000000000000000100" + "010100006800000080000000"
                          + "c8c56146ebfd66ee10ec4d8186461b78")

    func verify(_ image: [UInt8], source: IPAddress, vrid: UInt8 = 51, key: [UInt8] = Self.key,
                window: Int? = nil, now: Int64 = 0) -> Result<Void, VRRPAuthHMAC.Failure> {
        let (message, trailer) = VRRPAuthHMAC.split(image, addressLength: source.isIPv4 ? 4 : 16)
        guard let trailer else { return .failure(.malformed) }
        return VRRPAuthHMAC.verify(message: message, trailer: trailer, source: source, vrid: vrid, keyID: 1, key: key,
                                   nowSeconds: now, windowSeconds: window)
    }

    func ok(_ result: Result<Void, VRRPAuthHMAC.Failure>) -> Bool { if case .success = result { true } else { false } }

    func failure(_ result: Result<Void, VRRPAuthHMAC.Failure>) -> VRRPAuthHMAC.Failure? {
        if case .failure(let why) = result { why } else { nil }
    }

    @Test func signingTheAppendixMessagesGivesTheAppendixTrailers() {
        let message4 = Array(Self.ipv4.prefix(12))
        #expect(VRRPAuthHMAC.sign(message: message4, source: Self.source4, vrid: 51, keyID: 1, key: Self.key,
                                  sequence: 0x6800_0000_8000_0000) == Array(Self.ipv4.suffix(28)))
        let message6 = Array(Self.ipv6.prefix(24))
        #expect(VRRPAuthHMAC.sign(message: message6, source: Self.source6, vrid: 51, keyID: 1, key: Self.key,
                                  sequence: 0x6800_0000_8000_0000) == Array(Self.ipv6.suffix(28)))
        // The checksum is read as zero: the message as built (checksum 0) signs the same.
        var unsummed = message4
        unsummed[6] = 0
        unsummed[7] = 0
        #expect(VRRPAuthHMAC.sign(message: unsummed, source: Self.source4, vrid: 51, keyID: 1, key: Self.key,
                                  sequence: 0x6800_0000_8000_0000) == Array(Self.ipv4.suffix(28)))
    }

    @Test func theAppendixImagesVerify() {
        #expect(ok(verify(Self.ipv4, source: Self.source4)))
        #expect(ok(verify(Self.ipv6, source: Self.source6)))
        let (message, trailer) = VRRPAuthHMAC.split(Self.ipv4, addressLength: 4)
        #expect(message.count == 12)
        #expect(trailer == VRRPHMACTrailer(keyID: 1, sequence: 0x6800_0000_8000_0000, mac: Array(Self.ipv4.suffix(16))))
        #expect(trailer?.bytes == Array(Self.ipv4.suffix(28)))
    }

    @Test func thePseudoHeaderBindsFamilyVersionVRIDAndSource() {
        #expect(VRRPAuthHMAC.pseudoHeader(source: Self.source4, vrid: 51)
                == [4, 3, 51, 0, 198, 51, 100, 10] + [UInt8](repeating: 0, count: 12))
        #expect(VRRPAuthHMAC.pseudoHeader(source: Self.source6, vrid: 51) == [6, 3, 51, 0] + Self.source6.bytes)
        #expect(failure(verify(Self.ipv6, source: IPAddress("fe80::20")!)) == .badMAC)
        #expect(failure(verify(Self.ipv6, source: Self.source6, vrid: 52)) == .badMAC)
        #expect(failure(verify(Self.ipv4, source: Self.source4, key: Array(1...32))) == .badMAC)
    }

    /// auth_hmac_test.c's mutations: one byte flipped (xor 1) in the IPv6 image.
    @Test(arguments: [
        (2, VRRPAuthHMACTests.Expect.badMAC),   // priority
        (5, .badMAC),                           // advert interval
        (6, .ok),                               // checksum: not covered
        (8 + 15, .badMAC),                      // vip
        (24, .malformed),                       // ext type
        (25, .unknownKey),                      // key id
        (26, .malformed),                       // reserved
        (28, .badMAC),                          // seconds
        (34, .badMAC),                          // counter
        (36, .badMAC),                          // hmac
    ])
    func oneFlippedByte(offset: Int, expected: Expect) {
        var image = Self.ipv6
        image[offset] ^= 0x01
        let result = verify(image, source: Self.source6)
        switch expected {
        case .ok: #expect(ok(result))
        case .badMAC: #expect(failure(result) == .badMAC)
        case .malformed: #expect(failure(result) == .malformed)
        case .unknownKey: #expect(failure(result) == .unknownKey(0))
        }
    }

    enum Expect: Sendable { case ok, badMAC, malformed, unknownKey }

    @Test func theWindowIsCheckedBeforeTheHMAC() {
        // 0x68000000 = 1744830464 s UTC.
        #expect(ok(verify(Self.ipv4, source: Self.source4, window: 5, now: 0x6800_0000 + 5)))
        #expect(ok(verify(Self.ipv4, source: Self.source4, window: 5, now: 0x6800_0000 - 5)))
        #expect(failure(verify(Self.ipv4, source: Self.source4, window: 5, now: 0x6800_0000 + 6)) == .stale(skew: 6))
        #expect(failure(verify(Self.ipv4, source: Self.source4, window: 5, now: 0x6800_0000 - 6)) == .stale(skew: -6))
        // Stale wins over a wrong key: no digest for a stale capture.
        #expect(failure(verify(Self.ipv4, source: Self.source4, key: Array(1...32), window: 5, now: 0)) == .stale(skew: -0x6800_0000))
    }

    @Test func theSequenceIsTheClockOrOneMore() {
        let clock = VRRPAuthHMAC.clockSequence(seconds: 0x6800_0000, nanoseconds: 500_000_000)
        #expect(clock == 0x6800_0000_8000_0000)
        var sender = VRRPAuthHMAC.Sender()
        let r1 = sender.next(clock: clock, windowSeconds: 5)
        #expect(r1 == clock)
        let r2 = sender.next(clock: clock, windowSeconds: 5)
        #expect(r2 == clock + 1, "same clock reading: the counter")
        let r3 = sender.next(clock: clock - 0x1_0000_0000, windowSeconds: 5)
        #expect(r3 == clock + 2, "clock back 1 s: still growing")
        let far = clock - 0x10_0000_0000  // 16 s back: beyond the window
        let r4 = sender.next(clock: far, windowSeconds: 5)
        #expect(r4 == far, "time mode restarts from the clock")
        var monotonic = VRRPAuthHMAC.Sender()
        _ = monotonic.next(clock: clock, windowSeconds: nil)
        let r5 = monotonic.next(clock: far, windowSeconds: nil)
        #expect(r5 == clock + 1, "monotonic mode keeps growing")
    }

    @Test func theReplayMarkOnlyLetsAGrowingSequenceThrough() {
        var mark = VRRPAuthHMAC.Replay()
        let now: Int64 = 0x6800_0000
        let r6 = mark.accept(0x6800_0000_8000_0000, nowSeconds: now, windowSeconds: 5)
        #expect(r6)
        let r7 = mark.accept(0x6800_0000_8000_0000, nowSeconds: now, windowSeconds: 5)
        #expect(!r7, "the same advert again")
        let r8 = mark.accept(0x6800_0000_7FFF_0000, nowSeconds: now, windowSeconds: 5)
        #expect(!r8, "an older one")
        let r9 = mark.accept(0x6800_0000_8000_0001, nowSeconds: now, windowSeconds: 5)
        #expect(r9)
        // A mark older than the window is forgotten (a sender whose clock stepped back).
        let r10 = mark.accept(0x6700_0000_0000_0000, nowSeconds: 0x6700_0000, windowSeconds: 5)
        #expect(r10)
        var monotonic = VRRPAuthHMAC.Replay()
        let r11 = monotonic.accept(10, nowSeconds: 0, windowSeconds: nil)
        #expect(r11)
        let r12 = monotonic.accept(9, nowSeconds: 1 << 40, windowSeconds: nil)
        #expect(!r12)
    }

    @Test func aTrailerIsThereOnlyAtExactlyTwentyEightBytesMore() {
        #expect(VRRPAuthHMAC.split(Array(Self.ipv4.prefix(12)), addressLength: 4).trailer == nil)
        #expect(VRRPAuthHMAC.split(Array(Self.ipv4.prefix(12)) + [0, 0, 0, 0], addressLength: 4).trailer == nil)
        #expect(VRRPAuthHMAC.split(Self.ipv4 + [0], addressLength: 4).trailer == nil)
    }

    @Test func keysDecodeAsKeepalivedFileKeys() {
        let hexKey = Array("hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n".utf8)
        #expect(VRRPAuthHMACSettings.decodeKey(hexKey) == .success(Self.key))
        let ascii = Array("a passphrase of at least 32 bytes!!\r\n".utf8)
        #expect(VRRPAuthHMACSettings.decodeKey(ascii) == .success(Array("a passphrase of at least 32 bytes!!".utf8)))
        #expect(VRRPAuthHMACSettings.decodeKey(Array("short".utf8)) == .failure(.length(5)))
        #expect(VRRPAuthHMACSettings.decodeKey(Array("hex:0g".utf8)) == .failure(.badHex))
        #expect(VRRPAuthHMACSettings.decodeKey(Array(repeating: 0x61, count: 65)) == .failure(.length(65)))
    }

    @Test func theDefaultWindowIsThreeAdvertIntervalsAtLeastFiveSeconds() {
        let settings = VRRPAuthHMACSettings(keyFile: "/k")
        #expect(settings.window(advertInterval: .seconds(1)) == 5)
        #expect(settings.window(advertInterval: .seconds(3)) == 9)
        #expect(settings.window(advertInterval: .seconds(200)) == 300)
        #expect(VRRPAuthHMACSettings(keyFile: "/k", timeWindow: 2).window(advertInterval: .seconds(3)) == 2)
    }
}
