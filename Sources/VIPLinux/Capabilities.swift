#if canImport(Glibc)
import Glibc
#endif
import CLibcap

/// A privilege problem, worded for the operator who has to fix it.
public struct PrivilegeError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// Runs vipd with the two capabilities it needs and nothing else, via libcap.
///
/// Linux capabilities belong to each thread, and new threads copy their
/// creator's. Call these at the very top of `main`, before any event loop,
/// task or thread starts, so every later thread inherits the final set:
/// netlink checks CAP_NET_ADMIN in the thread that sends each request.
public enum Privileges {
    /// What vipd keeps, and why, for error messages.
    static let required: [(value: cap_value_t, name: String, purpose: String)] = [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN", "to add and remove VIPs"),
        (CAP_NET_RAW, "CAP_NET_RAW", "to send gratuitous ARP"),
    ]

    /// When running as root, becomes `name` (its uid and primary gid, no
    /// supplementary groups) keeping exactly CAP_NET_ADMIN and CAP_NET_RAW,
    /// permitted and effective. Does nothing when not root: a service started
    /// as its own user gets its capabilities from systemd instead.
    ///
    /// Open root-only resources first (the AF_PACKET socket, files under /etc).
    /// - Throws: `PrivilegeError` or `SystemError` if any step fails; the
    ///   process must then exit rather than run half-dropped.
    public static func dropToUser(_ name: String) throws {
        guard geteuid() == 0 else { return }
        let threads = threadCount()
        guard threads <= 1 else {
            throw PrivilegeError("dropping privileges with \(threads) threads running would leave the others " +
                                 "with root's capabilities; call Privileges.dropToUser before starting any")
        }
        guard let entry = getpwnam(name) else { throw PrivilegeError("cannot drop privileges: no user named \(name)") }
        let uid = entry.pointee.pw_uid, gid = entry.pointee.pw_gid
        guard uid != 0 else { throw PrivilegeError("cannot drop privileges to \(name): it is uid 0") }

        // Without KEEPCAPS, setuid() away from root empties the permitted set.
        guard vipd_set_keepcaps(1) == 0 else { throw SystemError.fromErrno("prctl PR_SET_KEEPCAPS") }
        // Groups before the uid: after setuid we may no longer change them.
        guard setgroups(0, nil) == 0 else { throw SystemError.fromErrno("setgroups []") }
        guard setgid(gid) == 0 else { throw SystemError.fromErrno("setgid \(gid)") }
        guard setuid(uid) == 0 else { throw SystemError.fromErrno("setuid \(uid) (\(name))") }
        _ = vipd_set_keepcaps(0)

        // The uid change emptied the effective set; the permitted set is still
        // root's. Replace both with exactly the two we need.
        guard let caps = cap_init() else { throw SystemError.fromErrno("cap_init") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var values = required.map(\.value)
        for flag in [CAP_PERMITTED, CAP_EFFECTIVE] {
            guard cap_set_flag(caps, flag, Int32(values.count), &values, CAP_SET) == 0 else {
                throw SystemError.fromErrno("cap_set_flag")
            }
        }
        guard cap_set_proc(caps) == 0 else { throw SystemError.fromErrno("cap_set_proc CAP_NET_ADMIN,CAP_NET_RAW") }
        // Belt and braces: regaining root must now be impossible.
        guard setuid(0) != 0 else { throw PrivilegeError("privilege drop failed: setuid(0) still succeeds") }
    }

    /// Makes sure CAP_NET_ADMIN and CAP_NET_RAW are effective, raising them
    /// from the permitted set if needed (file capabilities or a service
    /// manager may grant them as permitted only).
    /// - Throws: `PrivilegeError` naming each missing capability and how to grant it.
    public static func requireNetworkCapabilities() throws {
        guard let caps = cap_get_proc() else { throw SystemError.fromErrno("cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var raise = required.filter { !isSet($0.value, CAP_EFFECTIVE, in: caps) && isSet($0.value, CAP_PERMITTED, in: caps) }
            .map(\.value)
        if !raise.isEmpty {
            guard cap_set_flag(caps, CAP_EFFECTIVE, Int32(raise.count), &raise, CAP_SET) == 0,
                  cap_set_proc(caps) == 0
            else { throw SystemError.fromErrno("cap_set_proc raising permitted capabilities") }
        }
        let missing = required.filter { !isSet($0.value, CAP_EFFECTIVE, in: caps) }
        guard missing.isEmpty else {
            let names = missing.map { "\($0.name) (\($0.purpose))" }.joined(separator: " and ")
            let verb = missing.count == 1 ? "it is" : "they are"
            throw PrivilegeError("vipd needs \(names) but \(verb) not in the effective capability set; " +
                                 "run as root or grant \(missing.count == 1 ? "it" : "them") " +
                                 "(AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)")
        }
    }

    /// The current thread's capabilities in libcap text form, e.g.
    /// "cap_net_admin,cap_net_raw=ep", for the startup log.
    public static func currentDescription() -> String {
        guard let caps = cap_get_proc() else { return "?" }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        guard let text = cap_to_text(caps, nil) else { return "?" }
        defer { cap_free(UnsafeMutableRawPointer(text)) }
        return String(cString: text)
    }

    private static func isSet(_ value: cap_value_t, _ flag: cap_flag_t, in caps: cap_t) -> Bool {
        var state = CAP_CLEAR
        return cap_get_flag(caps, value, flag, &state) == 0 && state == CAP_SET
    }

    /// Threads in this process (entries of /proc/self/task); 0 if unknown.
    private static func threadCount() -> Int {
        guard let directory = opendir("/proc/self/task") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != 0x2e { count += 1 }   // skip "." and ".."
        }
        return count
    }
}
