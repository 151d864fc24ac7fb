import Testing
import VIPCore

@Suite struct AnnouncementFramesTests {
    let mac: [UInt8] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]
    let vip4 = IPAddress("198.18.0.100")!
    let vip6 = IPAddress("fd00:198:18::100")!

    /// Parses a hex dump such as one printed by scapy's `raw(p).hex()`.
    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func arpRequestLayout() {
        let frame = AnnouncementFrames.gratuitousARP(senderMAC: mac, address: vip4, operation: .request)
        #expect(frame.count == 60)
        #expect(Array(frame[0..<6]) == [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])   // broadcast destination
        #expect(Array(frame[6..<12]) == mac)                                    // Ethernet source
        #expect(Array(frame[12..<14]) == [0x08, 0x06])                          // ethertype ARP
        #expect(Array(frame[14..<22]) == [0, 1, 0x08, 0x00, 6, 4, 0, 1])        // htype, ptype, hlen, plen, op=request
        #expect(Array(frame[22..<28]) == mac)                                   // sender MAC
        #expect(Array(frame[28..<32]) == [198, 18, 0, 100])                     // sender IP = VIP
        #expect(Array(frame[32..<38]) == [0, 0, 0, 0, 0, 0])                    // target MAC zero in a request
        #expect(Array(frame[38..<42]) == [198, 18, 0, 100])                     // target IP = VIP
        #expect(frame[42...].allSatisfy { $0 == 0 })                            // padding
    }

    @Test func arpReplyLayout() {
        let frame = AnnouncementFrames.gratuitousARP(senderMAC: mac, address: vip4, operation: .reply)
        #expect(frame.count == 60)
        #expect(Array(frame[0..<6]) == AnnouncementFrames.broadcastMAC)
        #expect(Array(frame[20..<22]) == [0, 2])                                // op=reply
        #expect(Array(frame[22..<28]) == mac)
        #expect(Array(frame[28..<32]) == [198, 18, 0, 100])
        #expect(Array(frame[32..<38]) == AnnouncementFrames.broadcastMAC)       // target MAC broadcast in a reply
        #expect(Array(frame[38..<42]) == [198, 18, 0, 100])
    }

    /// Vector from scapy 2.8.0: Ether()/ARP(op=1, ...) padded to 60 bytes.
    @Test func arpRequestMatchesScapy() {
        let scapy = hex("ffffffffffff02005e1000010806000108000604000102005e100001c6120064000000000000c6120064"
                        + String(repeating: "00", count: 18))
        #expect(AnnouncementFrames.gratuitousARP(senderMAC: mac, address: vip4, operation: .request) == scapy)
    }

    @Test func neighborAdvertisementLayout() {
        let frame = AnnouncementFrames.unsolicitedNeighborAdvertisement(senderMAC: mac, address: vip6)
        #expect(frame.count == 14 + 40 + 32)
        #expect(Array(frame[0..<6]) == [0x33, 0x33, 0, 0, 0, 1])                // all-nodes multicast MAC
        #expect(Array(frame[6..<12]) == mac)
        #expect(Array(frame[12..<14]) == [0x86, 0xdd])                          // ethertype IPv6
        let ip = Array(frame[14..<54])
        #expect(ip[0] >> 4 == 6)
        #expect(Array(ip[4..<6]) == [0, 32])                                    // payload length
        #expect(ip[6] == 58)                                                    // next header ICMPv6
        #expect(ip[7] == 255)                                                   // hop limit
        #expect(Array(ip[8..<24]) == vip6.bytes)                                // source = the VIP
        #expect(Array(ip[24..<40]) == IPAddress("ff02::1")!.bytes)              // destination all nodes
        let icmp = Array(frame[54...])
        #expect(icmp[0] == 136 && icmp[1] == 0)                                 // NA, code 0
        #expect(icmp[4] == 0x20)                                                // O set, R and S clear
        #expect(Array(icmp[5..<8]) == [0, 0, 0])
        #expect(Array(icmp[8..<24]) == vip6.bytes)                              // target = the VIP
        #expect(Array(icmp[24..<32]) == [2, 1] + mac)                           // target link-layer address option
    }

    @Test func neighborAdvertisementChecksumVerifies() {
        let frame = AnnouncementFrames.unsolicitedNeighborAdvertisement(senderMAC: mac, address: vip6)
        var icmp = Array(frame[54...])
        let carried = UInt16(icmp[2]) << 8 | UInt16(icmp[3])
        icmp[2] = 0
        icmp[3] = 0
        let source = Array(frame[22..<38]), destination = Array(frame[38..<54])
        #expect(AnnouncementFrames.icmpv6Checksum(source: source, destination: destination, message: icmp) == carried)
        // Known-good value computed independently by scapy 2.8.0.
        #expect(carried == 0xf72c)
    }

    /// Whole frame from scapy 2.8.0:
    /// Ether(dst="33:33:00:00:00:01", src=mac)/IPv6(src=vip6, dst="ff02::1", hlim=255)
    ///   /ICMPv6ND_NA(R=0, S=0, O=1, tgt=vip6)/ICMPv6NDOptDstLLAddr(lladdr=mac)
    @Test func neighborAdvertisementMatchesScapy() {
        let scapy = hex("33330000000102005e10000186dd6000000000203afffd000198001800000000000000000100"
                        + "ff0200000000000000000000000000018800f72c20000000fd000198001800000000000000000100"
                        + "020102005e100001")
        #expect(AnnouncementFrames.unsolicitedNeighborAdvertisement(senderMAC: mac, address: vip6) == scapy)
    }

    /// RFC 1071 §3 worked example: 0001 f203 f4f5 f6f7 sums to ddf2.
    @Test func checksumArithmeticFollowsRFC1071() {
        let zeros = [UInt8](repeating: 0, count: 16)
        let message: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        // Pseudo-header contributes length 8 and next header 58: 0x0008 + 0x003a.
        let expected = ~UInt16(0xddf2 + 0x0008 + 0x003a)
        #expect(AnnouncementFrames.icmpv6Checksum(source: zeros, destination: zeros, message: message) == expected)
    }

    @Test func defaultScheduleIsAscending() {
        #expect(AnnouncementSchedule.defaultDelays == [.zero, .milliseconds(100), .milliseconds(500), .seconds(2)])
        #expect(AnnouncementSchedule(delays: [.seconds(1), .zero]).delays == [.zero, .seconds(1)])
    }
}
