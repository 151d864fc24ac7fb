import VIPCore

/// Sends one datagram to every peer. The engine knows nothing of sockets;
/// `UDPHeartbeatTransport` implements this with `sendto(2)`, tests use a recorder.
public protocol HeartbeatSending: Sendable {
    /// Hands `bytes` to the kernel for each peer, now, on the engine's loop.
    /// Throws the first error; the other peers are still sent to.
    func send(_ bytes: [UInt8], to peers: [PeerConfig]) throws
}
