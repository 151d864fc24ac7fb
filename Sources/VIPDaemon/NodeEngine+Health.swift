import VIPCore

/// The health checks' verdict, applied per instance. Call on `loop`.
extension NodeEngine {
    /// Applies the health checks' verdict: the node's backend flag, and for
    /// each instance the fault and effective priority of the checks it tracks.
    public func applyHealth(_ verdict: HealthVerdict) {
        loop.preconditionInEventLoop()
        reportCheckChanges()
        lastVerdict = verdict
        refreshHealth()
        setBackendHealthy(verdict.backendHealthy)
        reportBackendsIfChanged()
    }

    /// Re-derives every instance's check fault and priority from the last
    /// verdict (also after a reload changed what instances track).
    func refreshHealth() {
        guard let verdict = lastVerdict else { return }
        let inputs = checkInputs?()
        let now = self.now
        for runner in instances {
            let own: HealthVerdict
            if let inputs {
                own = HealthPolicy.evaluate(inputs, for: runner.config)
            } else {
                // No snapshot (tests driving the engine directly): the node's
                // verdict, its weights moved onto the instance's priority.
                let shift = Int(verdict.effectivePriority) - Int(config.node.priority)
                own = HealthVerdict(faultReason: verdict.faultReason, backendHealthy: verdict.backendHealthy,
                                    effectivePriority: UInt8(min(max(Int(runner.config.priority) + shift, 1), 254)))
            }
            runner.faults["checks"] = own.faultReason
            run(runner.router.setPriority(own.effectivePriority, now: now), runner)
        }
        applyFaults()
    }

    /// Reads the state of tracked interfaces not seen yet (at start, and
    /// after a reload that tracks a new one).
    /// Netlink dropped notifications: read every tracked interface again.
    public func rereadLinks() {
        loop.preconditionInEventLoop()
        guard let linkReader else { return }
        for name in trackedInterfaceNames { linkChanged(name, up: linkReader(name)) }
    }

    func readLinks() {
        guard let linkReader else { return }
        for name in trackedInterfaceNames where links[name] == nil { linkChanged(name, up: linkReader(name)) }
    }
}
