#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// The heartbeat socket's creation: the daemon hands the descriptor to
/// SwiftNIO (`UDPHeartbeatTransport`), which owns it from then on.
public enum HeartbeatSocket {
    /// A non-blocking UDP socket bound to `address:port`, its traffic marked
    /// CS6 ("network control", as VRRP uses) so it is queued ahead of bulk
    /// traffic. No SO_REUSEADDR: a second vipd on this node must fail to bind
    /// rather than silently steal the running one's heartbeats.
    public static func bound(to address: IPAddress, port: UInt16) throws(SystemError) -> CInt {
        let operation = "bind heartbeat socket \(address):\(port) (node.address/node.port)"
        let family = address.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.fromErrno("socket for \(operation)") }
        var tos: CInt = 0xC0
        let marked = address.isIPv4
            ? setsockopt(fd, Int32(IPPROTO_IP), IP_TOS, &tos, socklen_t(MemoryLayout<CInt>.size))
            : setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_TCLASS, &tos, socklen_t(MemoryLayout<CInt>.size))
        guard marked == 0 else {
            let error = SystemError.fromErrno("setsockopt TOS for \(operation)")
            close(fd)
            throw error
        }
        let bound: CInt
        if address.isIPv4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.bytes) }
            bound = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.bytes) }
            bound = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        guard bound == 0 else {
            var error = SystemError.fromErrno(operation)
            error.detail = "is another vipd running, or is the address not on this host?"
            close(fd)
            throw error
        }
        return fd
    }
}
