import VIPCore

/// rtnetlink messages for interface addresses, built and parsed as bytes
/// (pure functions; the sockets live in `NetlinkSocket`).
///
/// Layout (all integers in host byte order, as the kernel expects):
/// - `nlmsghdr`, 16 bytes: length u32, type u16, flags u16, sequence u32, port id u32.
/// - `ifaddrmsg`, 8 bytes: family u8, prefix length u8, flags u8, scope u8, ifindex u32.
/// - then attributes (`rtattr`): length u16, type u16, value, padded to 4 bytes.
///
/// Constants are the kernel ABI from <linux/netlink.h>, <linux/rtnetlink.h> and
/// <linux/if_addr.h>; Swift's Glibc module does not import those headers.
public enum NetlinkMessage {
    // Message types.
    static let typeError: UInt16 = 2        // NLMSG_ERROR
    static let typeDone: UInt16 = 3         // NLMSG_DONE
    static let typeNewAddress: UInt16 = 20  // RTM_NEWADDR
    public static let typeDeleteAddress: UInt16 = 21 // RTM_DELADDR
    static let typeGetAddress: UInt16 = 22  // RTM_GETADDR

    // Header flags.
    static let flagRequest: UInt16 = 0x001  // NLM_F_REQUEST
    static let flagMulti: UInt16 = 0x002    // NLM_F_MULTI
    static let flagAck: UInt16 = 0x004      // NLM_F_ACK
    static let flagReplace: UInt16 = 0x100  // NLM_F_REPLACE (new requests)
    static let flagCreate: UInt16 = 0x400   // NLM_F_CREATE (new requests)
    static let flagDump: UInt16 = 0x300     // NLM_F_ROOT | NLM_F_MATCH (get requests)
    static let flagCapped: UInt16 = 0x100   // NLM_F_CAPPED (in an error message)
    static let flagAckTLVs: UInt16 = 0x200  // NLM_F_ACK_TLVS (in an error message)

    // ifaddrmsg attributes and flags.
    static let attributeAddress: UInt16 = 1 // IFA_ADDRESS: prefix / peer address
    static let attributeLocal: UInt16 = 2   // IFA_LOCAL: the local address
    static let attributeLabel: UInt16 = 3   // IFA_LABEL: IPv4 alias label, NUL-terminated
    static let attributeFlags: UInt16 = 8   // IFA_FLAGS: u32 superset of ifa_flags
    static let addressFlagNoDAD: UInt32 = 0x02 // IFA_F_NODAD
    static let errorAttributeMessage: UInt16 = 1 // NLMSGERR_ATTR_MSG

    static let familyIPv4: UInt8 = 2        // AF_INET
    static let familyIPv6: UInt8 = 10       // AF_INET6
    static let headerLength = 16
    static let addressMessageLength = 8

    /// One message split out of a datagram: its header fields and the bytes
    /// after the 16-byte header.
    public struct Parsed: Equatable, Sendable {
        public var type: UInt16
        public var flags: UInt16
        public var sequence: UInt32
        public var payload: [UInt8]
    }

    /// An `ifaddrmsg` with the attributes vipd cares about.
    public struct AddressInfo: Equatable, Sendable {
        public var interfaceIndex: Int32
        public var prefixLength: Int
        /// IFA_LOCAL if present (IPv4), else IFA_ADDRESS (IPv6 sends only that).
        public var address: IPAddress?
        public var label: String?
    }

    /// RTM_NEWADDR with NLM_F_CREATE|NLM_F_REPLACE, so adding an address that
    /// is already there succeeds instead of failing with EEXIST.
    ///
    /// IFA_LOCAL and IFA_ADDRESS are both the VIP (no peer), as `ip addr add`
    /// sends. IPv4 gets IFA_LABEL when `label` is set; it must start with the
    /// interface name (the kernel and `ip` show it as an alias, "eth0:vip").
    /// IPv6 gets IFA_F_NODAD: without it the address stays "tentative" for
    /// about a second of duplicate address detection, unusable as a source and
    /// not answered for, and a VIP we deliberately moved here is expected to
    /// exist elsewhere moments earlier, which DAD would flag as a duplicate.
    public static func newAddress(_ address: IPAddress, prefixLength: Int, interfaceIndex: Int32,
                                  label: String?, sequence: UInt32) -> [UInt8] {
        var attributes = attribute(attributeLocal, address.bytes) + attribute(attributeAddress, address.bytes)
        var addressFlags: UInt32 = 0
        if address.isIPv4 {
            if let label { attributes += attribute(attributeLabel, Array(label.utf8) + [0]) }
        } else {
            addressFlags = addressFlagNoDAD
            attributes += attribute(attributeFlags, hostBytes(addressFlags))
        }
        let body = addressMessage(address, prefixLength: prefixLength, flags: UInt8(addressFlags),
                                  interfaceIndex: interfaceIndex) + attributes
        return message(type: typeNewAddress, flags: flagRequest | flagAck | flagCreate | flagReplace,
                       sequence: sequence, body: body)
    }

