/// One virtual router (VRRP instance) of this node, whole, as a pure state
/// machine: the election, the admission of datagrams, the peer table, the
/// sequence numbers and the assembly of every heartbeat.
///
/// The daemon (`NodeEngine`) and the simulator (`SimulatedCluster`) both drive
/// exactly this type, so what the simulation exercises is what runs: the
/// standby interval, the `releasedVIPs` flag, the answers out of schedule and
/// the re-announce after a heal. Inputs are events with `now`; outputs are
/// complete actions (a `.send` carries the signed datagrams).
public struct VirtualRouter: Sendable {
    /// Who this router is on the wire.
    public struct Identity: Sendable, Equatable {
        /// The instance's name (`instances[].name`; `vrid<N>` for a single-router file).
        public var instance: String
        public var vrid: UInt8
        /// This node's boot epoch, carried in every heartbeat.
        public var epoch: UInt64

        public init(instance: String, vrid: UInt8, epoch: UInt64) {
            self.instance = instance
            self.vrid = vrid
            self.epoch = epoch
        }
    }

    /// One signed datagram for one peer (each echoes that peer's epoch).
    public struct Datagram: Sendable, Equatable {
        public var peer: String
        public var bytes: [UInt8]
    }

    /// `protocol: vrrp3`: RFC 9568 adverts instead of vipd's heartbeats.
    /// Only the master advertises; there is no node id, epoch, sequence or
    /// flag on the wire, so a peer is known by its address, and planned
    /// handovers fall back to a priority-0 resignation.
    public struct VRRP: Sendable, Equatable {
        public var settings: VRRP3Settings
        /// This node's address: the source of its adverts (and of the checksum).
        public var source: IPAddress
        /// The virtual addresses the adverts list.
        public var addresses: [IPAddress]

        public init(settings: VRRP3Settings, source: IPAddress, addresses: [IPAddress]) {
            self.settings = settings
            self.source = source
            self.addresses = addresses
        }
    }

    /// One VRRP advert for one destination (224.0.0.18, or a unicast peer).
    public struct RawDatagram: Sendable, Equatable {
        public var destination: IPAddress
        public var bytes: [UInt8]
    }

    public enum Action: Sendable, Equatable {
        /// The single record of a state change.
        case transition(from: NodeState, to: NodeState, reason: TransitionReason)
        /// Put these datagrams on the wire; `heartbeat` is what they carry
        /// (with the echo of the first peer), for logs and counters.
        case send(Heartbeat, [Datagram])
        /// VRRPv3: put these adverts on the raw socket.
        case sendVRRP(VRRPAdvert, [RawDatagram])
        /// VRRPv3: an advert listed other virtual addresses than this node's
        /// (logged and counted, not fatal: RFC 9568 6.4.2).
        case addressMismatch(from: IPAddress, listed: [IPAddress])
        case acquireVIPs
        case releaseVIPs
        /// One more gratuitous ARP / NA for VIPs already held.
        case reannounceVIPs
        case handoverAborted
        /// A peer found, lost or changing state.
        case peer(PeerTable.Event)
        /// A datagram refused by admission, with its reason.
        case dropped(DropReason, from: IPAddress)
    }

    public struct Output: Sendable, Equatable {
        public var actions: [Action]
        /// When `tick` must be called next.
        public var nextDeadline: Instant?
    }

    public let identity: Identity
    public internal(set) var election: Election
    public private(set) var admission: HeartbeatAdmission
    public private(set) var peers: PeerTable
    private var keys: HeartbeatKeyring
    var peerList: [HeartbeatAdmission.Peer]
    /// Whether the local backend passes its check; every heartbeat says so.
    public private(set) var backendHealthy = true
    private var sequence: UInt64 = 0
    /// The last heartbeat sent, for an answer to one peer out of schedule.
    private var lastAdvertised: Heartbeat?
    /// `quorum`: the vote the last heartbeat carried, and when the verdict
    /// or the vote changes next by the clock alone (VirtualRouter+Quorum.swift).
    var lastVote: String?
    var quorumDeadline: Instant?
    /// When each peer was last answered out of schedule (rate limit).
    private var lastAnswered: [String: Instant] = [:]
    /// At most one answer per peer in this span: a flood of captured
    /// datagrams makes a node send at most 100 a second per peer.
    public static let answerInterval = Span.milliseconds(10)

