import NIOCore
import VIPCore

/// Sends one datagram to every peer. The engine knows nothing of sockets;
/// `UDPHeartbeatTransport` implements this over SwiftNIO, tests use a recorder.
public protocol HeartbeatSending: Sendable {
    /// Sends `bytes` to each peer; the future completes when all writes are flushed.
    func send(_ bytes: [UInt8], to peers: [PeerConfig]) -> EventLoopFuture<Void>
}
