/// What `GET /v1/status` returns and `vipctl status` prints: a snapshot of one
/// node. Field names are the JSON keys (snake_case) scripts rely on; only
/// additions are allowed within /v1.
public struct StatusReport: Codable, Sendable, Equatable {
    public struct VIP: Codable, Sendable, Equatable {
        /// ADDRESS/PREFIX.
        public var address: String
        public var interface: String
        /// Whether this node currently holds it.
        public var held: Bool
        public init(address: String, interface: String, held: Bool) {
            self.address = address
            self.interface = interface
            self.held = held
        }
    }

    public struct Peer: Codable, Sendable, Equatable {
        public var id: String
        public var address: String
        /// Heard within its Master_Down_Interval.
        public var alive: Bool
        /// Last state it announced; nil if never heard.
        public var state: NodeState?
        public var priority: Int?
        public var backendHealthy: Bool?
        /// Milliseconds since its last admitted heartbeat; nil if never heard.
        public var lastHeardMs: Double?
        /// What its heartbeats as master taught about the link (adaptive detection only).
        public var link: Link?
        /// `quorum` instances: the master its heartbeats say it follows ("" for none).
        public var vote: String?

        public struct Link: Codable, Sendable, Equatable {
            /// Heartbeats observed (decayed, lost ones included).
            public var observed: Double
            public var lossRate: Double
            /// The chance that a lost heartbeat is followed by another.
            public var burstiness: Double
            public var jitterMs: Double
            /// The silent intervals its master-down time allows (nil: too little seen, the RFC rule).
            public var intervals: Int?

            public init(observed: Double, lossRate: Double, burstiness: Double, jitterMs: Double, intervals: Int?) {
                self.observed = observed
                self.lossRate = lossRate
                self.burstiness = burstiness
                self.jitterMs = jitterMs
                self.intervals = intervals
            }

            enum CodingKeys: String, CodingKey {
                case observed, burstiness, intervals
                case lossRate = "loss_rate"
                case jitterMs = "jitter_ms"
            }
        }

        public init(id: String, address: String, alive: Bool, state: NodeState?, priority: Int?,
                    backendHealthy: Bool?, lastHeardMs: Double?, link: Link? = nil, vote: String? = nil) {
            self.link = link
            self.vote = vote
            self.id = id
            self.address = address
            self.alive = alive
            self.state = state
            self.priority = priority
            self.backendHealthy = backendHealthy
            self.lastHeardMs = lastHeardMs
        }

        enum CodingKeys: String, CodingKey {
            case id, address, alive, state, priority
            case backendHealthy = "backend_healthy"
            case lastHeardMs = "last_heard_ms"
            case link, vote
        }
    }

    public struct Counters: Codable, Sendable, Equatable {
        public var heartbeatsSent: Int
        public var heartbeatsReceived: Int
        public var sendErrors: Int
        /// Dropped datagrams by DropReason raw value.
        public var dropped: [String: Int]
        public var transitions: Int

        public init(heartbeatsSent: Int, heartbeatsReceived: Int, sendErrors: Int, dropped: [String: Int], transitions: Int) {
            self.heartbeatsSent = heartbeatsSent
            self.heartbeatsReceived = heartbeatsReceived
            self.sendErrors = sendErrors
            self.dropped = dropped
            self.transitions = transitions
        }

        enum CodingKeys: String, CodingKey {
            case heartbeatsSent = "heartbeats_sent"
            case heartbeatsReceived = "heartbeats_received"
            case sendErrors = "send_errors"
            case dropped, transitions
        }
    }

    public var node: String
    public var state: NodeState
    /// Effective priority (after weighted checks).
    public var priority: Int
    public var basePriority: Int
    public var vrid: Int
    /// The master as this node sees it: itself, the peer it follows, or nil.
    public var master: String?
    /// Milliseconds in the current state.
    public var stateForMs: Double
    public var lastTransitionReason: String?
    public var advertIntervalMs: Double
    public var vips: [VIP]
    public var peers: [Peer]
    public var counters: Counters
    public var version: String
    /// Health checks, when configured.
    public var checks: [Check] = []

    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        /// front, backend, weight or monitor.
        public var role: String
        /// unknown, up or down (after rise/fall).
        public var state: String
        /// The last probe's outcome, e.g. "HTTP 200" or "connection refused".
        public var lastResult: String?
        public var lastPassed: Bool?
        public var lastResultMsAgo: Double?
        public var stateForMs: Double
        public var probes: Int
        public var failures: Int
        /// Self-healing (checks with `restart`): restarts since vipd started.
        public var restarts: Int?
        /// How the last restart ended ("exit 0"), or "running".
        public var lastRestart: String?
        public var lastRestartMsAgo: Double?
        /// While down after a restart: when the next one may run.
        public var nextRestartInMs: Double?

