#if canImport(Glibc)
import Glibc
#endif

/// Layout of `struct sockaddr_nl` (<linux/netlink.h>, 12 bytes), which
/// Swift's Glibc module does not import.
struct NetlinkSocketAddress {
    var family = UInt16(AF_NETLINK)
    var pad: UInt16 = 0
    /// 0 addresses the kernel.
    var portID: UInt32 = 0
    /// Bitmask of RTMGRP_* multicast groups to receive.
    var groups: UInt32 = 0
}

/// A netlink socket (NETLINK_ROUTE unless told otherwise) doing one
/// request/response exchange at a time.
/// Owned by exactly one holder (the address manager guards it with a mutex),
/// closed when dropped.
struct NetlinkSocket: ~Copyable {
    static let protocolRoute: Int32 = 0        // NETLINK_ROUTE
    static let optionCapAck: Int32 = 10        // NETLINK_CAP_ACK: echo only the header in errors
    static let optionExtendedAck: Int32 = 11   // NETLINK_EXT_ACK: kernel adds error text
    static let receiveBufferSize = 64 * 1024

    let fd: Int32
    private var sequence: UInt32

    /// Opens a socket, bound to `groups` if nonzero (for watching).
    /// - Parameter receiveTimeout: bounds every receive so a lost reply
    ///   cannot hang the caller forever; nil blocks.
    init(groups: UInt32 = 0, receiveTimeout: timeval? = timeval(tv_sec: 5, tv_usec: 0),
         netlinkProtocol: Int32 = protocolRoute) throws {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkProtocol)
        guard fd >= 0 else { throw SystemError.fromErrno("socket AF_NETLINK protocol \(netlinkProtocol)") }
        var one: Int32 = 1
        // Both options are best effort: older kernels just give terser errors.
        _ = setsockopt(fd, SOL_NETLINK, Self.optionCapAck, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_NETLINK, Self.optionExtendedAck, &one, socklen_t(MemoryLayout<Int32>.size))
        if var timeout = receiveTimeout {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        if groups != 0 {
            var address = NetlinkSocketAddress(groups: groups)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<NetlinkSocketAddress>.size))
                }
            }
            guard result == 0 else {
                let error = SystemError.fromErrno("bind netlink groups 0x\(String(groups, radix: 16))")
                close(fd)
                throw error
            }
        }
        self.fd = fd
        // Start from the clock so replies to an earlier process are not mistaken for ours.
        self.sequence = UInt32(truncatingIfNeeded: time(nil))
    }

    deinit { close(fd) }

    /// Sends the request that `build` makes with a fresh sequence number and
    /// collects the replies carrying that number, until the ACK (a request)
    /// or NLMSG_DONE (a dump).
    /// - Returns: the data messages (a dump's entries; empty for a request).
    /// - Throws: `SystemError` named `operation` with the kernel's errno.
    mutating func exchange(_ operation: String, _ build: (UInt32) -> [UInt8]) throws -> [NetlinkMessage.Parsed] {
        sequence &+= 1
        let request = build(sequence)
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { throw SystemError.fromErrno(operation) }
        var collected: [NetlinkMessage.Parsed] = []
        var buffer = [UInt8](repeating: 0, count: Self.receiveBufferSize)
        while true {
            // MSG_TRUNC makes recv return the real length so a cut reply is noticed.
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            guard received >= 0 else {
                if errno == EINTR { continue }
                throw SystemError(operation: operation, code: errno == EAGAIN ? ETIMEDOUT : errno)
            }
            guard received <= buffer.count else { throw SystemError(operation: operation, code: EMSGSIZE) }
            for message in NetlinkMessage.split(Array(buffer[0..<received])) where message.sequence == sequence {
                switch message.type {
                case NetlinkMessage.typeError:
                    guard let (code, text) = NetlinkMessage.parseError(message.payload, flags: message.flags) else {
                        throw SystemError(operation: operation, code: EPROTO)
                    }
                    if code != 0 { throw SystemError(operation: operation, code: code, detail: text) }
                    return collected
                case NetlinkMessage.typeDone:
                    return collected
                default:
                    collected.append(message)
                }
            }
        }
    }
}
