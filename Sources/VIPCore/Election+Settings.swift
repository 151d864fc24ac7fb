/// What one node's election is configured with (from `VIPConfig`, or built
/// directly by tests).
extension Election {
    public struct Settings: Sendable, Equatable {
        public var nodeID: String
        /// This node's heartbeat source address: the equal-priority tie-break.
        public var address: IPAddress
        public var priority: UInt8
        public var advertInterval: Span
        /// Heartbeat cadence outside master (at least `advertInterval`).
        public var standbyInterval: Span
        public var preempt: Bool
        public var preemptDelay: Span
        /// How a silent master is judged dead (`timing.detection`).
        public var detection: DetectionPolicy
        /// `instances[].quorum`: take over from an unheard master only with
        /// a majority's consent, and hold nothing without a majority in
        /// hearing (VirtualRouter+Quorum.swift, docs/protocol.md "Quorum").
        public var quorum = false
        /// `node.witness`: votes, never becomes master (a third node that
        /// breaks the tie of a two-node cluster).
        public var witness = false

        public init(nodeID: String, address: IPAddress, priority: UInt8, advertInterval: Span,
                    standbyInterval: Span? = nil, preempt: Bool = true, preemptDelay: Span = .zero,
                    detection: DetectionPolicy = .rfc) {
            self.nodeID = nodeID
            self.address = address
            self.priority = priority
            self.advertInterval = advertInterval
            self.standbyInterval = max(standbyInterval ?? advertInterval, advertInterval)
            self.preempt = preempt
            self.preemptDelay = preemptDelay
            self.detection = detection
        }

        /// The settings of one instance of a node.
        public init(node: NodeConfig, instance: InstanceConfig) {
            let timing = instance.timing
            self.init(nodeID: node.id, address: node.address, priority: instance.priority,
                      advertInterval: timing.advertInterval,
                      // Quorum: votes must travel as fast as the master's
                      // heartbeats, or consent would lag the master-down time.
                      standbyInterval: instance.quorum ? timing.advertInterval : timing.effectiveStandbyInterval,
                      preempt: timing.preempt,
                      preemptDelay: timing.preemptDelay, detection: timing.detection)
            quorum = instance.quorum
            witness = node.witness
        }
    }
}
