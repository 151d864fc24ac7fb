/// The validated configuration of one vipd node.
///
/// Built only by `ConfigParser`, so every value here has passed validation.
/// Field names match the YAML keys documented in docs/config.md.
public struct VIPConfig: Sendable, Equatable {
    public var node: NodeConfig
    /// Every peer of this node; an instance may run with a subset.
    public var peers: [PeerConfig]
    /// The virtual routers this node runs, at least one. A file without
    /// `instances:` has one, built from the top-level `vrid`, `vips` and `timing`.
    public var instances: [InstanceConfig]
    /// Instances that change state together.
    public var syncGroups: [SyncGroupConfig] = []
    public var auth: AuthConfig
    public var control: ControlConfig
    public var logLevel: String
    /// The unprivileged user vipd becomes after opening its sockets as root.
    public var user: String
    /// Webhooks and keepalived-style notify scripts.
    public var notify: NotifyConfig = NotifyConfig()
    /// SCHED_RR priority (1-99) for all of vipd's threads; 0 = normal scheduling.
    public var realtimePriority: Int = ConfigDefaults.realtimePriority
    /// mlockall: never swap vipd out.
    public var lockMemory: Bool = true
    /// Health checks of the local front and backend (empty: none).
    public var checks: [CheckConfig]
    /// The nginx upstream manager; `nil` when not configured.
    public var nginx: NginxConfig?
    /// Where vipd keeps its boot counter (the epoch of its heartbeats).
    public var stateDirectory: String = ConfigDefaults.stateDirectory

    public init(node: NodeConfig, peers: [PeerConfig], instances: [InstanceConfig],
                auth: AuthConfig, control: ControlConfig, logLevel: String,
                user: String = ConfigDefaults.user, checks: [CheckConfig] = [], nginx: NginxConfig? = nil) {
        precondition(!instances.isEmpty, "the parser refuses a file without an instance")
        self.user = user
        self.checks = checks
        self.nginx = nginx
        self.node = node
        self.peers = peers
        self.instances = instances
        self.auth = auth
        self.control = control
        self.logLevel = logLevel
    }

    /// A single-router configuration: one implicit instance named `vrid<N>`.
    public init(node: NodeConfig, peers: [PeerConfig], vrid: UInt8, vips: [VIPSpec],
                timing: TimingConfig, auth: AuthConfig, control: ControlConfig, logLevel: String,
                user: String = ConfigDefaults.user, checks: [CheckConfig] = [], nginx: NginxConfig? = nil) {
        let instance = InstanceConfig(name: InstanceConfig.implicitName(vrid: vrid), vrid: vrid, priority: node.priority,
                                      vips: vips, timing: timing, peers: peers)
        self.init(node: node, peers: peers, instances: [instance], auth: auth, control: control, logLevel: logLevel,
                  user: user, checks: checks, nginx: nginx)
    }

    /// Every VIP of every instance.
    public var allVIPs: [VIPSpec] { instances.flatMap(\.vips) }
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
    /// `node.witness: true`: this node only votes in `quorum` instances; it
    /// never becomes master and never holds an address.
    public var witness = false

    public init(id: String, interface: String, address: IPAddress, priority: UInt8, port: UInt16 = ConfigDefaults.port) {
        self.id = id
        self.interface = interface
        self.address = address
        self.priority = priority
        self.port = port
    }
}

/// Another node of the cluster; heartbeats go to `address:port`.
public struct PeerConfig: Sendable, Hashable {
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
    /// How often the master sends a heartbeat (the VRRP advertisement interval).
    public var advertInterval: Span
    /// How often a node that is not master sends one; nil for the default
    /// (`ConfigDefaults.standbyInterval`, never below `advertInterval`).
    public var standbyInterval: Span?
    /// Whether a node that outranks the current master takes over.
    public var preempt: Bool
    /// How long a node must have been running before it may preempt.
    public var preemptDelay: Span
    /// How a backup judges a silent master dead: RFC 5798's fixed rule, or
    /// adaptive (`LinkEstimate`).
    public var detection: DetectionPolicy

