import VIPCore

/// RTM_NEWLINK / RTM_DELLINK, as much of them as link tracking needs.
extension NetlinkMessage {
    public static let typeNewLink: UInt16 = 16     // RTM_NEWLINK
    public static let typeDeleteLink: UInt16 = 17  // RTM_DELLINK
    static let linkMessageLength = 16       // struct ifinfomsg
    static let attributeInterfaceName: UInt16 = 3 // IFLA_IFNAME
    static let interfaceUp: UInt32 = 0x1          // IFF_UP
    /// IFF_RUNNING: operationally up (RFC 2863), which needs carrier. The same
    /// bit `NetworkInterfaces.isRunning` reads, so the first reading and the
    /// changes agree.
    static let interfaceRunning: UInt32 = 0x40

    /// One interface's name and whether it can carry traffic: administratively
    /// up and with carrier. A deleted interface is down.
    public struct LinkInfo: Sendable, Equatable {
        public var name: String
        public var index: Int32
        public var up: Bool
    }

    /// Decodes an RTM_NEWLINK / RTM_DELLINK payload; nil if truncated or nameless.
    public static func parseLink(_ payload: [UInt8], deleted: Bool) -> LinkInfo? {
        guard payload.count >= linkMessageLength else { return nil }
        let flags = readHost(UInt32.self, payload, at: 8)
        guard let name = attributes(payload, from: linkMessageLength).first(where: { $0.type == attributeInterfaceName })
            .map({ String(decoding: $0.value.prefix { $0 != 0 }, as: UTF8.self) }) else { return nil }
        let up = !deleted && flags & interfaceUp != 0 && flags & interfaceRunning != 0
        return LinkInfo(name: name, index: readHost(Int32.self, payload, at: 4), up: up)
    }
}
