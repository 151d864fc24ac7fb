import Testing
import VIPCore

/// The nginx upstream text rendered from backend health.
@Suite struct UpstreamRendererTests {
    let nginx = NginxConfig(upstreamFile: "/etc/nginx/vipd/bingo-upstream.conf", backendPort: 30164,
                            testCommand: ["/usr/sbin/nginx", "-t"], reloadCommand: ["/usr/sbin/nginx", "-s", "reload"])
    let node = NodeConfig(id: "node-a", interface: "eth0", address: IPAddress("198.18.0.1")!, priority: 150)

    func peer(_ alive: Bool = true, heard: Bool = true, healthy: Bool = true, id: String = "node-b",
              address: String = "198.18.0.2") -> BackendHealthView.Peer {
        .init(id: id, address: IPAddress(address)!, alive: alive, heard: heard, reportsHealthy: healthy)
    }

    func serverLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("    server ") }
            .map { String($0.prefix { $0 != "#" }).trimmingSuffix() }
    }

    @Test func bothHealthy() {
        let text = UpstreamRenderer.render(nginx, node: node, view: .init(localHealthy: true, peers: [peer()]))
        #expect(text == """
            # Rendered by vipd on node-a. Do not edit: vipd rewrites this file
            # whenever a backend's health changes (docs/nginx.md).
            upstream bingo {
                server 198.18.0.1:30164 fail_timeout=1s;  # node-a (this node: backend checks pass)
                server 198.18.0.2:30164 fail_timeout=1s;  # node-b (reports its backend healthy)
                # The healthy ones again, for when nginx rests all of the above at once.
                server 198.18.0.1:30164 backup max_fails=0;  # node-a
                server 198.18.0.2:30164 backup max_fails=0;  # node-b
                keepalive 32;
            }

            """)
    }

    @Test func peerBackendIsDownWhenHeartbeatsStopOrItReportsUnhealthy() {
        for (view, note) in [(peer(false), "heartbeats stopped"), (peer(false, heard: false), "no heartbeat yet"),
                             (peer(healthy: false), "reports its backend unhealthy")] {
            let text = UpstreamRenderer.render(nginx, node: node, view: .init(localHealthy: true, peers: [view]))
            #expect(serverLines(text) == ["    server 198.18.0.1:30164 fail_timeout=1s;", "    server 198.18.0.2:30164 down;",
                                          "    server 198.18.0.1:30164 backup max_fails=0;"])
            #expect(text.contains("# node-b (\(note))"))
        }
    }

    @Test func localBackendIsDownWhenItsChecksFail() {
        let text = UpstreamRenderer.render(nginx, node: node, view: .init(localHealthy: false, peers: [peer()]))
        #expect(serverLines(text) == ["    server 198.18.0.1:30164 down;", "    server 198.18.0.2:30164 fail_timeout=1s;",
                                      "    server 198.18.0.2:30164 backup max_fails=0;"])
        #expect(text.contains("# node-a (this node: backend checks fail)"))
    }

    @Test func neverAllDown() {
        let text = UpstreamRenderer.render(nginx, node: node, view: .init(localHealthy: false, peers: [peer(false)]))
        // max_fails=0: nginx must try a backend that comes back at once, not rest it for fail_timeout.
        #expect(serverLines(text) == ["    server 198.18.0.1:30164 max_fails=0;",
                                      "    server 198.18.0.2:30164 max_fails=0;"])
        #expect(text.contains("# Every backend looks unhealthy, so all are listed as up"))
        #expect(!text.contains(" down;"))
    }

    @Test func onlyHealthyOnesStayUpAmongMany() {
        let peers = [peer(healthy: false), peer(id: "node-c", address: "198.18.0.3"),
                     peer(false, id: "node-d", address: "198.18.0.4")]
        let text = UpstreamRenderer.render(nginx, node: node, view: .init(localHealthy: true, peers: peers))
        #expect(serverLines(text) == ["    server 198.18.0.1:30164 fail_timeout=1s;", "    server 198.18.0.2:30164 down;",
                                      "    server 198.18.0.3:30164 fail_timeout=1s;", "    server 198.18.0.4:30164 down;",
                                      "    server 198.18.0.1:30164 backup max_fails=0;",
                                      "    server 198.18.0.3:30164 backup max_fails=0;"])
        #expect(!text.contains("Every backend"))
    }

    @Test func nameKeepaliveAndIPv6() {
        var custom = nginx
        custom.upstreamName = "api"
        custom.keepalive = 0
        custom.backendPort = 8080
        let v6 = NodeConfig(id: "n1", interface: "eth0", address: IPAddress("2001:db8::1")!, priority: 100)
        let text = UpstreamRenderer.render(custom, node: v6,
                                           view: .init(localHealthy: true, peers: [peer(address: "2001:db8::2")]))
        #expect(text.contains("upstream api {"))
        #expect(!text.contains("keepalive"))
        #expect(serverLines(text) == ["    server [2001:db8::1]:8080 fail_timeout=1s;", "    server [2001:db8::2]:8080 fail_timeout=1s;",
                                      "    server [2001:db8::1]:8080 backup max_fails=0;",
                                      "    server [2001:db8::2]:8080 backup max_fails=0;"])
    }

    @Test func sameHealthSameText() {
        let view = BackendHealthView(localHealthy: true, peers: [peer(healthy: false)])
        #expect(UpstreamRenderer.render(nginx, node: node, view: view) ==
                UpstreamRenderer.render(nginx, node: node, view: view))
    }

    @Test func peerTableGivesTheView() {
        var table = PeerTable(peers: [.init(id: "node-b", address: IPAddress("198.18.0.2")!)])
        #expect(table.backendView(localHealthy: true).peers == [peer(false, heard: false, healthy: false)])
        let heartbeat = Heartbeat(vrid: 1, priority: 100, state: .backup, flags: [.backendHealthy],
                                  advertInterval: .milliseconds(100), epoch: 1, sequence: 1, nodeID: "node-b")
        _ = table.record(heartbeat, now: Instant(nanoseconds: 0))
        #expect(table.backendView(localHealthy: false) == .init(localHealthy: false, peers: [peer()]))
        _ = table.expire(now: Instant(nanoseconds: 1_000_000_000))
        #expect(table.backendView(localHealthy: true).peers == [peer(false)])
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
