import VIPCore

/// `GET /v1/status`: the node, its instances, their peers and checks. Call on `loop`.
extension NodeEngine {
    public func status() -> StatusReport {
        loop.preconditionInEventLoop()
        let now = self.now
        let checks = checkReports(now: now)
        let reports = instances.map { report($0, now: now, checks: checks) }
        var top = reports[0]
        // The node's totals: every instance's, and datagrams no instance claimed.
        var totals = StatusReport.Counters(heartbeatsSent: 0, heartbeatsReceived: 0, sendErrors: 0,
                                           dropped: unclaimedDrops, transitions: 0)
        for runner in instances {
            totals.heartbeatsSent += runner.counters.heartbeatsSent
            totals.heartbeatsReceived += runner.counters.heartbeatsReceived
            totals.sendErrors += runner.counters.sendErrors
            totals.transitions += runner.counters.transitions
            for (reason, count) in runner.counters.dropped { totals.dropped[reason, default: 0] += count }
        }
        top.counters = totals
        top.instances = reports.map { report in
            var report = report
            report.checks = []  // node-wide: once, at the top
            return report
        }
        return top
    }

    /// One instance's report (no checks, no nested instances); nil if there is no such instance.
    public func status(of instance: String) -> StatusReport? {
        loop.preconditionInEventLoop()
        return instances.first { $0.name == instance }.map { report($0, now: now, checks: []) }
    }

    /// The named instance, or all of them.
    public func instanceNames(_ name: String?) -> [String] {
        name.map { [$0] } ?? instances.map(\.name)
    }

    /// How long a handover of `instance` may take before it is dropped.
    public func handoverPatience(of instance: String) -> Span {
        instances.first { $0.name == instance }?.router.election.handoverPatience ?? .seconds(1)
    }

    private func report(_ runner: InstanceRunner, now: Instant, checks: [StatusReport.Check]) -> StatusReport {
        let election = runner.router.election
        let peerReports = runner.router.peers.entries.map { entry in
            StatusReport.Peer(
                id: entry.id, address: entry.address.description, alive: entry.alive, state: entry.state,
                priority: entry.priority.map(Int.init),
                backendHealthy: entry.lastHeard == nil ? nil : entry.flags.contains(.backendHealthy),
                lastHeardMs: entry.lastHeard.map { (now - $0).milliseconds },
                link: linkReport(runner, entry.id),
                vote: runner.config.quorum && entry.lastHeard != nil ? (entry.vote ?? "") : nil)
        }
        var report = StatusReport(
            node: config.node.id, state: election.state, priority: Int(election.effectivePriority),
            basePriority: Int(runner.config.priority), vrid: Int(runner.config.vrid), master: election.currentMaster,
            stateForMs: (now - runner.stateSince).milliseconds, lastTransitionReason: runner.lastReason?.description,
            advertIntervalMs: runner.config.timing.advertInterval.milliseconds,
            vips: runner.config.vips.map {
                .init(address: "\($0.address)/\($0.prefixLength)", interface: $0.interface, held: runner.vips.held)
            },
            peers: peerReports, counters: runner.counters, version: VIPDVersion.string,
            checks: checks,
            preemptHeld: election.preemptSuppressed,
            handover: election.handover.map { $0.target ?? "best" },
            detection: election.settings.detection.name,
            masterDownMs: election.state == .backup ? election.masterDownInterval.milliseconds : nil)
        report.instance = runner.name
        if !runner.config.trackInterfaces.isEmpty {
            report.interfaces = runner.config.trackInterfaces.map { .init(name: $0.name, up: links[$0.name]?.up ?? true) }
        }
        var faults = runner.appliedFault.map { [$0] } ?? []
        if let verdict = runner.router.quorumVerdict(now: now) {
            report.quorum = .init(members: verdict.members, heard: verdict.heard, consenting: verdict.consenting,
                                  held: verdict.held, consent: verdict.consent, vote: runner.router.vote(now: now),
                                  witness: election.settings.witness)
            if !verdict.held { faults.append("no quorum: hears \(verdict.heard) of \(verdict.members) members") }
        }
        if !faults.isEmpty { report.faults = faults }
        return report
    }

    private func linkReport(_ runner: InstanceRunner, _ id: String) -> StatusReport.Peer.Link? {
        let election = runner.router.election
        guard case .adaptive(let rate, let ceiling) = election.settings.detection,
              let link = election.links[id] else { return nil }
        return .init(observed: link.observed.rounded(), lossRate: link.lossRate, burstiness: link.burstiness,
                     jitterMs: link.jitter.milliseconds,
                     intervals: link.intervals(interval: runner.config.timing.advertInterval, falseTakeoversPerWeek: rate,
                                               ceiling: ceiling))
    }
}
