import Testing
import VIPCore
@testable import VIPLinux

/// The sock_diag requests byte for byte, the parse of an `inet_diag_msg`,
/// and which connections a VIP move leaves dead. Little-endian host assumed,
/// as in NetlinkMessageTests. The real sockets: Tests/lab/test_stale_connections.py.
@Suite struct SockDiagMessageTests {
    let vip = IPAddress("198.18.0.200")!
    let node = IPAddress("198.18.0.2")!
    let other = IPAddress("198.18.0.1")!

    /// An inet_diag_msg as the kernel sends it.
    func diag(family: UInt8 = 2, state: UInt8 = 1, source: IPAddress, sport: UInt16,
              destination: IPAddress, dport: UInt16, cookie: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) -> [UInt8] {
        func padded(_ a: IPAddress) -> [UInt8] { a.bytes + [UInt8](repeating: 0, count: 16 - a.bytes.count) }
        let id = [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)]
            + padded(source) + padded(destination) + [0, 0, 0, 0] + cookie
        return [family, state, 0, 0] + id + [UInt8](repeating: 0, count: 20)
    }

    @Test func dumpRequestLayout() {
        let bytes = SockDiagMessage.dump(ipv4: true, sequence: 9)
        // nlmsghdr: length 72, SOCK_DIAG_BY_FAMILY (20), REQUEST|ROOT|MATCH, seq 9.
        #expect(Array(bytes[0..<16]) == [72, 0, 0, 0, 20, 0, 0x01, 0x03, 9, 0, 0, 0, 0, 0, 0, 0])
        // AF_INET, IPPROTO_TCP, no extensions; states: bits 1 2 4 5 8 9 11 (0x0b36).
        #expect(Array(bytes[16..<24]) == [2, 6, 0, 0, 0x36, 0x0b, 0, 0])
        #expect(bytes[24...].allSatisfy { $0 == 0 } && bytes.count == 72)
    }

    @Test func destroyRepeatsTheSocketIDWithItsCookie() throws {
        let connection = try #require(SockDiagMessage.parse(
            diag(source: node, sport: 40000, destination: vip, dport: 5432)))
        let bytes = SockDiagMessage.destroy(connection, sequence: 3)
        // SOCK_DESTROY (21), REQUEST|ACK.
        #expect(Array(bytes[4..<8]) == [21, 0, 0x05, 0])
        // Only its own state (ESTABLISHED, bit 1) and the id from the dump.
        #expect(Array(bytes[16..<24]) == [2, 6, 0, 0, 2, 0, 0, 0])
        #expect(Array(bytes[24..<72]) == connection.socketID && connection.socketID.suffix(8) == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test func parsesPortsAndAddresses() throws {
        let c = try #require(SockDiagMessage.parse(diag(source: node, sport: 40000, destination: vip, dport: 5432)))
        #expect((c.source, c.sourcePort, c.destination, c.destinationPort) == (node, 40000, vip, 5432))
        #expect(SockDiagMessage.parse(Array(diag(source: node, sport: 1, destination: vip, dport: 2).prefix(71))) == nil)
        #expect(SockDiagMessage.parse(diag(family: 17, source: node, sport: 1, destination: vip, dport: 2)) == nil)
    }

    @Test func acquiredEndsLocalClientsOfTheOldHolderOnly() throws {
        func stale(_ source: IPAddress, _ destination: IPAddress, state: UInt8 = 1) throws -> Bool {
            let c = try #require(SockDiagMessage.parse(diag(state: state, source: source, sport: 40000,
                                                            destination: destination, dport: 5432)))
            return SockDiagMessage.isStale(c, vip: vip, move: .acquired)
        }
        #expect(try stale(node, vip))             // talked to the old holder: dead now
        #expect(try !stale(vip, vip))             // made after the move, to the local server
        #expect(try !stale(node, other))          // nothing to do with the VIP
        #expect(try !stale(vip, node))            // a server's connection through the VIP: alive
        #expect(try !stale(node, vip, state: 10)) // never a listener
    }

    @Test func releasedEndsWhatHadTheVIPAsItsOwnAddress() throws {
        func stale(_ source: IPAddress, _ destination: IPAddress) throws -> Bool {
            let c = try #require(SockDiagMessage.parse(diag(source: source, sport: 5432, destination: destination,
                                                            dport: 40000)))
            return SockDiagMessage.isStale(c, vip: vip, move: .released)
        }
        #expect(try stale(vip, other))      // accepted from a client, which now reaches the new holder
        #expect(try stale(vip, vip))        // a local client through the VIP, and its server side
        #expect(try stale(node, vip))       // a local client of the VIP from the node's own address
        #expect(try !stale(node, other))
    }

    @Test func dualStackSocketsSeeTheIPv4VIPMapped() throws {
        let mapped = IPAddress(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + vip.bytes)!
        let mappedNode = IPAddress(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + node.bytes)!
        let c = try #require(SockDiagMessage.parse(diag(family: 10, source: mappedNode, sport: 40000,
                                                        destination: mapped, dport: 5432)))
        #expect(SockDiagMessage.isStale(c, vip: vip, move: .acquired))
        #expect(SockDiagMessage.isStale(c, vip: vip, move: .released))
        let unrelated = try #require(SockDiagMessage.parse(diag(family: 10, source: mappedNode, sport: 40000,
                                                                destination: mappedNode, dport: 5432)))
        #expect(!SockDiagMessage.isStale(unrelated, vip: vip, move: .released))
    }
}
