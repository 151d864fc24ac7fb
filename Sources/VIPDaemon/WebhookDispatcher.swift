import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import VIPCore

/// Delivers events to webhooks without ever making the engine wait.
///
/// `emit` only numbers the event and drops it into one bounded queue per
/// webhook (oldest kept; a full queue drops and counts the new event). Each
/// webhook has its own sender task, so a dead one delays no other.
public final class WebhookDispatcher: Service, @unchecked Sendable {  // queues are AsyncStream continuations (thread-safe); `sequence` is guarded by `lock`
    struct Target {
        let hook: NotifyConfig.Webhook
        let secret: [UInt8]?
        let stream: AsyncStream<NodeEvent>
        let continuation: AsyncStream<NodeEvent>.Continuation
    }

    let targets: [Target]
    let retries: Int
    let metrics: VIPMetrics
    let logger: Logger
    private let lock = NSLock()
    private var sequence: UInt64 = 0

    public init(config: NotifyConfig, secrets: [String: [UInt8]], metrics: VIPMetrics, logger: Logger) {
        targets = config.webhooks.map { hook in
            let (stream, continuation) = AsyncStream.makeStream(of: NodeEvent.self, bufferingPolicy: .bufferingOldest(config.queueSize))
            return Target(hook: hook, secret: secrets[hook.url], stream: stream, continuation: continuation)
        }
        retries = config.retries
        self.metrics = metrics
        self.logger = logger
    }

    /// Queues `event` for every webhook; never blocks.
    public func emit(_ event: NodeEvent) {
        var numbered = event
        lock.lock()
        sequence += 1
        numbered.sequence = sequence
        lock.unlock()
        for target in targets {
            if case .dropped = target.continuation.yield(numbered) {
                metrics.count("vipd_webhook_dropped_total")
                logger.warning("webhook queue for \(target.hook.url) is full; dropped event \(numbered.sequence) (\(numbered.event.rawValue))")
            }
        }
    }

    /// How long queued events may still be delivered once shutdown begins;
    /// the VIPs are already released by then, so this only delays the exit.
    static let shutdownGrace = Duration.seconds(2)

    public func run() async throws {
        await withTaskGroup(of: Bool.self) { group in
            for target in targets {
                group.addTask {
                    await self.deliverAll(target)
                    return false
                }
            }
            try? await gracefulShutdown()
            for target in targets { target.continuation.finish() }
            group.addTask {
                try? await Task.sleep(for: Self.shutdownGrace)
                return true
            }
            // Wait for every queue to drain, or for the grace period to end.
            var drained = 0
            while drained < targets.count, let timerFired = await group.next(), !timerFired {
                drained += 1
            }
            group.cancelAll()
        }
    }

    private func deliverAll(_ target: Target) async {
        for await event in target.stream {
            await deliver(event, to: target)
        }
    }

    /// POSTs one event, retrying with exponential backoff (200 ms, 400 ms, ...).
    func deliver(_ event: NodeEvent, to target: Target) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? Array(encoder.encode(event)) else { return }
        for attempt in 1...retries {
            var request = HTTPClientRequest(url: target.hook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "vipd/\(VIPDVersion.string)")
            request.headers.add(name: "X-Vipd-Event", value: event.event.rawValue)
            request.headers.add(name: "X-Vipd-Sequence", value: String(event.sequence))
            if let secret = target.secret {
                request.headers.add(name: WebhookSignature.header, value: WebhookSignature.sign(body, secret: secret))
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(target.hook.timeout.nanoseconds))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) {
                    metrics.count("vipd_webhook_deliveries_total")
                    return
                }
                logger.warning("webhook \(target.hook.url) answered \(response.status.code) to event \(event.sequence) (attempt \(attempt)/\(retries))")
            } catch {
                logger.warning("webhook \(target.hook.url) failed for event \(event.sequence): \(error) (attempt \(attempt)/\(retries))")
            }
            metrics.count("vipd_webhook_failures_total")
            if attempt < retries {
                try? await Task.sleep(for: .milliseconds(200 << (attempt - 1)))
            }
        }
        logger.error("webhook \(target.hook.url): gave up on event \(event.sequence) (\(event.event.rawValue))")
    }
}
