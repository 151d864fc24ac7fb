#if canImport(Glibc)
import Glibc
#endif

/// Looks up network interfaces by name. Both calls need no privileges.
public enum NetworkInterfaces {
    /// ARPHRD_ETHER from <net/if_arp.h>, the hardware type of Ethernet-like
    /// links (also veth, dummy, bridge, macvlan, bond).
    static let hardwareTypeEthernet: UInt16 = 1

    /// The kernel's index of interface `name` (if_nametoindex).
    /// - Throws: `SystemError` (ENODEV) when there is no such interface.
    public static func index(of name: String) throws -> Int32 {
        let index = if_nametoindex(name)
        guard index != 0 else { throw SystemError.fromErrno("if_nametoindex \(name)") }
        return Int32(bitPattern: index)
    }

    /// The 6-byte hardware address of Ethernet interface `name`
    /// (SIOCGIFHWADDR on a throwaway UDP socket, which any user may open).
    /// - Throws: `SystemError` if the interface does not exist, or (EAFNOSUPPORT)
    ///   if it is not Ethernet-like, since ARP and NDP announcements would be
    ///   meaningless there (loopback, tun, WireGuard).
    public static func macAddress(of name: String) throws -> [UInt8] {
        let operation = "SIOCGIFHWADDR \(name)"
        var request = ifreq()
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count < Int(IFNAMSIZ) else {
            throw SystemError(operation: operation, code: ENODEV)
        }
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            raw.copyBytes(from: nameBytes)   // the rest stays zero: NUL-terminated
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.fromErrno("socket AF_INET for \(operation)") }
        defer { close(fd) }
        guard ioctl(fd, UInt(SIOCGIFHWADDR), &request) == 0 else { throw SystemError.fromErrno(operation) }
        let hardware = request.ifr_ifru.ifru_hwaddr
        guard hardware.sa_family == hardwareTypeEthernet else {
            throw SystemError(operation: operation, code: EAFNOSUPPORT,
                              detail: "hardware type \(hardware.sa_family) is not Ethernet")
        }
        return withUnsafeBytes(of: hardware.sa_data) { Array($0.prefix(6)) }
    }

    /// Whether interface `name` is up and running (IFF_UP and IFF_RUNNING:
    /// it has carrier). False when there is no such interface.
    public static func isRunning(_ name: String) -> Bool {
        var request = ifreq()
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count < Int(IFNAMSIZ) else { return false }
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in raw.copyBytes(from: nameBytes) }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard ioctl(fd, UInt(SIOCGIFFLAGS), &request) == 0 else { return false }
        let flags = Int32(request.ifr_ifru.ifru_flags)
        return flags & Int32(IFF_UP) != 0 && flags & Int32(IFF_RUNNING) != 0
    }
}
