import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import VIPDaemon

/// The trimmer gives memory back once per quiet period after work, waits for
/// the quiet after the last piece of a burst, and never wakes without work.
/// Real event loop; a quiet period of 300 ms and waits several times longer,
/// so that a slow machine does not change the count.
@Suite struct MemoryTrimmerTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    func trimmer(quiet: Int64 = 300) -> (MemoryTrimmer, NIOLockedValueBox<[NIODeadline]>) {
        let trims = NIOLockedValueBox<[NIODeadline]>([])
        let trimmer = MemoryTrimmer(loop: loop, quiet: .milliseconds(quiet), logger: Logger(label: "test"),
                                    trim: { trims.withLockedValue { $0.append(.now()) } })
        return (trimmer, trims)
    }

    @Test func oneTrimAfterTheQuietThatFollowsABurst() async throws {
        let (trimmer, trims) = trimmer()
        let start = NIODeadline.now()
        for _ in 0..<5 {
            trimmer.worked()
            try await Task.sleep(for: .milliseconds(20))
        }
        let lastWork = NIODeadline.now()
        try await Task.sleep(for: .milliseconds(1_200))
        let done = trims.withLockedValue { $0 }
        #expect(done.count == 1)
        // Not before the quiet after the last piece of work.
        if let at = done.first {
            #expect(at >= lastWork + .milliseconds(250))
            #expect(at - start >= .milliseconds(350))
        }
    }

    @Test func nothingWithoutWorkAndOnceMoreAfterNewWork() async throws {
        let (trimmer, trims) = trimmer()
        try await Task.sleep(for: .milliseconds(700))
        #expect(trims.withLockedValue { $0.count } == 0)
        trimmer.worked()
        try await Task.sleep(for: .milliseconds(1_000))
        #expect(trims.withLockedValue { $0.count } == 1)
        trimmer.worked()
        try await Task.sleep(for: .milliseconds(1_000))
        #expect(trims.withLockedValue { $0.count } == 2)
    }
}
