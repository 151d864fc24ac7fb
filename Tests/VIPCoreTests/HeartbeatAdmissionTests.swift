import Testing
import VIPCore

@Suite struct HeartbeatAdmissionTests {
    let key = HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!
    let peerAddress = IPAddress("198.18.0.2")!
    /// This node's epoch: what the peer's heartbeats must echo.
    let ownEpoch: UInt64 = 500

    func admission(ownEpoch: UInt64? = nil, keys: HeartbeatKeyring? = nil) -> HeartbeatAdmission {
        HeartbeatAdmission(vrid: 51, keys: keys ?? HeartbeatKeyring(signing: key), ownEpoch: ownEpoch ?? self.ownEpoch,
                           peers: [.init(id: "node-b", address: peerAddress)])
    }

    func packet(vrid: UInt8 = 51, epoch: UInt64 = 10, sequence: UInt64 = 1, id: String = "node-b",
                key: HeartbeatKey? = nil, echo: UInt64? = nil) -> [UInt8] {
        HeartbeatCodec.encode(Heartbeat(vrid: vrid, priority: 100, state: .master, flags: [],
                                         advertInterval: .milliseconds(100), epoch: epoch,
                                         sequence: sequence, nodeID: id, echo: echo ?? ownEpoch), key: key ?? self.key)
    }

    func admitted(_ gate: inout HeartbeatAdmission, _ bytes: [UInt8]) -> Bool {
        (try? gate.admit(bytes, from: peerAddress).get()) != nil
    }

    @Test func acceptsAuthenticFreshPacket() throws {
        var gate = admission()
        let heartbeat = try gate.admit(packet(), from: peerAddress).get()
        #expect(heartbeat.nodeID == "node-b")
    }

    @Test func dropsEachFailureUnderItsOwnReason() {
        var gate = admission()
        #expect(gate.admit([1, 2, 3], from: peerAddress) == .failure(.truncated))
        #expect(gate.admit(packet(vrid: 52), from: peerAddress) == .failure(.wrongVRID))
        let stranger = HeartbeatKey(bytes: Array("fedcba9876543210".utf8))!
        #expect(gate.admit(packet(key: stranger), from: peerAddress) == .failure(.unknownKey))
        var forged = packet()
        forged[forged.count - 1] ^= 1
        #expect(gate.admit(forged, from: peerAddress) == .failure(.badAuth))
        #expect(gate.admit(packet(id: "node-x"), from: peerAddress) == .failure(.unknownPeer))
        #expect(gate.admit(packet(), from: IPAddress("198.18.0.9")!) == .failure(.unknownPeer))
        #expect(gate.admit(packet(echo: ownEpoch - 1), from: peerAddress) == .failure(.unverified))
    }

    @Test func refusesReplayedAndOlderPackets() {
        var gate = admission()
        let first = packet(epoch: 10, sequence: 5)
        #expect(admitted(&gate, first))
        #expect(gate.admit(first, from: peerAddress) == .failure(.replay))
        #expect(gate.admit(packet(epoch: 10, sequence: 4), from: peerAddress) == .failure(.replay))
        #expect(admitted(&gate, packet(epoch: 10, sequence: 6)))
        // A restarted peer has another epoch and starts its sequence again.
        #expect(admitted(&gate, packet(epoch: 11, sequence: 1)))
        // The boot it replaced is over: its packets are replays now.
        #expect(gate.admit(packet(epoch: 10, sequence: 7), from: peerAddress) == .failure(.replay))
    }

