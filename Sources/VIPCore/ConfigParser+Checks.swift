import Yams

/// Parsing of `checks:` and `nginx:` (docs/config.md#checks, #nginx).
///
/// Same conventions as the rest of `ConfigParser`: every problem is recorded
/// with its file, line and dotted field path, and parsing goes on so that one
/// run reports all of them.
extension ConfigParser {
    static let checkKeys = ["name", "role", "http", "exec", "interval", "timeout", "rise", "fall", "weight", "restart"]
    static let restartKeys = ["command", "backoff", "max_backoff", "reset_after", "timeout", "refused_grace"]
    static let httpProbeKeys = ["url", "method", "expect_status", "body_contains"]
    static let httpMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
    static let nginxKeys = ["upstream_file", "upstream_name", "backend_port", "keepalive",
                            "test_command", "reload_command", "debounce", "command_timeout"]

    static func parseChecks(_ top: MappingView, _ reader: YAMLReader) -> [CheckConfig] {
        var checks: [CheckConfig] = []
        for (item, path) in top.list("checks") {
            guard let map = reader.mapping(item, at: path, allowed: checkKeys),
                  let check = parseCheck(map, path, reader) else { continue }
            if checks.contains(where: { $0.name == check.name }) {
                reader.fail("\(path).name", map.child("name"), "check name \"\(check.name)\" is used twice")
            }
            checks.append(check)
        }
        return checks
    }

    static func parseCheck(_ map: MappingView, _ path: String, _ reader: YAMLReader) -> CheckConfig? {
        var name = map.string("name", required: true)
        if let given = name, !validID(given) {
            reader.fail("\(path).name", map.child("name"),
                        "must be 1-64 characters of letters, digits, '.', '_' or '-', got \"\(given)\"")
            name = nil
        }
        var role: CheckConfig.Role?
        if let text = map.string("role", required: true) {
            role = CheckConfig.Role(rawValue: text)
            if role == nil {
                reader.fail("\(path).role", map.child("role"),
                            "expected one of \(CheckConfig.Role.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
        }
        let probe = parseProbe(map, path, reader)
        let interval = map.span("interval", .milliseconds(10)...Span.seconds(3600)) ?? ConfigDefaults.checkInterval
        var timeout = map.span("timeout", .milliseconds(1)...Span.seconds(3600))
        if let given = timeout, given > interval {
            reader.fail("\(path).timeout", map.child("timeout"),
                        "must not exceed interval (\(interval)), got \(given): one probe at a time, started every interval")
            timeout = nil
        }
        let rise: Int = map.integer("rise", 1...100) ?? ConfigDefaults.checkRise
        let fall: Int = map.integer("fall", 1...100) ?? ConfigDefaults.checkFall
        let weight: Int? = map.integer("weight", -253...253)
        if role == .weight {
            if map.child("weight") == nil {
                reader.fail("\(path).weight", map.node, "missing required key (role weight: the priority change, e.g. -50)")
            } else if weight == 0 {
                reader.fail("\(path).weight", map.child("weight"),
                            "must not be 0 (use role: front for a check that must pass)")
            }
        } else if map.child("weight") != nil, let role {
            reader.fail("\(path).weight", map.child("weight"),
                        "only checks with role: weight have a weight (this one is role: \(role.rawValue))")
        }
        let restart = map.child("restart").flatMap { parseRestart($0, "\(path).restart", reader) }
        guard let name, let role, let probe else { return nil }
        return CheckConfig(name: name, role: role, probe: probe, interval: interval, timeout: timeout ?? interval,
                           rise: rise, fall: fall, weight: role == .weight ? (weight ?? 0) : 0, restart: restart)
    }

    /// `restart:` of a check: the command and its backoff (docs/config.md#checks).
    static func parseRestart(_ node: Node, _ path: String, _ reader: YAMLReader) -> RestartConfig? {
        guard let map = reader.mapping(node, at: path, allowed: restartKeys),
              let command = commandList(map, "command", reader) else { return nil }
        let backoff = map.span("backoff", Span.seconds(1)...Span.seconds(3600)) ?? ConfigDefaults.restartBackoff
        var maxBackoff = map.span("max_backoff", Span.seconds(1)...Span.seconds(86400)) ?? max(backoff, ConfigDefaults.restartMaxBackoff)
        if maxBackoff < backoff {
            reader.fail("\(path).max_backoff", map.child("max_backoff"), "must not be below backoff (\(backoff)), got \(maxBackoff)")
            maxBackoff = backoff
        }
        let resetAfter = map.span("reset_after", Span.seconds(1)...Span.seconds(86400)) ?? ConfigDefaults.restartResetAfter
        let timeout = map.span("timeout", Span.seconds(1)...Span.seconds(3600)) ?? ConfigDefaults.restartTimeout
        let refusedGrace = map.span("refused_grace", Span.zero...Span.seconds(3600)) ?? ConfigDefaults.restartRefusedGrace
        return RestartConfig(command: command, backoff: backoff, maxBackoff: maxBackoff, resetAfter: resetAfter, timeout: timeout,
                             refusedGrace: refusedGrace)
    }

    static func parseProbe(_ map: MappingView, _ path: String, _ reader: YAMLReader) -> CheckConfig.Probe? {
        switch (map.child("http"), map.child("exec")) {
        case (nil, nil):
            reader.fail(path, map.node, "missing probe: set http (a request) or exec (a command)")
            return nil
        case (.some, .some):
            reader.fail("\(path).exec", map.child("exec"), "set only one of http and exec")
            return nil
        case (let http?, nil):
            guard let probe = reader.mapping(http, at: "\(path).http", allowed: httpProbeKeys) else { return nil }
            return parseHTTPProbe(probe, reader).map { .http($0) }
        case (nil, let exec?):
            guard let probe = reader.mapping(exec, at: "\(path).exec", allowed: ["command"]),
                  let command = commandList(probe, "command", reader) else { return nil }
            return .exec(CheckConfig.ExecProbe(command: command))
        }
    }

    static func parseHTTPProbe(_ map: MappingView, _ reader: YAMLReader) -> CheckConfig.HTTPProbe? {
        var url = map.string("url", required: true)
        if let given = url, let problem = httpURLProblem(given) {
            reader.fail(map.path("url"), map.child("url"), "\(problem), got \"\(given)\"")
            url = nil
        }
        let method = map.string("method") ?? "GET"
        if !httpMethods.contains(method) {
            reader.fail(map.path("method"), map.child("method"),
                        "expected one of \(httpMethods.joined(separator: ", ")), got \"\(method)\"")
        }
        let status: Int = map.integer("expect_status", 100...599) ?? 200
        let body = map.string("body_contains")
        if let body, body.isEmpty {
            reader.fail(map.path("body_contains"), map.child("body_contains"), "must not be empty (leave it out instead)")
        }
        if body != nil, method == "HEAD" {
            reader.fail(map.path("body_contains"), map.child("body_contains"), "a HEAD response has no body to match")
        }
        guard let url, httpMethods.contains(method) else { return nil }
        return CheckConfig.HTTPProbe(url: url, method: method, expectStatus: status, bodyContains: body)
    }

    /// Why `url` is not an `http://HOST[:PORT][/PATH]` URL, or nil if it is one.
    static func httpURLProblem(_ url: String) -> String? {
        let expected = "expected http://HOST[:PORT]/PATH"
        guard url.hasPrefix("http://") else {
            return url.hasPrefix("https://") ? "only plain http:// is supported (check a local listener)" : expected
        }
        guard !url.contains(where: { $0.isWhitespace || $0 == "#" }) else { return "\(expected) without spaces or '#'" }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" && $0 != "?" }
        guard !authority.contains("@") else { return "\(expected) (no user:password@)" }
        var host = Substring(authority)
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return expected }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return expected }
                port = rest.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(":") || authority.hasPrefix("[") else { return expected }
        if let port, !(port.allSatisfy(\.isASCII) && (UInt16(port).map { $0 > 0 } ?? false)) {
            return "\(expected) with a port in 1...65535"
        }
        return nil
    }

