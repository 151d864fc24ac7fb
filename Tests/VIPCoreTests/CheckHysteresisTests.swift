import Testing
import VIPCore

/// Rise/fall counting of one check.
@Suite struct CheckHysteresisTests {
    /// Feeds results ("+" pass, "-" fail) and returns the state after each.
    func states(_ results: String, rise: Int, fall: Int) -> String {
        var hysteresis = CheckHysteresis(rise: rise, fall: fall)
        return results.map { result in
            _ = hysteresis.record(passed: result == "+")
            switch hysteresis.state {
            case .unknown: return "?"
            case .up: return "U"
            case .down: return "D"
            }
        }.joined()
    }

    @Test func firstResultDecides() {
        #expect(states("+", rise: 3, fall: 3) == "U")
        #expect(states("-", rise: 3, fall: 3) == "D")
    }

    @Test func fallFailuresInARowTurnItDown() {
        #expect(states("+--+---", rise: 2, fall: 3) == "UUUUUUD")
        #expect(states("+-", rise: 2, fall: 1) == "UD")
    }

    @Test func riseSuccessesInARowTurnItUp() {
        #expect(states("-+-++", rise: 2, fall: 2) == "DDDDU")
        #expect(states("-+++", rise: 3, fall: 2) == "DDDU")
    }

    @Test func reportsOnlyChanges() {
        var hysteresis = CheckHysteresis(rise: 2, fall: 2)
        #expect(hysteresis.record(passed: true) == .up)
        #expect(hysteresis.record(passed: true) == nil)
        #expect(hysteresis.record(passed: false) == nil)
        #expect(hysteresis.streak == 1)
        #expect(hysteresis.record(passed: false) == .down)
        #expect(hysteresis.streak == 0)
        #expect(hysteresis.record(passed: false) == nil)
        #expect(hysteresis.record(passed: true) == nil)
        #expect(hysteresis.record(passed: true) == .up)
    }
}