    /// Issue 18, item 2: a restarted node has forgotten what it heard. Traffic
    /// captured before its start echoes its previous epoch and is refused.
    @Test func aCaptureFromBeforeThisNodesStartIsRefused() {
        var before = admission(ownEpoch: 500)
        let captured = (1...50).map { packet(epoch: 10, sequence: UInt64($0), echo: 500) }
        for bytes in captured { #expect(admitted(&before, bytes)) }
        // This node restarts: epoch 501, nothing remembered.
        var after = admission(ownEpoch: 501)
        for bytes in captured { #expect(after.admit(bytes, from: peerAddress) == .failure(.unverified)) }
        // The live peer learns epoch 501 from this node's heartbeats and is admitted.
        #expect(after.echo(for: "node-b") == 10)
        #expect(admitted(&after, packet(epoch: 10, sequence: 51, echo: 501)))
        // Replaying the capture again changes nothing.
        for bytes in captured { #expect(!admitted(&after, bytes)) }
    }

    /// Issue 18, item 3: a peer whose clock (or boot counter) went back
    /// restarts with a lower epoch. It is admitted once it echoes this node's
    /// epoch; replays of its previous boot are refused.
    @Test func aPeerWhoseEpochWentBackIsAdmitted() {
        var gate = admission()
        #expect(admitted(&gate, packet(epoch: 1_700_000_000_000, sequence: 900)))
        let lower: UInt64 = 1_600_000_000_000
        #expect(gate.admitWithBoot(packet(epoch: lower, sequence: 1), from: peerAddress).map(\.boot) == .success(.new))
        #expect(admitted(&gate, packet(epoch: lower, sequence: 2)))
        #expect(gate.admit(packet(epoch: 1_700_000_000_000, sequence: 901), from: peerAddress) == .failure(.replay))
    }

    /// Before anything is confirmed, the epoch echoed back is the highest one
    /// seen: a capture of an older boot cannot displace the live one.
    @Test func theEchoFollowsTheHighestUnconfirmedEpoch() {
        var gate = admission()
        #expect(gate.echo(for: "node-b") == 0)
        _ = gate.admit(packet(epoch: 20, sequence: 1, echo: 1), from: peerAddress)
        _ = gate.admit(packet(epoch: 12, sequence: 99, echo: 1), from: peerAddress)
        #expect(gate.echo(for: "node-b") == 20)
        // Confirmed: the echo is the admitted epoch and unverified packets no longer move it.
        #expect(admitted(&gate, packet(epoch: 20, sequence: 2)))
        _ = gate.admit(packet(epoch: 30, sequence: 1, echo: 1), from: peerAddress)
        #expect(gate.echo(for: "node-b") == 20)
    }

    /// Issue 18, item 5: a node accepts its own key and the accepted ones,
    /// whichever a peer signs with, so a rotation never silences the cluster.
    @Test func keyRotationAcceptsTheSigningAndTheAcceptedKeys() {
        let next = HeartbeatKey(bytes: Array("the next key, 16+ bytes".utf8))!
        var gate = admission(keys: HeartbeatKeyring(signing: key, accepted: [next]))
        #expect(admitted(&gate, packet(sequence: 1, key: key)))
        #expect(admitted(&gate, packet(sequence: 2, key: next)))
        var old = admission(keys: HeartbeatKeyring(signing: key))
        #expect(old.admit(packet(sequence: 1, key: next), from: peerAddress) == .failure(.unknownKey))
        // A reload keeps what is known of the peer: old packets stay refused.
        gate.reconfigure(keys: HeartbeatKeyring(signing: next, accepted: [key]), peers: [.init(id: "node-b", address: peerAddress)])
        #expect(gate.admit(packet(sequence: 2, key: next), from: peerAddress) == .failure(.replay))
        #expect(admitted(&gate, packet(sequence: 3, key: key)))
    }

    @Test func forgedPacketDoesNotAdvanceReplayWindow() {
        var gate = admission()
        let stranger = HeartbeatKey(bytes: Array("fedcba9876543210".utf8))!
        _ = gate.admit(packet(epoch: 99, sequence: 99, key: stranger), from: peerAddress)
        #expect(admitted(&gate, packet(epoch: 10, sequence: 1)))
        #expect(gate.echo(for: "node-b") == 10)
    }
}
