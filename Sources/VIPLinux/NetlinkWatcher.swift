#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore

/// Reports rtnetlink changes: addresses, routes and rules deleted (so a
/// master notices at once when someone runs `ip addr del` on its VIP, or
/// deletes a route it holds, instead of silently black-holing traffic) and
/// links changing state (tracked interfaces).
///
/// Listens on the rtnetlink multicast groups it is given (readable without
/// privileges) on a dedicated thread, because the read blocks. Changes vipd
/// makes itself are reported too; the daemon decides which ones matter.
public final class NetlinkWatcher: Sendable {
    private let state: Mutex<(thread: pthread_t?, wakeWriter: Int32)>

    /// rtnetlink multicast groups (<linux/rtnetlink.h>), for `init(groups:...)`.
    public enum Groups {
        public static let links: UInt32 = 0x1                // RTMGRP_LINK
        public static let addresses: UInt32 = 0x10 | 0x100    // RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
        public static let routes: UInt32 = 0x40 | 0x400       // RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
        public static let rules: UInt32 = 0x80 | (1 << 18)    // RTMGRP_IPV4_RULE | RTNLGRP_IPV6_RULE
    }

    /// One listener for any set of `Groups`: every message goes to `onMessage`
    /// on the watcher's thread (one thread and one buffer, however many
    /// kinds of change the daemon follows).
    public init(groups: UInt32, onMessage: @escaping @Sendable (NetlinkMessage.Parsed) -> Void,
         onOverflow: @escaping @Sendable () -> Void) throws {
        let socket = try NetlinkSocket(groups: groups, receiveTimeout: nil)
        // Closing the writer end makes the reader end readable (EOF), which
        // wakes the thread's poll(); netlink sockets ignore shutdown(2).
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError.fromErrno("socketpair for the address watcher")
        }
        let loop = WatchLoop(socket: socket, wakeReader: pair[0], onMessage: onMessage, onOverflow: onOverflow)
        let context = Unmanaged.passRetained(loop).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            Unmanaged<WatchLoop>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<WatchLoop>.fromOpaque(context).release()
            close(pair[1])
            throw SystemError(operation: "pthread_create for the address watcher", code: result)
        }
        state = Mutex((thread, pair[1]))
    }

    deinit { stop() }

    /// Stops the thread and closes the socket. Idempotent. When called from
    /// any thread but the watcher's own (i.e. not from inside a callback) it
    /// returns only after the thread has exited, so no callback runs after it.
    public func stop() {
        let thread = state.withLock { state -> pthread_t? in
            guard let thread = state.thread else { return nil }
            close(state.wakeWriter)
            state.thread = nil
            return thread
        }
        guard let thread else { return }
        if pthread_equal(thread, pthread_self()) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }
}

/// The watcher thread's side: owns the netlink socket and the wake reader.
private final class WatchLoop: Sendable {
    let socket: NetlinkSocket
    let wakeReader: Int32
    let onMessage: @Sendable (NetlinkMessage.Parsed) -> Void
    let onOverflow: @Sendable () -> Void

    init(socket: consuming NetlinkSocket, wakeReader: Int32,
         onMessage: @escaping @Sendable (NetlinkMessage.Parsed) -> Void, onOverflow: @escaping @Sendable () -> Void) {
        self.socket = socket
        self.wakeReader = wakeReader
        self.onMessage = onMessage
        self.onOverflow = onOverflow
    }

    deinit { close(wakeReader) }

    func run() {
        var buffer = [UInt8](repeating: 0, count: NetlinkSocket.receiveBufferSize)
        var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, 2, -1) >= 0 else {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }               // stop() closed the writer
            guard fds[0].revents != 0 else { continue }
            let received = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if received < 0 {
                switch errno {
                case ENOBUFS: onOverflow(); continue
                case EAGAIN, EINTR: continue
                default: return                             // the socket is unusable; do not spin
                }
            }
            for message in NetlinkMessage.split(Array(buffer[0..<min(received, buffer.count)])) { onMessage(message) }
        }
    }
}
