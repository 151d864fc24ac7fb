import Crypto

/// One thing worth telling the outside world about, as POSTed to webhooks
/// (JSON, snake_case keys; see docs/operations.md).
public struct NodeEvent: Codable, Sendable, Equatable {
    /// The event kinds, in the `event` field.
    public enum Kind: String, Codable, Sendable {
        case stateChange = "state_change"
        case vipAcquired = "vip_acquired"
        case vipReleased = "vip_released"
        case peerFound = "peer_found"
        case peerLost = "peer_lost"
        case checkUp = "check_up"
        case checkDown = "check_down"
        /// A check's restart command ran (`reason`: how it ended, or "started").
        case checkRestart = "check_restart"
        /// Reported by vipd-pg (`POST /v1/events`): it promoted the local
        /// standby, fenced the local primary, rejoined it as a standby, or
        /// its pg_rewind failed (hands needed).
        case dbPromoted = "db_promoted"
        case dbFenced = "db_fenced"
        case dbRejoined = "db_rejoined"
        case dbRejoinFailed = "db_rejoin_failed"

        /// What a local agent may report; vipd's own events it may not.
        public static let reportable: [Kind] = [.dbPromoted, .dbFenced, .dbRejoined, .dbRejoinFailed]
    }

    public var node: String
    public var event: Kind
    public var oldState: String?
    public var newState: String?
    public var reason: String?
    /// The peer or check concerned, for peer and check events.
    public var subject: String?
    /// RFC 3339 UTC with milliseconds, from the sender's clock.
    public var timestamp: String
    /// Increases by one per event within one run of the daemon.
    public var sequence: UInt64
    /// The instance (virtual router) concerned, for state and VIP events.
    public var instance: String?

    public init(node: String, event: Kind, oldState: String? = nil, newState: String? = nil, reason: String? = nil,
                subject: String? = nil, timestamp: String, sequence: UInt64 = 0, instance: String? = nil) {
        self.instance = instance
        self.node = node
        self.event = event
        self.oldState = oldState
        self.newState = newState
        self.reason = reason
        self.subject = subject
        self.timestamp = timestamp
        self.sequence = sequence
    }

    enum CodingKeys: String, CodingKey {
        case node, event, reason, subject, timestamp, sequence, instance
        case oldState = "old_state"
        case newState = "new_state"
    }
}

/// The webhook signature header value: `sha256=` + hex HMAC-SHA256 of the body.
public enum WebhookSignature {
    public static let header = "X-Vipd-Signature"

    public static func sign(_ body: [UInt8], secret: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + code.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
