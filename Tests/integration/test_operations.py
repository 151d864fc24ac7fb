"""Operating a running cluster: planned failover, maintenance, reload,
/health and /metrics through the control socket and vipctl."""
import os
import time

from vipdlab import wait_for


def test_failover_on_the_master_hands_over_without_a_gap(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    result = a.vipctl("failover")
    print(result.stdout, result.stderr)
    assert result.returncode == 0
    assert "n1 is master" in result.stdout
    assert cluster.masters() == ["n1"]
    status = a.status()
    assert status["state"] == "backup" and status["preempt_held"] is True
    # The old master has the higher priority but does not take the VIP back.
    time.sleep(1.5)
    assert cluster.masters() == ["n1"]
    assert "master -> backup (handed over to n1)" in a.log_text()
    assert "backup -> master (planned handover from n0)" in b.log_text()


def test_failover_asked_on_a_backup_names_the_target(cluster_factory):
    cluster = cluster_factory([200, 100, 150]).start()
    a, b, c = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    result = b.vipctl("failover", "--to", "n1")
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: cluster.masters() == ["n1"], 2, "n1 master")
    time.sleep(1.5)
    assert cluster.masters() == ["n1"], "neither n0 nor the higher-priority n2 takes it back"
    # Asking for n0 by name lifts its hold.
    result = a.vipctl("failover", "--to", "n0")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: cluster.masters() == ["n0"], 2, "n0 master again")


def test_failover_is_refused_without_a_healthy_peer(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    b.kill()
    b.wait_exit()
    # A backup heartbeats at the standby interval (1 s): lost after 3 of them + skew.
    wait_for(lambda: not a.status()["peers"][0]["alive"], 6, "n1 lost")
    result = a.vipctl("failover")
    assert result.returncode == 1
    assert "no healthy peer" in result.stderr
    assert a.state() == "master"
    status, body = a.request("POST", "/v1/failover", {"to": "nobody"})
    assert status == 404 and "no peer named nobody" in body["message"]


def test_maintenance_hands_over_first_and_comes_back(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    result = a.vipctl("maintenance", "on")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: a.state() == "maintenance", 2, "n0 in maintenance")
    assert cluster.masters() == ["n1"]
    status, body = a.request("GET", "/health")
    assert status == 503 and body["reason"] == "maintenance"
    status, body = b.request("GET", "/health")
    assert status == 200 and body["healthy"] is True
    # With n0 in maintenance, n1 has no peer to hand over to.
    assert b.vipctl("maintenance", "on").returncode == 1
    assert a.vipctl("maintenance", "off").returncode == 0
    wait_for(lambda: cluster.masters() == ["n0"], 3, "n0 preempts after maintenance off")


def test_maintenance_on_a_master_nobody_relieves_says_so(cluster_factory):
    # Issue 18 item 9: the answer was success while the node stayed master.
    import signal
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    b.kill(signal.SIGSTOP)  # still listed as a live backup for a moment, but it will not take over
    try:
        status, body = a.request("POST", "/v1/maintenance", {"enabled": True})
    finally:
        b.kill(signal.SIGCONT)
    assert status == 504 and body["ok"] is False, (status, body)
    assert "stays master" in body["message"]
    assert a.state() == "master"


def test_reload_applies_priority_and_refuses_bad_config(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    os.chown(cluster.key, _vipd_uid(), -1)  # the daemon re-reads the key as its own user
    for node in cluster.nodes:
        os.chown(node.config, _vipd_uid(), -1)
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    b.priority = 250
    b.write_config()
    os.chown(b.config, _vipd_uid(), -1)
    result = b.vipctl("reload")
    assert result.returncode == 0, result.stderr
    assert "priority 100 -> 250" in result.stdout
    wait_for(lambda: cluster.masters() == ["n1"], 2, "n1 preempts with its new priority")
    # An invalid file is refused and the running configuration kept.
    good = b.config.read_text()
    b.config.write_text(good.replace("vrid: 42", "vrid: many"))
    result = b.vipctl("reload")
    assert result.returncode == 1
    assert "vrid" in result.stderr and "running one is kept" in result.stderr
    assert b.status()["priority"] == 250
    # Changing what needs a restart is refused too.
    b.config.write_text(good.replace("vrid: 42", "vrid: 43"))
    result = b.vipctl("reload")
    assert result.returncode == 1 and "needs a restart" in result.stderr
    b.config.write_text(good)


def test_metrics_are_valid_prometheus_text(cluster_factory):
    from prometheus_client.parser import text_string_to_metric_families
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    time.sleep(0.5)
    import subprocess
    result = subprocess.run(["curl", "-sf", "--unix-socket", a.socket, "http://localhost/metrics"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("vipd_state", (("state", "master"), ("vrrp_instance", "vrid42")))] == 1
    assert samples[("vipd_priority", (("vrrp_instance", "vrid42"),))] == 150
    assert samples[("vipd_peer_up", (("peer", "n1"),))] == 1
    assert samples[("vipd_heartbeats_sent_total", ())] > 0
    assert samples[("vipd_transitions_total", (("from", "backup"), ("to", "master"), ("vrrp_instance", "vrid42")))] == 1
    assert ("vipd_packets_dropped_total", (("reason", "bad_auth"),)) in samples


def test_unauthorized_user_is_refused(cluster_factory):
    import pwd
    import subprocess
    from vipdlab import VIPCTL
    cluster = cluster_factory([150, 100]).start()
    a = cluster.nodes[0]
    wait_for(lambda: a.state() is not None, 5, "n0 up")
    mode = os.stat(a.socket).st_mode & 0o777
    assert mode == 0o660
    nobody = pwd.getpwnam("nobody")
    result = subprocess.run([VIPCTL, "status", "--socket", a.socket], capture_output=True, text=True,
                            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], timeout=30)
    assert result.returncode == 4
    assert "permission denied" in result.stderr


def _vipd_uid():
    import pwd
    return pwd.getpwnam("vipd").pw_uid


def test_checks_appear_in_status_and_a_failing_front_check_faults(cluster_factory):
    cluster = cluster_factory([150, 100])
    flag = cluster.dir / "front-ok"
    flag.touch()
    checks = (f"checks:\n  - name: front\n    role: front\n    exec: {{command: [/usr/bin/test, -e, {flag}]}}\n"
              f"    interval: 50ms\n    rise: 1\n    fall: 1\n")
    cluster.nodes[0].extra["tail"] = checks
    cluster.start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    check = a.status()["checks"][0]
    assert check["name"] == "front" and check["state"] == "up" and check["last_passed"] is True
    table = a.vipctl("status").stdout
    assert "front" in table and "CHECK" in table
    flag.unlink()
    wait_for(lambda: a.state() == "fault", 2, "n0 in fault")
    wait_for(lambda: cluster.masters() == ["n1"], 2, "n1 master")
    assert a.status()["checks"][0]["state"] == "down"
    status, body = a.request("GET", "/health")
    assert status == 503 and "front" in body["reason"]
    flag.touch()
    wait_for(lambda: a.state() in ("backup", "master"), 2, "n0 out of fault")
