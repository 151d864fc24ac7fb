import Logging
import VIPCore

/// Events a local agent reports (`POST /v1/events`: vipd-pg's promotions,
/// fences and rejoins), published like vipd's own: one webhook
/// configuration for the whole node, one log, one metric.
extension NodeEngine {
    public func reported(_ kind: NodeEvent.Kind, reason: String?, instance: String?) {
        loop.preconditionInEventLoop()
        var logger = self.logger
        if let instance { logger[metadataKey: "instance"] = "\(instance)" }
        logger.notice("\(kind.rawValue) (reported by the local agent)\(reason.map { ": \($0)" } ?? "")")
        metrics.count("vipd_reported_events_total", labels: [("event", kind.rawValue)])
        webhooks?.emit(NodeEvent(node: config.node.id, event: kind, reason: reason,
                                 timestamp: VIPLogHandler.timestamp(), instance: instance))
    }
}
