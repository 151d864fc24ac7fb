/// Builds the Ethernet frames that tell a segment "this MAC now answers for
/// the VIP": gratuitous ARP for IPv4 (RFC 5227 §3 / RFC 5944 §4.6) and an
/// unsolicited neighbour advertisement for IPv6 (RFC 4861 §7.2.6).
///
/// Pure functions: bytes in, bytes out. VIPLinux sends them over AF_PACKET;
/// tests check them byte by byte without a socket.

/// The ARP opcode (RFC 826 `ar$op`, 2 bytes on the wire).
public enum ARPOperation: UInt16, Sendable {
    case request = 1
    case reply = 2
}

public enum AnnouncementFrames {
    /// Shortest Ethernet frame without the FCS (64 bytes on the wire minus the
    /// 4-byte CRC the NIC appends). Shorter frames must be zero-padded.
    public static let minimumFrameLength = 60

    /// ff:ff:ff:ff:ff:ff
    public static let broadcastMAC: [UInt8] = Array(repeating: 0xff, count: 6)

    /// 33:33:00:00:00:01, the Ethernet mapping of ff02::1 (RFC 2464 §7).
    public static let allNodesMAC: [UInt8] = [0x33, 0x33, 0, 0, 0, 1]

    /// ff02::1, all nodes on the link.
    public static let allNodesAddress: [UInt8] = [0xff, 0x02] + Array(repeating: 0, count: 13) + [1]

    public static let etherTypeARP: UInt16 = 0x0806
    public static let etherTypeIPv6: UInt16 = 0x86DD

    /// A broadcast gratuitous ARP for an IPv4 VIP: sender and target protocol
    /// address are both the VIP, sender hardware address is `senderMAC`.
    ///
    /// The target hardware address is 00:00:00:00:00:00 in a request (RFC 5227:
    /// "ignored, should be zero") and ff:ff:ff:ff:ff:ff in a reply. The reply
    /// form is what Linux `arping -U -A`, keepalived and kube-vip send; some
    /// switches and hosts only refresh their tables from one of the two
    /// opcodes, which is why the announcer sends both.
    ///
    /// - Parameters:
    ///   - senderMAC: 6 bytes, the MAC of the interface that holds the VIP.
    ///   - address: an IPv4 address.
    /// - Returns: a 60-byte frame (42 bytes of headers, zero-padded).
    public static func gratuitousARP(senderMAC: [UInt8], address: IPAddress, operation: ARPOperation) -> [UInt8] {
        precondition(senderMAC.count == 6, "a MAC address has 6 bytes")
        precondition(address.isIPv4, "gratuitous ARP is for IPv4 addresses")
        var frame = broadcastMAC + senderMAC
        frame.appendBigEndian(etherTypeARP)
        frame.appendBigEndian(UInt16(1))          // htype: Ethernet
        frame.appendBigEndian(UInt16(0x0800))     // ptype: IPv4
        frame += [6, 4]                           // hlen, plen
        frame.appendBigEndian(operation.rawValue)
        frame += senderMAC + address.bytes        // sender hardware / protocol address
        frame += (operation == .request ? Array(repeating: 0, count: 6) : broadcastMAC)
        frame += address.bytes                    // target protocol address
        frame += Array(repeating: 0, count: max(0, minimumFrameLength - frame.count))
        return frame
    }

    /// An unsolicited neighbour advertisement for an IPv6 VIP, sent to all
    /// nodes (ff02::1) from the VIP itself with hop limit 255 (receivers drop
    /// NDP packets with any other hop limit, RFC 4861 §7.1.2).
    ///
    /// Flags: Override set so neighbours replace a cached MAC of the previous
    /// holder; Solicited clear because nobody asked; Router clear because a VIP
    /// holder is not advertising itself as a router.
    ///
    /// - Parameters:
    ///   - senderMAC: 6 bytes, carried in the target link-layer address option.
    ///   - address: an IPv6 address.
    /// - Returns: an 86-byte frame: Ethernet 14 + IPv6 40 + ICMPv6 NA 32.
    public static func unsolicitedNeighborAdvertisement(senderMAC: [UInt8], address: IPAddress) -> [UInt8] {
        precondition(senderMAC.count == 6, "a MAC address has 6 bytes")
        precondition(!address.isIPv4, "neighbour advertisements are for IPv6 addresses")
        // ICMPv6 message, checksum zero until computed.
        var icmp: [UInt8] = [136, 0, 0, 0]        // type NA, code 0, checksum
        icmp += [0x20, 0, 0, 0]                   // R=0 S=0 O=1, reserved
        icmp += address.bytes                     // target address
        icmp += [2, 1] + senderMAC                // option: target link-layer address, length 1 (8 bytes)
        let checksum = icmpv6Checksum(source: address.bytes, destination: allNodesAddress, message: icmp)
        icmp[2] = UInt8(checksum >> 8)
        icmp[3] = UInt8(checksum & 0xff)

        var frame = allNodesMAC + senderMAC
        frame.appendBigEndian(etherTypeIPv6)
        frame += [0x60, 0, 0, 0]                  // version 6, traffic class 0, flow label 0
        frame.appendBigEndian(UInt16(icmp.count)) // payload length
        frame += [58, 255]                        // next header ICMPv6, hop limit 255
        frame += address.bytes + allNodesAddress
        frame += icmp
        return frame
    }

    /// The ICMPv6 checksum (RFC 4443 §2.3): the 16-bit one's complement of the
    /// one's complement sum over the IPv6 pseudo-header (RFC 8200 §8.1: source,
    /// destination, 32-bit upper-layer length, 3 zero bytes, next header 58)
    /// followed by the message with its checksum field set to zero.
    ///
    /// - Parameters:
    ///   - source: 16 bytes.
    ///   - destination: 16 bytes.
    ///   - message: the whole ICMPv6 message, checksum bytes zero.
    public static func icmpv6Checksum(source: [UInt8], destination: [UInt8], message: [UInt8]) -> UInt16 {
        var pseudoHeader = source + destination
        pseudoHeader.appendBigEndian(UInt32(message.count))
        pseudoHeader += [0, 0, 0, 58]
        return ~onesComplementSum(pseudoHeader + message)
    }

    /// RFC 1071 sum of big-endian 16-bit words, an odd trailing byte padded
    /// with zero, carries folded back in.
    static func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high | low
            sum = (sum & 0xffff) + (sum >> 16)
            index += 2
        }
        return UInt16(sum)
    }
}

/// When the new master repeats its announcements after taking a VIP.
///
/// One announcement can be lost or arrive before a switch has learnt the new
/// port, so the daemon repeats it at these offsets from the takeover (the
/// same idea as keepalived's `garp_master_repeat` / `garp_master_delay`).
public struct AnnouncementSchedule: Sendable, Equatable {
    /// 0, 100 ms, 500 ms and 2 s after the VIP is added.
    public static let defaultDelays: [Span] = [.zero, .milliseconds(100), .milliseconds(500), .seconds(2)]

    /// Offsets from the takeover, ascending.
    public var delays: [Span]

    public init(delays: [Span] = AnnouncementSchedule.defaultDelays) {
        self.delays = delays.sorted()
    }
}

extension Array where Element == UInt8 {
    /// Appends an integer in network byte order.
    fileprivate mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
