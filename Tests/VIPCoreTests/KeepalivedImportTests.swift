import Testing
import VIPCore

/// `vipd import-keepalived`: what maps, what is refused (with its line),
/// and that the output is a vipd.yaml vipd's own parser accepts.
@Suite struct KeepalivedImportTests {
    /// The first example of docs/migrating-from-keepalived.md.
    static let pageExample = """
        global_defs {
            vrrp_rt_priority 10
            vrrp_no_swap
            script_user root
        }
        vrrp_script chk_nginx {
            script "/usr/bin/curl -sf http://127.0.0.1/ping"
            interval 1
            weight -60
        }
        vrrp_instance VI_1 {
            state MASTER
            interface eth0
            virtual_router_id 51
            priority 150
            advert_int 1
            preempt_delay 30
            unicast_src_ip 198.18.0.1
            unicast_peer {
                198.18.0.2
            }
            authentication {
                auth_type PASS
                auth_pass s3cret
            }
            virtual_ipaddress {
                198.18.0.100/24 dev eth0 label eth0:vip
            }
            track_script {
                chk_nginx
            }
            notify_master "/etc/keepalived/notify.sh master"
            notify_backup "/etc/keepalived/notify.sh backup"
            notify_fault  "/etc/keepalived/notify.sh fault"
            notify        /etc/keepalived/notify-generic.sh
        }
        """

    /// A unicast pair keepalived already runs with VRRPv3: everything maps.
    static let clean = """
        global_defs {
            vrrp_version 3
        }
        vrrp_instance web {
            interface eth0
            virtual_router_id 51
            priority 150
            unicast_src_ip 198.18.0.1
            unicast_peer {
                198.18.0.2
            }
            virtual_ipaddress {
                198.18.0.100/24
            }
        }
        """

    static func options(peers: [KeepalivedImport.Peer] = [], address: IPAddress? = nil) -> KeepalivedImport.Options {
        KeepalivedImport.Options(nodeID: "node-a", peers: peers, address: address,
                                 findProgram: { name in ["killall", "check-disk"].contains(name) ? "/usr/bin/\(name)" : nil })
    }

    /// The result and the config vipd parses from it (the output must always parse).
    func run(_ text: String, peers: [KeepalivedImport.Peer] = [], address: IPAddress? = nil)
        throws -> (result: KeepalivedImport.Result, config: VIPConfig) {
        let result = try KeepalivedImport.convert(text, file: "k.conf", options: Self.options(peers: peers, address: address))
        do {
            return (result, try ConfigParser.parse(result.yaml, file: "vipd.yaml"))
        } catch {
            Issue.record("the output does not parse: \(error)\n\(result.yaml)")
            throw error
        }
    }

    func lines(_ result: KeepalivedImport.Result) -> [Int] { result.refusals.map(\.line) }

    @Test func aCleanFileMapsWithoutRefusals() throws {
        let (result, config) = try run(Self.clean)
        #expect(result.refusals.isEmpty)
        #expect(config.node == NodeConfig(id: "node-a", interface: "eth0", address: IPAddress("198.18.0.1")!, priority: 150))
        #expect(config.peers == [PeerConfig(id: "peer1", address: IPAddress("198.18.0.2")!)])
        let web = try #require(config.instances.first)
        #expect((web.name, web.vrid, web.priority) == ("web", 51, 150))
        #expect(web.timing.advertInterval == .seconds(1))  // keepalived's default, not vipd's
        #expect(web.vips == [VIPSpec(address: IPAddress("198.18.0.100")!, prefixLength: 24, interface: "eth0")])
        #expect(web.trackInterfaces == [TrackedInterface(name: "eth0")])  // keepalived tracks its interface
        #expect(web.wire == .vrrp3(VRRP3Settings(multicast: false, unauthenticated: true)))
        #expect(config.auth.keyFile == "/etc/vipd/auth.key")
    }

