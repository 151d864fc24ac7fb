/// One VRRPv3 advertisement (RFC 9568 section 5), as vipd sees it.
public struct VRRPAdvert: Equatable, Sendable {
    public var vrid: UInt8
    /// 0: the master resigns; 255: the address owner.
    public var priority: UInt8
    /// Max Adver Int: 12 bits of centiseconds on the wire (10 ms to 40.95 s).
    public var interval: Span
    /// The virtual addresses the master holds (all of one family).
    public var addresses: [IPAddress]

    public init(vrid: UInt8, priority: UInt8, interval: Span, addresses: [IPAddress]) {
        self.vrid = vrid
        self.priority = priority
        self.interval = interval
        self.addresses = addresses
    }
}

/// Why a VRRPv3 packet was refused, or which checksum form it carried.
public enum VRRPCodec {
    public static let protocolNumber: UInt8 = 112
    /// RFC 9568: sent with TTL / hop limit 255, and a received one with any
    /// other value is dropped (it crossed a router).
    public static let ttl: UInt8 = 255
    public static let multicastIPv4 = IPAddress("224.0.0.18")!
    public static let multicastIPv6 = IPAddress("ff02::12")!
    public static let headerLength = 8
    public static let maxInterval = Span.centiseconds(4095)

    /// The VRRP payload (the kernel adds the IP header) from `source` to
    /// `destination`, with the checksum in form `mode` (`auto` sends the RFC form).
    public static func encode(_ advert: VRRPAdvert, source: IPAddress, destination: IPAddress,
                              checksum mode: VRRPChecksumMode = .rfc) -> [UInt8] {
        let centiseconds = UInt16(clamping: min(max(advert.interval.centiseconds, 1), 4095))
        var bytes: [UInt8] = [0x31, advert.vrid, advert.priority, UInt8(clamping: advert.addresses.count),
                              UInt8(centiseconds >> 8), UInt8(centiseconds & 0xFF), 0, 0]
        for address in advert.addresses { bytes += address.bytes }
        let sum = checksum(bytes, source: source, destination: destination, form: mode == .auto ? .rfc : mode)
        bytes[6] = UInt8(sum >> 8)
        bytes[7] = UInt8(sum & 0xFF)
        return bytes
    }

    /// Parses a VRRP payload received from `source` for `destination` (the
    /// IP header's). `accepted`: `auto` takes any of the three checksum forms.
    /// Returns the advert and the form its checksum was in.
    public static func parse(_ bytes: [UInt8], source: IPAddress, destination: IPAddress,
                             accepted: VRRPChecksumMode = .auto) -> Result<(VRRPAdvert, VRRPChecksumMode), DropReason> {
        guard bytes.count >= headerLength else { return .failure(.truncated) }
        guard bytes[0] == 0x31, bytes[1] != 0 else { return .failure(.malformed) }
        let count = Int(bytes[3])
        let size = source.isIPv4 ? 4 : 16
        guard bytes.count >= headerLength + count * size else { return .failure(.truncated) }
        let centiseconds = UInt16(bytes[4] & 0x0F) << 8 | UInt16(bytes[5])
        guard centiseconds > 0 else { return .failure(.malformed) }
        let stated = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        var zeroed = Array(bytes.prefix(headerLength + count * size))
        zeroed[6] = 0
        zeroed[7] = 0
        let forms: [VRRPChecksumMode] = accepted == .auto ? [.rfc, .unicastLegacy, .v2] : [accepted]
        guard let form = forms.first(where: { checksum(zeroed, source: source, destination: destination, form: $0) == stated })
        else { return .failure(.badChecksum) }
        let addresses = (0..<count).compactMap { index -> IPAddress? in
            let start = headerLength + index * size
            return IPAddress(bytes: Array(bytes[start..<(start + size)]))
        }
        return .success((VRRPAdvert(vrid: bytes[1], priority: bytes[2], interval: .centiseconds(Int64(centiseconds)),
                                    addresses: addresses), form))
    }

    /// The Internet checksum of `message` (its checksum field zero) in one of
    /// keepalived's forms: with the IPv4/IPv6 pseudo-header of the real
    /// destination (RFC), with the multicast group in its place (keepalived
    /// before 1.3.6 in unicast), or without a pseudo-header (VRRPv2 style).
    public static func checksum(_ message: [UInt8], source: IPAddress, destination: IPAddress,
                                form: VRRPChecksumMode) -> UInt16 {
        var data: [UInt8] = []
        switch form {
        case .v2:
            break
        case .rfc, .auto, .unicastLegacy:
            let target = form == .unicastLegacy && source.isIPv4 ? multicastIPv4 : destination
            let length = UInt16(message.count)
            if source.isIPv4 {
                data = source.bytes + target.bytes + [0, protocolNumber, UInt8(length >> 8), UInt8(length & 0xFF)]
            } else {
                data = source.bytes + target.bytes + [0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0, protocolNumber]
            }
        }
        data += message
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < data.count {
            sum += UInt32(data[index]) << 8 | UInt32(data[index + 1])
            index += 2
        }
        if index < data.count { sum += UInt32(data[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// `VRRPv3 vrid 51 prio 150 intvl 100ms addrs 198.18.0.100`, for logs.
    public static func describe(_ advert: VRRPAdvert) -> String {
        "VRRPv3 vrid \(advert.vrid) prio \(advert.priority) intvl \(advert.interval) addrs "
            + advert.addresses.map(\.description).joined(separator: ",")
    }
}
