// libFuzzer target: a datagram read from the rtnetlink socket (the address
// watcher's multicast group, or the kernel's answer to a request), split into
// messages and each payload decoded as an address message and as an error/ACK
// under the datagram's own flags and under every combination of the
// extended-ACK flags.
import FuzzSupport
import VIPCore
import VIPLinux

@main
enum Target {
    static func main() { LibFuzzer.run(fuzz, seeds: seeds) }
}

func fuzz(_ input: UnsafeBufferPointer<UInt8>) {
    let datagram = Array(input)
    let messages = NetlinkMessage.split(datagram)
    precondition(messages.reduce(0) { $0 + 16 + $1.payload.count } <= datagram.count, "split read past the datagram")
    for message in messages {
        if let info = NetlinkMessage.parseAddress(message.payload) {
            _ = info.address?.description
            precondition(info.prefixLength <= 255, "prefix length from one byte")
        }
        for flags in [message.flags, 0, 0x100, 0x200, 0x300] {
            _ = NetlinkMessage.parseError(message.payload, flags: flags)
        }
        // The watcher's other messages: links, deleted routes and rules.
        if let link = NetlinkMessage.parseLink(message.payload, deleted: false) {
            precondition(!link.name.contains("\0"), "an interface name with a NUL")
        }
        if let route = NetlinkMessage.parseRoute(message.payload) {
            precondition(route.prefixLength <= 255, "prefix length from one byte")
        }
        _ = RuleSpec(from: (IPAddress("198.18.0.100")!, 32), table: 100).matches(payload: message.payload)
    }
}

/// Seeds built with vipd's own message builders (the kernel echoes requests
/// in the same layout), a dump answer of two addresses and NLMSG_DONE, and
/// ACKs and errors with and without the extended-ACK message.
func seeds() -> [[UInt8]] {
    let v4 = IPAddress("198.18.0.100")!, v6 = IPAddress("2001:db8::10")!
    let add4 = NetlinkMessage.newAddress(v4, prefixLength: 24, interfaceIndex: 2, label: "eth0:vip", sequence: 7)
    let add6 = NetlinkMessage.newAddress(v6, prefixLength: 64, interfaceIndex: 3, label: nil, sequence: 8)
    let delete = NetlinkMessage.deleteAddress(v4, prefixLength: 24, interfaceIndex: 2, sequence: 9)
    let dump = NetlinkMessage.dumpAddresses(ipv4: true, sequence: 10)
    func header(length: Int, type: UInt16, flags: UInt16, sequence: UInt32) -> [UInt8] {
        bytes(UInt32(length)) + bytes(type) + bytes(flags) + bytes(sequence) + bytes(UInt32(0))
    }
    func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
    // NLMSG_ERROR (2): errno, then the echoed request's header (capped, 0x100)
    // and an NLMSGERR_ATTR_MSG text (0x200).
    let text = Array("Invalid prefix length".utf8) + [0, 0, 0]
    let errorBody = bytes(Int32(-22)) + Array(delete.prefix(16)) + bytes(UInt16(4 + text.count - 2)) + bytes(UInt16(1)) + text
    let error = header(length: 16 + errorBody.count, type: 2, flags: 0x300, sequence: 9) + errorBody
    let ackBody = bytes(Int32(0)) + Array(add4.prefix(16))
    let ack = header(length: 16 + ackBody.count, type: 2, flags: 0x100, sequence: 7) + ackBody
    let done = header(length: 20, type: 3, flags: 2, sequence: 10) + bytes(Int32(0))
    return [add4, add6, delete, dump, error, ack, add4 + add6 + done, error + ack]
}
