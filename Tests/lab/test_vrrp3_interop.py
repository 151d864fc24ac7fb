"""vipd and keepalived in one virtual router: `protocol: vrrp3` against Debian's
keepalived 2.2.7 in the namespace lab (issue "Speak VRRPv3"). Both roles, unicast
and multicast: elections, hard kill and graceful stop each way, preemption, and a
keepalived master on another advert interval.

Node A (198.18.0.1) and B (198.18.0.2), the VIP 198.18.0.100; see lab/vlab. Each
test starts the pair it needs. Timing bounds are RFC arithmetic plus a margin for
a shared 2-core machine; the figures are printed.
"""

import os
import signal
import time

import pytest

from vlab.vrrp3 import (INTERVAL_MS, VIP, diag, election, holds, ka_log, ka_pids, master_down_ms,  # noqa: F401
                        start_keepalived, takeover_ms)


@pytest.fixture
def pair(request):
    from conftest import running_lab
    with running_lab(request, start=False) as lab:
        yield lab


@pytest.fixture
def trio(request):
    from conftest import running_lab
    with running_lab(request, nodes=("a", "b", "d"), start=False) as lab:
        yield lab




@pytest.mark.parametrize("multicast", [False, True], ids=["unicast", "multicast"])
def test_keepalived_takes_over_from_vipd_and_gives_back(pair, multicast):
    lab = pair
    lab.start_vipd("a", election=election(150, multicast))
    start_keepalived(lab, "b", 100, multicast)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 5, what="vipd master")
    time.sleep(0.5)
    assert lab.holders(VIP) == ["a"], diag(lab)
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), "keepalived heard vipd and stayed backup\n" + diag(lab)
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    bound = master_down_ms(100)
    print(f"{'multicast' if multicast else 'unicast'}: keepalived took over from vipd in {took:.0f} ms "
          f"(Master_Down_Interval {bound:.0f} ms)")
    assert took <= bound + 300, diag(lab)
    lab.link_up("a")
    lab.start_vipd("a", election=election(150, multicast))
    lab.wait_for(lambda: lab.holders(VIP) == ["a"], 5, what="vipd preempts keepalived")
    assert "with higher priority 150" in ka_log(lab, "b"), diag(lab)
    dropped = lab.status("a")["counters"]["dropped"]
    assert dropped["bad_checksum"] == 0 and dropped["bad_ttl"] == 0 and dropped["unknown_peer"] == 0, dropped


@pytest.mark.parametrize("multicast", [False, True], ids=["unicast", "multicast"])
def test_vipd_takes_over_from_keepalived(pair, multicast):
    lab = pair
    start_keepalived(lab, "a", 150, multicast)
    lab.start_vipd("b", election=election(100, multicast))
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and "Entering MASTER STATE" in ka_log(lab, "a"), 5,
                 what="keepalived master")
    lab.wait_for(lambda: lab.status("b").get("master") == "node-a", 3, what="vipd follows keepalived")
    assert lab.state("b") == "backup", diag(lab)
    t_kill, _ = lab.kill_hard("a", pids=ka_pids(lab, "a"))
    took = takeover_ms(lab, "b", t_kill)
    bound = master_down_ms(100)
    print(f"{'multicast' if multicast else 'unicast'}: vipd took over from keepalived in {took:.0f} ms "
          f"(Master_Down_Interval {bound:.0f} ms)")
    assert took <= bound + 300, diag(lab)


def test_a_graceful_stop_hands_over_after_skew_time_each_way(pair):
    lab = pair
    lab.start_vipd("a", election=election(150, False))
    start_keepalived(lab, "b", 100, False)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"], 5, what="vipd master")
    time.sleep(0.3)
    t_stop = time.time()
    lab.stop_vipd("a")
    took = takeover_ms(lab, "b", t_stop)
    print(f"vipd stopped: keepalived master after {took:.0f} ms (Skew_Time {(156 * INTERVAL_MS / 256):.0f} ms)")
    assert took < master_down_ms(100), "keepalived heard vipd's priority-0 advert\n" + diag(lab)
    # And back: vipd as the backup of keepalived, keepalived stopped gracefully.
    lab.start_vipd("a", election=election(50, False))
    lab.wait_for(lambda: lab.status("a").get("master") == "node-b", 3, what="vipd follows keepalived")
    t_stop = time.time()
    os.kill(ka_pids(lab, "b")[-1], signal.SIGTERM)  # the parent; it stops the VRRP child, which resigns
    took = takeover_ms(lab, "a", t_stop)
    print(f"keepalived stopped: vipd master after {took:.0f} ms")
    assert took < master_down_ms(50), "vipd heard keepalived's priority-0 advert\n" + diag(lab)
    assert "master node-b resigned" in lab.log("a"), diag(lab)


def test_a_backup_adopts_the_masters_advert_interval(pair):
    lab = pair
    start_keepalived(lab, "a", 150, False, advert_ms=200)
    lab.start_vipd("b", election=election(100, False))
    lab.wait_for(lambda: lab.status("b").get("master") == "node-a", 5, what="vipd follows keepalived")
    down = lab.status("b")["master_down_ms"]
    expected = master_down_ms(100, 200)
    print(f"vipd (100 ms) behind keepalived (200 ms): master-down {down:.0f} ms, RFC {expected:.0f} ms")
    assert abs(down - expected) < 2, diag(lab)


def test_a_three_node_mixed_cluster_passes_the_vip_down_the_priorities(trio):
    """vipd on A (150) and D (50), keepalived on B (100), unicast: A master; A dies,
    keepalived takes over while D follows it; B dies, vipd on D takes over."""
    lab = trio
    lab.start_vipd("a", election=election(150, False))
    start_keepalived(lab, "b", 100, False)
    lab.start_vipd("d", election=election(50, False))
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.status("d").get("master") == "node-a", 5,
                 what="A master, D following")
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), diag(lab)
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    lab.wait_for(lambda: lab.status("d").get("master") == "node-b", 3, what="D follows keepalived")
    # (A's dead interface still shows the VIP: its link is down, it answers nothing.)
    assert lab.state("d") == "backup" and not holds(lab, "d"), diag(lab)
    t_kill2, _ = lab.kill_hard("b", pids=ka_pids(lab, "b"))
    took2 = takeover_ms(lab, "d", t_kill2)
    print(f"3 nodes: keepalived took over from vipd in {took:.0f} ms, vipd from keepalived in {took2:.0f} ms")
    assert took <= master_down_ms(100) + 300 and took2 <= master_down_ms(50) + 300, diag(lab)
    assert lab.state("d") == "master", diag(lab)
