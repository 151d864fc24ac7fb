/// A point on a monotonic clock, in nanoseconds since an arbitrary origin.
///
/// The core never reads a clock: the daemon passes `now` into every call, and
/// tests pass a virtual one. Plain integers keep the arithmetic obvious.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: Instant, rhs: Span) -> Instant { Instant(nanoseconds: lhs.nanoseconds + rhs.nanoseconds) }
    public static func - (lhs: Instant, rhs: Instant) -> Span { Span(nanoseconds: lhs.nanoseconds - rhs.nanoseconds) }

    public var description: String { "t+\(Span(nanoseconds: nanoseconds))" }

    /// The earlier of two optional instants; nil only when both are.
    public static func earliest(_ a: Instant?, _ b: Instant?) -> Instant? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }
}

/// A length of time in nanoseconds (configuration values, timer intervals).
public struct Span: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func milliseconds(_ ms: Int64) -> Span { Span(nanoseconds: ms * 1_000_000) }
    public static func seconds(_ s: Int64) -> Span { Span(nanoseconds: s * 1_000_000_000) }
    public static func centiseconds(_ cs: Int64) -> Span { Span(nanoseconds: cs * 10_000_000) }
    public static let zero = Span(nanoseconds: 0)

    public var milliseconds: Double { Double(nanoseconds) / 1_000_000 }
    public var seconds: Double { Double(nanoseconds) / 1_000_000_000 }
    /// Rounded down to whole centiseconds, the unit of the wire format.
    public var centiseconds: Int64 { nanoseconds / 10_000_000 }

    public static func < (lhs: Span, rhs: Span) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: Span, rhs: Span) -> Span { Span(nanoseconds: lhs.nanoseconds + rhs.nanoseconds) }
    public static func * (lhs: Int64, rhs: Span) -> Span { Span(nanoseconds: lhs * rhs.nanoseconds) }

    public var description: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        let tenths = (nanoseconds + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10)ms"
    }

    /// Parses "100ms", "1s", "1.5s", "250us", "2m". Returns nil for anything else.
    public init?(parsing text: String) {
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }),
                  let value = Double(number), value.isFinite, value >= 0, value * scale < 1e18
            else { return nil }
            self.init(nanoseconds: Int64((value * scale).rounded()))
            return
        }
        return nil
    }
}
