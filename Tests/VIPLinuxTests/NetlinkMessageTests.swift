import Testing
import VIPCore
@testable import VIPLinux

/// Byte layout of the rtnetlink requests, checked without a socket. Integers in
/// netlink headers are host order; these expectations assume a little-endian
/// host (x86_64, aarch64), which is what vipd targets.
@Suite struct NetlinkMessageTests {
    let vip4 = IPAddress("198.18.0.100")!
    let vip6 = IPAddress("fd00:198:18::100")!

    @Test func newIPv4AddressLayout() {
        let bytes = NetlinkMessage.newAddress(vip4, prefixLength: 24, interfaceIndex: 3, label: "d0:vip", sequence: 7)
        // nlmsghdr: length 52, RTM_NEWADDR, REQUEST|ACK|REPLACE|CREATE, seq 7, port 0.
        #expect(Array(bytes[0..<16]) == [52, 0, 0, 0, 20, 0, 0x05, 0x05, 7, 0, 0, 0, 0, 0, 0, 0])
        // ifaddrmsg: AF_INET, /24, no flags, universe scope, ifindex 3.
        #expect(Array(bytes[16..<24]) == [2, 24, 0, 0, 3, 0, 0, 0])
        #expect(Array(bytes[24..<32]) == [8, 0, 2, 0, 198, 18, 0, 100])          // IFA_LOCAL
        #expect(Array(bytes[32..<40]) == [8, 0, 1, 0, 198, 18, 0, 100])          // IFA_ADDRESS
        // IFA_LABEL: length 4 + 7 ("d0:vip" NUL), padded to 12.
        #expect(Array(bytes[40..<52]) == [11, 0, 3, 0] + Array("d0:vip".utf8) + [0, 0])
        #expect(bytes.count == 52)
    }

    @Test func labelIsNulTerminatedAndPadded() {
        let bytes = NetlinkMessage.newAddress(vip4, prefixLength: 24, interfaceIndex: 3, label: "d0:vip", sequence: 7)
        let attributes = NetlinkMessage.attributes(bytes, from: 24)
        #expect(attributes.map(\.type) == [2, 1, 3])
        #expect(attributes[2].value == Array("d0:vip".utf8) + [0])
    }

    @Test func newIPv6AddressSkipsDAD() {
        let bytes = NetlinkMessage.newAddress(vip6, prefixLength: 64, interfaceIndex: 3, label: "ignored", sequence: 1)
        #expect(Array(bytes[16..<20]) == [10, 64, 0x02, 0])                     // AF_INET6, /64, IFA_F_NODAD
        let attributes = NetlinkMessage.attributes(bytes, from: 24)
        #expect(attributes.map(\.type) == [2, 1, 8])                             // no label for IPv6
        #expect(attributes[0].value == vip6.bytes)
        #expect(attributes[2].value == [0x02, 0, 0, 0])                          // IFA_FLAGS = NODAD
        #expect(bytes.count == 16 + 8 + 20 + 20 + 8)
    }

    @Test func deleteCarriesOnlyTheLocalAddress() {
        let bytes = NetlinkMessage.deleteAddress(vip4, prefixLength: 24, interfaceIndex: 3, sequence: 9)
        #expect(Array(bytes[4..<8]) == [21, 0, 0x05, 0])                        // RTM_DELADDR, REQUEST|ACK
        let attributes = NetlinkMessage.attributes(bytes, from: 24)
        #expect(attributes.map(\.type) == [2])
        #expect(bytes.count == 32)
    }

    @Test func dumpRequest() {
        let bytes = NetlinkMessage.dumpAddresses(ipv4: false, sequence: 5)
        #expect(Array(bytes[0..<10]) == [24, 0, 0, 0, 22, 0, 0x01, 0x03, 5, 0])  // RTM_GETADDR, REQUEST|DUMP
        #expect(bytes[16] == 10)
    }

    @Test func splitAndParseRoundTrip() {
        let first = NetlinkMessage.newAddress(vip4, prefixLength: 24, interfaceIndex: 3, label: "d0:vip", sequence: 1)
        let second = NetlinkMessage.newAddress(vip6, prefixLength: 64, interfaceIndex: 4, label: nil, sequence: 2)
        let messages = NetlinkMessage.split(first + second)
        #expect(messages.map(\.sequence) == [1, 2])
        #expect(NetlinkMessage.parseAddress(messages[0].payload)
                == .init(interfaceIndex: 3, prefixLength: 24, address: vip4, label: "d0:vip"))
        #expect(NetlinkMessage.parseAddress(messages[1].payload)
                == .init(interfaceIndex: 4, prefixLength: 64, address: vip6, label: nil))
    }

    @Test func truncatedInputIsNotReadPastItsEnd() {
        let bytes = NetlinkMessage.newAddress(vip4, prefixLength: 24, interfaceIndex: 3, label: "d0:vip", sequence: 1)
        for length in 0..<bytes.count {
            #expect(NetlinkMessage.split(Array(bytes[0..<length])).isEmpty)
        }
        for length in 0..<(bytes.count - 16) {
            _ = NetlinkMessage.parseAddress(Array(bytes[16..<(16 + length)]))
        }
    }

    @Test func errorsAndAcks() {
        let request = NetlinkMessage.deleteAddress(vip4, prefixLength: 24, interfaceIndex: 3, sequence: 9)
        let ack = NetlinkMessage.hostBytes(Int32(0)) + Array(request[0..<16])
        #expect(NetlinkMessage.parseError(ack, flags: NetlinkMessage.flagCapped)! == (0, nil))
        // -EADDRNOTAVAIL with an extended-ACK message after the capped echo.
        let text = NetlinkMessage.attribute(NetlinkMessage.errorAttributeMessage, Array("no such address".utf8) + [0])
        let error = NetlinkMessage.hostBytes(Int32(-99)) + Array(request[0..<16]) + text
        let parsed = NetlinkMessage.parseError(error, flags: NetlinkMessage.flagCapped | NetlinkMessage.flagAckTLVs)
        #expect(parsed?.code == 99)
        #expect(parsed?.message == "no such address")
        #expect(NetlinkMessage.parseError([0, 0], flags: 0) == nil)
    }

    @Test func errorWithTheMostNegativeCodeDoesNotTrap() {
        // Fuzz/FuzzNetlink found it: negating Int32.min overflowed.
        let payload = [0, 0, 0, 0x80] + [UInt8](repeating: 0, count: 16)
        #expect(NetlinkMessage.parseError(payload, flags: 0)?.code == Int32.max)
    }

    @Test func socketAddressLayoutsMatchTheKernel() {
        #expect(MemoryLayout<NetlinkSocketAddress>.size == 12)   // struct sockaddr_nl
        #expect(MemoryLayout<LinkLayerAddress>.size == 20)       // struct sockaddr_ll
        #expect(MemoryLayout<LinkLayerAddress>.offset(of: \.interfaceIndex) == 4)
        #expect(MemoryLayout<LinkLayerAddress>.offset(of: \.addressLength) == 11)
    }

    @Test func systemErrorDescribesOperationAndErrno() {
        let error = SystemError(operation: "netlink RTM_NEWADDR 198.18.0.100/24 on eth0", code: 1)
        #expect(error.description == "netlink RTM_NEWADDR 198.18.0.100/24 on eth0: Operation not permitted")
        let detailed = SystemError(operation: "x", code: 22, detail: "ipv4: Invalid prefix length")
        #expect(detailed.description == "x: Invalid argument (ipv4: Invalid prefix length)")
    }
}
