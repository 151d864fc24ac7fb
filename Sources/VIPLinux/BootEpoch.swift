#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// The epoch of this start's heartbeats: larger than every earlier start's
/// on this node, whatever the wall clock says.
///
/// It is the larger of the stored epoch + 1 and the wall clock in
/// milliseconds, and is stored (written and fsynced) before the first
/// heartbeat. The wall clock alone went back after a boot without a working
/// clock; the counter alone would start again at 1 on a reinstall. Peers do
/// not depend on it for freshness (the echo does that, docs/protocol.md);
/// its growth lets a restarted peer pick the live epoch out of a capture.
public enum BootEpoch {
    public static let fileName = "epoch"

    /// The epoch to use, and a warning when it could not be stored (then it
    /// is the wall clock alone, as before vipd kept a counter).
    public static func next(directory: String, wallClockMilliseconds: UInt64 = wallClockMilliseconds()) -> (epoch: UInt64, warning: String?) {
        let path = "\(directory)/\(fileName)"
        var stored: UInt64 = 0
        var warning: String?
        do {
            if let text = try AtomicFile.read(path) {
                if let value = text.split(whereSeparator: \.isWhitespace).first.flatMap({ UInt64($0) }) {
                    stored = value
                } else {
                    warning = "\(path) does not hold an epoch (\"\(text.prefix(40))\"); starting from the wall clock"
                }
            }
        } catch {
            warning = "cannot read \(path): \(error); starting from the wall clock"
        }
        let epoch = max(stored &+ 1, wallClockMilliseconds, 1)
        // systemd's StateDirectory= makes it; a hand-run vipd may not have one.
        mkdir(directory, 0o750)
        do {
            try AtomicFile.write("\(epoch)\n", to: path)
        } catch {
            warning = "cannot store the boot epoch in \(path): \(error); a clock that goes back across a restart then lowers the epoch (peers still accept it, docs/protocol.md)"
        }
        return (epoch, warning)
    }

    public static func wallClockMilliseconds() -> UInt64 {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return UInt64(max(0, wall.tv_sec)) * 1000 + UInt64(max(0, wall.tv_nsec) / 1_000_000)
    }
}
