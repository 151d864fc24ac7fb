/// The majority rule of `quorum: true` instances, on the election's side:
/// the verdict comes from VirtualRouter+Quorum.swift (the peers' votes), the
/// rules here say what it allows. See docs/protocol.md, "Quorum".
///
/// Two failures look alike to the node that survives them: the master died,
/// or the link to it was cut. VRRP takes over in both, and after a cut two
/// nodes hold the address. With a third member (a witness) the survivors can
/// tell: the witness still hears the master across a cut, votes for it, and
/// the backup waits; after a death the witness's vote lapses and the backup
/// takes over. A node that hears no majority at all holds nothing.
extension Election {
    /// What the peers' heartbeats say, for this node.
    public struct QuorumVerdict: Sendable, Equatable {
        /// This node and the instance's configured peers.
        public var members: Int
        /// This node and the peers heard recently.
        public var heard: Int
        /// This node and the peers heard recently that do not vote for a
        /// master this node cannot hear.
        public var consenting: Int

        public init(members: Int, heard: Int, consenting: Int) {
            self.members = members
            self.heard = heard
            self.consenting = consenting
        }

        /// A majority in hearing: the node may hold the addresses.
        public var held: Bool { heard * 2 > members }
        /// A majority does not follow a master out of this node's hearing:
        /// it may take over from a master it has lost.
        public var consent: Bool { consenting * 2 > members }

        var faultReason: String? { held ? nil : "no quorum: hears \(heard) of \(members) members" }
    }

    /// The fault that keeps this node out of the election: the front's, else
    /// the missing quorum's.
    var effectiveFault: String? { faultReason ?? quorum?.faultReason }

    /// Whether a takeover from a master this node lost may happen now.
    var takeoverAllowed: Bool {
        guard settings.quorum else { return true }
        return quorum?.consent ?? false
    }

    /// A new verdict (after every heartbeat and expiry). Losing the majority
    /// faults the node (a master resigns); consent regained completes a
    /// takeover that was waiting for it.
    public mutating func setQuorum(_ verdict: QuorumVerdict, now: Instant) -> ElectionOutput {
        guard settings.quorum, verdict != quorum else { return output([]) }
        quorum = verdict
        var actions = applyFault(now: now)
        if case .backup(let backup) = phase, let reason = backup.awaitingConsent, verdict.consent {
            actions += change(to: .master, reason, now: now)
        }
        return output(actions)
    }

    /// The master-down time has passed: take over, or wait for consent (a
    /// majority still follows the master this node lost). A witness never
    /// takes over; it stops following the master it lost.
    mutating func masterLost(_ backup: Backup, reason: TransitionReason, now: Instant) -> [ElectionAction] {
        var backup = backup
        if settings.witness {
            currentMaster = nil
            backup.resigned = nil
            backup.masterDown = now + masterDownInterval
            phase = .backup(backup)
            return []
        }
        guard takeoverAllowed else {
            backup.awaitingConsent = reason
            // Consent arrives with a heartbeat (`setQuorum`); this only bounds the wake-ups.
            backup.masterDown = now + masterDownInterval
            phase = .backup(backup)
            return []
        }
        return change(to: .master, reason, now: now)
    }

    /// Starts, clears or keeps the fault state from `effectiveFault`.
    mutating func applyFault(now: Instant) -> [ElectionAction] {
        switch (state, effectiveFault) {
        case (.master, let reason?):
            return [.sendHeartbeat(priority: 0, state: .master)] + change(to: .fault, .fault(reason), now: now)
        case (.backup, let reason?):
            return change(to: .fault, .fault(reason), now: now)
        case (.fault, nil):
            return change(to: .backup, .faultCleared, now: now)
        default:
            return []
        }
    }
}
