@preconcurrency import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `vrrp3.auth_hmac`: keepalived 2.4's HMAC-SHA256 advert trailer
/// (draft-cassen-vrrp-auth-hmac; docs/protocol.md, "VRRPv3 on the wire").
public struct VRRPAuthHMACSettings: Sendable, Equatable {
    /// keepalived's `mode`.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Sign; refuse an advert without a valid trailer.
        case enforce
        /// Sign; accept an advert without a trailer (one with a trailer must verify).
        case permissive
        /// Do not sign; accept an advert without a trailer (one with a trailer must verify).
        case receiveOnly = "receive-only"
    }

    /// keepalived's `anti_replay`.
    public enum AntiReplay: String, Sendable, Equatable, CaseIterable {
        /// A freshness window on the timestamp, and a growing sequence per sender.
        case time
        /// Only the growing sequence (no common clock needed).
        case monotonic
    }

    /// The file holding the key, as keepalived's `key N file:PATH`: `hex:...` or ASCII, 32 to 64 bytes.
    public var keyFile: String
    /// The line of `key_file` in the config (for the loader's errors).
    public var keyFileLine: Int?
    /// keepalived's key id (`key N` and `active_key N`), 1 to 255.
    public var keyID: UInt8
    /// The key itself, filled in by the loader from `keyFile`.
    public var key: [UInt8]
    /// Seconds; nil: keepalived's default, max(3 x advert interval, 5) capped at 300.
    public var timeWindow: Int?
    public var mode: Mode
    public var antiReplay: AntiReplay

    public init(keyFile: String, keyFileLine: Int? = nil, keyID: UInt8 = 1, key: [UInt8] = [], timeWindow: Int? = nil,
                mode: Mode = .enforce, antiReplay: AntiReplay = .time) {
        self.keyFile = keyFile
        self.keyFileLine = keyFileLine
        self.keyID = keyID
        self.key = key
        self.timeWindow = timeWindow
        self.mode = mode
        self.antiReplay = antiReplay
    }

    /// The window in seconds for an advert interval of `interval`.
    public func window(advertInterval interval: Span) -> Int {
        if let timeWindow { return timeWindow }
        let derived = Int((3 * interval.nanoseconds + 999_999_999) / 1_000_000_000)
        return min(max(derived, VRRPAuthHMAC.windowFloor), VRRPAuthHMAC.windowMax)
    }

    /// Whether adverts are sent with a trailer.
    public var signs: Bool { mode != .receiveOnly }

    /// The key as keepalived decodes a `file:` key: `hex:` then hex digits, or
    /// the ASCII bytes; trailing CR/LF removed. nil: not hex, or not 32...64 bytes.
    public static func decodeKey(_ content: [UInt8]) -> Result<[UInt8], KeyProblem> {
        var bytes = content
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        var key = bytes
        if bytes.starts(with: Array("hex:".utf8)) {
            let digits = Array(bytes.dropFirst(4))
            guard digits.count % 2 == 0 else { return .failure(.badHex) }
            key = []
            var index = 0
            while index < digits.count {
                guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else {
                    return .failure(.badHex)
                }
                key.append(high << 4 | low)
                index += 2
            }
        }
        guard VRRPAuthHMAC.keyLengths.contains(key.count) else { return .failure(.length(key.count)) }
        return .success(key)
    }

    public enum KeyProblem: Error, Equatable, CustomStringConvertible {
        case badHex
        case length(Int)
        public var description: String {
            switch self {
            case .badHex: "its hex: value has a non-hex digit or an odd number of digits"
            case .length(let n):
                "holds a \(n)-byte key; auth_hmac needs \(VRRPAuthHMAC.keyLengths.lowerBound) to \(VRRPAuthHMAC.keyLengths.upperBound) bytes (e.g. printf 'hex:%s' \"$(openssl rand -hex 32)\")"
            }
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}

/// The trailer after an advert's addresses (28 bytes):
/// ext type (1 = HMAC-SHA256/128), key id, 2 reserved zero bytes, the 64-bit
/// sequence (UTC seconds 32, 1/65536 s 16, counter 16), the truncated HMAC (16).
public struct VRRPHMACTrailer: Sendable, Equatable {
    public var extType: UInt8
    public var keyID: UInt8
    public var reserved: UInt16
    public var sequence: UInt64
    public var mac: [UInt8]

    public init(extType: UInt8 = VRRPAuthHMAC.extTypeSHA256, keyID: UInt8, reserved: UInt16 = 0, sequence: UInt64,
                mac: [UInt8] = [UInt8](repeating: 0, count: VRRPAuthHMAC.macLength)) {
        self.extType = extType
        self.keyID = keyID
        self.reserved = reserved
        self.sequence = sequence
        self.mac = mac
    }

    public init?(bytes: ArraySlice<UInt8>) {
        guard bytes.count == VRRPAuthHMAC.trailerLength else { return nil }
        let b = Array(bytes)
        extType = b[0]
        keyID = b[1]
        reserved = UInt16(b[2]) << 8 | UInt16(b[3])
        sequence = b[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
        mac = Array(b[12..<28])
    }

    /// The 12 bytes before the HMAC field.
    public var prefix: [UInt8] {
        [extType, keyID, UInt8(reserved >> 8), UInt8(reserved & 0xFF)] + (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * $0)) }
    }

    public var bytes: [UInt8] { prefix + mac }

    /// UTC seconds of the timestamp.
    public var seconds: UInt32 { UInt32(truncatingIfNeeded: sequence >> 32) }
}

