/// `vrrp_script` + `track_script` → `checks:` + `instances[].track_checks`.
///
/// keepalived's weight 0 (the script's default) puts the instance in FAULT:
/// vipd's `role: front`. Any other weight moves the priority: `role: weight`.
/// A `track_script` may give a script another weight per instance; vipd's
/// per-instance weight exists only on weight checks, so a script used both
/// ways becomes two checks (`NAME` and `NAME.front` or `NAME.weight`).
extension KeepalivedConverter {
    func resolveChecks() {
        var used: Set<String> = []
        for index in live {
            var entries: [String] = []
            let grouped = groups.contains { group in group.members.contains { $0.0 == instances[index].name } }
            for tracker in instances[index].trackScripts {
                guard let script = scripts.first(where: { $0.name == tracker.name }) else {
                    refuse(line: tracker.line, "track_script", "\(tracker.name): no vrrp_script \(tracker.name); left out",
                           owner: instances[index].owner)
                    continue
                }
                if script.refused {
                    refuse(line: tracker.line, "track_script", "\(tracker.name): vrrp_script \(tracker.name) (line \(script.line)) is refused; left out",
                           owner: instances[index].owner)
                    continue
                }
                let weight = tracker.weight ?? script.weight
                let check = self.check(for: script, weight: weight)
                used.insert(script.name)
                if weight == 0 || weight == check.weight {
                    entries.append(YAMLText.scalar(check.name))
                } else {
                    entries.append("{name: \(YAMLText.scalar(check.name)), weight: \(weight)}")
                }
                if grouped && weight != 0 {
                    instances[index].notes.append("track_script \(tracker.name) (line \(tracker.line)): keepalived ignores the weights of sync-group members' trackers; vipd applies \(weight)")
                }
            }
            instances[index].trackChecks = entries
        }
        for script in scripts where !used.contains(script.name) && !script.refused {
            notes.append("vrrp_script \(script.name) (line \(script.line)): tracked by no instance, so keepalived never runs it; left out")
        }
        if checks.isEmpty {
            for index in live { instances[index].trackChecks = nil }
        }
    }

    /// The check for `script` used with `weight`: the script's own role
    /// first, a second check when an instance needs the other one.
    func check(for script: ScriptDraft, weight: Int) -> CheckDraft {
        let front = weight == 0
        let base = CheckDraft(name: script.name, script: script, weight: script.weight == 0 ? nil : script.weight)
        let wanted = (script.weight == 0) == front ? base
            : CheckDraft(name: "\(script.name).\(front ? "front" : "weight")", script: script, weight: front ? nil : weight,
                         notes: ["a second check for vrrp_script \(script.name), which some instance tracks \(front ? "with weight 0 (a fault)" : "with a weight")"])
        if let existing = checks.first(where: { $0.name == wanted.name }) { return existing }
        checks.append(wanted)
        return wanted
    }
}