    @Test func thePageExampleMapsAsThePageSays() throws {
        let (result, config) = try run(Self.pageExample)
        #expect(result.refusals.map(\.description) == [
            "k.conf:11: vrrp_instance: keepalived speaks VRRPv2 for VI_1 (its default); vipd's protocol: vrrp3 speaks VRRPv3 (RFC 9568) only: set vrrp_version 3 in global_defs on every keepalived node before this node runs next to them",
            "k.conf:22: authentication: VRRPv2 authentication: protocol: vrrp3 sends and checks none (VRRPv3 has none; keepalived 2.4's auth_hmac is imported); after the last keepalived node is gone, protocol: vipd authenticates every heartbeat with auth.key_file",
        ])
        #expect(config.realtimePriority == 10)
        #expect(config.lockMemory)
        let instance = try #require(config.instances.first)
        #expect(instance.name == "VI_1")
        #expect(instance.vips == [VIPSpec(address: IPAddress("198.18.0.100")!, prefixLength: 24, interface: "eth0", label: "eth0:vip")])
        #expect(instance.timing.preemptDelay == .seconds(30))
        #expect(instance.trackChecks == [TrackedCheck(name: "chk_nginx")])
        let check = try #require(config.checks.first)
        #expect((check.role, check.weight, check.rise, check.fall) == (.weight, -60, 1, 1))
        #expect(check.probe == .exec(CheckConfig.ExecProbe(command: ["/usr/bin/curl", "-sf", "http://127.0.0.1/ping"])))
        #expect(config.notify.master == ["/etc/keepalived/notify.sh", "master"])
        #expect(config.notify.fault == ["/etc/keepalived/notify.sh", "fault"])
        #expect(config.notify.generic == ["/etc/keepalived/notify-generic.sh"])
        #expect(result.yaml.contains("# refused: line 22: authentication: VRRPv2 authentication"))
        #expect(result.yaml.contains("protocol: vipd (heartbeats authenticated with auth.key_file)"))
    }

    @Test func instancesSyncGroupsTrackingRoutesAndRules() throws {
        let (result, config) = try run("""
            global_defs {
                vrrp_version 3
            }
            vrrp_script chk_disk {
                script "check-disk --quiet"
                interval 5
                weight -60
            }
            vrrp_sync_group G1 {
                group {
                    VI_1
                    VI_2
                }
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 51
                priority 150
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2
                }
                virtual_ipaddress {
                    198.18.0.100/24
                }
                track_interface {
                    eth1
                }
                track_script {
                    chk_disk weight -100
                }
                virtual_routes {
                    198.19.5.0/24 via 198.18.0.254
                    default via 198.18.0.254 table 100 metric 5
                }
                virtual_rules {
                    from 198.18.0.100 table 100 priority 90
                }
            }
            vrrp_instance VI_2 {
                interface eth0
                virtual_router_id 52
                priority 100
                nopreempt
                dont_track_primary
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2
                }
                virtual_ipaddress {
                    198.18.0.101
                }
            }
            """, peers: [KeepalivedImport.Peer(id: "node-b", address: IPAddress("198.18.0.2")!)])
        #expect(result.refusals.isEmpty)
        #expect(config.peers.map(\.id) == ["node-b"])
        let (one, two) = (config.instances[0], config.instances[1])
        #expect(one.trackInterfaces.map(\.name) == ["eth0", "eth1"])
        #expect(one.trackChecks == [TrackedCheck(name: "chk_disk", weight: -100)])
        #expect(one.routes.map(\.description) == ["198.19.5.0/24 via 198.18.0.254", "0.0.0.0/0 via 198.18.0.254 metric 5 table 100"])
        #expect(one.rules.map(\.description) == ["priority 90 from 198.18.0.100/32 lookup 100"])
        #expect(two.priority == 100 && !two.timing.preempt)
        #expect(two.trackInterfaces.isEmpty && two.trackChecks == [])
        #expect(two.vips.first?.prefixLength == 32)  // keepalived's default mask
        #expect(config.syncGroups == [SyncGroupConfig(name: "G1", instances: ["VI_1", "VI_2"])])
        #expect(config.checks.first?.probe == .exec(CheckConfig.ExecProbe(command: ["/usr/bin/check-disk", "--quiet"])))
        #expect(result.yaml.contains("keepalived ignores the weights of sync-group members' trackers"))
    }

    @Test func multicastNeedsPeersFromTheCommandLine() throws {
        let text = """
            vrrp_instance VI_1 {
                interface eth0
                version 3
                virtual_router_id 51
                virtual_ipaddress {
                    192.168.200.16
                }
            }
            """
        let refused = try KeepalivedImport.convert(text, file: "k.conf", options: Self.options())
        #expect(refused.refusals.contains {
            $0.line == 1 && $0.reason.contains("multicast (no unicast_peer)") && $0.reason.contains("--peer ID=ADDRESS")
        })
        #expect(refused.refusals.contains { $0.line == 1 && $0.reason.contains("--address ADDRESS") })
        let (result, config) = try run(text, peers: [KeepalivedImport.Peer(id: "node-b", address: IPAddress("192.168.200.2")!)],
                                       address: IPAddress("192.168.200.1"))
        #expect(result.refusals.isEmpty)
        #expect(config.peers.map(\.id) == ["node-b"])
        #expect(config.instances[0].priority == 100)
        #expect(config.instances[0].wire == .vrrp3(VRRP3Settings(multicast: true, unauthenticated: true)))
    }

    @Test func scriptWeightsDecideTheRole() throws {
        let (result, config) = try run("""
            vrrp_script chk_haproxy {
                script "killall -0 haproxy"
                interval 2
                fall 2
                rise 3
            }
            vrrp_instance VI_1 {
                interface eth0
                version 3
                virtual_router_id 51
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2
                }
                track_script {
                    chk_haproxy
                }
            }
            vrrp_instance VI_2 {
                interface eth0
                version 3
                virtual_router_id 52
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2
                }
                track_script {
                    chk_haproxy weight 2
                }
            }
            """)
        #expect(result.refusals.isEmpty)
        #expect(config.checks.map(\.name) == ["chk_haproxy", "chk_haproxy.weight"])
        #expect(config.checks.map(\.role) == [.front, .weight])
        #expect(config.checks[1].weight == 2)
        #expect((config.checks[0].interval, config.checks[0].rise, config.checks[0].fall) == (.seconds(2), 3, 2))
        #expect(config.checks[0].probe == .exec(CheckConfig.ExecProbe(command: ["/usr/bin/killall", "-0", "haproxy"])))
        #expect(config.instances.map(\.trackChecks) == [[TrackedCheck(name: "chk_haproxy")], [TrackedCheck(name: "chk_haproxy.weight")]])
    }

    @Test func notifyArgumentsKeepTheirQuotes() throws {
        let (result, config) = try run(Self.clean.replacingOccurrences(of: "    virtual_ipaddress {", with: """
                notify_master "/usr/local/bin/vrrp.sh  MASTER ' a b ' \\"c d\\""
                virtual_ipaddress {
            """))
        #expect(result.refusals.isEmpty)
        #expect(config.notify.master == ["/usr/local/bin/vrrp.sh", "MASTER", " a b ", "c d"])
    }

    @Test func whatDoesNotMapIsRefusedAtItsLine() throws {
        let (result, config) = try run("""
            global_defs {
                vrrp_version 3
                router_id LVS_DEVEL
                smtp_server 192.168.200.1
                vrrp_garp_master_delay 5
            }
            vrrp_script chk_sshd {
                script "killall -0 sshd"
                interval 1
                timeout 3
            }
            vrrp_script chk_port {
                script "</dev/tcp/127.0.0.1/80"
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 51
                priority 255
                advert_int 0.005
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2 min_ttl 250
                }
                garp_master_delay 10
                smtp_alert
                use_vmac
                virtual_ipaddress {
                    198.18.0.100/24 brd 198.18.0.255
                    198.18.0.100/24 label eth0:1
                    198.18.0.1/32
                }
                track_interface {
                    eth1 weight 2
                }
                track_script {
                    chk_sshd
                    chk_port
                    chk_missing
                }
                virtual_routes {
                    src 198.18.0.100 198.19.0.0/16 via 198.18.0.254
                    blackhole 198.19.1.0/24
                }
                notify_stop /etc/keepalived/stop.sh
            }
            vrrp_instance VI_2 {
                interface eth1
                virtual_router_id 51
            }
            virtual_server 198.18.0.100 80 {
                lb_algo rr
            }
            """)
        #expect(lines(result) == [4, 5, 10, 13, 18, 19, 22, 24, 25, 26, 28, 29, 30, 33, 37, 38, 41, 42, 44, 46, 50])
        #expect(result.refusals.first { $0.line == 18 }?.reason.contains("254 is written instead") == true)
        #expect(result.refusals.first { $0.line == 30 }?.reason.contains("node.address") == true)
        #expect(result.refusals.first { $0.line == 46 }?.reason.contains("virtual_router_id 51 is also VI_1's") == true)
        #expect(result.refusals.first { $0.line == 50 }?.description
            == "k.conf:50: virtual_server: LVS: vipd does not drive IPVS (virtual servers stay with keepalived's checker, or nginx balances) (lines 50-52)")
        #expect(config.instances.map(\.name) == ["VI_1"])
        #expect(config.instances[0].priority == 254)
        #expect(config.instances[0].vips.map(\.address) == [IPAddress("198.18.0.100")!])
        #expect(config.instances[0].trackChecks == [TrackedCheck(name: "chk_sshd")])
        #expect(config.checks[0].timeout == .seconds(1))
        for refusal in result.refusals {
            #expect(result.yaml.contains("line \(refusal.line): \(refusal.keyword): "), "no comment for \(refusal)")
        }
    }

    @Test func oneNodeOneInterfaceOneAddress() throws {
        let (result, config) = try run("""
            vrrp_instance A {
                interface eth0
                version 3
                virtual_router_id 1
                unicast_src_ip 198.18.0.1
                unicast_peer {
                    198.18.0.2
                }
                virtual_ipaddress {
                    198.18.0.100/24
                }
                notify_master /etc/keepalived/a.sh
            }
            vrrp_instance B {
                interface eth1
                version 3
                virtual_router_id 2
                unicast_src_ip 198.18.1.1
                unicast_peer {
                    198.18.0.3
                }
                virtual_ipaddress {
                    198.18.1.100/24
                }
                notify_master /etc/keepalived/b.sh
                old_unicast_checksum
            }
            """)
        #expect(lines(result) == [15, 18, 25])
        #expect(result.refusals.map(\.keyword) == ["interface", "unicast_src_ip", "notify_master"])
        #expect(config.instances[1].vips.first?.interface == "eth1")
        #expect(config.instances[1].trackInterfaces.map(\.name) == ["eth1"])
        #expect(config.instances.map(\.peers) == [[config.peers[0]], [config.peers[1]]])
        #expect(config.instances[1].wire == .vrrp3(VRRP3Settings(multicast: false, checksum: .unicastLegacy, unauthenticated: true)))
        #expect(config.notify.master == ["/etc/keepalived/a.sh"])
    }

    /// What the importer does not foresee, vipd's parser catches: a refusal at the keepalived line behind it.
    @Test func whatVipdWouldRefuseIsRefusedAtItsSourceLine() throws {
        let text = Self.clean.replacingOccurrences(of: "interface eth0", with: "interface eth0.vlan-uplink-1")
        let result = try KeepalivedImport.convert(text, file: "k.conf", options: Self.options())
        #expect(result.refusals.map(\.description) == [
            "k.conf:5: vipd.yaml: vipd check-config would refuse the result: node.interface: not a valid interface name: \"eth0.vlan-uplink-1\"",
            "k.conf:5: vipd.yaml: vipd check-config would refuse the result: instances[0].track_interfaces[0]: not a valid interface name: \"eth0.vlan-uplink-1\"",
        ])
        #expect(result.yaml.contains("# Refused (not carried over):\n#   line 5: vipd.yaml: vipd check-config would refuse"))
    }

    /// keepalived 2.4's `auth_hmac` is vrrp3.auth_hmac: the same key file and id.
    @Test func authHMACMapsWithItsKeyFile() throws {
        let block = """
                auth_hmac {
                    key 1 file:/etc/keepalived/keys/vrrp51
                    key 2 hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
                    active_key 1
                    anti_replay time
                    time_window 5
                    mode permissive
                }
                virtual_ipaddress {
            """
        let (result, config) = try run(Self.clean.replacingOccurrences(of: "    virtual_ipaddress {", with: block))
        #expect(result.refusals.map(\.line) == [14])  // key 2: one key only
        guard case .vrrp3(let wire) = config.instances[0].wire, let hmac = wire.authHMAC else {
            Issue.record("no auth_hmac in \(config.instances[0].wire)")
            return
        }
        #expect((hmac.keyFile, hmac.keyID, hmac.timeWindow, hmac.mode, hmac.antiReplay)
            == ("/etc/keepalived/keys/vrrp51", 1, 5, .permissive, .time))
        #expect(!wire.unauthenticated)
        #expect(!result.yaml.contains("000102") && !result.refusals.description.contains("000102"))

        let inline = Self.clean.replacingOccurrences(of: "    virtual_ipaddress {", with: """
                auth_hmac {
                    key 7 s3cret-s3cret-s3cret-s3cret-s3cret-42
                }
                virtual_ipaddress {
            """)
        let (refused, withFile) = try run(inline)
        #expect(refused.refusals.map(\.line) == [13])
        #expect(refused.refusals[0].reason.contains("/etc/vipd/web.hmac.key, mode 0600"))
        #expect(!refused.yaml.contains("s3cret") && !refused.refusals.description.contains("s3cret"))
        guard case .vrrp3(let settings) = withFile.instances[0].wire else { return }
        #expect(settings.authHMAC?.keyFile == "/etc/vipd/web.hmac.key" && settings.authHMAC?.keyID == 7)
    }

    @Test func aFileWithoutInstancesIsNotImported() {
        #expect(throws: KeepalivedSyntaxError(file: "k.conf", line: 1, message: "nothing to import: the file has no vrrp_instance")) {
            try KeepalivedImport.convert("virtual_server 10.0.0.1 80 {\n}\n", file: "k.conf", options: Self.options())
        }
    }
}
