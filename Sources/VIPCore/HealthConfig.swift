/// One health check of this node (`checks[i]` in the YAML; docs/config.md#checks).
///
/// A check runs its probe every `interval`; `rise` passes in a row make it up
/// and `fall` failures in a row make it down (`CheckHysteresis`). What "down"
/// does to the node depends on `role` (`HealthPolicy`).
public struct CheckConfig: Sendable, Equatable {
    /// What a failing check does to this node.
    public enum Role: String, Sendable, Equatable, CaseIterable {
        /// The local front (nginx). While down the node is in FAULT: it
        /// releases the VIP at once and does not compete.
        case front
        /// The local backend (bingo). While down the node stays eligible but
        /// every heartbeat says its backend is unhealthy, so every front
        /// marks it `down` in the nginx upstream.
        case backend
        /// keepalived's `vrrp_script` with a `weight`: changes the effective
        /// priority instead (negative weight while down, positive while up).
        case weight
        /// Changes nothing in the election or the backend flag: it is watched
        /// (status, metrics, events) and heals with its `restart`. One member of
        /// a node's bingo pool: the pool serves while any member does, so one
        /// sick member must restart without marking the node's backend down.
        case monitor
    }

    /// How one probe is made.
    public enum Probe: Sendable, Equatable {
        case http(HTTPProbe)
        case exec(ExecProbe)
    }

    /// An HTTP request; it passes on the expected status (and body text, if set).
    public struct HTTPProbe: Sendable, Equatable {
        /// `http://HOST[:PORT][/PATH]`. Only plain HTTP: the checks target local listeners.
        public var url: String
        /// Request method, e.g. `GET` or `HEAD`.
        public var method: String
        /// The only status that passes (100...599).
        public var expectStatus: Int
        /// If set, the first 64 KiB of the body must contain this text.
        public var bodyContains: String?

        public init(url: String, method: String = "GET", expectStatus: Int = 200, bodyContains: String? = nil) {
            self.url = url
            self.method = method
            self.expectStatus = expectStatus
            self.bodyContains = bodyContains
        }
    }

    /// A program run without a shell; it passes on exit status 0.
    public struct ExecProbe: Sendable, Equatable {
        /// argv; `command[0]` is an absolute path (no `PATH` search).
        public var command: [String]

        public init(command: [String]) { self.command = command }
    }

    /// Unique among the checks; used in logs and the fault reason.
    public var name: String
    public var role: Role
    public var probe: Probe
    /// Time from the start of one probe to the start of the next.
    public var interval: Span
    /// A probe that has not finished by then fails (an exec probe is killed). At most `interval`.
    public var timeout: Span
    /// Passes in a row that turn a down check up.
    public var rise: Int
    /// Failures in a row that turn an up check down.
    public var fall: Int
    /// Role `weight` only (else 0): added to the base priority while down if
    /// negative, while up if positive (keepalived `vrrp_script` semantics).
    public var weight: Int
    /// What to run when the check has fallen (self-healing), if anything.
    public var restart: RestartConfig?

    public init(name: String, role: Role, probe: Probe, interval: Span = ConfigDefaults.checkInterval,
                timeout: Span? = nil, rise: Int = ConfigDefaults.checkRise, fall: Int = ConfigDefaults.checkFall,
                weight: Int = 0, restart: RestartConfig? = nil) {
        self.restart = restart
        self.name = name
        self.role = role
        self.probe = probe
        self.interval = interval
        self.timeout = timeout ?? interval
        self.rise = rise
        self.fall = fall
        self.weight = weight
    }
}

/// The nginx front manager (`nginx:` in the YAML; docs/config.md#nginx, docs/nginx.md).
///
/// vipd renders `upstream <upstreamName> { ... }` with one server per node
/// (`node.address` and every `peers[].address`, on `backendPort`) into
/// `upstreamFile`, then runs `testCommand` and, if that passes, `reloadCommand`.
public struct NginxConfig: Sendable, Equatable {
    /// The file the nginx site includes; vipd owns it. Its directory must be writable by `user`.
    public var upstreamFile: String
    /// The upstream block's name, as used in `proxy_pass http://NAME`.
    public var upstreamName: String
    /// The backend's TCP port on every node.
    public var backendPort: UInt16
    /// Idle upstream connections kept per nginx worker (`keepalive N;`); 0 leaves it out.
    public var keepalive: Int
    /// Validates the whole nginx configuration, e.g. `/usr/sbin/nginx -t -q`; exit 0 passes.
    public var testCommand: [String]
    /// Makes nginx load it, e.g. `/usr/sbin/nginx -s reload`.
    public var reloadCommand: [String]
    /// Quiet time after a change before rendering, so a burst of changes costs one reload.
    public var debounce: Span
    /// A test or reload command still running after this is killed and counts as failed.
    public var commandTimeout: Span

    public init(upstreamFile: String, upstreamName: String = ConfigDefaults.nginxUpstreamName, backendPort: UInt16,
                keepalive: Int = ConfigDefaults.nginxKeepalive, testCommand: [String], reloadCommand: [String],
                debounce: Span = ConfigDefaults.nginxDebounce, commandTimeout: Span = ConfigDefaults.nginxCommandTimeout) {
        self.upstreamFile = upstreamFile
        self.upstreamName = upstreamName
        self.backendPort = backendPort
        self.keepalive = keepalive
        self.testCommand = testCommand
        self.reloadCommand = reloadCommand
        self.debounce = debounce
        self.commandTimeout = commandTimeout
    }
}

extension ConfigDefaults {
    public static let checkInterval = Span.seconds(1)
    public static let checkRise = 2
    public static let checkFall = 2
    public static let nginxUpstreamName = "bingo"
    public static let nginxKeepalive = 32
    public static let nginxDebounce = Span.milliseconds(200)
    public static let nginxCommandTimeout = Span.seconds(30)
}
