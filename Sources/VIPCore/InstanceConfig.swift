/// One virtual router of this node (keepalived's `vrrp_instance`): its own
/// VRID, priority, VIPs, timing and what it tracks. Node, auth, control and
/// the check definitions are shared by every instance of a daemon.
public struct InstanceConfig: Sendable, Equatable {
    /// Unique within the file; `vrid<N>` for the implicit instance of a
    /// single-router file (what keepalived notify scripts receive as INSTANCE).
    public var name: String
    public var vrid: UInt8
    /// 1...254; `node.priority` unless the instance sets its own.
    public var priority: UInt8
    public var vips: [VIPSpec]
    public var timing: TimingConfig
    /// The peers this instance runs with: every configured peer unless the
    /// instance names a subset (`peers: [id, ...]`).
    public var peers: [PeerConfig]
    /// The checks whose verdict this instance follows; nil: every check with
    /// its own role and weight.
    public var trackChecks: [TrackedCheck]?
    /// Interfaces whose carrier this instance needs: one down puts it in FAULT.
    public var trackInterfaces: [TrackedInterface]
    /// Routes held while master (keepalived's `virtual_routes`).
    public var routes: [RouteSpec]
    /// Policy-routing rules held while master (keepalived's `virtual_rules`).
    public var rules: [RuleSpec] = []
    /// What goes on the wire: vipd's authenticated heartbeats (default), or
    /// RFC 9568 VRRPv3 to run with keepalived peers.
    public var wire: Wire = .vipd
    /// Majority rule (`quorum: true`): needs at least two peers, one of
    /// them may be a witness. vipd wire only: VRRPv3 carries no votes.
    public var quorum = false

    public enum Wire: Sendable, Equatable {
        case vipd
        case vrrp3(VRRP3Settings)
    }

    public init(name: String, vrid: UInt8, priority: UInt8, vips: [VIPSpec], timing: TimingConfig,
                peers: [PeerConfig], trackChecks: [TrackedCheck]? = nil, trackInterfaces: [TrackedInterface] = [],
                routes: [RouteSpec] = []) {
        self.name = name
        self.vrid = vrid
        self.priority = priority
        self.vips = vips
        self.timing = timing
        self.peers = peers
        self.trackChecks = trackChecks
        self.trackInterfaces = trackInterfaces
        self.routes = routes
    }

    /// The implicit instance of a file without `instances:`.
    public static func implicitName(vrid: UInt8) -> String { "vrid\(vrid)" }
}

/// `protocol: vrrp3` (docs/protocol.md, "VRRPv3"): IP protocol 112, only the
/// master advertises, no authentication on the wire unless `auth_hmac`.
public struct VRRP3Settings: Sendable, Equatable {
    /// To 224.0.0.18 / ff02::12 on `node.interface` (keepalived's default),
    /// or unicast to the instance's peers (keepalived's `unicast_peer`).
    public var multicast: Bool
    /// The checksum form sent, and the forms accepted.
    public var checksum: VRRPChecksumMode
    /// Set explicitly: VRRPv3 has no authentication, anyone on the segment
    /// can take the VIP with one packet.
    public var unauthenticated: Bool
    /// keepalived 2.4's HMAC-SHA256 trailer (`vrrp3.auth_hmac`); nil: none.
    public var authHMAC: VRRPAuthHMACSettings?

    public init(multicast: Bool = true, checksum: VRRPChecksumMode = .auto, unauthenticated: Bool = false,
                authHMAC: VRRPAuthHMACSettings? = nil) {
        self.multicast = multicast
        self.checksum = checksum
        self.unauthenticated = unauthenticated
        self.authHMAC = authHMAC
    }
}

/// The checksum forms keepalived uses (docs/protocol.md).
public enum VRRPChecksumMode: String, Sendable, Equatable, CaseIterable {
    /// Send the RFC form; accept all three.
    case auto
    /// RFC 5798/9568: IPv4 pseudo-header with the real destination (keepalived's default).
    case rfc
    /// keepalived before 1.3.6 in unicast: the multicast group in the pseudo-header.
    case unicastLegacy = "unicast-legacy"
    /// `v3_checksum_as_v2`: no pseudo-header, as VRRPv2.
    case v2
}

