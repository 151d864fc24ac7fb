import Testing
import VIPCore

@Suite struct HeartbeatAdmissionTests {
    let key = HeartbeatKey(bytes: Array("0123456789abcdef".utf8))!
    let peerAddress = IPAddress("198.18.0.2")!

    func admission() -> HeartbeatAdmission {
        HeartbeatAdmission(vrid: 51, key: key, peers: [.init(id: "node-b", address: peerAddress)])
    }

    func packet(vrid: UInt8 = 51, epoch: UInt64 = 10, sequence: UInt64 = 1, id: String = "node-b",
                key: HeartbeatKey? = nil) -> [UInt8] {
        HeartbeatCodec.encode(Heartbeat(vrid: vrid, priority: 100, state: .master, flags: [],
                                         advertInterval: .milliseconds(100), epoch: epoch,
                                         sequence: sequence, nodeID: id), key: key ?? self.key)
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
        #expect(gate.admit(packet(key: stranger), from: peerAddress) == .failure(.badAuth))
        #expect(gate.admit(packet(id: "node-x"), from: peerAddress) == .failure(.unknownPeer))
        #expect(gate.admit(packet(), from: IPAddress("198.18.0.9")!) == .failure(.unknownPeer))
    }

    @Test func refusesReplayedAndOlderPackets() {
        var gate = admission()
        let first = packet(epoch: 10, sequence: 5)
        #expect((try? gate.admit(first, from: peerAddress).get()) != nil)
        #expect(gate.admit(first, from: peerAddress) == .failure(.replay))
        #expect(gate.admit(packet(epoch: 10, sequence: 4), from: peerAddress) == .failure(.replay))
        #expect(gate.admit(packet(epoch: 9, sequence: 100), from: peerAddress) == .failure(.replay))
        #expect((try? gate.admit(packet(epoch: 10, sequence: 6), from: peerAddress).get()) != nil)
        // A restarted peer has a newer epoch and starts its sequence again.
        #expect((try? gate.admit(packet(epoch: 11, sequence: 1), from: peerAddress).get()) != nil)
    }

    @Test func forgedPacketDoesNotAdvanceReplayWindow() {
        var gate = admission()
        let stranger = HeartbeatKey(bytes: Array("fedcba9876543210".utf8))!
        _ = gate.admit(packet(epoch: 99, sequence: 99, key: stranger), from: peerAddress)
        #expect((try? gate.admit(packet(epoch: 10, sequence: 1), from: peerAddress).get()) != nil)
    }
}