    public init(advertInterval: Span = ConfigDefaults.advertInterval, standbyInterval: Span? = nil,
                preempt: Bool = true, preemptDelay: Span = .zero, detection: DetectionPolicy = .rfc) {
        self.advertInterval = advertInterval
        self.standbyInterval = standbyInterval
        self.preempt = preempt
        self.preemptDelay = preemptDelay
        self.detection = detection
    }

    /// The standby cadence in effect.
    public var effectiveStandbyInterval: Span {
        standbyInterval ?? max(advertInterval, ConfigDefaults.standbyInterval)
    }
}

public struct AuthConfig: Sendable, Equatable {
    /// Path of the shared HMAC key; must be mode 0600 (checked when loaded).
    /// Signs every heartbeat and is accepted.
    public var keyFile: String
    /// Keys accepted but never signed with (key rotation: the next key
    /// before every node signs with it, the previous one after).
    public var acceptKeyFiles: [String]

    public init(keyFile: String, acceptKeyFiles: [String] = []) {
        self.keyFile = keyFile
        self.acceptKeyFiles = acceptKeyFiles
    }
}

public struct ControlConfig: Sendable, Equatable {
    /// Unix socket of the control API (mode 0660).
    public var socket: String
    /// Group that may use the socket; nil = the primary group of `user`.
    public var group: String?
    /// Optional loopback TCP listener (for Prometheus), with a bearer token.
    public var listenAddress: IPAddress?
    public var listenPort: UInt16?
    /// File (mode 0600) holding the bearer token the TCP listener requires.
    public var tokenFile: String?

    public init(socket: String = ConfigDefaults.controlSocket, group: String? = nil, listenAddress: IPAddress? = nil,
                listenPort: UInt16? = nil, tokenFile: String? = nil) {
        self.socket = socket
        self.group = group
        self.listenAddress = listenAddress
        self.listenPort = listenPort
        self.tokenFile = tokenFile
    }
}

public enum ConfigDefaults {
    public static let path = "/etc/vipd/vipd.yaml"
    public static let port: UInt16 = 5798
    public static let advertInterval = Span.milliseconds(100)
    /// Backups only tell the master they are alive and how their backend is
    /// (the election never waits for them), so once a second is enough and
    /// halves an idle node's wake-ups at the default advert interval.
    public static let standbyInterval = Span.seconds(1)
    /// `timing.detection: adaptive`: the false takeovers per week per pair it aims at.
    public static let falseTakeoversPerWeek = 1.0
    /// `timing.detection: adaptive`: never more silent intervals than this.
    public static let detectionMaxIntervals = 10
    public static let controlSocket = "/run/vipd/control.sock"
    /// systemd's StateDirectory=vipd.
    public static let stateDirectory = "/var/lib/vipd"
    public static let logLevel = "info"
    public static let user = "vipd"
    /// Low among real-time priorities: above every normal process, below kernel threads that use RT.
    public static let realtimePriority = 10
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// Where state changes are reported: webhooks (JSON POSTs) and notify scripts.
public struct NotifyConfig: Sendable, Equatable {
    public struct Webhook: Sendable, Equatable {
        public var url: String
        /// File (mode 0600) with the HMAC-SHA256 secret for the signature header.
        public var secretFile: String?
        public var timeout: Span = .seconds(2)
        public init(url: String, secretFile: String? = nil, timeout: Span = .seconds(2)) {
            self.url = url
            self.secretFile = secretFile
            self.timeout = timeout
        }
    }

    public var webhooks: [Webhook] = []
    /// Events held per webhook while it is slow or down; beyond this they are dropped and counted.
    public var queueSize: Int = 256
    /// Attempts per event and webhook, with exponential backoff between them.
    public var retries: Int = 3
    /// keepalived's notify_master / notify_backup / notify_fault: argv, run without a shell.
    public var master: [String]?
    public var backup: [String]?
    public var fault: [String]?
    /// keepalived's generic `notify`: argv + INSTANCE NAME STATE PRIORITY.
    public var generic: [String]?
    public var scriptTimeout: Span = .seconds(10)

    public init() {}
}
