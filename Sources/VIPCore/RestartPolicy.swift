/// `checks[i].restart`: what to run when the check has fallen, and how often.
///
/// Why vipd does this and not systemd: a sick bingo answers `500 I feel bad`
/// on every endpoint and keeps running, so systemd's `Restart=` never sees
/// it; only the check does (docs/operations.md, "Self-healing backends").
public struct RestartConfig: Sendable, Equatable {
    /// argv, no shell; `command[0]` absolute. In the installation:
    /// `systemctl --no-ask-password restart bingo.service` through polkit.
    public var command: [String]
    /// Wait after a restart before the next one while the check stays down;
    /// doubles with every restart that did not bring the check up.
    public var backoff: Span
    /// The longest wait between restarts (no storm when, say, the database is down).
    public var maxBackoff: Span
    /// Up this long after a restart: the next fall starts from `backoff` again.
    public var resetAfter: Span
    /// A restart command still running after this is killed and counts as failed.
    public var timeout: Span
    /// A check that fell because nothing listens (connection refused) waits
    /// this long before the first restart: the process died, and its
    /// supervisor (systemd's Restart=always) is already starting a new one.
    /// Restarting it too would kill that one halfway through its start and
    /// double the outage (seen when both bingos died at once).
    public var refusedGrace: Span

    public init(command: [String], backoff: Span = ConfigDefaults.restartBackoff,
                maxBackoff: Span = ConfigDefaults.restartMaxBackoff, resetAfter: Span = ConfigDefaults.restartResetAfter,
                timeout: Span = ConfigDefaults.restartTimeout, refusedGrace: Span = ConfigDefaults.restartRefusedGrace) {
        self.refusedGrace = refusedGrace
        self.command = command
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        self.resetAfter = resetAfter
        self.timeout = timeout
    }
}

extension ConfigDefaults {
    public static let restartBackoff = Span.seconds(10)
    public static let restartMaxBackoff = Span.seconds(300)
    public static let restartResetAfter = Span.seconds(120)
    public static let restartTimeout = Span.seconds(60)
    public static let restartRefusedGrace = Span.seconds(10)
}

/// When one check's restart command may run. Pure: the caller reports the
/// check's state with each result and when a restart finished.
///
/// A fallen check restarts at once; while it stays down the next restart
/// waits `backoff`, then twice that, up to `maxBackoff`. The wait counts from
/// the end of the previous restart, so a slow start is not restarted in the
/// middle. Once the check has been up for `resetAfter`, the series starts again.
public struct RestartPolicy: Sendable, Equatable {
    public let config: RestartConfig
    /// Restarts in the current series (since the check was last stably up).
    public private(set) var attempts = 0
    /// A restart is running: no second one until it finishes.
    public private(set) var running = false
    /// The earliest time of the next restart (nil: at the next fall).
    public private(set) var notBefore: Instant?
    /// Since when the check has been up (nil while down or unknown).
    private var upSince: Instant?
    /// Since when it has been down (nil while up or unknown), and whether it
    /// fell on a refused connection: then the whole grace is the supervisor's,
    /// even when the process it starts answers wrongly while initialising.
    private var downSince: Instant?
    private var fellRefused = false
    /// Every restart started, and how the last one ended.
    public private(set) var total = 0
    public private(set) var lastStarted: Instant?
    public private(set) var lastOutcome: String?

    public init(config: RestartConfig) { self.config = config }

    /// The check's state after a result at `now`; `refused`: that result was
    /// a refused connection (nothing listens). True: run the command now (the
    /// caller must then report `finished`).
    public mutating func observe(_ state: CheckState, refused: Bool = false, now: Instant) -> Bool {
        switch state {
        case .up:
            downSince = nil
            if upSince == nil { upSince = now }
            if let since = upSince, attempts > 0, now - since >= config.resetAfter {
                attempts = 0
                notBefore = nil
            }
            return false
        case .unknown:
            upSince = nil
            downSince = nil
            return false
        case .down:
            upSince = nil
            if downSince == nil {
                downSince = now
                fellRefused = refused
            }
            // A dead process is its supervisor's to restart; a sick or hung
            // one (an answer that is wrong, or none in time) is only ours.
            if fellRefused, attempts == 0, let since = downSince, now - since < config.refusedGrace { return false }
            guard !running, notBefore.map({ now >= $0 }) ?? true else { return false }
            running = true
            attempts += 1
            total += 1
            lastStarted = now
            return true
        }
    }

    /// The restart started last ended at `now` (`outcome` for status and logs).
    public mutating func finished(_ outcome: String, now: Instant) {
        running = false
        lastOutcome = outcome
        notBefore = now + wait(after: attempts)
    }

    /// The wait after restart number `attempt` of a series.
    public func wait(after attempt: Int) -> Span {
        var wait = config.backoff
        for _ in 1..<max(1, attempt) where wait < config.maxBackoff { wait = wait + wait }
        return min(wait, config.maxBackoff)
    }
}
