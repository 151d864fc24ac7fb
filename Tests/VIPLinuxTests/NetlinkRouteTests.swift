import Testing
import VIPCore
@testable import VIPLinux

/// The rtnetlink messages of `routes:` and of link tracking, byte for byte.
@Suite struct NetlinkRouteTests {
    let route = RouteSpec(destination: IPAddress("198.19.5.0")!, prefixLength: 24, gateway: IPAddress("198.18.0.254")!,
                          interface: nil, metric: 7, table: 100)

    @Test func newRouteLayout() {
        let bytes = NetlinkMessage.newRoute(route, interfaceIndex: 3, sequence: 9)
        // nlmsghdr: RTM_NEWROUTE (24), REQUEST|ACK|REPLACE|CREATE, seq 9.
        #expect(Array(bytes[4..<12]) == [24, 0, 0x05, 0x05, 9, 0, 0, 0])
        // rtmsg: AF_INET, /24, src 0, tos 0, table 100, RTPROT_STATIC, universe scope (a gateway), unicast, flags 0.
        #expect(Array(bytes[16..<28]) == [2, 24, 0, 0, 100, 4, 0, 1, 0, 0, 0, 0])
        let attributes = NetlinkMessage.attributes(bytes, from: 28)
        #expect(attributes.map(\.type) == [1, 15, 5, 4, 6])  // DST, TABLE, GATEWAY, OIF, PRIORITY
        #expect(attributes[0].value == [198, 19, 5, 0])
        #expect(attributes[1].value == [100, 0, 0, 0])
        #expect(attributes[2].value == [198, 18, 0, 254])
        #expect(attributes[3].value == [3, 0, 0, 0])
        #expect(attributes[4].value == [7, 0, 0, 0])
        #expect(Int(NetlinkMessage.readHost(UInt32.self, bytes, at: 0)) == bytes.count)
    }

    @Test func aDefaultRouteOnALinkHasNoDestinationAndLinkScope() {
        let onLink = RouteSpec(destination: IPAddress("0.0.0.0")!, prefixLength: 0, interface: "eth0")
        let bytes = NetlinkMessage.deleteRoute(onLink, interfaceIndex: 2, sequence: 1)
        #expect(Array(bytes[4..<6]) == [25, 0])  // RTM_DELROUTE
        #expect(bytes[16 + 4] == 254 && bytes[16 + 6] == 253)  // main table, RT_SCOPE_LINK
        #expect(NetlinkMessage.attributes(bytes, from: 28).map(\.type) == [15, 4])
    }

    @Test func aDeletedRouteIsRecognised() throws {
        let bytes = NetlinkMessage.newRoute(route, interfaceIndex: 3, sequence: 1)
        let info = try #require(NetlinkMessage.parseRoute(Array(bytes[16...])))
        #expect(info == .init(destination: route.destination, prefixLength: 24, table: 100, gateway: route.gateway,
                              interfaceIndex: 3, metric: 7))
        #expect(route.matches(info, interfaceIndex: nil))
        var other = route
        other.table = nil
        #expect(!other.matches(info, interfaceIndex: nil), "another table is another route")
        #expect(NetlinkMessage.parseRoute([1, 2, 3]) == nil)
    }

    @Test func aLinkIsUpOnlyWhenUpAndRunning() throws {
        // ifinfomsg: family, pad, type, index 5, flags, change; then IFLA_IFNAME "dum0".
        func link(flags: UInt32) -> [UInt8] {
            [0, 0, 1, 0] + NetlinkMessage.hostBytes(Int32(5)) + NetlinkMessage.hostBytes(flags) + NetlinkMessage.hostBytes(UInt32(0))
                + NetlinkMessage.attribute(3, Array("dum0".utf8) + [0])
        }
        #expect(NetlinkMessage.parseLink(link(flags: 0x1 | 0x40), deleted: false) == .init(name: "dum0", index: 5, up: true))
        #expect(NetlinkMessage.parseLink(link(flags: 0x1), deleted: false)?.up == false, "up without carrier")
        #expect(NetlinkMessage.parseLink(link(flags: 0x1 | 0x40), deleted: true)?.up == false, "deleted")
        #expect(NetlinkMessage.parseLink([0, 0], deleted: false) == nil)
    }

    @Test func ruleLayoutAndMatching() {
        let rule = RuleSpec(from: (IPAddress("198.18.0.100")!, 32), table: 100, priority: 90)
        let bytes = NetlinkMessage.newRule(rule, sequence: 3)
        // RTM_NEWRULE, REQUEST|ACK|EXCL|CREATE.
        #expect(Array(bytes[4..<8]) == [32, 0, 0x05, 0x06])
        // fib_rule_hdr: AF_INET, dst_len 0, src_len 32, tos 0, table 100, res, res, FR_ACT_TO_TBL, flags 0.
        #expect(Array(bytes[16..<28]) == [2, 0, 32, 0, 100, 0, 0, 1, 0, 0, 0, 0])
        let attributes = NetlinkMessage.attributes(bytes, from: 28)
        #expect(attributes.map(\.type) == [2, 15, 6])  // FRA_SRC, FRA_TABLE, FRA_PRIORITY
        #expect(attributes[0].value == [198, 18, 0, 100])
        let payload = Array(bytes[16...])
        #expect(rule.matches(payload: payload))
        #expect(!RuleSpec(from: (IPAddress("198.18.0.101")!, 32), table: 100, priority: 90).matches(payload: payload))
        #expect(!RuleSpec(from: (IPAddress("198.18.0.100")!, 32), table: 101).matches(payload: payload))
        #expect(RuleSpec(from: (IPAddress("198.18.0.100")!, 32), table: 100).matches(payload: payload),
                "a rule without a priority matches whatever priority the kernel gave it")
    }
}
