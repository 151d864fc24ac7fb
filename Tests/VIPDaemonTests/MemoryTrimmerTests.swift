import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import VIPDaemon

/// The trimmer gives memory back one to two quiet periods after the last
/// work, once per burst, and never without work. Virtual time
/// (EmbeddedEventLoop); the trim runs inline instead of on a thread.
@Suite struct MemoryTrimmerTests {
    let loop = EmbeddedEventLoop()
    let trims = NIOLockedValueBox(0)

    func trimmer() -> MemoryTrimmer {
        let trims = self.trims
        return MemoryTrimmer(loop: loop, quiet: .seconds(60), logger: Logger(label: "test"),
                             trim: { trims.withLockedValue { $0 += 1 } }, background: { $0() })
    }

    var count: Int { trims.withLockedValue { $0 } }

    @Test func oneTrimAfterTheQuietThatFollowsABurst() {
        let trimmer = trimmer()
        // Work every 10 s for 100 s: no trim while it goes on.
        for _ in 0..<10 {
            trimmer.worked()
            loop.advanceTime(by: .seconds(10))
        }
        #expect(count == 0)
        // The last work at 90 s: trimmed by 90 + 2 × 60 s, once.
        loop.advanceTime(by: .seconds(110))
        #expect(count == 1)
        loop.advanceTime(by: .seconds(600))
        #expect(count == 1)
    }

    @Test func notBeforeAQuietPeriodNorWithoutWork() {
        let trimmer = trimmer()
        loop.advanceTime(by: .seconds(600))
        #expect(count == 0)
        trimmer.worked()
        loop.advanceTime(by: .seconds(59))
        #expect(count == 0)
        loop.advanceTime(by: .seconds(1))
        #expect(count == 1)
        // New work: another trim, a quiet period later.
        trimmer.worked()
        loop.advanceTime(by: .seconds(30))
        #expect(count == 1)
        loop.advanceTime(by: .seconds(30))
        #expect(count == 2)
    }
}
