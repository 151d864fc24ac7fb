#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, described so an operator can act on it without the
/// source: what was attempted, on what, and the kernel's answer, e.g.
/// "netlink RTM_NEWADDR 198.18.0.100/24 on eth0: Operation not permitted".
public struct SystemError: Error, CustomStringConvertible, Equatable {
    /// What was attempted, with its arguments ("if_nametoindex eth9").
    public var operation: String
    /// The errno value (positive).
    public var code: Int32
    /// Extra text from the kernel (netlink extended ACK), if any.
    public var detail: String?

    public init(operation: String, code: Int32, detail: String? = nil) {
        self.operation = operation
        self.code = code
        self.detail = detail
    }

    /// A refusal found while preparing a system call rather than returned by
    /// one (no such user, not a socket): `message` is the whole text.
    public init(refusal message: String) {
        self.init(operation: message, code: 0)
    }

    /// Captures the current `errno`; call it right after the failing call.
    static func fromErrno(_ operation: String) -> SystemError {
        SystemError(operation: operation, code: errno)
    }

    public var description: String {
        guard code != 0 else { return detail.map { "\(operation) (\($0))" } ?? operation }
        let text = String(cString: strerror(code))
        return detail.map { "\(operation): \(text) (\($0))" } ?? "\(operation): \(text)"
    }
}
