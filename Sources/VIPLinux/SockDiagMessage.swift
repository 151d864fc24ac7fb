import VIPCore

/// NETLINK_SOCK_DIAG messages for TCP sockets, built and parsed as bytes
/// (pure; `StaleConnections` does the exchanges), and the rule that says
/// which sockets a VIP move has left dead.
///
/// Layout (<linux/inet_diag.h>, <linux/sock_diag.h>):
/// - `inet_diag_req_v2`, 56 bytes: family u8, protocol u8, ext u8, pad u8,
///   states u32 (bit N = TCP state N), then an `inet_diag_sockid`.
/// - `inet_diag_sockid`, 48 bytes: source port be16, destination port be16,
///   source be32[4], destination be32[4], interface u32, cookie u32[2].
/// - `inet_diag_msg`, 72 bytes: family u8, state u8, timer u8, retrans u8,
///   the sockid, then expires, rqueue, wqueue, uid, inode (u32 each).
public enum SockDiagMessage {
    static let protocolSockDiag: Int32 = 4   // NETLINK_SOCK_DIAG
    static let typeByFamily: UInt16 = 20     // SOCK_DIAG_BY_FAMILY
    static let typeDestroy: UInt16 = 21      // SOCK_DESTROY
    static let protocolTCP: UInt8 = 6
    static let requestLength = 56
    static let socketIDLength = 48
    static let diagMessageLength = 72
    static let stateListen: UInt8 = 10

    /// Every TCP state a connection can hang in: ESTABLISHED, SYN_SENT,
    /// FIN_WAIT1/2, CLOSE_WAIT, LAST_ACK, CLOSING. Not LISTEN, SYN_RECV
    /// (a request, not a socket yet) or TIME_WAIT (already closed).
    static let connectionStates: UInt32 = [1, 2, 4, 5, 8, 9, 11].reduce(0) { $0 | (1 << $1) }

    /// One socket of a dump: its addresses and the raw `inet_diag_sockid`,
    /// which SOCK_DESTROY must repeat byte for byte (the cookie included).
    public struct Connection: Equatable, Sendable {
        public var family: UInt8
        public var state: UInt8
        public var source: IPAddress
        public var sourcePort: UInt16
        public var destination: IPAddress
        public var destinationPort: UInt16
        public var socketID: [UInt8]
    }

    /// SOCK_DIAG_BY_FAMILY dump of the family's TCP connections.
    public static func dump(ipv4: Bool, sequence: UInt32) -> [UInt8] {
        let body = request(family: ipv4 ? NetlinkMessage.familyIPv4 : NetlinkMessage.familyIPv6,
                           states: connectionStates, socketID: [UInt8](repeating: 0, count: socketIDLength))
        return NetlinkMessage.message(type: typeByFamily, flags: NetlinkMessage.flagRequest | NetlinkMessage.flagDump,
                                      sequence: sequence, body: body)
    }

    /// SOCK_DESTROY of one connection of a dump: the kernel aborts it (the
    /// owner's next call fails with ECONNABORTED) and sends the peer a reset.
    public static func destroy(_ connection: Connection, sequence: UInt32) -> [UInt8] {
        let body = request(family: connection.family, states: 1 << UInt32(connection.state),
                           socketID: connection.socketID)
        return NetlinkMessage.message(type: typeDestroy, flags: NetlinkMessage.flagRequest | NetlinkMessage.flagAck,
                                      sequence: sequence, body: body)
    }

    /// Decodes an `inet_diag_msg`; nil if truncated or of another family.
    public static func parse(_ payload: [UInt8]) -> Connection? {
        guard payload.count >= diagMessageLength else { return nil }
        let family = payload[0]
        let width: Int
        switch family {
        case NetlinkMessage.familyIPv4: width = 4
        case NetlinkMessage.familyIPv6: width = 16
        default: return nil
        }
        let id = Array(payload[4..<(4 + socketIDLength)])
        guard let source = IPAddress(bytes: Array(id[4..<(4 + width)])),
              let destination = IPAddress(bytes: Array(id[20..<(20 + width)])) else { return nil }
        return Connection(family: family, state: payload[1], source: source, sourcePort: bigEndian(id, 0),
                          destination: destination, destinationPort: bigEndian(id, 2), socketID: id)
    }

    /// Which way the VIP moved, for `isStale`.
    public enum Move: Sendable { case acquired, released }

    /// Whether a VIP move left this connection dead:
    /// - **acquired**: a local client connected to the VIP while another
    ///   node held it (its own address as the source). Now the VIP is local,
    ///   the old holder's answers carry one of this host's own addresses as
    ///   their source and the kernel drops them as martians; a connection
    ///   waiting for an answer would wait until TCP gives up (minutes).
    /// - **released**: anything with the VIP at either end, made while the
    ///   VIP was local: a server's accepted connections (the clients'
    ///   packets now go to the new holder) and a local client of a local
    ///   server through the VIP (its packets now go to the new holder too,
    ///   which knows nothing of them). The sweep runs right after the
    ///   removal, so nothing made since, towards the new holder, is there yet.
    public static func isStale(_ connection: Connection, vip: IPAddress, move: Move) -> Bool {
        guard connection.state != stateListen else { return false }
        let source = unmapped(connection.source), destination = unmapped(connection.destination)
        switch move {
        case .acquired: return destination == vip && source != vip
        case .released: return source == vip || destination == vip
        }
    }

    // MARK: - Helpers

    static func request(family: UInt8, states: UInt32, socketID: [UInt8]) -> [UInt8] {
        [family, protocolTCP, 0, 0] + NetlinkMessage.hostBytes(states) + socketID
    }

    static func bigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack socket
    /// sees an IPv4 peer) as the IPv4 address; anything else unchanged.
    static func unmapped(_ address: IPAddress) -> IPAddress {
        let prefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        guard address.bytes.count == 16, Array(address.bytes[0..<12]) == prefix,
              let v4 = IPAddress(bytes: Array(address.bytes[12..<16])) else { return address }
        return v4
    }
}
