import Testing
import VIPCore

/// VRRPv3 frames byte for byte, against an advert captured from keepalived
/// 2.2.7 (Debian 12) in the lab: unicast from 198.18.0.2 to 198.18.0.1,
/// VRID 51, priority 100, advert_int 1, VIP 198.18.0.100.
@Suite struct VRRPCodecTests {
    static let captured: [UInt8] = [0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x17, 0x4c, 198, 18, 0, 100]
    static let keepalived = IPAddress("198.18.0.2")!
    static let vipd = IPAddress("198.18.0.1")!
    static let advert = VRRPAdvert(vrid: 51, priority: 100, interval: .seconds(1), addresses: [IPAddress("198.18.0.100")!])

    @Test func keepalivedsAdvertParsesInTheRFCForm() throws {
        let (advert, form) = try VRRPCodec.parse(Self.captured, source: Self.keepalived, destination: Self.vipd).get()
        #expect(advert == Self.advert)
        #expect(form == .rfc)
    }

    @Test func vipdBuildsTheSameBytes() {
        #expect(VRRPCodec.encode(Self.advert, source: Self.keepalived, destination: Self.vipd) == Self.captured)
    }

    @Test func eachChecksumFormIsAcceptedByAutoAndOnlyByItself() throws {
        for form in [VRRPChecksumMode.rfc, .unicastLegacy, .v2] {
            let bytes = VRRPCodec.encode(Self.advert, source: Self.vipd, destination: Self.keepalived, checksum: form)
            let (_, seen) = try VRRPCodec.parse(bytes, source: Self.vipd, destination: Self.keepalived).get()
            #expect(seen == form)
            for other in [VRRPChecksumMode.rfc, .unicastLegacy, .v2] where other != form {
                #expect(VRRPCodec.parse(bytes, source: Self.vipd, destination: Self.keepalived, accepted: other).failure == .badChecksum)
            }
        }
    }

    @Test func damagedOrForeignPacketsAreRefusedWithTheirReason() {
        var flipped = Self.captured
        flipped[2] = 200  // a priority changed in flight
        #expect(VRRPCodec.parse(flipped, source: Self.keepalived, destination: Self.vipd).failure == .badChecksum)
        var v2 = Self.captured
        v2[0] = 0x21
        #expect(VRRPCodec.parse(v2, source: Self.keepalived, destination: Self.vipd).failure == .malformed)
        #expect(VRRPCodec.parse(Array(Self.captured.prefix(10)), source: Self.keepalived, destination: Self.vipd).failure == .truncated)
        #expect(VRRPCodec.parse([0x31, 0x33], source: Self.keepalived, destination: Self.vipd).failure == .truncated)
    }

    @Test func theIntervalHasTwelveBitsOfCentiseconds() throws {
        var long = Self.advert
        long.interval = .seconds(60)
        let bytes = VRRPCodec.encode(long, source: Self.vipd, destination: Self.keepalived)
        let (parsed, _) = try VRRPCodec.parse(bytes, source: Self.vipd, destination: Self.keepalived).get()
        #expect(parsed.interval == .centiseconds(4095))
        #expect(VRRPCodec.describe(Self.advert) == "VRRPv3 vrid 51 prio 100 intvl 1s addrs 198.18.0.100")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
