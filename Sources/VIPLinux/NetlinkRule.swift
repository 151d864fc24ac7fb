#if canImport(Glibc)
import Glibc
#endif
import VIPCore

/// RTM_NEWRULE / RTM_DELRULE for the policy rules an instance holds while
/// master (`rules:`, keepalived's `virtual_rules`).
extension NetlinkMessage {
    static let typeNewRule: UInt16 = 32     // RTM_NEWRULE
    public static let typeDeleteRule: UInt16 = 33  // RTM_DELRULE
    static let ruleAttributeDestination: UInt16 = 1  // FRA_DST
    static let ruleAttributeSource: UInt16 = 2       // FRA_SRC
    static let ruleAttributeInputName: UInt16 = 3    // FRA_IIFNAME
    static let ruleAttributePriority: UInt16 = 6     // FRA_PRIORITY
    static let ruleAttributeTable: UInt16 = 15       // FRA_TABLE
    static let ruleAttributeOutputName: UInt16 = 17  // FRA_OIFNAME
    static let ruleActionToTable: UInt8 = 1          // FR_ACT_TO_TBL

    /// RTM_NEWRULE with NLM_F_CREATE|NLM_F_EXCL: adding a rule that exists
    /// fails with EEXIST, which the manager takes as success (rules have no
    /// replace: a second identical rule would be added).
    public static func newRule(_ rule: RuleSpec, sequence: UInt32) -> [UInt8] {
        message(type: typeNewRule, flags: flagRequest | flagAck | flagCreate | flagExclusive, sequence: sequence,
                body: ruleBody(rule))
    }

    public static func deleteRule(_ rule: RuleSpec, sequence: UInt32) -> [UInt8] {
        message(type: typeDeleteRule, flags: flagRequest | flagAck, sequence: sequence, body: ruleBody(rule))
    }

    static let flagExclusive: UInt16 = 0x200  // NLM_F_EXCL (new requests)

    /// struct fib_rule_hdr, then the selectors, the table and the priority.
    static func ruleBody(_ rule: RuleSpec) -> [UInt8] {
        var body: [UInt8] = [
            rule.isIPv4 ? familyIPv4 : familyIPv6, UInt8(clamping: rule.to?.prefixLength ?? 0),
            UInt8(clamping: rule.from?.prefixLength ?? 0), 0,
            UInt8(clamping: rule.table < 256 ? rule.table : 0), 0, 0, ruleActionToTable,
        ] + hostBytes(UInt32(0))
        if let to = rule.to { body += attribute(ruleAttributeDestination, to.address.bytes) }
        if let from = rule.from { body += attribute(ruleAttributeSource, from.address.bytes) }
        if let name = rule.inputInterface { body += attribute(ruleAttributeInputName, Array(name.utf8) + [0]) }
        if let name = rule.outputInterface { body += attribute(ruleAttributeOutputName, Array(name.utf8) + [0]) }
        body += attribute(ruleAttributeTable, hostBytes(rule.table))
        if let priority = rule.priority { body += attribute(ruleAttributePriority, hostBytes(priority)) }
        return body
    }
}

extension RuleSpec {
    /// Whether the payload of an RTM_NEWRULE / RTM_DELRULE is this rule
    /// (family, selectors, table and, when set, priority).
    public func matches(payload: [UInt8]) -> Bool {
        guard payload.count >= 12 else { return false }
        var source: [UInt8]?, destination: [UInt8]?, input: String?, output: String?
        var table = UInt32(payload[4]), priority: UInt32?
        for (type, value) in NetlinkMessage.attributes(payload, from: 12) {
            switch type {
            case NetlinkMessage.ruleAttributeSource: source = value
            case NetlinkMessage.ruleAttributeDestination: destination = value
            case NetlinkMessage.ruleAttributeInputName: input = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
            case NetlinkMessage.ruleAttributeOutputName: output = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
            case NetlinkMessage.ruleAttributeTable where value.count == 4: table = NetlinkMessage.readHost(UInt32.self, value, at: 0)
            case NetlinkMessage.ruleAttributePriority where value.count == 4: priority = NetlinkMessage.readHost(UInt32.self, value, at: 0)
            default: break
            }
        }
        return payload[0] == (isIPv4 ? NetlinkMessage.familyIPv4 : NetlinkMessage.familyIPv6)
            && Int(payload[1]) == (to?.prefixLength ?? 0) && Int(payload[2]) == (from?.prefixLength ?? 0)
            && destination == to?.address.bytes && source == from?.address.bytes
            && input == inputInterface && output == outputInterface && table == self.table
            && (self.priority == nil || priority == self.priority)
    }
}

extension NetlinkRouteManager {
    public func add(_ rule: RuleSpec) throws {
        let operation = "netlink RTM_NEWRULE \(rule.description)"
        do {
            _ = try exchange(operation) { NetlinkMessage.newRule(rule, sequence: $0) }
        } catch let error as SystemError where error.code == EEXIST {
            return
        }
    }

    /// Succeeds when the rule is already gone (ENOENT).
    public func remove(_ rule: RuleSpec) throws {
        let operation = "netlink RTM_DELRULE \(rule.description)"
        do {
            _ = try exchange(operation) { NetlinkMessage.deleteRule(rule, sequence: $0) }
        } catch let error as SystemError where error.code == ENOENT {
            return
        }
    }
}