        public init(name: String, role: String, state: String, lastResult: String?, lastPassed: Bool?,
                    lastResultMsAgo: Double?, stateForMs: Double, probes: Int, failures: Int,
                    restarts: Int? = nil, lastRestart: String? = nil, lastRestartMsAgo: Double? = nil,
                    nextRestartInMs: Double? = nil) {
            self.restarts = restarts
            self.lastRestart = lastRestart
            self.lastRestartMsAgo = lastRestartMsAgo
            self.nextRestartInMs = nextRestartInMs
            self.name = name
            self.role = role
            self.state = state
            self.lastResult = lastResult
            self.lastPassed = lastPassed
            self.lastResultMsAgo = lastResultMsAgo
            self.stateForMs = stateForMs
            self.probes = probes
            self.failures = failures
        }

        enum CodingKeys: String, CodingKey {
            case name, role, state, probes, failures
            case lastResult = "last_result"
            case lastPassed = "last_passed"
            case lastResultMsAgo = "last_result_ms_ago"
            case stateForMs = "state_for_ms"
            case restarts
            case lastRestart = "last_restart"
            case lastRestartMsAgo = "last_restart_ms_ago"
            case nextRestartInMs = "next_restart_in_ms"
        }
    }
    /// This node handed over on purpose and will not preempt until asked.
    public var preemptHeld: Bool = false
    /// A planned handover in progress on this master: the target, or "best".
    public var handover: String?
    /// `rfc` or `adaptive` (timing.detection).
    public var detection: String = "rfc"
    /// The silence after which this backup takes the master for dead, now.
    public var masterDownMs: Double?
    /// The instance this report describes (the top level: the first one).
    public var instance: String?
    /// Every instance of the node, each a report of its own (without
    /// `instances`). The top-level fields describe the first instance, so
    /// tooling written for one virtual router keeps working; `counters`
    /// there are the node's totals.
    public var instances: [StatusReport]?
    /// Tracked interfaces and whether each has carrier.
    public var interfaces: [TrackedLink]?
    /// Why this instance is in fault, when it is.
    public var faults: [String]?
    /// `quorum: true` instances: the majority as this node sees it.
    public var quorum: Quorum?

    public struct Quorum: Codable, Sendable, Equatable {
        /// This node and the instance's peers.
        public var members: Int
        /// This node and the peers heard within 3 of their intervals.
        public var heard: Int
        /// Of those, the ones that would let this node take over from a master it lost.
        public var consenting: Int
        /// A majority in hearing: may hold the addresses.
        public var held: Bool
        /// A majority consents: may take over from a lost master.
        public var consent: Bool
        /// The master this node's heartbeats vote for; nil: none.
        public var vote: String?
        /// This node only votes (`node.witness`).
        public var witness: Bool

        public init(members: Int, heard: Int, consenting: Int, held: Bool, consent: Bool, vote: String?, witness: Bool) {
            self.members = members
            self.heard = heard
            self.consenting = consenting
            self.held = held
            self.consent = consent
            self.vote = vote
            self.witness = witness
        }
    }

    public struct TrackedLink: Codable, Sendable, Equatable {
        public var name: String
        public var up: Bool
        public init(name: String, up: Bool) {
            self.name = name
            self.up = up
        }
    }

    public init(node: String, state: NodeState, priority: Int, basePriority: Int, vrid: Int, master: String?,
                stateForMs: Double, lastTransitionReason: String?, advertIntervalMs: Double, vips: [VIP],
                peers: [Peer], counters: Counters, version: String, checks: [Check] = [],
                preemptHeld: Bool = false, handover: String? = nil, detection: String = "rfc",
                masterDownMs: Double? = nil) {
        self.detection = detection
        self.masterDownMs = masterDownMs
        self.checks = checks
        self.preemptHeld = preemptHeld
        self.handover = handover
        self.node = node
        self.state = state
        self.priority = priority
        self.basePriority = basePriority
        self.vrid = vrid
        self.master = master
        self.stateForMs = stateForMs
        self.lastTransitionReason = lastTransitionReason
        self.advertIntervalMs = advertIntervalMs
        self.vips = vips
        self.peers = peers
        self.counters = counters
        self.version = version
    }

    enum CodingKeys: String, CodingKey {
        case node, state, priority, vrid, master, vips, peers, counters, version
        case basePriority = "base_priority"
        case stateForMs = "state_for_ms"
        case lastTransitionReason = "last_transition_reason"
        case advertIntervalMs = "advert_interval_ms"
        case preemptHeld = "preempt_held"
        case handover, checks, detection
        case masterDownMs = "master_down_ms"
        case instance, instances, interfaces, faults, quorum
    }
}

public enum VIPDVersion {
    public static let string = "0.1.0"
}
