/// The validated configuration of one vipd node.
///
/// Built only by `ConfigParser`, so every value here has passed validation.
/// Field names match the YAML keys documented in docs/config.md.
public struct VIPConfig: Sendable, Equatable {
    public var node: NodeConfig
    public var peers: [PeerConfig]
    /// Virtual router id, 1-255; packets carrying another VRID are dropped.
    public var vrid: UInt8
    public var vips: [VIPSpec]
    public var timing: TimingConfig
    public var auth: AuthConfig
    public var control: ControlConfig
    public var logLevel: String
    /// The unprivileged user vipd becomes after opening its sockets as root.
    public var user: String
    /// Health checks of the local front and backend (empty: none).
    public var checks: [CheckConfig]
    /// The nginx upstream manager; `nil` when not configured.
    public var nginx: NginxConfig?

    public init(node: NodeConfig, peers: [PeerConfig], vrid: UInt8, vips: [VIPSpec],
                timing: TimingConfig, auth: AuthConfig, control: ControlConfig, logLevel: String,
                user: String = ConfigDefaults.user, checks: [CheckConfig] = [], nginx: NginxConfig? = nil) {
        self.user = user
        self.checks = checks
        self.nginx = nginx
        self.node = node
        self.peers = peers
        self.vrid = vrid
        self.vips = vips
        self.timing = timing
        self.auth = auth
        self.control = control
        self.logLevel = logLevel
    }
}

/// This node: identity, where it sends heartbeats from, and its priority.
public struct NodeConfig: Sendable, Equatable {
    public var id: String
    public var interface: String
    /// Unicast source address of heartbeats; also the equal-priority tie-break.
    public var address: IPAddress
    /// 1...254. 0 means "stepping down" on the wire and 255 is reserved.
    public var priority: UInt8
    public var port: UInt16

    public init(id: String, interface: String, address: IPAddress, priority: UInt8, port: UInt16 = ConfigDefaults.port) {
        self.id = id
        self.interface = interface
        self.address = address
        self.priority = priority
        self.port = port
    }
}

/// Another node of the cluster; heartbeats go to `address:port`.
public struct PeerConfig: Sendable, Equatable {
    public var id: String
    public var address: IPAddress
    public var port: UInt16

    public init(id: String, address: IPAddress, port: UInt16 = ConfigDefaults.port) {
        self.id = id
        self.address = address
        self.port = port
    }
}

/// One floating address.
public struct VIPSpec: Sendable, Equatable {
    public var address: IPAddress
    public var prefixLength: Int
    public var interface: String
    public var label: String?

    public init(address: IPAddress, prefixLength: Int, interface: String, label: String? = nil) {
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
        self.label = label
    }
}

public struct TimingConfig: Sendable, Equatable {
    /// How often every node sends a heartbeat (the VRRP advertisement interval).
    public var advertInterval: Span
    /// Whether a node that outranks the current master takes over.
    public var preempt: Bool
    /// How long a node must have been running before it may preempt.
    public var preemptDelay: Span

    public init(advertInterval: Span = ConfigDefaults.advertInterval, preempt: Bool = true, preemptDelay: Span = .zero) {
        self.advertInterval = advertInterval
        self.preempt = preempt
        self.preemptDelay = preemptDelay
    }
}

public struct AuthConfig: Sendable, Equatable {
    /// Path of the shared HMAC key; must be mode 0600 (checked when loaded).
    public var keyFile: String

    public init(keyFile: String) { self.keyFile = keyFile }
}

public struct ControlConfig: Sendable, Equatable {
    /// Unix socket of the control API.
    public var socket: String

    public init(socket: String = ConfigDefaults.controlSocket) { self.socket = socket }
}

public enum ConfigDefaults {
    public static let path = "/etc/vipd/vipd.yaml"
    public static let port: UInt16 = 5798
    public static let advertInterval = Span.milliseconds(100)
    public static let controlSocket = "/run/vipd/control.sock"
    public static let logLevel = "info"
    public static let user = "vipd"
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}
