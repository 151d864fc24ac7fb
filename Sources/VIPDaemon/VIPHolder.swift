import Logging
import NIOCore
import VIPCore
import VIPLinux
#if canImport(Glibc)
import Glibc
#endif

/// Adds, announces and removes the VIPs when the election says so.
///
/// Confined to the engine's event loop. Netlink calls are short syscalls, so
/// they run inline. It announces once when it adds the VIPs; the repeats
/// (100 ms, 500 ms, 2 s) are the election's (`reannounceVIPs`), which stops
/// them the moment the node is no longer master, also while it keeps the
/// VIPs a little longer after yielding (`Election.drainTime`).
///
/// It also holds the instance's routes and rules (`routing`): installed
/// after the VIPs (a route may go through the VIP's subnet), withdrawn
/// before them.
final class VIPHolder: @unchecked Sendable {  // confined to `loop`
    private(set) var vips: [VIPSpec]
    let routing: RoutingHolder
    let addresses: (any AddressManaging)?
    let announcer: (any Announcing)?
    /// Cleared after the first "not supported" (a kernel without sock_diag destroy).
    private(set) var connections: (any ConnectionEnding)?
    let loop: any EventLoop
    let logger: Logger
    private(set) var held = false
    private(set) var failures = 0

    init(vips: [VIPSpec], routes: [RouteSpec] = [], rules: [RuleSpec] = [], addresses: (any AddressManaging)?,
         routeManager: (any RouteManaging)? = nil, announcer: (any Announcing)?,
         connections: (any ConnectionEnding)? = nil, loop: any EventLoop, logger: Logger) {
        self.connections = connections
        self.vips = vips
        self.routing = RoutingHolder(routes: routes, rules: rules, manager: routeManager, logger: logger)
        self.addresses = addresses
        self.announcer = announcer
        self.loop = loop
        self.logger = logger
    }

    /// On start a node is not master yet: a VIP still configured here was
    /// left by a crashed run and would answer for the real master.
    func releaseLeftovers() {
        routing.withdraw(leftover: true)
        guard let addresses else {
            if !vips.isEmpty { logger.warning("VIP management is not available in this build; VIPs will not be moved") }
            return
        }
        for vip in vips {
            do {
                if try addresses.isPresent(vip) {
                    try addresses.remove(vip)
                    logger.warning("removed \(vip.address)/\(vip.prefixLength) from \(vip.interface), left behind by an earlier run")
                }
            } catch {
                failures += 1
                logger.error("checking for a leftover \(vip.address) failed: \(error)")
            }
        }
    }

    func acquire() {
        held = true
        guard let addresses else { return }
        for vip in vips {
            do {
                try addresses.add(vip)
                logger.info("added \(vip.address)/\(vip.prefixLength) to \(vip.interface)")
            } catch {
                failures += 1
                logger.error("adding \(vip.address) failed: \(error)")
            }
        }
        routing.install()
        announceAll()
        endStaleConnections(acquired: true)
    }

    /// The local connections the move left dead (`SockDiagMessage.isStale`):
    /// acquired, a local client of the VIP whose peer was the old holder,
    /// whose answers are now dropped as coming from one of our own
    /// addresses; released, whatever had the VIP at either end. Their
    /// owners get ECONNABORTED and reconnect, to the right node, at once.
    private func endStaleConnections(acquired: Bool) {
        guard let ender = connections, !vips.isEmpty else { return }
        let addresses = vips.map(\.address)
        let named = addresses.map(\.description).joined(separator: ", ")
        do {
            let ended = try ender.endStaleConnections(to: addresses, acquired: acquired)
            if ended > 0 {
                logger.info("ended \(ended) local connection\(ended == 1 ? "" : "s") \(acquired ? "to" : "from") \(named) that the move left dead")
            }
        } catch let error as SystemError where [EOPNOTSUPP, ENOENT].contains(error.code) {
            logger.warning("cannot end connections a VIP move leaves dead (\(error)); not trying again")
            connections = nil
        } catch {
            failures += 1
            logger.error("ending the connections \(named)'s move left dead failed: \(error)")
        }
    }

    func release() {
        held = false
        routing.withdraw()
        guard let addresses else { return }
        for vip in vips {
            do {
                try addresses.remove(vip)
                logger.info("removed \(vip.address)/\(vip.prefixLength) from \(vip.interface)")
            } catch {
                failures += 1
                logger.error("removing \(vip.address) failed: \(error)")
            }
        }
        endStaleConnections(acquired: false)
    }

    /// A VIP deleted behind our back while master (networkd, NetworkManager, a
    /// person) is put back and announced again.
    func restoreIfHeld(_ address: IPAddress) {
        guard held, let addresses, let vip = vips.first(where: { $0.address == address }) else { return }
        do {
            try addresses.add(vip)
            try announcer?.announce(vip)
            logger.warning("\(vip.address)/\(vip.prefixLength) was removed from \(vip.interface) by something else; restored it")
        } catch {
            failures += 1
            logger.error("restoring \(vip.address) failed: \(error)")
        }
    }

    /// A reload changed the VIP list: while held, add the new ones and remove
    /// the dropped ones, never touching VIPs both lists have.
    func update(_ newVIPs: [VIPSpec]) {
        let removed = vips.filter { !newVIPs.contains($0) }
        let added = newVIPs.filter { !vips.contains($0) }
        vips = newVIPs
        guard held, let addresses else { return }
        for vip in removed {
            do { try addresses.remove(vip) } catch {
                failures += 1
                logger.error("removing \(vip.address) failed: \(error)")
            }
        }
        for vip in added {
            do {
                try addresses.add(vip)
                try announcer?.announce(vip)
            } catch {
                failures += 1
                logger.error("adding \(vip.address) failed: \(error)")
            }
        }
    }

    func recheck() {
        guard held, let addresses else { return }
        for vip in vips where (try? addresses.isPresent(vip)) == false { restoreIfHeld(vip.address) }
    }

    func reannounce() {
        announceAll()
    }

    private func announceAll() {
        guard held, let announcer else { return }
        for vip in vips {
            do {
                try announcer.announce(vip)
            } catch {
                failures += 1
                logger.error("announcing \(vip.address) failed: \(error)")
            }
        }
    }
}
