#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore

/// Ends the TCP connections a VIP move left dead (`SockDiagMessage.isStale`)
/// with SOCK_DESTROY, like `ss -K`. Needs CAP_NET_ADMIN and a kernel with
/// CONFIG_INET_DIAG_DESTROY (Debian's has it); without it the first call
/// throws EOPNOTSUPP and the caller stops asking.
public final class StaleConnections: ConnectionEnding {
    private let socket: Mutex<NetlinkSocket>

    public init() throws {
        socket = Mutex(try NetlinkSocket(netlinkProtocol: SockDiagMessage.protocolSockDiag))
    }

    /// One dump of the socket table per address family the VIPs need, however
    /// many VIPs the instance has.
    public func endStaleConnections(to addresses: [IPAddress], acquired: Bool) throws -> Int {
        let move: SockDiagMessage.Move = acquired ? .acquired : .released
        guard !addresses.isEmpty else { return 0 }
        // An IPv4 VIP is also reached through dual-stack sockets (::ffff:a.b.c.d):
        // the IPv6 table is dumped for every move.
        let families = addresses.contains(where: \.isIPv4) ? [true, false] : [false]
        return try socket.withLock { socket in
            var ended = 0
            for ipv4 in families {
                let dumped = try socket.exchange("sock_diag dump of TCP/\(ipv4 ? "IPv4" : "IPv6")") {
                    SockDiagMessage.dump(ipv4: ipv4, sequence: $0)
                }
                for message in dumped {
                    guard let connection = SockDiagMessage.parse(message.payload),
                          addresses.contains(where: { SockDiagMessage.isStale(connection, vip: $0, move: move) })
                    else { continue }
                    do {
                        _ = try socket.exchange("SOCK_DESTROY \(connection.source):\(connection.sourcePort) -> "
                                                + "\(connection.destination):\(connection.destinationPort)") {
                            SockDiagMessage.destroy(connection, sequence: $0)
                        }
                        ended += 1
                    } catch let error as SystemError where [ENOENT, EINVAL].contains(error.code) {
                        continue   // closed meanwhile, or in a state that cannot be aborted
                    }
                }
            }
            return ended
        }
    }
}
