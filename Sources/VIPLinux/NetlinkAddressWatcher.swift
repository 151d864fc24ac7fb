#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore

/// Reports rtnetlink changes: addresses deleted from any interface, so the master notices at
/// once when someone runs `ip addr del` on its VIP (or an IPv6 VIP vanishes
/// with its link) instead of silently black-holing traffic.
///
/// Listens on the rtnetlink multicast groups for IPv4 and IPv6 address
/// changes (readable without privileges) on a dedicated thread, because the
/// read blocks. Deletions vipd makes itself are reported too; the daemon
/// decides which ones matter.
public final class NetlinkAddressWatcher: Sendable {
    /// RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR from <linux/rtnetlink.h>.
    static let groups: UInt32 = 0x10 | 0x100

    private let state: Mutex<(thread: pthread_t?, wakeWriter: Int32)>

    /// Opens the socket and starts the reading thread.
    /// - Parameters:
    ///   - onDelete: called on the watcher thread for each RTM_DELADDR with the
    ///     address and its interface index. Must not block for long.
    ///   - onOverflow: called when the kernel dropped notifications because the
    ///     socket buffer was full (ENOBUFS); the caller should re-check its
    ///     VIPs with `isPresent`, since a deletion may have been lost.
    /// - Throws: `SystemError` if the socket or thread cannot be created.
    public convenience init(onDelete: @escaping @Sendable (IPAddress, Int32) -> Void,
                            onOverflow: @escaping @Sendable () -> Void = {}) throws {
        try self.init(groups: Self.groups, onMessage: { message in
            guard message.type == NetlinkMessage.typeDeleteAddress,
                  let info = NetlinkMessage.parseAddress(message.payload), let address = info.address else { return }
            onDelete(address, info.interfaceIndex)
        }, onOverflow: onOverflow)
    }

    /// Reports every change of an interface's state (RTMGRP_LINK): its name
    /// and whether it is up with carrier. For `track_interfaces`.
    public static func links(onChange: @escaping @Sendable (NetlinkMessage.LinkInfo) -> Void,
                             onOverflow: @escaping @Sendable () -> Void = {}) throws -> NetlinkAddressWatcher {
        try NetlinkAddressWatcher(groups: 0x1, onMessage: { message in
            let deleted = message.type == NetlinkMessage.typeDeleteLink
            guard message.type == NetlinkMessage.typeNewLink || deleted,
                  let info = NetlinkMessage.parseLink(message.payload, deleted: deleted) else { return }
            onChange(info)
        }, onOverflow: onOverflow)
    }

    /// Reports routes deleted (RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE), for
    /// the routes an instance holds while master.
    public static func routes(onDelete: @escaping @Sendable (NetlinkMessage.RouteInfo) -> Void,
                              onOverflow: @escaping @Sendable () -> Void = {}) throws -> NetlinkAddressWatcher {
        try NetlinkAddressWatcher(groups: 0x40 | 0x400, onMessage: { message in
            guard message.type == NetlinkMessage.typeDeleteRoute,
                  let info = NetlinkMessage.parseRoute(message.payload) else { return }
            onDelete(info)
        }, onOverflow: onOverflow)
    }

    init(groups: UInt32, onMessage: @escaping @Sendable (NetlinkMessage.Parsed) -> Void,
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
