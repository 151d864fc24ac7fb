/// The narrow interfaces through which the daemon touches the operating
/// system for VIPs. Linux implementations live in VIPLinux; in-memory fakes
/// in VIPTestSupport.

/// Adds and removes floating addresses (rtnetlink on Linux). Both calls are
/// idempotent: adding a present address or removing an absent one succeeds.
public protocol AddressManaging: Sendable {
    func add(_ vip: VIPSpec) throws
    func remove(_ vip: VIPSpec) throws
    /// Whether the address is currently configured on its interface.
    func isPresent(_ vip: VIPSpec) throws -> Bool
}

/// Tells the segment that this host now answers for a VIP: gratuitous ARP
/// (request and reply) for IPv4, unsolicited neighbour advertisement for IPv6.
public protocol Announcing: Sendable {
    func announce(_ vip: VIPSpec) throws
}
