/// Why a keepalived keyword is refused, or why it can be left out: the
/// tables behind the importer's refusals and notes (docs/import-keepalived.md).
enum KeepalivedKeywords {
    static let lvs = "LVS: vipd does not drive IPVS (virtual servers stay with keepalived's checker, or nginx balances)"
    static let garp = "vipd announces on a fixed schedule (gratuitous ARP or unsolicited NA at 0, 100 ms, 500 ms and 2 s after becoming master)"
    static let smtp = "vipd sends no e-mail: it posts every event to notify.webhooks"
    static let strict = "vipd has no strict mode: its master accepts traffic to the VIPs (keepalived's accept)"
    static let tracker = "no equivalent: an exec check under checks: can stand in (role front or weight)"
    static let firewall = "vipd adds no firewall rules (keepalived adds them for strict mode and no_accept)"
    static let vmac = "no virtual MAC: vipd announces the VIPs with the interface's own MAC"
    static let noEquivalent = "no vipd equivalent"

    static let topLevelRefusals: [String: String] = [
        "virtual_server": lvs, "virtual_server_group": lvs,
        "static_ipaddress": "the host's own addresses: configure them with the system's network configuration",
        "static_routes": "the host's own routes: configure them with the system's network configuration",
        "static_rules": "the host's own rules: configure them with the system's network configuration",
        "vrrp_track_file": tracker, "track_file": tracker, "vrrp_track_process": tracker, "track_process": tracker,
        "bfd_instance": "vipd has no BFD",
        "garp_group": garp,
        "linkbeat_interfaces": "vipd always follows the carrier through rtnetlink",
        "interface_up_down_delays": "no down delay in vipd (a tracked interface that goes down is a fault at once); the up delay is track_interfaces[].up_debounce, set it by hand",
        "net_namespace": "vipd runs in the network namespace it is started in (systemd's NetworkNamespacePath=)",
        "static_track_group": noEquivalent,
    ]

    /// `global_defs` keywords that change nothing vipd does, with why.
    static let ignoredGlobals: [String: String] = [
        "router_id": "vipd's node.id comes from --node-id",
        "script_user": "vipd runs scripts as its own user (user:, default vipd), without capabilities; a script that needs root needs sudo",
        "enable_script_security": "vipd runs scripts without a shell, as its unprivileged user",
        "vrrp_check_unicast_src": "always on in vipd",
        "vrrp_skip_check_adv_addr": "not a vipd setting",
        "max_auto_priority": "see realtime_priority",
        "vrrp_priority": "vipd's threads run with realtime_priority", "checker_priority": "LVS checkers are not imported",
        "bfd_priority": "vipd has no BFD", "vrrp_no_swap": "vipd locks its memory (lock_memory: true)",
        "checker_no_swap": "LVS checkers are not imported", "bfd_no_swap": "vipd has no BFD",
        "vrrp_notify_fifo": "webhooks (notify.webhooks) carry every event", "notify_fifo": "webhooks (notify.webhooks) carry every event",
        "dynamic_interfaces": "vipd follows its interfaces through rtnetlink",
        "vrrp_rx_bufs_policy": "not a vipd setting", "vrrp_rx_bufs_multiplier": "not a vipd setting",
    ]

    /// Why a `global_defs` keyword is refused.
    static func globalRefusal(_ keyword: String) -> String {
        if keyword.hasPrefix("vrrp_garp_") || keyword.hasPrefix("vrrp_gna_") || keyword.hasPrefix("garp_")
            || keyword.hasPrefix("vrrp_lower_prio") { return garp }
        if keyword.hasPrefix("smtp_") || keyword.hasPrefix("notification_email") || keyword.hasPrefix("email_") { return smtp }
        if keyword.hasPrefix("vrrp_mcast_group") { return "vipd's protocol: vrrp3 multicasts to 224.0.0.18 only" }
        if keyword == "vrrp_strict" { return strict }
        if keyword.hasPrefix("vrrp_iptables") || keyword.hasPrefix("vrrp_ipsets") || keyword.hasPrefix("nftables") { return firewall }
        if keyword.hasPrefix("lvs_") { return lvs }
        return noEquivalent
    }

