#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// Layout of `struct sockaddr_ll` (<linux/if_packet.h>, 20 bytes), which
/// Swift's Glibc module does not import.
struct LinkLayerAddress {
    var family = UInt16(AF_PACKET)
    /// Ethertype, network byte order.
    var protocolNumber: UInt16 = 0
    var interfaceIndex: Int32 = 0
    var hardwareType: UInt16 = 0
    var packetType: UInt8 = 0
    var addressLength: UInt8 = 0
    var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
}

/// Announces VIPs by sending the frames `AnnouncementFrames` builds straight
/// onto the link: gratuitous ARP request and reply for IPv4, an unsolicited
/// neighbour advertisement for IPv6.
///
/// The AF_PACKET socket is opened once at init, which needs CAP_NET_RAW; the
/// kernel checks it only then, so the daemon can open it before dropping
/// privileges. Protocol 0 means the socket receives nothing, so no queue
/// builds up. Interface index and MAC are looked up per announcement, which is
/// cheap and follows a MAC that changed (bonding failover, macvlan recreated).
public final class PacketAnnouncer: Announcing {
    private let fd: Int32

    /// Opens the AF_PACKET socket.
    /// - Throws: `SystemError` (EPERM without CAP_NET_RAW).
    public init() throws {
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.fromErrno("socket AF_PACKET (needs CAP_NET_RAW)") }
    }

    deinit { close(fd) }

    /// Sends the announcement frames for `vip` on its interface once; the
    /// daemon repeats per `AnnouncementSchedule`.
    /// - Throws: `SystemError` if the interface is missing, not Ethernet, or
    ///   the send fails (e.g. ENETDOWN while the link is down).
    public func announce(_ vip: VIPSpec) throws {
        let index = try NetworkInterfaces.index(of: vip.interface)
        let mac = try NetworkInterfaces.macAddress(of: vip.interface)
        if vip.address.isIPv4 {
            // Request first: it is the form RFC 5227 recommends for announcements.
            for operation in [ARPOperation.request, .reply] {
                let frame = AnnouncementFrames.gratuitousARP(senderMAC: mac, address: vip.address, operation: operation)
                try send(frame, to: AnnouncementFrames.broadcastMAC, etherType: AnnouncementFrames.etherTypeARP,
                         interfaceIndex: index, what: "gratuitous ARP \(operation) for \(vip.address) on \(vip.interface)")
            }
        } else {
            let frame = AnnouncementFrames.unsolicitedNeighborAdvertisement(senderMAC: mac, address: vip.address)
            try send(frame, to: AnnouncementFrames.allNodesMAC, etherType: AnnouncementFrames.etherTypeIPv6,
                     interfaceIndex: index, what: "neighbour advertisement for \(vip.address) on \(vip.interface)")
        }
    }

    private func send(_ frame: [UInt8], to destination: [UInt8], etherType: UInt16,
                      interfaceIndex: Int32, what: String) throws {
        var address = LinkLayerAddress(protocolNumber: etherType.bigEndian, interfaceIndex: interfaceIndex,
                                       addressLength: 6)
        // SOCK_RAW frames carry their own Ethernet header; sll_addr is filled
        // for completeness (it is what SOCK_DGRAM would use).
        withUnsafeMutableBytes(of: &address.address) { $0.copyBytes(from: destination) }
        let sent = frame.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<LinkLayerAddress>.size))
                }
            }
        }
        guard sent == frame.count else { throw SystemError.fromErrno("send \(what)") }
    }
}
