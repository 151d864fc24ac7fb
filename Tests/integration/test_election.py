"""Real vipd processes on loopback elect one master and fail over in time."""
import signal
import time

from vipdlab import mdi_ms, skew_ms, wait_for


def test_two_nodes_elect_exactly_one_master(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    time.sleep(1.0)  # stays stable: heartbeats keep the backup backup
    assert cluster.masters() == ["n0"]
    backup = cluster.nodes[1].status()
    assert backup["state"] == "backup" and backup["master"] == "n0"
    assert backup["peers"][0]["alive"] and backup["peers"][0]["state"] == "master"


def test_three_nodes_elect_the_highest_priority(cluster_factory):
    cluster = cluster_factory([100, 200, 150]).start()
    wait_for(lambda: cluster.masters() == ["n1"], 5, "n1 master")
    time.sleep(1.0)
    assert cluster.masters() == ["n1"]
    for node in (cluster.nodes[0], cluster.nodes[2]):
        assert node.state() == "backup"


def takeover_ms(cluster, victim, survivor, sig):
    """Signals the master, returns ms until the survivor reports master."""
    wait_for(lambda: cluster.masters() == [victim.id], 5, f"{victim.id} master")
    time.sleep(0.35)  # a random-ish phase of the heartbeat cycle
    start = time.monotonic()
    victim.kill(sig)
    wait_for(lambda: survivor.state() == "master", 5, f"{survivor.id} takeover", poll=0.002)
    return (time.monotonic() - start) * 1000


def test_sigkill_of_master_fails_over_within_master_down_interval(cluster_factory):
    cluster = cluster_factory([150, 100, 50]).start()
    a, b, c = cluster.nodes
    elapsed = takeover_ms(cluster, a, b, signal.SIGKILL)
    limit = mdi_ms(100, 100) + 100
    print(f"SIGKILL takeover {elapsed:.1f} ms (limit {limit:.1f} ms)")
    assert elapsed <= limit
    time.sleep(0.5)
    assert cluster.masters() == ["n1"], "the lower-priority backup must not also take over"


def test_sigterm_of_master_hands_over_within_skew_time(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    elapsed = takeover_ms(cluster, a, b, signal.SIGTERM)
    limit = skew_ms(100, 100) + 100
    print(f"SIGTERM takeover {elapsed:.1f} ms (limit {limit:.1f} ms)")
    assert elapsed <= limit
    a.wait_exit(5)
    assert a.proc.returncode == 0
    log = a.log_text()
    assert "master -> init (shutdown)" in log
    assert "vipd stopped" in log
    assert "backup -> master (master n0 resigned)" in b.log_text()


def test_restarted_higher_priority_node_preempts_after_preempt_delay(cluster_factory):
    delay_s = 1.5
    cluster = cluster_factory([150, 100], extra={0: {"timing": f"  preempt_delay: {delay_s}s\n"}}).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"] and a.status()["state_for_ms"] > 0, 5 + delay_s, "n0 master")
    a.kill(signal.SIGKILL)
    a.wait_exit()
    wait_for(lambda: b.state() == "master", 2, "n1 takeover")
    a.priority = 200
    a.start()
    started = a.started_at
    time.sleep(delay_s * 0.6)
    assert a.state() == "backup", "must not preempt before preempt_delay"
    assert b.state() == "master"
    wait_for(lambda: a.state() == "master", delay_s + 3, "n0 preempts")
    elapsed = time.monotonic() - started
    print(f"preempted {elapsed * 1000:.0f} ms after start (preempt_delay {delay_s * 1000:.0f} ms)")
    assert elapsed >= delay_s
    wait_for(lambda: b.state() == "backup", 1, "n1 yields")
    assert "preempting lower-priority master n1" in a.log_text()
    assert "master -> backup (outranked by master n0)" in b.log_text()


def test_without_preemption_a_returning_node_stays_backup(cluster_factory):
    cluster = cluster_factory([150, 100], extra={0: {"timing": "  preempt: false\n"}}).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    a.kill(signal.SIGKILL)
    a.wait_exit()
    wait_for(lambda: b.state() == "master", 2, "n1 takeover")
    a.start()
    time.sleep(1.5)
    assert cluster.masters() == ["n1"]
    assert a.state() == "backup"
