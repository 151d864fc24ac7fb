/// The `notify:` section: webhooks and keepalived-compatible notify scripts.
extension ConfigParser {
    static func parseNotify(_ top: MappingView, _ reader: YAMLReader) -> NotifyConfig {
        var notify = NotifyConfig()
        guard let raw = top.child("notify"),
              let map = reader.mapping(raw, at: "notify", allowed: [
                  "webhooks", "queue_size", "retries", "master", "backup", "fault", "generic", "script_timeout",
              ]) else { return notify }
        for (item, path) in map.list("webhooks") {
            guard let hook = reader.mapping(item, at: path, allowed: ["url", "secret_file", "timeout"]),
                  let url = hook.string("url", required: true) else { continue }
            if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || url.count < 10 {
                reader.fail("\(path).url", hook.child("url"), "expected an http:// or https:// URL, got \"\(url)\"")
            }
            var webhook = NotifyConfig.Webhook(url: url)
            if let secret = hook.string("secret_file") {
                if !secret.hasPrefix("/") { reader.fail("\(path).secret_file", hook.child("secret_file"), "must be an absolute path") }
                webhook.secretFile = secret
            }
            if let timeout = hook.span("timeout", .milliseconds(100)...Span.seconds(60)) { webhook.timeout = timeout }
            notify.webhooks.append(webhook)
        }
        if let size: Int = map.integer("queue_size", 1...100_000) { notify.queueSize = size }
        if let retries: Int = map.integer("retries", 1...20) { notify.retries = retries }
        notify.master = command(map, "master", reader)
        notify.backup = command(map, "backup", reader)
        notify.fault = command(map, "fault", reader)
        notify.generic = command(map, "generic", reader)
        if let timeout = map.span("script_timeout", .milliseconds(100)...Span.seconds(600)) { notify.scriptTimeout = timeout }
        return notify
    }

    /// A command as a list (argv, no shell); the program must be an absolute path.
    static func command(_ map: MappingView, _ key: String, _ reader: YAMLReader) -> [String]? {
        guard map.child(key) != nil else { return nil }
        let argv = map.list(key).compactMap { node, path -> String? in
            guard let text = node.scalar?.string else {
                reader.fail(path, node, "expected a string")
                return nil
            }
            return text
        }
        guard let program = argv.first, program.hasPrefix("/") else {
            reader.fail(map.path(key), map.child(key),
                        "expected a list whose first item is an absolute program path, e.g. [/etc/vipd/notify.sh, master]")
            return nil
        }
        return argv
    }
}