    /// Set for `protocol: vrrp3`.
    public private(set) var vrrp: VRRP?
    /// `vrrp3.auth_hmac`: the UTC clock of the trailer's sequence, the last
    /// sequence sent, the last accepted from each peer (VirtualRouter+AuthHMAC.swift).
    public var wallClock = WallClock.system
    var hmacSender = VRRPAuthHMAC.Sender()
    var hmacReplay: [IPAddress: VRRPAuthHMAC.Replay] = [:]

    public init(identity: Identity, settings: Election.Settings, keys: HeartbeatKeyring,
                peers: [HeartbeatAdmission.Peer], vrrp: VRRP? = nil) {
        self.vrrp = vrrp
        self.identity = identity
        self.election = Election(settings: settings)
        self.keys = keys
        self.peerList = peers
        self.admission = HeartbeatAdmission(vrid: identity.vrid, keys: keys, ownEpoch: identity.epoch, peers: peers)
        self.peers = PeerTable(peers: peers)
    }

    public var state: NodeState { election.state }

    public var nextDeadline: Instant? {
        Instant.earliest(Instant.earliest(election.nextDeadline, peers.nextDeadline), quorumDeadline)
    }

    /// Peers that could take over now: heard recently and in the backup state.
    public var eligiblePeers: [PeerTable.Entry] { peers.entries.filter { $0.alive && $0.state == .backup } }

    // MARK: Inputs

    public mutating func start(now: Instant) -> Output {
        // Quorum: no peer heard yet, so the node starts in FAULT ("no quorum").
        let quorum = updateQuorum(now: now)
        var output = drive(election.start(now: now), now: now)
        output.actions = quorum + output.actions
        output.nextDeadline = nextDeadline
        return output
    }

    /// One datagram from `source`, any bytes: admission checks them.
    public mutating func receive(_ bytes: [UInt8], from source: IPAddress, now: Instant) -> Output {
        switch admission.admitWithBoot(bytes, from: source) {
        case .failure(let reason):
            var actions: [Action] = [.dropped(reason, from: source)]
            // Authentic but not echoing our epoch: the peer may not know it
            // yet (one of us restarted). Tell it now, not at the next
            // scheduled heartbeat, which may come after our master-down time.
            if reason == .unverified, let peer = peerList.first(where: { $0.address == source }) {
                actions += answer(peer.id, now: now)
            }
            return Output(actions: actions, nextDeadline: nextDeadline)
        case .success(let (heartbeat, boot)):
            var actions: [Action] = []
            if boot == .new { actions += answer(heartbeat.nodeID, now: now) }
            let events = peers.record(heartbeat, now: now)
            actions += events.map(Action.peer)
            if reannounceAfterHeal(events, heartbeat) { actions.append(.reannounceVIPs) }
            actions += updateQuorum(now: now)
            var output = drive(election.receive(heartbeat, from: source, now: now), now: now)
            output.actions = actions + output.actions + announceVoteChange(now: now)
            output.nextDeadline = nextDeadline
            return output
        }
    }

    /// VRRPv3: one advert received from `source` for `destination` with `ttl`
    /// (from the IP header). Checked here: TTL 255, checksum form, a listed
    /// peer; the virtual addresses are compared but a mismatch is not fatal.
    public mutating func receiveVRRP(_ payload: [UInt8], from source: IPAddress, to destination: IPAddress, ttl: UInt8,
                                     now: Instant) -> Output {
        guard let vrrp else { return Output(actions: [.dropped(.malformed, from: source)], nextDeadline: nextDeadline) }
        guard ttl == VRRPCodec.ttl else { return Output(actions: [.dropped(.badTTL, from: source)], nextDeadline: nextDeadline) }
        let advert: VRRPAdvert
        let (message, trailer) = vrrp.settings.authHMAC == nil ? (payload[...], nil)
            : VRRPAuthHMAC.split(payload, addressLength: source.isIPv4 ? 4 : 16)
        switch VRRPCodec.parse(Array(message), source: source, destination: destination, accepted: vrrp.settings.checksum) {
        case .failure(let reason): return Output(actions: [.dropped(reason, from: source)], nextDeadline: nextDeadline)
        case .success(let (parsed, _)): advert = parsed
        }
        guard advert.vrid == identity.vrid else {
            return Output(actions: [.dropped(.wrongVRID, from: source)], nextDeadline: nextDeadline)
        }
        guard let peer = peerList.first(where: { $0.address == source }) else {
            return Output(actions: [.dropped(.unknownPeer, from: source)], nextDeadline: nextDeadline)
        }
        if let reason = authenticate(message, trailer, from: source) {
            return Output(actions: [.dropped(reason, from: source)], nextDeadline: nextDeadline)
        }
        var actions: [Action] = []
        if Set(advert.addresses) != Set(vrrp.addresses) { actions.append(.addressMismatch(from: source, listed: advert.addresses)) }
        // Only masters advertise: every advert is a master's heartbeat.
        let heartbeat = Heartbeat(vrid: advert.vrid, priority: advert.priority, state: .master, flags: [],
                                  advertInterval: advert.interval, epoch: 0, sequence: 0, nodeID: peer.id)
        // A backup peer is silent by design: only its changes of state are
        // news, not its coming and going.
        actions += peers.record(heartbeat, now: now).filter { if case .stateChanged = $0 { true } else { false } }.map(Action.peer)
        var output = drive(election.receive(heartbeat, from: source, now: now), now: now)
        output.actions = actions + output.actions
        return output
    }