    /// RTM_DELADDR carrying only IFA_LOCAL, so for IPv4 it matches the address
    /// whatever its prefix length or label. IPv6 deletion also matches the
    /// prefix length, so pass the configured one.
    public static func deleteAddress(_ address: IPAddress, prefixLength: Int, interfaceIndex: Int32,
                                     sequence: UInt32) -> [UInt8] {
        let body = addressMessage(address, prefixLength: prefixLength, flags: 0, interfaceIndex: interfaceIndex)
            + attribute(attributeLocal, address.bytes)
        return message(type: typeDeleteAddress, flags: flagRequest | flagAck, sequence: sequence, body: body)
    }

    /// RTM_GETADDR dump of every address of one family (filtered by the caller).
    public static func dumpAddresses(ipv4: Bool, sequence: UInt32) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: addressMessageLength)
        body[0] = ipv4 ? familyIPv4 : familyIPv6
        return message(type: typeGetAddress, flags: flagRequest | flagDump, sequence: sequence, body: body)
    }

    /// Splits a received datagram into messages; stops at the first malformed
    /// length rather than reading past the buffer.
    public static func split(_ datagram: [UInt8]) -> [Parsed] {
        var messages: [Parsed] = []
        var offset = 0
        while offset + headerLength <= datagram.count {
            let length = Int(readHost(UInt32.self, datagram, at: offset))
            guard length >= headerLength, offset + length <= datagram.count else { break }
            messages.append(Parsed(type: readHost(UInt16.self, datagram, at: offset + 4),
                                   flags: readHost(UInt16.self, datagram, at: offset + 6),
                                   sequence: readHost(UInt32.self, datagram, at: offset + 8),
                                   payload: Array(datagram[(offset + headerLength)..<(offset + length)])))
            offset += align(length)
        }
        return messages
    }

    /// Decodes the payload of RTM_NEWADDR / RTM_DELADDR; nil if truncated.
    public static func parseAddress(_ payload: [UInt8]) -> AddressInfo? {
        guard payload.count >= addressMessageLength else { return nil }
        var local: [UInt8]?, peer: [UInt8]?, label: String?
        for (type, value) in attributes(payload, from: addressMessageLength) {
            switch type {
            case attributeLocal: local = value
            case attributeAddress: peer = value
            case attributeLabel: label = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
            default: break
            }
        }
        return AddressInfo(interfaceIndex: readHost(Int32.self, payload, at: 4), prefixLength: Int(payload[1]),
                           address: (local ?? peer).flatMap { IPAddress(bytes: $0) }, label: label)
    }

    /// Decodes an NLMSG_ERROR payload: the errno (0 for a plain ACK, else
    /// positive) and the kernel's extended-ACK text if it sent one.
    public static func parseError(_ payload: [UInt8], flags: UInt16) -> (code: Int32, message: String?)? {
        guard payload.count >= 4 + headerLength else { return nil }
        // Negated in 64 bits: -Int32.min does not fit (a trap, found by Fuzz/FuzzNetlink).
        let code = Int32(clamping: -Int64(readHost(Int32.self, payload, at: 0)))
        guard flags & flagAckTLVs != 0 else { return (code, nil) }
        // The TLVs follow the echoed request: its header only when capped.
        let echoed = flags & flagCapped != 0 ? headerLength : Int(readHost(UInt32.self, payload, at: 4))
        let text = attributes(payload, from: 4 + align(echoed))
            .first { $0.type == errorAttributeMessage }
            .map { String(decoding: $0.value.prefix { $0 != 0 }, as: UTF8.self) }
        return (code, text)
    }

    // MARK: - Byte helpers

    static func message(type: UInt16, flags: UInt16, sequence: UInt32, body: [UInt8]) -> [UInt8] {
        // Port id 0: the kernel fills in ours.
        hostBytes(UInt32(headerLength + body.count)) + hostBytes(type) + hostBytes(flags)
            + hostBytes(sequence) + hostBytes(UInt32(0)) + body
    }

    static func addressMessage(_ address: IPAddress, prefixLength: Int, flags: UInt8, interfaceIndex: Int32) -> [UInt8] {
        // Scope 0 is RT_SCOPE_UNIVERSE: a global address.
        [address.isIPv4 ? familyIPv4 : familyIPv6, UInt8(clamping: prefixLength), flags, 0] + hostBytes(interfaceIndex)
    }

    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        let length = 4 + value.count
        return hostBytes(UInt16(length)) + hostBytes(type) + value + [UInt8](repeating: 0, count: align(length) - length)
    }

    /// (type, value) of each attribute from `start`; stops at a malformed one.
    static func attributes(_ bytes: [UInt8], from start: Int) -> [(type: UInt16, value: [UInt8])] {
        var result: [(type: UInt16, value: [UInt8])] = []
        var offset = start
        while offset + 4 <= bytes.count {
            let length = Int(readHost(UInt16.self, bytes, at: offset))
            guard length >= 4, offset + length <= bytes.count else { break }
            // The top two bits of the type are NLA_F_NESTED / NLA_F_NET_BYTEORDER.
            result.append((readHost(UInt16.self, bytes, at: offset + 2) & 0x3fff,
                           Array(bytes[(offset + 4)..<(offset + length)])))
            offset += align(length)
        }
        return result
    }

    static func align(_ length: Int) -> Int { (length + 3) & ~3 }

    static func hostBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    static func readHost<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { raw in
            raw.copyBytes(from: bytes[offset..<(offset + MemoryLayout<T>.size)])
        }
        return value
    }
}