    /// A command line: a non-empty list of strings whose first is an absolute path.
    static func commandList(_ map: MappingView, _ key: String, _ reader: YAMLReader) -> [String]? {
        guard let value = map.child(key) else {
            reader.fail(map.path(key), map.node, "missing required key (a list: [\"/absolute/program\", \"arg\", ...])")
            return nil
        }
        guard let items = value.sequence else {
            reader.fail(map.path(key), value,
                        "expected a list such as [\"/usr/sbin/nginx\", \"-t\"] (run without a shell), got \(reader.kind(of: value))")
            return nil
        }
        var command: [String] = []
        for (index, item) in items.enumerated() {
            guard let scalar = item.scalar, item.tag.description != "tag:yaml.org,2002:null",
                  !scalar.string.contains("\0") else {
                reader.fail("\(map.path(key))[\(index)]", item, "expected a string, got \(reader.kind(of: item))")
                return nil
            }
            command.append(scalar.string)
        }
        guard let program = command.first else {
            reader.fail(map.path(key), value, "must name a program")
            return nil
        }
        guard program.hasPrefix("/") else {
            reader.fail("\(map.path(key))[0]", items.first,
                        "must be an absolute path (no shell, no PATH search), got \"\(program)\"")
            return nil
        }
        return command
    }

    static func parseNginx(_ top: MappingView, _ reader: YAMLReader) -> NginxConfig? {
        guard let raw = top.child("nginx"),
              let map = reader.mapping(raw, at: "nginx", allowed: nginxKeys) else { return nil }
        var file = map.string("upstream_file", required: true)
        if let given = file, !given.hasPrefix("/") || given.hasSuffix("/") {
            reader.fail("nginx.upstream_file", map.child("upstream_file"), "must be an absolute file path, got \"\(given)\"")
            file = nil
        }
        let name = map.string("upstream_name") ?? ConfigDefaults.nginxUpstreamName
        if !validID(name) {
            reader.fail("nginx.upstream_name", map.child("upstream_name"),
                        "must be 1-64 characters of letters, digits, '.', '_' or '-', got \"\(name)\"")
        }
        let port: UInt16? = map.integer("backend_port", 1...65535, required: true)
        let keepalive: Int = map.integer("keepalive", 0...10000) ?? ConfigDefaults.nginxKeepalive
        let test = commandList(map, "test_command", reader)
        let reload = commandList(map, "reload_command", reader)
        let debounce = map.span("debounce", .zero...Span.seconds(60)) ?? ConfigDefaults.nginxDebounce
        let timeout = map.span("command_timeout", .milliseconds(100)...Span.seconds(600)) ?? ConfigDefaults.nginxCommandTimeout
        guard let file, validID(name), let port, let test, let reload else { return nil }
        return NginxConfig(upstreamFile: file, upstreamName: name, backendPort: port, keepalive: keepalive,
                           testCommand: test, reloadCommand: reload, debounce: debounce, commandTimeout: timeout)
    }
}
