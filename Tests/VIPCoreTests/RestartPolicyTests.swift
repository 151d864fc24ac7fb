import Testing
import VIPCore

/// Self-healing of a fallen check (issue 14, item 2), on a virtual clock.
@Suite struct RestartPolicyTests {
    let config = RestartConfig(command: ["/usr/bin/systemctl", "restart", "bingo.service"],
                               backoff: .seconds(10), maxBackoff: .seconds(60), resetAfter: .seconds(120))

    func at(_ seconds: Int64) -> Instant { Instant(nanoseconds: seconds * 1_000_000_000) }

    @Test func aFallRestartsAtOnceAndNeverTwiceConcurrently() {
        var policy = RestartPolicy(config: config)
        do { let started = policy.observe(.up, now: at(0)); #expect(!started) }
        do { let started = policy.observe(.down, now: at(5)); #expect(started) }
        #expect(policy.running)
        // Results that come while it runs start nothing.
        do { let started = policy.observe(.down, now: at(6)); #expect(!started) }
        policy.finished("exit 0", now: at(7))
        #expect(policy.notBefore == at(17))
        #expect(policy.lastOutcome == "exit 0")
    }

    /// Nothing listens: the process died and systemd is starting a new one.
    /// Restarting it as well would kill that start halfway; wait the grace.
    @Test func aRefusedConnectionLeavesTheRestartToTheSupervisor() {
        var policy = RestartPolicy(config: config)  // refusedGrace: the default 10 s
        func observe(_ state: CheckState, refused: Bool, _ second: Int64) -> Bool {
            policy.observe(state, refused: refused, now: at(second))
        }
        #expect(!observe(.up, refused: false, 0))
        #expect(!observe(.down, refused: true, 1))
        #expect(!observe(.down, refused: true, 10))
        // Still nothing listens after the grace: the supervisor gave up; restart.
        #expect(observe(.down, refused: true, 11))
        // The process the supervisor starts answers wrongly while it
        // initialises: still the supervisor's grace, not a restart.
        var starting = RestartPolicy(config: config)
        do { let started = starting.observe(.down, refused: true, now: at(0)); #expect(!started) }
        do { let started = starting.observe(.down, refused: false, now: at(1)); #expect(!started) }
        // A fall on a wrong answer (sick) or none in time (hung) restarts at once.
        var sick = RestartPolicy(config: config)
        do { let started = sick.observe(.down, refused: false, now: at(0)); #expect(started) }
    }

    /// Down for good (the database is gone): 10, 20, 40, then 60 s apart.
    @Test func restartsWhileDownBackOffToTheCeiling() {
        var policy = RestartPolicy(config: config)
        var started: [Int64] = []
        for second in Int64(0)...400 {
            if policy.observe(.down, now: at(second)) {
                started.append(second)
                policy.finished("exit 0", now: at(second + 1))  // the restart takes 1 s
            }
        }
        #expect(started == [0, 11, 32, 73, 134, 195, 256, 317, 378])
        #expect(policy.total == 9)
    }

    /// A restart that helped: up for `reset_after`, and the next fall is
    /// restarted at once again, with the first backoff.
    @Test func upLongEnoughStartsTheSeriesAgain() {
        var policy = RestartPolicy(config: config)
        do { let started = policy.observe(.down, now: at(0)); #expect(started) }
        policy.finished("exit 0", now: at(1))
        do { let started = policy.observe(.up, now: at(5)); #expect(!started) }
        // Down again soon: still in the series, so it waits out the backoff.
        do { let started = policy.observe(.down, now: at(8)); #expect(!started) }
        do { let started = policy.observe(.down, now: at(11)); #expect(started) }
        policy.finished("exit 0", now: at(12))
        #expect(policy.notBefore == at(32))
        // Up for 120 s resets it.
        for second in Int64(13)...140 { _ = policy.observe(.up, now: at(second)) }
        #expect(policy.attempts == 0)
        do { let started = policy.observe(.down, now: at(141)); #expect(started) }
        policy.finished("exit 1", now: at(142))
        #expect(policy.notBefore == at(152))
    }

    @Test func anUnknownCheckIsNotRestarted() {
        var policy = RestartPolicy(config: config)
        do { let started = policy.observe(.unknown, now: at(0)); #expect(!started) }
        #expect(policy.total == 0)
    }

    @Test func theConfigParsesWithDefaultsAndRefusesABackwardCeiling() throws {
        let base = """
            node: {id: a, interface: eth0, address: 198.18.0.1, priority: 150}
            peers: [{id: b, address: 198.18.0.2}]
            vrid: 51
            auth: {key_file: /etc/vipd/auth.key}
            checks:
              - name: bingo
                role: backend
                http: {url: "http://127.0.0.1:8080/ping", body_contains: pong}
                restart:
                  command: [/usr/bin/systemctl, --no-ask-password, restart, bingo.service]
            """
        let config = try ConfigParser.parse(base, file: "t.yaml")
        let restart = try #require(config.checks.first?.restart)
        #expect(restart.command.last == "bingo.service")
        #expect(restart.backoff == .seconds(10) && restart.maxBackoff == .seconds(300))
        do {
            _ = try ConfigParser.parse(base + "\n      backoff: 60s\n      max_backoff: 10s", file: "t.yaml")
            Issue.record("a ceiling below the backoff was accepted")
        } catch {
            #expect(error.issues.map(\.field) == ["checks[0].restart.max_backoff"])
        }
    }
}
