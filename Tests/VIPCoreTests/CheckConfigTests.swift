import Testing
import VIPCore

/// `checks:` and `nginx:` in the YAML: values, defaults and every error message.
@Suite struct CheckConfigTests {
    static let full = ConfigParserTests.minimal + """

        checks:
          - name: front
            role: front
            http: {url: "http://127.0.0.1:8081/vipd-health", body_contains: "ok"}
            interval: 500ms
            timeout: 300ms
            rise: 3
            fall: 1
          - name: bingo
            role: backend
            http:
              url: http://127.0.0.1:30164/ping
              method: HEAD
              expect_status: 204
          - name: disk
            role: weight
            exec: {command: ["/usr/local/bin/check-disk", "--quiet"]}
            weight: -60
        nginx:
          upstream_file: /etc/nginx/vipd/bingo-upstream.conf
          backend_port: 30164
          test_command: ["/usr/sbin/nginx", "-t", "-q"]
          reload_command: ["/usr/sbin/nginx", "-s", "reload"]
        """

    func issues(_ text: String) -> [String] {
        do {
            _ = try ConfigParser.parse(text, file: "t.yaml")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    /// The minimal config plus one check whose body is `lines` (indented by the caller's YAML).
    func withCheck(_ lines: String) -> String {
        ConfigParserTests.minimal + "\nchecks:\n  - name: c\n" + lines
    }

    @Test func fullExampleParses() throws {
        let config = try ConfigParser.parse(Self.full, file: "t.yaml")
        #expect(config.checks == [
            CheckConfig(name: "front", role: .front,
                        probe: .http(.init(url: "http://127.0.0.1:8081/vipd-health", bodyContains: "ok")),
                        interval: .milliseconds(500), timeout: .milliseconds(300), rise: 3, fall: 1),
            CheckConfig(name: "bingo", role: .backend,
                        probe: .http(.init(url: "http://127.0.0.1:30164/ping", method: "HEAD", expectStatus: 204)),
                        interval: .seconds(1), timeout: .seconds(1), rise: 2, fall: 2),
            CheckConfig(name: "disk", role: .weight,
                        probe: .exec(.init(command: ["/usr/local/bin/check-disk", "--quiet"])), weight: -60),
        ])
        #expect(config.nginx == NginxConfig(
            upstreamFile: "/etc/nginx/vipd/bingo-upstream.conf", upstreamName: "bingo", backendPort: 30164,
            keepalive: 32, testCommand: ["/usr/sbin/nginx", "-t", "-q"], reloadCommand: ["/usr/sbin/nginx", "-s", "reload"],
            debounce: .milliseconds(200), commandTimeout: .seconds(30)))
    }

    @Test func checksAndNginxAreOptional() throws {
        let config = try ConfigParser.parse(ConfigParserTests.minimal, file: "t.yaml")
        #expect(config.checks.isEmpty)
        #expect(config.nginx == nil)
    }

    @Test func probeMistakesNameFieldAndLine() {
        // Line 15 is "  - name: c", 16 the first line of the body.
        #expect(issues(withCheck("    role: frontend\n    exec: {command: [/bin/true]}\n")) ==
                ["t.yaml:16: checks[0].role: expected one of front, backend, weight, monitor, got \"frontend\""])
        #expect(issues(withCheck("    role: front\n")) ==
                ["t.yaml:15: checks[0]: missing probe: set http (a request) or exec (a command)"])
        #expect(issues(withCheck("    role: front\n    exec: {command: [/bin/true]}\n    http: {url: \"http://h/\"}\n")) ==
                ["t.yaml:17: checks[0].exec: set only one of http and exec"])
        #expect(issues(withCheck("    role: front\n    exec: {command: [nginx, -t]}\n")) ==
                ["t.yaml:17: checks[0].exec.command[0]: must be an absolute path (no shell, no PATH search), got \"nginx\""])
        #expect(issues(withCheck("    role: front\n    exec: {command: \"/bin/check --all\"}\n")) ==
                ["t.yaml:17: checks[0].exec.command: expected a list such as [\"/usr/sbin/nginx\", \"-t\"] (run without a shell), got \"/bin/check --all\""])
        #expect(issues(withCheck("    role: front\n    exec: {command: []}\n")) ==
                ["t.yaml:17: checks[0].exec.command: must name a program"])
        #expect(issues(withCheck("    role: front\n    exec: {cmd: [/bin/true]}\n")).first?
                .hasPrefix("t.yaml:17: checks[0].exec.cmd: unknown key") == true)
    }

    @Test func httpProbeIsValidated() {
        let bad = ["https://127.0.0.1/": "only plain http:// is supported (check a local listener)",
                   "127.0.0.1:8081/x": "expected http://HOST[:PORT]/PATH",
                   "http://:80/": "expected http://HOST[:PORT]/PATH",
                   "http://h:0/": "expected http://HOST[:PORT]/PATH with a port in 1...65535",
                   "http://h:99999/": "expected http://HOST[:PORT]/PATH with a port in 1...65535",
                   "http://u:p@h/": "expected http://HOST[:PORT]/PATH (no user:password@)",
                   "http://h/a b": "expected http://HOST[:PORT]/PATH without spaces or '#'"]
        for (url, message) in bad {
            #expect(issues(withCheck("    role: front\n    http: {url: \"\(url)\"}\n")) ==
                    ["t.yaml:17: checks[0].http.url: \(message), got \"\(url)\""])
        }
        for url in ["http://127.0.0.1:8081/vipd-health", "http://[::1]:8081/", "http://localhost", "http://h/?a=1"] {
            #expect(issues(withCheck("    role: front\n    http: {url: \"\(url)\"}\n")) == [], "\(url)")
        }
        #expect(issues(withCheck("    role: front\n    http: {url: \"http://h/\", method: FETCH}\n")) ==
                ["t.yaml:17: checks[0].http.method: expected one of GET, HEAD, POST, PUT, DELETE, OPTIONS, got \"FETCH\""])
        #expect(issues(withCheck("    role: front\n    http: {url: \"http://h/\", method: HEAD, body_contains: ok}\n")) ==
                ["t.yaml:17: checks[0].http.body_contains: a HEAD response has no body to match"])
        #expect(issues(withCheck("    role: front\n    http: {url: \"http://h/\", expect_status: 99}\n")) ==
                ["t.yaml:17: checks[0].http.expect_status: expected an integer in 100...599, got \"99\""])
    }

    @Test func timingAndCountsAreValidated() {
        let probe = "    role: front\n    exec: {command: [/bin/true]}\n"
        #expect(issues(withCheck(probe + "    interval: 1s\n    timeout: 2s\n")) ==
                ["t.yaml:19: checks[0].timeout: must not exceed interval (1s), got 2s: one probe at a time, started every interval"])
        #expect(issues(withCheck(probe + "    interval: 5ms\n")) ==
                ["t.yaml:18: checks[0].interval: must be between 10ms and 3600s, got 5ms"])
        #expect(issues(withCheck(probe + "    rise: 0\n    fall: many\n")) ==
                ["t.yaml:18: checks[0].rise: expected an integer in 1...100, got \"0\"",
                 "t.yaml:19: checks[0].fall: expected an integer in 1...100, got \"many\""])
    }

    @Test func weightBelongsToWeightChecksOnly() {
        let probe = "    exec: {command: [/bin/true]}\n"
        #expect(issues(withCheck("    role: weight\n" + probe)) ==
                ["t.yaml:15: checks[0].weight: missing required key (role weight: the priority change, e.g. -50)"])
        #expect(issues(withCheck("    role: weight\n" + probe + "    weight: 0\n")) ==
                ["t.yaml:18: checks[0].weight: must not be 0 (use role: front for a check that must pass)"])
        #expect(issues(withCheck("    role: weight\n" + probe + "    weight: -300\n")) ==
                ["t.yaml:18: checks[0].weight: expected an integer in -253...253, got \"-300\""])
        #expect(issues(withCheck("    role: backend\n" + probe + "    weight: 10\n")) ==
                ["t.yaml:18: checks[0].weight: only checks with role: weight have a weight (this one is role: backend)"])
    }

    @Test func checkNamesAreUniqueAndValid() {
        let text = ConfigParserTests.minimal + """

            checks:
              - {name: a, role: front, exec: {command: [/bin/true]}}
              - {name: a, role: backend, exec: {command: [/bin/true]}}
              - {name: "b c", role: backend, exec: {command: [/bin/true]}}
            """
        #expect(issues(text) == [
            "t.yaml:16: checks[1].name: check name \"a\" is used twice",
            "t.yaml:17: checks[2].name: must be 1-64 characters of letters, digits, '.', '_' or '-', got \"b c\"",
        ])
    }

    @Test func nginxMistakesAreNamed() {
        let base = ConfigParserTests.minimal + "\nnginx:\n"
        #expect(issues(base + "  backend_port: 30164\n") == [
            "t.yaml:15: nginx.upstream_file: missing required key",
            "t.yaml:15: nginx.test_command: missing required key (a list: [\"/absolute/program\", \"arg\", ...])",
            "t.yaml:15: nginx.reload_command: missing required key (a list: [\"/absolute/program\", \"arg\", ...])",
        ])
        let rest = "  test_command: [/usr/sbin/nginx, -t]\n  reload_command: [/usr/sbin/nginx, -s, reload]\n"
        #expect(issues(base + "  upstream_file: vipd/up.conf\n  backend_port: 30164\n" + rest) ==
                ["t.yaml:15: nginx.upstream_file: must be an absolute file path, got \"vipd/up.conf\""])
        #expect(issues(base + "  upstream_file: /u.conf\n  backend_port: 0\n  upstream_name: \"a b\"\n  debounce: 2m\n" + rest) == [
            "t.yaml:17: nginx.upstream_name: must be 1-64 characters of letters, digits, '.', '_' or '-', got \"a b\"",
            "t.yaml:16: nginx.backend_port: expected an integer in 1...65535, got \"0\"",
            "t.yaml:18: nginx.debounce: must be between 0s and 60s, got 120s",
        ])
        #expect(issues(base + "  upstream_file: /u.conf\n  backend_port: 1\n  reload: yes\n" + rest).first?
                .hasPrefix("t.yaml:17: nginx.reload: unknown key (allowed here: backend_port, command_timeout,") == true)
    }
}
