import Foundation

/// What a backup has learned about the link from one master's heartbeats,
/// and the master-down time it derives from that (docs/protocol.md,
/// "Adaptive detection", has the math and its assumptions).
///
/// Each heartbeat carries a sequence number and arrives at a measurable
/// time. From the gaps in the sequence the estimate counts lost heartbeats
/// and how often a loss follows a loss (bursts); from the arrival times, how
/// late a heartbeat comes compared with its schedule (jitter, including this
/// node's own scheduling delay). Counts decay, so the estimate follows the
/// link, over three memories:
/// - a long one (`longWindow` heartbeats): only it can show a link clean
///   enough for 2 silent intervals;
/// - a medium one (`mediumWindow`): once it has been clean for a while, a
///   loss burst the long memory still remembers no longer counts in full,
///   so the wait comes back down to about the RFC rule within minutes
///   instead of after the long memory (the smaller of long and medium);
/// - a short one (`shortWindow`) that reacts within a second or so when
///   loss starts (the larger of it and the above).
///
/// The silence after which the master is dead is `k` intervals plus the
/// worst recent lateness plus Skew_Time, `k` the smallest number of
/// intervals whose probability of being lost in a row, per heartbeat, keeps
/// false takeovers at or below the configured rate. Until `minimumObserved`
/// heartbeats have been seen, the RFC 5798 rule applies.
public struct LinkEstimate: Sendable, Equatable {
    public static let longWindow = 10_000.0
    public static let mediumWindow = 1_000.0
    public static let shortWindow = 200.0
    public static let minimumObserved = 100.0
    /// Arrivals whose lateness is remembered (the jitter bound is their maximum).
    public static let latenessSamples = 1024

    /// Decayed counts over one window.
    struct Counts: Sendable, Equatable {
        var expected = 0.0     // heartbeats the master sent (by sequence)
        var lost = 0.0
        var continued = 0.0    // lost heartbeats that followed a lost one

        mutating func add(gap: Double, burst: Double, window: Double) {
            let keep = exp(-gap / window)
            expected = expected * keep + gap
            lost = lost * keep + burst
            continued = continued * keep + max(0, burst - 1)
        }

        /// The chance, per heartbeat, that one is lost (`p`) and that a loss
        /// is followed by another (`rho`). `prior`: one pseudo-loss, so that a
        /// clean link is never "perfect" (the long window; the short one only
        /// adds evidence of real loss). Without evidence of bursts rho leans
        /// to independence (rho = p), with the weight of two losses.
        func rates(prior: Bool) -> (p: Double, rho: Double) {
            let pseudo = prior ? 1.0 : 0.0
            guard expected + pseudo > 0 else { return (0, 0) }
            let p = min(0.99, (lost + pseudo) / (expected + pseudo))
            let rho = min(0.99, max(p, (continued + 2 * p) / (lost + 2)))
            return (p, rho)
        }
    }

    var long = Counts()
    var medium = Counts()
    var short = Counts()
    struct Arrival: Sendable, Equatable {
        var sequence: UInt64
        var at: Instant
        var interval: Span
    }
    private var last: Arrival?
    private var lateness: [Int64] = []
    private var latenessNext = 0

    public init() {}

    /// Heartbeats observed (decayed), lost ones included.
    public var observed: Double { long.expected }
    /// The estimated loss rate: the short window's, or if higher the long
    /// window's as far as the medium one confirms it.
    public var lossRate: Double { combined.p }
    /// The estimated chance that a lost heartbeat is followed by another (combined alike).
    public var burstiness: Double { combined.rho }

    private var combined: (p: Double, rho: Double) {
        let l = long.rates(prior: true), m = medium.rates(prior: true), s = short.rates(prior: false)
        return (max(s.p, min(l.p, m.p)), max(s.rho, min(l.rho, m.rho)))
    }
    /// Silences longer than the ceiling (a partition, the master away): no
    /// number of intervals up to the ceiling rides them out, so they do not
    /// count as loss; counted here only.
    public private(set) var outages = 0
    /// The worst lateness among the last `latenessSamples` arrivals.
    public var jitter: Span { Span(nanoseconds: lateness.max() ?? 0) }

    /// A heartbeat of this master, admitted at `now`.
    public mutating func observe(sequence: UInt64, interval: Span, now: Instant, cap: Int) {
        defer { last = Arrival(sequence: sequence, at: now, interval: interval) }
        // A new boot of the master (its sequence starts again) or a changed
        // interval: nothing to compare with.
        guard let last, sequence > last.sequence, interval == last.interval else { return }
        let gap = sequence - last.sequence
        guard gap - 1 <= UInt64(cap) else {
            outages += 1
            return
        }
        let burst = Double(gap - 1)
        long.add(gap: Double(gap), burst: burst, window: Self.longWindow)
        medium.add(gap: Double(gap), burst: burst, window: Self.mediumWindow)
        short.add(gap: Double(gap), burst: burst, window: Self.shortWindow)
        let due = last.at + Span(nanoseconds: Int64(gap) * interval.nanoseconds)
        let late = max(0, (now - due).nanoseconds)
        if lateness.count < Self.latenessSamples {
            lateness.append(late)
        } else {
            lateness[latenessNext] = late
            latenessNext = (latenessNext + 1) % Self.latenessSamples
        }
    }

    /// Intervals of silence that must pass before the master is dead, so that
    /// false takeovers stay at `falseTakeoversPerWeek`: the smallest k with
    /// p × rho^(k-1) ≤ budget per heartbeat, between 1 and `ceiling`; nil
    /// while too little has been observed.
    public func intervals(interval: Span, falseTakeoversPerWeek: Double, ceiling: Int) -> Int? {
        guard observed >= Self.minimumObserved else { return nil }
        let budget = falseTakeoversPerWeek * interval.seconds / (7 * 86_400)
        let p = lossRate, rho = burstiness
        guard p > budget else { return 1 }
        let k = 1 + Int((log(budget / p) / log(rho)).rounded(.up))
        return min(max(k, 1), ceiling)
    }
}

/// How a backup decides that a silent master is dead.
public enum DetectionPolicy: Sendable, Equatable {
    /// RFC 5798: Master_Down_Interval = 3 × interval + Skew_Time, whatever the link.
    case rfc
    /// From the link's measured loss and jitter (`LinkEstimate`).
    case adaptive(falseTakeoversPerWeek: Double, ceilingIntervals: Int)

    public var name: String {
        switch self {
        case .rfc: "rfc"
        case .adaptive: "adaptive"
        }
    }

    /// The master-down time for a master advertising `interval`, seen by a
    /// node of `priority`, given what its heartbeats taught about the link.
    public func masterDown(interval: Span, priority: UInt8, link: LinkEstimate?) -> Span {
        let rfc = ElectionTiming.masterDownInterval(interval: interval, priority: priority)
        guard case .adaptive(let rate, let ceiling) = self, let link,
              let k = link.intervals(interval: interval, falseTakeoversPerWeek: rate, ceiling: ceiling)
        else { return rfc }
        return Int64(k) * interval + link.jitter + ElectionTiming.skew(interval: interval, priority: priority)
    }
}