    /// Runs what is due: peers gone silent, the election's timers.
    public mutating func tick(now: Instant) -> Output {
        let expired = peers.expire(now: now)
        let lost = vrrp == nil ? expired.map(Action.peer) : []
        let quorum = updateQuorum(now: now)
        var output = drive(election.tick(now: now), now: now)
        output.actions = lost + quorum + output.actions + announceVoteChange(now: now)
        output.nextDeadline = nextDeadline
        return output
    }

    public mutating func shutdown(now: Instant) -> Output {
        drive(election.shutdown(now: now), now: now)
    }

    public mutating func setFault(_ reason: String?, now: Instant) -> Output {
        drive(election.setFault(reason, now: now), now: now)
    }

    /// The local backend's verdict; peers hear a change at once, not at the
    /// next (standby) heartbeat.
    public mutating func setBackendHealthy(_ healthy: Bool, now: Instant) -> Output {
        guard healthy != backendHealthy else { return Output(actions: [], nextDeadline: nextDeadline) }
        backendHealthy = healthy
        return drive(election.announce(now: now), now: now)
    }

    public mutating func setPriority(_ priority: UInt8, now: Instant) -> Output {
        drive(election.setPriority(priority, now: now), now: now)
    }

    public mutating func beginHandover(to target: String?, now: Instant) -> Output {
        drive(election.beginHandover(to: target, now: now), now: now)
    }

    public mutating func requestHandover(to target: String?, now: Instant) -> Output {
        drive(election.requestHandover(to: target, now: now), now: now)
    }

    public mutating func setMaintenance(_ on: Bool, handOver: Bool, now: Instant) -> Output {
        drive(election.setMaintenance(on, handOver: handOver, now: now), now: now)
    }

    /// Take the VIPs now because a sync-group partner did (`Election.takeOver`).
    public mutating func takeOver(because reason: TransitionReason, now: Instant) -> Output {
        drive(election.takeOver(reason, now: now), now: now)
    }

    /// Leave master because a sync-group partner did (`Election.resign`).
    public mutating func resign(because reason: TransitionReason, now: Instant) -> Output {
        drive(election.resign(reason, now: now), now: now)
    }

    /// A reload: new settings, keys and peers. What is known of the peers that
    /// remain is kept, so a reload never reopens them to old packets.
    public mutating func reconfigure(_ settings: Election.Settings, keys: HeartbeatKeyring,
                                     peers newPeers: [HeartbeatAdmission.Peer], now: Instant) -> Output {
        self.keys = keys
        peerList = newPeers
        admission.reconfigure(keys: keys, peers: newPeers)
        peers.reconfigure(peers: newPeers)
        return drive(election.reconfigure(settings, now: now), now: now)
    }

    // MARK: Heartbeats

    /// Turns the election's actions into complete ones.
    mutating func drive(_ output: ElectionOutput, now: Instant) -> Output {
        var actions: [Action] = []
        actions.reserveCapacity(output.actions.count)
        for action in output.actions {
            switch action {
            case .transition(let from, let to, let reason): actions.append(.transition(from: from, to: to, reason: reason))
            case .sendHeartbeat(let priority, let state):
                if vrrp != nil {
                    if let advert = advert(priority: priority, state: state) { actions.append(advert) }
                } else {
                    actions.append(heartbeat(priority: priority, state: state, now: now))
                }
            case .acquireVIPs: actions.append(.acquireVIPs)
            case .releaseVIPs: actions.append(.releaseVIPs)
            case .reannounceVIPs: actions.append(.reannounceVIPs)
            case .handoverAborted: actions.append(.handoverAborted)
            }
        }
        return Output(actions: actions, nextDeadline: nextDeadline)
    }

