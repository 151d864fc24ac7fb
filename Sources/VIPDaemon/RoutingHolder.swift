import Logging
import VIPCore

/// The routes and policy rules of one instance (`routes:`, `rules:`):
/// installed while it holds its VIPs, withdrawn when it leaves, put back when
/// something deletes them meanwhile. Rules go in after the routes they point
/// to, and out before them. Confined to the engine's loop (through `VIPHolder`).
final class RoutingHolder: @unchecked Sendable {
    private(set) var routes: [RouteSpec]
    private(set) var rules: [RuleSpec]
    let manager: (any RouteManaging)?
    let logger: Logger
    private(set) var installed = false
    private(set) var failures = 0

    init(routes: [RouteSpec], rules: [RuleSpec], manager: (any RouteManaging)?, logger: Logger) {
        self.routes = routes
        self.rules = rules
        self.manager = manager
        self.logger = logger
    }

    func install() {
        installed = true
        add(routes, rules)
    }

    /// `leftover`: at start, what a crashed run may have left (said only on failure).
    func withdraw(leftover: Bool = false) {
        installed = false
        remove(routes, rules, quietly: leftover)
    }

    /// Something deleted routes or rules while installed: put back those that
    /// `deleted` names.
    func restore(routes deleted: (RouteSpec) -> Bool = { _ in false }, rules deletedRules: (RuleSpec) -> Bool = { _ in false }) {
        guard installed else { return }
        let lost = routes.filter(deleted), lostRules = rules.filter(deletedRules)
        guard !lost.isEmpty || !lostRules.isEmpty else { return }
        add(lost, lostRules)
        for item in lost.map(\.description) + lostRules.map(\.description) {
            logger.warning("\(item) was removed by something else; restored it")
        }
    }

    /// A reload: while installed, add what is new and remove what was
    /// dropped, leaving what both lists have alone.
    func update(routes newRoutes: [RouteSpec], rules newRules: [RuleSpec]) {
        let goneRoutes = routes.filter { !newRoutes.contains($0) }, goneRules = rules.filter { !newRules.contains($0) }
        let newOnes = newRoutes.filter { !routes.contains($0) }, newRuleOnes = newRules.filter { !rules.contains($0) }
        routes = newRoutes
        rules = newRules
        guard installed else { return }
        remove(goneRoutes, goneRules, quietly: false)
        add(newOnes, newRuleOnes)
    }

    private func add(_ routes: [RouteSpec], _ rules: [RuleSpec]) {
        guard let manager else { return }
        for route in routes { attempt("adding route \(route.description)", quietly: false) { try manager.add(route) } }
        for rule in rules { attempt("adding rule \(rule.description)", quietly: false) { try manager.add(rule) } }
    }

    private func remove(_ routes: [RouteSpec], _ rules: [RuleSpec], quietly: Bool) {
        guard let manager else { return }
        for rule in rules { attempt("removing rule \(rule.description)", quietly: quietly) { try manager.remove(rule) } }
        for route in routes { attempt("removing route \(route.description)", quietly: quietly) { try manager.remove(route) } }
    }

    private func attempt(_ what: String, quietly: Bool, _ body: () throws -> Void) {
        do {
            try body()
            if !quietly { logger.info("\(what): done") }
        } catch {
            failures += 1
            logger.error("\(what) failed: \(error)")
        }
    }
}
