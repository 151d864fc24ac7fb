import Testing
import VIPCore

/// `vrrp3.auth_hmac` in the config (the key file is read by the loader).
@Suite struct VRRPAuthHMACConfigTests {
    static let head = InstanceConfigTests.head + """
        instances:
          - name: VI_1
            vrid: 51
            vips: [{address: 198.18.0.100/24}]
            protocol: vrrp3

        """

    /// The line of `auth_hmac` in the whole file.
    static func line(of body: String) -> Int {
        (head + body).split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("auth_hmac") }! + 1
    }

    func issues(_ body: String) -> [ConfigIssue] {
        do {
            _ = try ConfigParser.parse(Self.head + body, file: "t.yaml")
            return []
        } catch {
            return error.issues
        }
    }

    @Test func authHMACReplacesUnauthenticated() throws {
        let body = """
                vrrp3:
                  multicast: false
                  auth_hmac: {key_file: /etc/vipd/vrrp51.key, key_id: 2, time_window: 5s, mode: receive-only}
            """
        let config = try ConfigParser.parse(Self.head + body, file: "t.yaml")
        guard case .vrrp3(let settings) = config.instances[0].wire else { Issue.record("not vrrp3"); return }
        #expect(settings.unauthenticated == false)
        let hmac = try #require(settings.authHMAC)
        #expect(hmac.keyFile == "/etc/vipd/vrrp51.key" && hmac.keyID == 2 && hmac.timeWindow == 5)
        #expect(hmac.mode == .receiveOnly && hmac.antiReplay == .time)
        #expect(hmac.keyFileLine == Self.line(of: body))
    }

    @Test func badValuesNameTheirFieldAndLine() {
        let body = """
                vrrp3:
                  auth_hmac: {key_file: vrrp51.key, key_id: 0, time_window: 500ms, mode: strict, anti_replay: never, extra: 1}
            """
        let found = issues(body)
        let fields = Set(found.map(\.field))
        for field in ["key_file", "key_id", "time_window", "mode", "anti_replay", "extra"] {
            #expect(fields.contains("instances[0].vrrp3.auth_hmac.\(field)"), "\(field): \(found)")
        }
        #expect(found.allSatisfy { $0.line == Self.line(of: body) && $0.file == "t.yaml" })
        #expect(issues("    vrrp3:\n      auth_hmac: {key_id: 1}\n").map(\.field).contains("instances[0].vrrp3.auth_hmac.key_file"))
        #expect(issues("    vrrp3:\n      auth_hmac: {key_file: /k, time_window: 1.5s}\n").map(\.field)
                == ["instances[0].vrrp3.auth_hmac.time_window"])
        #expect(!issues("    vrrp3: {multicast: true}\n").isEmpty, "neither auth_hmac nor unauthenticated")
    }
}
