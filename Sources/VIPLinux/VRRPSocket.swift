#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// The raw IPv4 socket of `protocol: vrrp3` (IP protocol 112). The daemon
/// hands the descriptor to SwiftNIO for receiving (as the heartbeat socket)
/// and sends with `sendto(2)` on it. A received datagram starts with the IP
/// header (`parseIPv4`): its TTL and destination are checked and used.
public enum VRRPSocket {
    /// A raw socket for VRRP on `interface`, sending from `source` with TTL
    /// 255 and, when `multicast`, a member of 224.0.0.18 there (not looping
    /// its own adverts back). Needs CAP_NET_RAW.
    public static func open(interface: String, source: IPAddress, multicast: Bool) throws(SystemError) -> CInt {
        guard source.isIPv4 else {
            throw SystemError(refusal: "protocol: vrrp3 over IPv6 is not in this revision (node.address \(source))")
        }
        let what = "VRRP raw socket on \(interface)"
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                        Int32(VRRPCodec.protocolNumber))
        guard fd >= 0 else { throw SystemError.fromErrno("socket for \(what)") }
        do throws(SystemError) {
            let index = Int32(bitPattern: if_nametoindex(interface))
            guard index != 0 else { throw SystemError.fromErrno("if_nametoindex \(interface) for \(what)") }
            try set(fd, Int32(IPPROTO_IP), IP_TTL, CInt(VRRPCodec.ttl), what)
            try set(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, CInt(VRRPCodec.ttl), what)
            try set(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, CInt(0), what)
            var tos: CInt = 0xC0  // CS6, as keepalived marks its adverts
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_TOS, &tos, socklen_t(MemoryLayout<CInt>.size)) == 0 else {
                throw SystemError.fromErrno("setsockopt IP_TOS for \(what)")
            }
            let name = Array(interface.utf8)
            let bound = name.withUnsafeBytes { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0.baseAddress, socklen_t($0.count)) }
            guard bound == 0 else { throw SystemError.fromErrno("SO_BINDTODEVICE \(interface) for \(what)") }
            var request = ip_mreqn()
            withUnsafeMutableBytes(of: &request.imr_address) { $0.copyBytes(from: source.bytes) }
            request.imr_ifindex = index
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, &request, socklen_t(MemoryLayout<ip_mreqn>.size)) == 0 else {
                throw SystemError.fromErrno("IP_MULTICAST_IF for \(what)")
            }
            if multicast {
                withUnsafeMutableBytes(of: &request.imr_multiaddr) { $0.copyBytes(from: VRRPCodec.multicastIPv4.bytes) }
                guard setsockopt(fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreqn>.size)) == 0 else {
                    throw SystemError.fromErrno("IP_ADD_MEMBERSHIP 224.0.0.18 on \(interface) for \(what)")
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private static func set(_ fd: CInt, _ level: Int32, _ option: Int32, _ value: CInt, _ what: String) throws(SystemError) {
        var value = value
        guard setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<CInt>.size)) == 0 else {
            throw SystemError.fromErrno("setsockopt \(option) for \(what)")
        }
    }

    /// Sends a VRRP payload to `destination` (the kernel builds the IP header).
    public static func send(_ fd: CInt, _ payload: [UInt8], to destination: IPAddress) throws(SystemError) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: destination.bytes) }
        let sent = payload.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent >= 0 else { throw SystemError.fromErrno("sendto \(destination) (VRRP)") }
    }

    /// The IPv4 header of a received datagram: source, destination, TTL and
    /// the VRRP payload after it; nil when it is not IPv4 protocol 112.
    public static func parseIPv4(_ datagram: [UInt8]) -> (source: IPAddress, destination: IPAddress, ttl: UInt8, payload: [UInt8])? {
        guard datagram.count >= 20, datagram[0] >> 4 == 4 else { return nil }
        let headerLength = Int(datagram[0] & 0x0F) * 4
        guard headerLength >= 20, datagram.count >= headerLength, datagram[9] == VRRPCodec.protocolNumber,
              let source = IPAddress(bytes: Array(datagram[12..<16])),
              let destination = IPAddress(bytes: Array(datagram[16..<20])) else { return nil }
        return (source, destination, datagram[8], Array(datagram[headerLength...]))
    }
}