    /// One heartbeat to every peer. The state it is sent as may differ from
    /// the current one (a resignation is sent as master by a node already
    /// stopping), so the interval and flags are those of `state`.
    private mutating func heartbeat(priority: UInt8, state: NodeState, now: Instant) -> Action {
        let signal = election.handoverSignal
        var flags = signal.flags
        if backendHealthy && !election.settings.witness { flags.insert(.backendHealthy) }
        if election.settings.witness { flags.insert(.witness) }
        if election.takeReleasedVIPsFlag(sentAs: state) { flags.insert(.releasedVIPs) }
        var vote: String?
        if election.settings.quorum {
            flags.insert(.vote)
            vote = state == .master ? election.settings.nodeID : self.vote(now: now)
            lastVote = vote
        }
        sequence += 1
        let heartbeat = Heartbeat(
            vrid: identity.vrid, priority: priority, state: state, flags: flags,
            advertInterval: election.interval(advertisedAs: state), epoch: identity.epoch, sequence: sequence,
            nodeID: election.settings.nodeID, target: signal.target, vote: vote)
        lastAdvertised = heartbeat
        return sign(heartbeat, for: peerList.map(\.id))
    }

    /// VRRPv3: only a master advertises (a resignation too: priority 0, sent
    /// as master); one datagram per destination, as the checksum covers it.
    /// With `auth_hmac` (not receive-only) each carries the same trailer: the
    /// HMAC reads the checksum as zero, so one signature serves every copy.
    private mutating func advert(priority: UInt8, state: NodeState) -> Action? {
        guard let vrrp, state == .master else { return nil }
        let advert = VRRPAdvert(vrid: identity.vrid, priority: priority, interval: election.settings.advertInterval,
                                addresses: vrrp.addresses)
        let destinations = vrrp.settings.multicast ? [VRRPCodec.multicastIPv4] : peerList.map(\.address)
        var messages = destinations.map {
            RawDatagram(destination: $0, bytes: VRRPCodec.encode(advert, source: vrrp.source, destination: $0,
                                                                 checksum: vrrp.settings.checksum))
        }
        if let first = messages.first, let trailer = signTrailer(first.bytes) {
            for index in messages.indices { messages[index].bytes += trailer }
        }
        return .sendVRRP(advert, messages)
    }

    /// The last heartbeat again, to one peer, at most once per `answerInterval`.
    private mutating func answer(_ peer: String, now: Instant) -> [Action] {
        guard var last = lastAdvertised else { return [] }
        if let previous = lastAnswered[peer], now - previous < Self.answerInterval { return [] }
        lastAnswered[peer] = now
        sequence += 1
        last.sequence = sequence
        return [sign(last, for: [peer])]
    }

    private func sign(_ heartbeat: Heartbeat, for targets: [String]) -> Action {
        var heartbeat = heartbeat
        var first: Heartbeat?
        let datagrams = targets.map { peer in
            heartbeat.echo = admission.echo(for: peer)
            if first == nil { first = heartbeat }
            return Datagram(peer: peer, bytes: HeartbeatCodec.encode(heartbeat, key: keys.signing))
        }
        return .send(first ?? heartbeat, datagrams)
    }

    /// A peer that comes back (a healed partition), or one that stops being
    /// master while this node is master, may have answered for the VIPs:
    /// clients may still point at it, so announce them once more. The
    /// election re-announces when it hears a lower master; this covers the
    /// race where that peer yielded before its master heartbeat reached us.
    private func reannounceAfterHeal(_ events: [PeerTable.Event], _ heartbeat: Heartbeat) -> Bool {
        guard election.state == .master else { return false }
        // The peer says it held the VIPs until just now.
        if heartbeat.flags.contains(.releasedVIPs) { return true }
        return events.contains { event in
            switch event {
            case .found: true
            case .stateChanged(_, let from, _): from == .master
            case .lost: false
            }
        }
    }
}
