// libFuzzer target: arbitrary bytes as a vipd.yaml, through ConfigParser
// (Yams/libyaml, YAMLReader, every section's checks) as `vipd`,
// `vipd check-config` and a reload read it. A refused file must yield at least
// one issue, each printable; an accepted one must give election settings.
import FuzzSupport
import VIPCore

@main
enum Target {
    static func main() { LibFuzzer.run(fuzz) }
}

func fuzz(_ input: UnsafeBufferPointer<UInt8>) {
    // As TextFile.read does: invalid UTF-8 becomes U+FFFD.
    let text = String(decoding: input, as: UTF8.self)
    do {
        let config = try ConfigParser.parse(text, file: "fuzz.yaml")
        precondition(!config.instances.isEmpty, "an accepted config without an instance")
        for instance in config.instances {
            var election = Election(settings: Election.Settings(node: config.node, instance: instance))
            _ = election.start(now: .zero)
            _ = election.tick(now: .zero + instance.timing.advertInterval)
        }
    } catch {
        precondition(!error.issues.isEmpty, "a refused config without an issue")
        for issue in error.issues { _ = issue.description }
    }
}
