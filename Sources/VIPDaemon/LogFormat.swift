import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One log line per event on stderr (journald adds its own timestamp, but a
/// foreground run and a failover post-mortem need milliseconds):
/// `2026-11-29T01:10:23.412Z notice node-a: backup -> master (reason) key=value`
///
/// swift-log's StreamLogHandler prints whole seconds only, which cannot order
/// two nodes' lines within a failover.
public struct VIPLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let node: String

    public init(node: String, level: Logger.Level) {
        self.node = node
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        let merged = metadata.merging(extra ?? [:]) { _, new in new }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var bytes = Array("\(Self.timestamp()) \(level) \(node): \(message)\(fields)\n".utf8)
        // One write(2) per line: lines from several threads never interleave.
        _ = write(2, &bytes, bytes.count)
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
