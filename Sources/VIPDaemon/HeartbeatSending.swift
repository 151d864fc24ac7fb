import VIPCore

/// Sends one datagram to each peer. The engine knows nothing of sockets;
/// `UDPHeartbeatTransport` implements this with `sendto(2)`, tests use a recorder.
public protocol HeartbeatSending: Sendable {
    /// Hands `datagrams[i]` to the kernel for `peers[i]`, now, on the
    /// engine's loop (each peer's heartbeat echoes that peer's epoch, so they
    /// differ). Throws the first error; the other peers are still sent to.
    func send(_ datagrams: [[UInt8]], to peers: [PeerConfig]) throws
}
