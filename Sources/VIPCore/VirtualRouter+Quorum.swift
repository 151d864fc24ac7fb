/// The majority rule of `quorum: true` instances, on the router's side: the
/// vote this node's heartbeats carry and the verdict its peers' votes give
/// (the rules are in Election+Quorum.swift; docs/protocol.md, "Quorum").
///
/// The two time windows are what orders a cut: a master counts a peer for
/// its majority only while heard within 3 of that peer's intervals, while a
/// voter keeps voting for a silent master until one interval after that
/// master's own Master_Down_Interval (3 intervals + skew). So an isolated
/// master gives the address up before the witness lets anyone take it.
extension VirtualRouter {
    static let quorumWindowIntervals: Int64 = 3

    /// The master this node follows, as its heartbeats tell: itself while
    /// master, else the best master among the peers, held one interval past
    /// its loss. Read from the peer table, not the election, so a witness and
    /// a backup that hears two masters after a heal vote alike.
    public func vote(now: Instant) -> String? {
        if election.state == .master { return election.settings.nodeID }
        let masters = peers.entries.filter { entry in
            guard entry.state == .master, (entry.priority ?? 0) > 0, let end = voteHoldEnd(entry) else { return false }
            return now < end
        }
        return masters.max { ($0.priority ?? 0, $0.address) < ($1.priority ?? 0, $1.address) }?.id
    }

    /// What the peers' votes allow this node; nil unless the instance has `quorum`.
    public func quorumVerdict(now: Instant) -> Election.QuorumVerdict? {
        guard election.settings.quorum else { return nil }
        let heard = peers.entries.filter { entry in heardUntil(entry).map { now < $0 } ?? false }
        let audible = Set(heard.map(\.id))
        let me = election.settings.nodeID
        // A vote for a master this node cannot hear is a vote against its
        // taking over; one for itself, for a master it hears, or for none is not.
        let consenting = heard.filter { peer in peer.vote.map { $0 == me || audible.contains($0) } ?? true }
        return Election.QuorumVerdict(members: peerList.count + 1, heard: 1 + heard.count,
                                      consenting: 1 + consenting.count)
    }

    /// When the verdict or the vote may change next with no datagram
    /// arriving (kept in `quorumDeadline` after every input).
    func nextQuorumChange(after now: Instant) -> Instant? {
        guard election.settings.quorum else { return nil }
        var earliest: Instant?
        for entry in peers.entries {
            for end in [heardUntil(entry), entry.state == .master ? voteHoldEnd(entry) : nil].compactMap({ $0 }) where end > now {
                earliest = Instant.earliest(earliest, end)
            }
        }
        return earliest
    }

    private func heardUntil(_ entry: PeerTable.Entry) -> Instant? {
        guard let heard = entry.lastHeard, let interval = entry.advertInterval else { return nil }
        return heard + Self.quorumWindowIntervals * interval
    }

    private func voteHoldEnd(_ entry: PeerTable.Entry) -> Instant? {
        guard let loss = peers.lossDeadline(of: entry), let interval = entry.advertInterval else { return nil }
        return loss + interval
    }

    /// Hands the election the current verdict. Call after the peer table
    /// changed and before the election hears the heartbeat that changed it.
    mutating func updateQuorum(now: Instant) -> [Action] {
        guard let verdict = quorumVerdict(now: now) else { return [] }
        quorumDeadline = nextQuorumChange(after: now)
        return drive(election.setQuorum(verdict, now: now), now: now).actions
    }

    /// A changed vote goes out at once, not at the next heartbeat: a backup
    /// elsewhere may be waiting for exactly this to take over.
    mutating func announceVoteChange(now: Instant) -> [Action] {
        guard election.settings.quorum else { return [] }
        let current = vote(now: now)
        guard current != lastVote else { return [] }
        lastVote = current
        return drive(election.announce(now: now), now: now).actions
    }
}
