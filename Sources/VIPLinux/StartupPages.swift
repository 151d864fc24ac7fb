import CMalloc
import Glibc

/// Gives back the pages of the executable that only start-up touched.
///
/// Loading and starting (the dynamic loader's relocations, argument parsing,
/// YAML, the Swift runtime's first conformance lookups) faults in some 10 MiB
/// of read-only pages, each fault mapping up to 16 neighbours with it, that
/// the running daemon never touches again; they would stay in its RSS for
/// ever. `MADV_PAGEOUT` on the read-only file mappings lets the kernel
/// reclaim them now; what the daemon still uses is faulted back in as it runs.
/// Measured: RSS 32 MiB without, 23 MiB with (docs/benchmarks.md).
///
/// The kernel pages out a file's pages only for a caller that owns the file
/// or could write it, so this runs while vipd is still root, just before it
/// drops privileges; what the event loops and the HTTP server touch later
/// stays. Only mappings without write permission are advised: a writable
/// private mapping can hold modified pages, which the kernel would swap out.
/// Pages shared with other processes (libc) are skipped by the kernel. With
/// `lock_memory`, locked pages cannot be paged out, so the lock is lifted for
/// the call and taken again right after (pages are then locked as they are
/// touched, as at start).
public enum StartupPages {
    /// Returns the number of bytes advised, or a reason it was not done.
    public static func release() -> Result<Int, StartupPagesError> {
        guard let maps = try? readAll("/proc/self/maps", limit: 1 << 22) else {
            return .failure(StartupPagesError(description: "cannot read /proc/self/maps"))
        }
        let locked = lockedKiB() > 0
        if locked { munlockall() }
        defer {
            // MCL_ONFAULT (4), as Scheduling.apply: lock pages as they are touched.
            if locked { _ = mlockall(MCL_CURRENT | MCL_FUTURE | 4) }
        }
        var advised = 0
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            guard let region = Region(line), region.readOnlyFile else { continue }
            // MADV_PAGEOUT = 21 (Linux 5.4); EINVAL on an older kernel.
            guard madvise(UnsafeMutableRawPointer(bitPattern: region.start), region.length, 21) == 0 else {
                if errno == EINVAL && advised == 0 {
                    return .failure(StartupPagesError(description: "MADV_PAGEOUT not supported by this kernel"))
                }
                continue
            }
            advised += region.length
        }
        return .success(advised)
    }

    /// Drops this process's mappings of file pages it is not using: read-only
    /// file mappings lose their page-table entries (`MADV_DONTNEED`), and what
    /// the daemon still runs is mapped again on its next touch, from the page
    /// cache, without I/O. Call once start-up is over.
    ///
    /// `release` runs before the event loops, the control server and the
    /// first election exist; starting those touches some 8 MiB more of the
    /// executable, each fault mapping up to 16 neighbouring pages, that an
    /// idle daemon never runs again (measured: the executable's resident text
    /// fell from 13.7 MiB to 5.8 MiB and stayed there). Unlike `MADV_PAGEOUT`
    /// this needs no privilege: it changes only this process's page tables,
    /// and the pages stay in the page cache.
    ///
    /// Only mappings without anonymous pages are touched: a read-only mapping
    /// can still hold private copies (the dynamic loader's relocated data,
    /// made read-only after relocation), and dropping those would lose them.
    /// Skipped when memory is locked (`lock_memory`), where pages touched
    /// once are meant to stay.
    public static func forgetUnused() -> Result<Int, StartupPagesError> {
        guard lockedKiB() == 0 else {
            return .failure(StartupPagesError(description: "memory is locked (lock_memory)"))
        }
        guard let smaps = try? readAll("/proc/self/smaps", limit: 1 << 24) else {
            return .failure(StartupPagesError(description: "cannot read /proc/self/smaps"))
        }
        var dropped = 0
        for mapping in SmapsMapping.parse(String(decoding: smaps, as: UTF8.self))
        where mapping.region.readOnlyFile && mapping.anonymousKiB == 0 && mapping.residentKiB > 0 {
            // MADV_DONTNEED = 4.
            guard madvise(UnsafeMutableRawPointer(bitPattern: mapping.region.start), mapping.region.length, 4) == 0 else { continue }
            dropped += mapping.residentKiB << 10
        }
        return .success(dropped)
    }

    /// Gives malloc's free memory back to the kernel (`malloc_trim(0)`):
    /// whatever one-off work allocated and freed. True if anything was released.
    public static func trimHeap() -> Bool {
        malloc_trim(0) != 0
    }

    /// One mapping of /proc/self/smaps: its header line and the counters
    /// `forgetUnused` needs.
    struct SmapsMapping {
        let region: Region
        var residentKiB = 0
        /// Private copies (copy-on-write or never file-backed), in KiB.
        var anonymousKiB = 0

        static func parse(_ text: String) -> [SmapsMapping] {
            var mappings: [SmapsMapping] = []
            for line in text.split(separator: "\n") {
                if let region = Region(line), line.first?.isHexDigit == true {
                    mappings.append(SmapsMapping(region: region))
                    continue
                }
                guard !mappings.isEmpty else { continue }
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 2, let kib = Int(fields[1]) else { continue }
                switch fields[0] {
                case "Rss:": mappings[mappings.count - 1].residentKiB = kib
                case "Anonymous:": mappings[mappings.count - 1].anonymousKiB = kib
                default: break
                }
            }
            return mappings
        }
    }

    /// VmLck of this process, in KiB.
    static func lockedKiB() -> Int {
        guard let status = try? readAll("/proc/self/status", limit: 1 << 16) else { return 0 }
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmLck:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// One line of /proc/self/maps: "start-end perms offset dev inode path".
    struct Region {
        let start: UInt
        let length: Int
        let readOnlyFile: Bool

        init?(_ line: Substring) {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 2 else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                  end > start else { return nil }
            self.start = start
            self.length = Int(end - start)
            // maxSplits keeps a path with spaces whole; the padding before it is dropped.
            readOnlyFile = !fields[1].contains("w") && fields.count == 6
                && fields[5].drop(while: { $0 == " " }).hasPrefix("/")
        }
    }
}

public struct StartupPagesError: Error, CustomStringConvertible {
    public var description: String
}
