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

/// Sends one datagram to each peer. The engine knows nothing of sockets;
/// `UDPHeartbeatTransport` implements this with `sendto(2)`, tests use
/// `MemoryNetwork` (VIPTestSupport).
public protocol HeartbeatSending: Sendable {
    /// Hands `datagrams[i]` to the kernel for `peers[i]`, now, on the
    /// engine's loop (each peer's heartbeat echoes that peer's epoch, so they
    /// differ). Throws the first error; the other peers are still sent to.
    func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws
}

/// Where a transport hands every datagram it receives, with its source
/// address (the engine; in tests, whatever a `MemoryNetwork` node is wired to).
/// Called on the receiver's own loop.
public protocol HeartbeatReceiving: AnyObject, Sendable {
    func receive(_ bytes: [UInt8], from source: IPAddress)
}

/// Installs and removes the routes and policy rules an instance holds while
/// master (rtnetlink on Linux). Every call is idempotent.
public protocol RouteManaging: Sendable {
    func add(_ route: RouteSpec) throws
    func remove(_ route: RouteSpec) throws
    func add(_ rule: RuleSpec) throws
    func remove(_ rule: RuleSpec) throws
}

/// Ends the local TCP connections that a VIP move has left dead, so their
/// owners get an error and reconnect at once instead of waiting minutes for
/// TCP to give up (docs/architecture.md, "Connections a move leaves dead").
public protocol ConnectionEnding: Sendable {
    /// `acquired`: the VIPs just became local; else they were just removed.
    /// One call per move, for all of an instance's VIPs.
    /// - Returns: how many connections were ended.
    func endStaleConnections(to addresses: [IPAddress], acquired: Bool) throws -> Int
}
