import Testing
@testable import VIPLinux

/// Which lines of /proc/self/maps StartupPages may page out.
@Suite struct StartupPagesTests {
    func region(_ line: String) -> StartupPages.Region? { StartupPages.Region(line[...]) }

    @Test func onlyReadOnlyFileMappingsQualify() throws {
        let text = try #require(region("55d0c0000000-55d0c2a00000 r-xp 00000000 fe:00 16310807                   /usr/sbin/vipd"))
        #expect(text.readOnlyFile && text.start == 0x55d0c0000000 && text.length == 0x2a00000)
        #expect(region("7f00000000-7f00001000 r--p 00000000 fe:00 12 /usr/lib/x86_64-linux-gnu/libc.so.6")?.readOnlyFile == true)
        // Writable file mappings can hold modified pages: never.
        #expect(region("55d0c2a00000-55d0c5000000 rw-p 029b1000 fe:00 16310807 /usr/sbin/vipd")?.readOnlyFile == false)
        // Anonymous memory, the heap, the stack, the vDSO: not files.
        #expect(region("7f1000000000-7f1000021000 rw-p 00000000 00:00 0")?.readOnlyFile == false)
        #expect(region("7ffe2ce22000-7ffe2ce43000 rw-p 00000000 00:00 0                          [stack]")?.readOnlyFile == false)
        #expect(region("7ffe2cf5e000-7ffe2cf60000 r-xp 00000000 00:00 0                          [vdso]")?.readOnlyFile == false)
        // A path with spaces stays whole.
        #expect(region("1000-2000 r--p 00000000 fe:00 9 /opt/my tools/lib.so")?.readOnlyFile == true)
        #expect(region("garbage") == nil)
        #expect(region("2000-1000 r--p 0 0 0 /x") == nil)
    }

    @Test func theOwnerOfTheExecutableCanPageItOutAndKeepsRunning() throws {
        // The test binary was built by the user running it, so the kernel's
        // ownership rule is met, as it is for root vipd before dropping root.
        let bytes = try StartupPages.release().get()
        #expect(bytes > 1 << 20)
        // Paged-out code comes back on use.
        #expect(region("1000-2000 r--p 00000000 fe:00 9 /x")?.readOnlyFile == true)
    }

    static let smaps = """
    55d0c0000000-55d0c2a00000 r-xp 00000000 fe:00 16310807                   /usr/sbin/vipd
    Size:              43008 kB
    Rss:               13700 kB
    Anonymous:             0 kB
    VmFlags: rd ex mr mw me dw sd
    55d0c2a00000-55d0c2b20000 r--p 029bc000 fe:00 16310807                   /usr/sbin/vipd
    Rss:                1184 kB
    Anonymous:          1184 kB
    55d0c2b20000-55d0c5000000 rw-p 02ae4000 fe:00 16310807                   /usr/sbin/vipd
    Rss:                3392 kB
    Anonymous:           900 kB
    7f1000000000-7f1000021000 rw-p 00000000 00:00 0
    Rss:                 132 kB
    Anonymous:           132 kB
    """

    @Test func forgettingSkipsMappingsWithPrivateCopies() throws {
        let mappings = StartupPages.SmapsMapping.parse(Self.smaps)
        #expect(mappings.count == 4)
        #expect(mappings.map(\.residentKiB) == [13700, 1184, 3392, 132])
        #expect(mappings.map(\.anonymousKiB) == [0, 1184, 900, 132])
        // Only the text qualifies: the relocated read-only data holds private
        // copies, the rest is writable or not a file.
        let chosen = mappings.filter { $0.region.readOnlyFile && $0.anonymousKiB == 0 }
        #expect(chosen.map(\.region.start) == [0x55d0c0000000])
    }

    @Test func forgettingUnusedPagesNeedsNoPrivilegeAndCodeStillRuns() throws {
        switch StartupPages.forgetUnused() {
        case .success(let bytes): #expect(bytes > 0)
        case .failure(let error): #expect(error.description.contains("locked"))
        }
        // Code whose pages were dropped is mapped again on use.
        #expect(StartupPages.SmapsMapping.parse(Self.smaps).count == 4)
    }
}

