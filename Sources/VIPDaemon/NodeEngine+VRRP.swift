import VIPCore
import VIPLinux

/// `protocol: vrrp3` instances: adverts out through the raw socket, datagrams
/// in from it, and what a socket closing under vipd means. Call on `loop`.
extension NodeEngine {
    func sendVRRP(_ datagrams: [VirtualRouter.RawDatagram], _ runner: InstanceRunner) {
        guard let vrrpSender else { return }
        sent(runner, what: "VRRP advert") {
            for datagram in datagrams { try vrrpSender(datagram.bytes, datagram.destination) }
        }
    }

    /// The VRRP socket closed under us: every vrrp3 instance goes to FAULT
    /// (no VIP held by a node that can neither hear nor speak) until a restart.
    public func vrrpSocketClosed() {
        loop.preconditionInEventLoop()
        guard !stoppingVRRP else { return }
        vrrpSender = nil
        logger.error("the VRRP raw socket closed unexpectedly; protocol: vrrp3 instances are in fault until vipd restarts")
        for runner in instances where runner.router.vrrp != nil { runner.faults["transport"] = "VRRP socket closed" }
        applyFaults()
    }

    /// One datagram from the VRRP raw socket, IP header first. The VRID
    /// byte names the instance, which checks the rest.
    public func receiveVRRP(_ datagram: [UInt8]) {
        loop.preconditionInEventLoop()
        guard let packet = VRRPSocket.parseIPv4(datagram), packet.payload.count >= 2,
              let runner = byVRID[packet.payload[1]], runner.router.vrrp != nil else {
            let reason: DropReason = VRRPSocket.parseIPv4(datagram).map { $0.payload.count >= 2 ? .wrongVRID : .truncated } ?? .malformed
            unclaimedDrops[reason.rawValue, default: 0] += 1
            metrics.dropped(reason)
            return
        }
        let output = runner.router.receiveVRRP(packet.payload, from: packet.source, to: packet.destination, ttl: packet.ttl, now: now)
        if !output.actions.contains(where: { if case .dropped = $0 { true } else { false } }) {
            runner.counters.heartbeatsReceived += 1
            metrics.heartbeatReceived()
        }
        run(output, runner)
        reportBackendsIfChanged()
    }

}
