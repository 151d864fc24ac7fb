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
}