    /// `vrrp_instance` keywords that change nothing vipd does, with why.
    static let ignoredInInstance: [String: String] = [
        "preempt": "vipd preempts unless told not to (timing.preempt)",
        "native_ipv6": "deprecated in keepalived: the VIPs decide the family",
        "check_unicast_src": "always on in vipd", "skip_check_adv_addr": "not a vipd setting", "debug": "not a vipd setting",
        "accept": "vipd's master always accepts traffic to its VIPs", "linkbeat_use_polling": "vipd follows the carrier through rtnetlink",
        "kernel_rx_buf_size": "not a vipd setting", "unicast_fault_no_peer": "vipd needs its peers listed anyway",
        "no_virtual_ipaddress": "an instance may have no VIPs",
    ]

    static let instanceRefusals: [String: String] = [
        "authentication": "VRRPv2 authentication: protocol: vrrp3 sends and checks none (VRRPv3 has none; keepalived 2.4's auth_hmac is imported); after the last keepalived node is gone, protocol: vipd authenticates every heartbeat with auth.key_file",
        "use_vmac": vmac, "vmac_xmit_base": vmac, "use_vmac_addr": vmac, "use_ipvlan": vmac,
        "unicast_ttl": "vipd sets the TTL of its adverts itself",
        "track_src_ip": noEquivalent, "track_file": tracker, "track_process": tracker, "track_bfd": "vipd has no BFD",
        "smtp_alert": smtp, "strict_mode": strict,
        "no_accept": "vipd's master always accepts traffic to its VIPs (keepalived's accept)",
        "notify_stop": "no separate stop script: notify.generic is called with STOP",
        "notify_deleted": "no equivalent: webhooks (notify.webhooks) carry every event",
        "notify_master_rx_lower_pri": "no equivalent: webhooks (notify.webhooks) carry every event",
        "notify_priority_changes": "no equivalent: webhooks (notify.webhooks) carry every event",
        "down_timer_adverts": "vipd's Master_Down_Interval is 3 advert intervals plus the skew (RFC 9568)",
        "timer_expired_backup": noEquivalent, "lower_prio_no_advert": noEquivalent, "higher_prio_send_advert": noEquivalent,
        "promote_secondaries": "vipd does not set it: set net.ipv4.conf.IFACE.promote_secondaries=1 with sysctl",
        "vrf": "vipd runs in the default VRF",
        "lvs_sync_daemon_interface": lvs,
        "virtual_ipaddress_excluded": "vipd has no excluded VIPs: move them to virtual_ipaddress (vipd then advertises them) or hold them otherwise",
        "mcast_dst_ip": "vipd's protocol: vrrp3 multicasts to 224.0.0.18 only",
    ]

    static func instanceRefusal(_ keyword: String) -> String {
        if let reason = instanceRefusals[keyword] { return reason }
        if keyword.hasPrefix("garp_") || keyword.hasPrefix("gna_") { return garp }
        return noEquivalent
    }

    static let groupRefusals: [String: String] = [
        "notify_master": "vipd has no sync-group scripts: notify.master runs per instance",
        "notify_backup": "vipd has no sync-group scripts: notify.backup runs per instance",
        "notify_fault": "vipd has no sync-group scripts: notify.fault runs per instance",
        "notify": "vipd has no sync-group scripts (no GROUP calls): notify.generic runs per instance",
        "notify_stop": "vipd has no sync-group scripts", "notify_deleted": "vipd has no sync-group scripts",
        "track_interface": "vipd tracks per instance: list the interface in each member's track_interface",
        "track_script": "vipd tracks per instance: list the script in each member's track_script",
        "track_file": tracker, "track_process": tracker, "track_bfd": "vipd has no BFD",
        "smtp_alert": smtp, "global_tracking": "vipd tracks per instance", "sync_group_tracking_weight": "vipd tracks per instance",
        "notify_priority_changes": "no equivalent: webhooks (notify.webhooks) carry every event",
    ]
}
