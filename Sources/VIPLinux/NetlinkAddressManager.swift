#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore

/// Adds and removes VIPs with rtnetlink, like `ip addr add/del`.
///
/// One NETLINK_ROUTE socket, opened at init and used for one exchange at a
/// time under a mutex, so the manager can be shared across threads.
/// Adding and removing need CAP_NET_ADMIN in the *calling thread's* effective
/// set at call time (the kernel checks the sender), not just at open time.
public final class NetlinkAddressManager: AddressManaging {
    private let socket: Mutex<NetlinkSocket>

    /// Opens the netlink socket.
    /// - Throws: `SystemError` if the socket cannot be created.
    public init() throws {
        socket = Mutex(try NetlinkSocket())
    }

    /// Adds the VIP; succeeds if it is already there (NLM_F_REPLACE).
    /// - Throws: `SystemError`, e.g. "netlink RTM_NEWADDR 198.18.0.100/24 on
    ///   eth0: Operation not permitted".
    public func add(_ vip: VIPSpec) throws {
        let operation = "netlink RTM_NEWADDR \(vip.address)/\(vip.prefixLength) on \(vip.interface)"
        let index = try interfaceIndex(vip, operation)
        _ = try socket.withLock { socket in
            try socket.exchange(operation) {
                NetlinkMessage.newAddress(vip.address, prefixLength: vip.prefixLength, interfaceIndex: index,
                                          label: vip.label, sequence: $0)
            }
        }
    }

    /// Removes the VIP; succeeds if it is already absent or its interface is
    /// gone, because either way the address is not configured.
    public func remove(_ vip: VIPSpec) throws {
        let operation = "netlink RTM_DELADDR \(vip.address)/\(vip.prefixLength) on \(vip.interface)"
        do {
            let index = try interfaceIndex(vip, operation)
            _ = try socket.withLock { socket in
                try socket.exchange(operation) {
                    NetlinkMessage.deleteAddress(vip.address, prefixLength: vip.prefixLength,
                                                 interfaceIndex: index, sequence: $0)
                }
            }
        } catch let error as SystemError where [EADDRNOTAVAIL, ENODEV, ESRCH].contains(error.code) {
            return
        }
    }

    /// Whether the VIP's address is configured on its interface (any prefix
    /// length), from an RTM_GETADDR dump. False if the interface is gone.
    public func isPresent(_ vip: VIPSpec) throws -> Bool {
        let operation = "netlink RTM_GETADDR \(vip.address) on \(vip.interface)"
        let index: Int32
        do { index = try interfaceIndex(vip, operation) } catch let error as SystemError where error.code == ENODEV {
            return false
        }
        let messages = try socket.withLock { socket in
            try socket.exchange(operation) { NetlinkMessage.dumpAddresses(ipv4: vip.address.isIPv4, sequence: $0) }
        }
        return messages.contains { message in
            guard message.type == NetlinkMessage.typeNewAddress,
                  let info = NetlinkMessage.parseAddress(message.payload) else { return false }
            return info.interfaceIndex == index && info.address == vip.address
        }
    }

    private func interfaceIndex(_ vip: VIPSpec, _ operation: String) throws -> Int32 {
        do { return try NetworkInterfaces.index(of: vip.interface) } catch let error as SystemError {
            throw SystemError(operation: operation, code: error.code, detail: "no interface \(vip.interface)")
        }
    }
}
