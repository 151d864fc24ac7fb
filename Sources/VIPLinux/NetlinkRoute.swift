#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VIPCore

/// RTM_NEWROUTE / RTM_DELROUTE for the routes an instance holds while master
/// (`routes:`, keepalived's `virtual_routes`).
extension NetlinkMessage {
    static let typeNewRoute: UInt16 = 24    // RTM_NEWROUTE
    public static let typeDeleteRoute: UInt16 = 25 // RTM_DELROUTE
    static let routeMessageLength = 12      // struct rtmsg
    static let routeAttributeDestination: UInt16 = 1 // RTA_DST
    static let routeAttributeOutput: UInt16 = 4      // RTA_OIF
    static let routeAttributeGateway: UInt16 = 5     // RTA_GATEWAY
    static let routeAttributePriority: UInt16 = 6    // RTA_PRIORITY (the metric)
    static let routeAttributeTable: UInt16 = 15      // RTA_TABLE
    static let tableMain: UInt32 = 254               // RT_TABLE_MAIN
    /// RTPROT_STATIC: what `ip route add` marks a route with by default.
    static let protocolStatic: UInt8 = 4
    static let scopeUniverse: UInt8 = 0   // RT_SCOPE_UNIVERSE: through a gateway
    static let scopeLink: UInt8 = 253     // RT_SCOPE_LINK: directly on the link
    static let typeUnicast: UInt8 = 1     // RTN_UNICAST

    /// A route as netlink reports it, enough to match a configured one.
    public struct RouteInfo: Sendable, Equatable {
        public var destination: IPAddress?
        public var prefixLength: Int
        public var table: UInt32
        public var gateway: IPAddress?
        public var interfaceIndex: Int32?
        public var metric: UInt32?
    }

    /// RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE (`ip route replace`), so
    /// installing a route that is there already succeeds.
    public static func newRoute(_ route: RouteSpec, interfaceIndex: Int32?, sequence: UInt32) -> [UInt8] {
        message(type: typeNewRoute, flags: flagRequest | flagAck | flagCreate | flagReplace, sequence: sequence,
                body: routeBody(route, interfaceIndex: interfaceIndex))
    }

    /// RTM_DELROUTE matching destination, table, and what else the route names.
    public static func deleteRoute(_ route: RouteSpec, interfaceIndex: Int32?, sequence: UInt32) -> [UInt8] {
        message(type: typeDeleteRoute, flags: flagRequest | flagAck, sequence: sequence,
                body: routeBody(route, interfaceIndex: interfaceIndex))
    }

    static func routeBody(_ route: RouteSpec, interfaceIndex: Int32?) -> [UInt8] {
        let table = route.table ?? tableMain
        var body: [UInt8] = [
            route.destination.isIPv4 ? familyIPv4 : familyIPv6, UInt8(clamping: route.prefixLength), 0, 0,
            UInt8(clamping: table < 256 ? table : 0), protocolStatic,
            route.gateway == nil ? scopeLink : scopeUniverse, typeUnicast,
        ] + hostBytes(UInt32(0))
        if route.prefixLength > 0 { body += attribute(routeAttributeDestination, route.destination.bytes) }
        body += attribute(routeAttributeTable, hostBytes(table))
        if let gateway = route.gateway { body += attribute(routeAttributeGateway, gateway.bytes) }
        if let interfaceIndex { body += attribute(routeAttributeOutput, hostBytes(interfaceIndex)) }
        if let metric = route.metric { body += attribute(routeAttributePriority, hostBytes(metric)) }
        return body
    }

    /// Decodes an RTM_NEWROUTE / RTM_DELROUTE payload; nil if truncated.
    public static func parseRoute(_ payload: [UInt8]) -> RouteInfo? {
        guard payload.count >= routeMessageLength else { return nil }
        var info = RouteInfo(destination: nil, prefixLength: Int(payload[1]), table: UInt32(payload[4]))
        for (type, value) in attributes(payload, from: routeMessageLength) {
            switch type {
            case routeAttributeDestination: info.destination = IPAddress(bytes: value)
            case routeAttributeGateway: info.gateway = IPAddress(bytes: value)
            case routeAttributeOutput where value.count == 4: info.interfaceIndex = readHost(Int32.self, value, at: 0)
            case routeAttributePriority where value.count == 4: info.metric = readHost(UInt32.self, value, at: 0)
            case routeAttributeTable where value.count == 4: info.table = readHost(UInt32.self, value, at: 0)
            default: break
            }
        }
        if info.destination == nil, info.prefixLength == 0 {
            info.destination = payload[0] == familyIPv4 ? IPAddress(bytes: [0, 0, 0, 0]) : IPAddress(bytes: [UInt8](repeating: 0, count: 16))
        }
        return info
    }
}

extension RouteSpec {
    /// Whether a route netlink reports is this one (a deletion behind vipd's back).
    public func matches(_ info: NetlinkMessage.RouteInfo, interfaceIndex: Int32?) -> Bool {
        info.destination == destination && info.prefixLength == prefixLength
            && info.table == (table ?? NetlinkMessage.tableMain)
            && (gateway == nil || info.gateway == gateway)
            && (interfaceIndex == nil || info.interfaceIndex == interfaceIndex)
            && (metric == nil || info.metric == metric)
    }
}

/// Installs and removes routes with rtnetlink, like `ip route replace/del`.
/// Shares the address manager's rules: one exchange at a time, and the
/// calling thread needs CAP_NET_ADMIN.
public final class NetlinkRouteManager: RouteManaging {
    private let socket: Mutex<NetlinkSocket>

    public init() throws {
        socket = Mutex(try NetlinkSocket())
    }

    public func add(_ route: RouteSpec) throws {
        let operation = "netlink RTM_NEWROUTE \(route.description)"
        let index = try route.interface.map { try interfaceIndex($0, operation) }
        _ = try socket.withLock { socket in
            try socket.exchange(operation) { NetlinkMessage.newRoute(route, interfaceIndex: index, sequence: $0) }
        }
    }

    /// Succeeds when the route is already gone (ESRCH) or its interface is.
    public func remove(_ route: RouteSpec) throws {
        let operation = "netlink RTM_DELROUTE \(route.description)"
        do {
            let index = try route.interface.map { try interfaceIndex($0, operation) }
            _ = try socket.withLock { socket in
                try socket.exchange(operation) { NetlinkMessage.deleteRoute(route, interfaceIndex: index, sequence: $0) }
            }
        } catch let error as SystemError where [ESRCH, ENODEV].contains(error.code) {
            return
        }
    }

    func exchange(_ operation: String, _ build: (UInt32) -> [UInt8]) throws -> [NetlinkMessage.Parsed] {
        try socket.withLock { socket in try socket.exchange(operation, build) }
    }

    private func interfaceIndex(_ name: String, _ operation: String) throws -> Int32 {
        do { return try NetworkInterfaces.index(of: name) } catch let error as SystemError {
            throw SystemError(operation: operation, code: error.code, detail: "no interface \(name)")
        }
    }
}