/// The trailer's codec: build and verify, the pseudo-header, the time-based sequence.
public enum VRRPAuthHMAC {
    public static let extTypeSHA256: UInt8 = 1
    public static let trailerLength = 28
    public static let macLength = 16
    public static let pseudoHeaderLength = 20
    public static let keyLengths = 32...64
    public static let windowRange = 1...300
    public static let windowFloor = 5
    public static var windowMax: Int { windowRange.upperBound }

    /// Bound into the HMAC, not sent: family (4 or 6), VRRP version, VRID, a
    /// zero byte, then the source address (zero-padded to 16 bytes).
    public static func pseudoHeader(source: IPAddress, version: UInt8 = 3, vrid: UInt8) -> [UInt8] {
        var out = [source.isIPv4 ? 4 : 6, version, vrid, 0] + source.bytes
        out += [UInt8](repeating: 0, count: pseudoHeaderLength - out.count)
        return out
    }

    /// HMAC-SHA256 truncated to 16 bytes over: the pseudo-header, the VRRP
    /// message (header and addresses) with its checksum read as zero, the
    /// trailer's first 12 bytes, 16 zero bytes in place of the HMAC.
    public static func mac(key: [UInt8], source: IPAddress, version: UInt8 = 3, vrid: UInt8,
                           message: ArraySlice<UInt8>, trailer: VRRPHMACTrailer) -> [UInt8] {
        var input = pseudoHeader(source: source, version: version, vrid: vrid)
        var body = Array(message)
        if body.count >= 8 {
            body[6] = 0
            body[7] = 0
        }
        input += body
        input += trailer.prefix
        input += [UInt8](repeating: 0, count: macLength)
        let code = HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: key))
        return Array(Array(code).prefix(macLength))
    }

    /// The signed trailer for `message` (as sent, checksum included or not: it is read as zero).
    public static func sign(message: [UInt8], source: IPAddress, vrid: UInt8, keyID: UInt8, key: [UInt8],
                            sequence: UInt64) -> [UInt8] {
        var trailer = VRRPHMACTrailer(keyID: keyID, sequence: sequence)
        trailer.mac = mac(key: key, source: source, vrid: vrid, message: message[...], trailer: trailer)
        return trailer.bytes
    }

    /// Why a trailer was refused (keepalived's results, in its order of checks).
    public enum Failure: Error, Equatable, Sendable {
        /// Another ext type, or a non-zero reserved field.
        case malformed
        /// The timestamp is outside the window (time mode), checked before the HMAC.
        case stale(skew: Int64)
        case unknownKey(UInt8)
        case badMAC
        /// The sequence does not grow past the last accepted one from this sender.
        case replay
    }

    /// Checks the trailer's format, freshness (`windowSeconds`, nil: monotonic mode)
    /// against `nowSeconds` (UTC), key id and HMAC; not the replay order (see `Replay`).
    public static func verify(message: ArraySlice<UInt8>, trailer: VRRPHMACTrailer, source: IPAddress, vrid: UInt8,
                              keyID: UInt8, key: [UInt8], nowSeconds: Int64, windowSeconds: Int?) -> Result<Void, Failure> {
        guard trailer.extType == extTypeSHA256, trailer.reserved == 0 else { return .failure(.malformed) }
        if let windowSeconds {
            let skew = serialDelta(UInt32(truncatingIfNeeded: nowSeconds), trailer.seconds)
            if abs(skew) > Int64(windowSeconds) { return .failure(.stale(skew: skew)) }
        }
        guard trailer.keyID == keyID else { return .failure(.unknownKey(trailer.keyID)) }
        let expected = mac(key: key, source: source, vrid: vrid, message: message, trailer: trailer)
        guard constantTimeEqual(expected, trailer.mac) else { return .failure(.badMAC) }
        return .success(())
    }

    /// `a - b` on 32-bit seconds, wrapping (keepalived's int32 cast).
    static func serialDelta(_ a: UInt32, _ b: UInt32) -> Int64 { Int64(Int32(bitPattern: a &- b)) }

    /// RFC 1982 order of 64-bit sequences: `a` after `b`.
    public static func after(_ a: UInt64, _ b: UInt64) -> Bool { Int64(bitPattern: a &- b) > 0 }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// The sequence for a UTC reading: seconds in the high 32 bits, the
    /// fraction of a second in 1/65536 in the next 16, the counter zero.
    public static func clockSequence(seconds: Int64, nanoseconds: Int64) -> UInt64 {
        let subsec = (UInt64(nanoseconds) << 16) / 1_000_000_000
        return UInt64(UInt32(truncatingIfNeeded: seconds)) << 32 | (subsec & 0xFFFF) << 16
    }

    /// The sender's sequence (keepalived's next_seq): the clock, or the last
    /// value plus one when the clock has not moved past it; in time mode a
    /// last value more than the window ahead of the clock (a clock stepped
    /// back) restarts from the clock.
    public struct Sender: Sendable, Equatable {
        public private(set) var last: UInt64 = 0
        public init() {}

        public mutating func next(clock: UInt64, windowSeconds: Int?) -> UInt64 {
            if VRRPAuthHMAC.after(clock, last) {
                last = clock
                return last
            }
            let ahead = VRRPAuthHMAC.serialDelta(UInt32(truncatingIfNeeded: last >> 32), UInt32(truncatingIfNeeded: clock >> 32))
            if let windowSeconds, ahead > Int64(windowSeconds) {
                last = clock
            } else {
                last &+= 1
            }
            return last
        }
    }

    /// The receiver's high-water mark for one sender (keepalived's replay_ok):
    /// only a growing sequence passes; in time mode a mark older than the
    /// window is forgotten (recovers a sender whose clock was stepped back).
    public struct Replay: Sendable, Equatable {
        public private(set) var last: UInt64?
        public init() {}

        public mutating func accept(_ sequence: UInt64, nowSeconds: Int64, windowSeconds: Int?) -> Bool {
            if let mark = last, let windowSeconds {
                let age = VRRPAuthHMAC.serialDelta(UInt32(truncatingIfNeeded: nowSeconds), UInt32(truncatingIfNeeded: mark >> 32))
                if abs(age) > Int64(windowSeconds) { last = nil }
            }
            if let mark = last, !VRRPAuthHMAC.after(sequence, mark) { return false }
            last = sequence
            return true
        }
    }

    /// Splits a received VRRP payload into the message (header and addresses)
    /// and the trailer: a trailer is there when the payload is exactly 28
    /// bytes longer than the message (keepalived's test; padding never reaches 28).
    public static func split(_ payload: [UInt8], addressLength: Int) -> (message: ArraySlice<UInt8>, trailer: VRRPHMACTrailer?) {
        guard payload.count >= VRRPCodec.headerLength else { return (payload[...], nil) }
        let messageLength = VRRPCodec.headerLength + Int(payload[3]) * addressLength
        if payload.count == messageLength + trailerLength,
           let trailer = VRRPHMACTrailer(bytes: payload[messageLength...]) {
            return (payload[..<messageLength], trailer)
        }
        return (payload[...], nil)
    }
}

/// UTC for the trailer's timestamp (the election runs on a monotonic clock,
/// the trailer on the wall clock peers agree on); tests set their own.
public struct WallClock: Sendable {
    public var read: @Sendable () -> (seconds: Int64, nanoseconds: Int64)

    public init(read: @escaping @Sendable () -> (seconds: Int64, nanoseconds: Int64)) { self.read = read }

    public static let system = WallClock {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int64(now.tv_sec), Int64(now.tv_nsec))
    }
}