/// A check an instance follows, optionally with its own weight (keepalived's
/// `track_script { name weight W }`).
public struct TrackedCheck: Sendable, Equatable {
    public var name: String
    /// nil: the check's own weight.
    public var weight: Int?

    public init(name: String, weight: Int? = nil) {
        self.name = name
        self.weight = weight
    }
}

/// An interface an instance tracks (keepalived's `track_interface`).
public struct TrackedInterface: Sendable, Equatable {
    public var name: String
    /// How long the carrier must be back before the fault clears: a flapping
    /// link must not pull the VIP back and forth.
    public var upDebounce: Span

    public static let defaultUpDebounce = Span.seconds(1)

    public init(name: String, upDebounce: Span = TrackedInterface.defaultUpDebounce) {
        self.name = name
        self.upDebounce = upDebounce
    }
}

/// A route installed while the instance is master (`ip route replace` semantics).
public struct RouteSpec: Sendable, Equatable, Hashable {
    public var destination: IPAddress
    public var prefixLength: Int
    public var gateway: IPAddress?
    public var interface: String?
    public var metric: UInt32?
    public var table: UInt32?

    public init(destination: IPAddress, prefixLength: Int, gateway: IPAddress? = nil, interface: String? = nil,
                metric: UInt32? = nil, table: UInt32? = nil) {
        self.destination = destination
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.interface = interface
        self.metric = metric
        self.table = table
    }

    /// `198.18.5.0/24 via 198.18.0.254 dev eth0 metric 10 table 100`, as `ip route` prints it.
    public var description: String {
        var text = "\(destination)/\(prefixLength)"
        if let gateway { text += " via \(gateway)" }
        if let interface { text += " dev \(interface)" }
        if let metric { text += " metric \(metric)" }
        if let table { text += " table \(table)" }
        return text
    }
}

/// A policy-routing rule held while the instance is master (`ip rule add`):
/// traffic matching `from`/`to`/`iif`/`oif` looks up `table`.
public struct RuleSpec: Sendable, Equatable, Hashable {
    public var from: (address: IPAddress, prefixLength: Int)?
    public var to: (address: IPAddress, prefixLength: Int)?
    public var inputInterface: String?
    public var outputInterface: String?
    public var table: UInt32
    /// The rule's position (lower first); the kernel picks one when nil.
    public var priority: UInt32?
    public var isIPv4: Bool

    public init(from: (IPAddress, Int)? = nil, to: (IPAddress, Int)? = nil, inputInterface: String? = nil,
                outputInterface: String? = nil, table: UInt32, priority: UInt32? = nil, isIPv4: Bool = true) {
        self.from = from.map { (address: $0.0, prefixLength: $0.1) }
        self.to = to.map { (address: $0.0, prefixLength: $0.1) }
        self.inputInterface = inputInterface
        self.outputInterface = outputInterface
        self.table = table
        self.priority = priority
        self.isIPv4 = isIPv4
    }

    public static func == (a: RuleSpec, b: RuleSpec) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// `from 198.18.0.100/32 lookup 100 priority 100`, as `ip rule` prints it.
    public var description: String {
        var parts: [String] = []
        if let priority { parts.append("priority \(priority)") }
        parts.append(from.map { "from \($0.address)/\($0.prefixLength)" } ?? "from all")
        if let to { parts.append("to \(to.address)/\(to.prefixLength)") }
        if let inputInterface { parts.append("iif \(inputInterface)") }
        if let outputInterface { parts.append("oif \(outputInterface)") }
        parts.append("lookup \(table)")
        return parts.joined(separator: " ")
    }
}

/// Instances that change state together (keepalived's `vrrp_sync_group`):
/// one in FAULT puts the group in FAULT, one taking over takes the group.
public struct SyncGroupConfig: Sendable, Equatable {
    public var name: String
    public var instances: [String]

    public init(name: String, instances: [String]) {
        self.name = name
        self.instances = instances
    }
}
