import Synchronization
import VIPCore

/// An in-memory network for daemon-level tests: each node's transport
/// delivers to the node listening at the peer's address after `latency`,
/// through the test's clock (`schedule`, e.g. an EmbeddedEventLoop's
/// `scheduleTask`), so whole engines run on a virtual clock. Links can be
/// cut one way or both.
public final class MemoryNetwork: Sendable {
    /// Runs `body` after `delay` on the receivers' loop.
    public typealias Schedule = @Sendable (_ delay: Span, _ body: @escaping @Sendable () -> Void) -> Void

    struct State {
        var sinks: [IPAddress: any HeartbeatReceiving] = [:]
        /// (from, to) pairs that lose everything.
        var cut: Set<[IPAddress]> = []
        var delivered = 0
        var lost = 0
    }

    private let state = Mutex(State())
    private let schedule: Schedule
    public let latency: Span

    public init(latency: Span = .milliseconds(1), schedule: @escaping Schedule) {
        self.latency = latency
        self.schedule = schedule
    }

    /// The transport a node at `address` sends through.
    public func transport(at address: IPAddress) -> Transport { Transport(network: self, source: address) }

    /// Where datagrams to `address` go (call once the engine exists).
    public func attach(_ sink: any HeartbeatReceiving, at address: IPAddress) {
        state.withLock { $0.sinks[address] = sink }
    }

    /// Loses every datagram from `from` to `to` (and back, unless `oneWay`).
    public func cut(_ from: IPAddress, _ to: IPAddress, oneWay: Bool = false) {
        state.withLock {
            $0.cut.insert([from, to])
            if !oneWay { $0.cut.insert([to, from]) }
        }
    }

    public func heal() {
        state.withLock { $0.cut.removeAll() }
    }

    public var delivered: Int { state.withLock { $0.delivered } }
    public var lost: Int { state.withLock { $0.lost } }

    fileprivate func send(_ bytes: [UInt8], from source: IPAddress, to destination: IPAddress) {
        let sink: (any HeartbeatReceiving)? = state.withLock { state in
            guard !state.cut.contains([source, destination]), let sink = state.sinks[destination] else {
                state.lost += 1
                return nil
            }
            state.delivered += 1
            return sink
        }
        guard let sink else { return }
        schedule(latency) { sink.receive(bytes, from: source) }
    }

    /// One node's side: `HeartbeatSending` into the network.
    public struct Transport: HeartbeatSending {
        let network: MemoryNetwork
        let source: IPAddress

        public func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws {
            for (bytes, peer) in zip(datagrams, peers) { network.send(bytes, from: source, to: peer.address) }
        }
    }
}

/// Addresses on in-memory interfaces: what `ip addr` would show.
public final class FakeAddresses: AddressManaging {
    private let present = Mutex<Set<IPAddress>>([])

    public init() {}

    public var addresses: Set<IPAddress> { present.withLock { $0 } }

    public func add(_ vip: VIPSpec) throws { _ = present.withLock { $0.insert(vip.address) } }
    public func remove(_ vip: VIPSpec) throws { _ = present.withLock { $0.remove(vip.address) } }
    public func isPresent(_ vip: VIPSpec) throws -> Bool { present.withLock { $0.contains(vip.address) } }

    /// Something else deleted it (`ip addr del` behind the daemon's back).
    public func deleteBehindTheBack(_ address: IPAddress) { _ = present.withLock { $0.remove(address) } }
}

/// Counts announcements (gratuitous ARP / NA) per address.
public final class FakeAnnouncer: Announcing {
    private let counts = Mutex<[IPAddress: Int]>([:])

    public init() {}

    public func announce(_ vip: VIPSpec) throws { counts.withLock { $0[vip.address, default: 0] += 1 } }

    public func count(_ address: IPAddress) -> Int { counts.withLock { $0[address] ?? 0 } }
}

/// Routes and rules in an in-memory table: what `ip route` / `ip rule` would show.
public final class FakeRoutes: RouteManaging {
    private let table = Mutex<(routes: Set<RouteSpec>, rules: Set<RuleSpec>)>(([], []))

    public init() {}

    public var routes: Set<RouteSpec> { table.withLock { $0.routes } }
    public var rules: Set<RuleSpec> { table.withLock { $0.rules } }

    public func add(_ route: RouteSpec) throws { _ = table.withLock { $0.routes.insert(route) } }
    public func remove(_ route: RouteSpec) throws { _ = table.withLock { $0.routes.remove(route) } }
    public func add(_ rule: RuleSpec) throws { _ = table.withLock { $0.rules.insert(rule) } }
    public func remove(_ rule: RuleSpec) throws { _ = table.withLock { $0.rules.remove(rule) } }
}
