import Testing
import VIPCore
import VIPTestSupport

@Suite struct HeartbeatCodecTests {
    let key = HeartbeatKey(bytes: Array("0123456789abcdef0123456789abcdef".utf8))!
    let sample = Heartbeat(vrid: 51, priority: 150, state: .master, flags: [.backendHealthy],
                           advertInterval: .milliseconds(100), epoch: 0x0102_0304_0506_0708,
                           sequence: 42, nodeID: "node-a", echo: 0x1112_1314_1516_1718)

    @Test func layoutIsAsDocumented() {
        let bytes = HeartbeatCodec.encode(sample, key: key)
        #expect(bytes.count == 36 + 6 + 32)
        #expect(Array(bytes[0..<8]) == [0x21, 51, 150, 2, 1, 6, 0, 10])
        #expect(Array(bytes[8..<16]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[16..<24]) == [0, 0, 0, 0, 0, 0, 0, 42])
        // Key id: the first 4 bytes of SHA-256 of the key, as its fingerprint.
        #expect(bytes[24..<28].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() == key.fingerprint)
        #expect(HeartbeatCodec.keyID(of: bytes) == key.id)
        #expect(Array(bytes[28..<36]) == [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18])
        #expect(Array(bytes[36..<42]) == Array("node-a".utf8))
        // The whole datagram, as docs/protocol.md's worked example prints it.
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == "213396020106000a0102030405060708000000000000002a3eb1bd4311121314"
                     + "151617186e6f64652d61f876cc073b52a47d88bb27b219cc27f9a321bc79d23c"
                     + "f9edd2f9dde9e77c8644")
    }

    @Test func roundTrips() throws {
        let bytes = HeartbeatCodec.encode(sample, key: key)
        #expect(try HeartbeatCodec.parse(bytes).get() == sample)
        #expect(HeartbeatCodec.isAuthentic(bytes, key: key))
    }

    @Test func anyFlippedBitFailsAuthentication() {
        let bytes = HeartbeatCodec.encode(sample, key: key)
        for index in bytes.indices {
            var forged = bytes
            forged[index] ^= 0x01
            #expect(!HeartbeatCodec.isAuthentic(forged, key: key), "bit flip at \(index)")
        }
        let otherKey = HeartbeatKey(bytes: Array("another key of 16+ bytes".utf8))!
        #expect(!HeartbeatCodec.isAuthentic(bytes, key: otherKey))
    }

    @Test func shortKeysAreRefused() {
        #expect(HeartbeatKey(bytes: Array("short".utf8)) == nil)
    }

    @Test func truncatedAndMalformedAreClassified() {
        let bytes = HeartbeatCodec.encode(sample, key: key)
        for length in 0..<bytes.count {
            let result = HeartbeatCodec.parse(bytes[0..<length])
            #expect(result == .failure(.truncated), "length \(length)")
        }
        var longer = bytes
        longer.append(0)
        #expect(HeartbeatCodec.parse(longer) == .failure(.malformed))
        var version = bytes
        version[0] = 0x11  // version 1: the layout before the key id and echo
        #expect(HeartbeatCodec.parse(version) == .failure(.malformed))
        var state = bytes
        state[3] = 9
        #expect(HeartbeatCodec.parse(state) == .failure(.malformed))
        var interval = bytes
        interval[6] = 0
        interval[7] = 0
        #expect(HeartbeatCodec.parse(interval) == .failure(.malformed))
        var idLength = bytes
        idLength[5] = 0
        #expect(HeartbeatCodec.parse(idLength) == .failure(.malformed))
        var utf8 = bytes
        utf8[36] = 0xFF
        #expect(HeartbeatCodec.parse(utf8) == .failure(.malformed))
    }

    /// 200k random and mutated inputs: the parser must classify every one without trapping.
    @Test func randomBytesNeverCrashTheParser() {
        var random = SeededRandom(seed: 0x5EED)
        let valid = HeartbeatCodec.encode(sample, key: key)
        var admission = HeartbeatAdmission(vrid: 51, keys: HeartbeatKeyring(signing: key), ownEpoch: sample.echo,
                                           peers: [.init(id: "node-a", address: IPAddress("198.18.0.1")!)])
        var accepted = 0
        for round in 0..<200_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...160, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                if Bool.random(using: &random) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random))) }
            }
            _ = HeartbeatCodec.parse(bytes)
            if case .success = admission.admit(bytes, from: IPAddress("198.18.0.1")!) { accepted += 1 }
        }
        // Random and mutated bytes are never authentic (a mutation may touch no byte that matters only
        // by rewriting a byte with its own value; such a copy is a replay after the first).
        #expect(accepted <= 1)
    }
}
