"""Routes and policy rules that follow the master (`routes:`, `rules:`, keepalived's
virtual_routes / virtual_rules), in the namespace lab: installed on becoming
master, removed on leaving, put back when deleted behind vipd's back.

Two nodes A (priority 150) and B (100), the lab's VIP; see lab/vlab. Root only.
"""

import subprocess
import time

ELECTION = """vrid: 51
vips:
  - address: 198.18.0.100/24
routes:
  - {to: 198.19.5.0/24, via: 198.18.0.254, table: 100}
rules:
  - {from: 198.18.0.100, table: 100, priority: 90}
"""


def ip(lab, node, *args):
    return subprocess.run(["ip", "netns", "exec", lab.ns(node), "ip", *args],
                          capture_output=True, text=True, check=False).stdout


def routing(lab, node):
    """(route held, rule held) on NODE."""
    route = "198.19.5.0/24 via 198.18.0.254" in ip(lab, node, "route", "show", "table", "100")
    rule = any("from 198.18.0.100 lookup 100" in line for line in ip(lab, node, "rule").splitlines())
    return route, rule


def diag(lab):
    return "\n".join(f"--- {n}: {routing(lab, n)}\n" + "\n".join(lab.log(n).splitlines()[-15:]) for n in ("a", "b"))


def test_routes_and_rules_follow_the_master_and_come_back_when_deleted(request):
    from conftest import running_lab
    with running_lab(request, start=False) as lab:
        for node in ("a", "b"):
            lab.start_vipd(node, election=ELECTION)
        lab.wait_for(lambda: routing(lab, "a") == (True, True) and lab.holders() == ["a"], 10,
                     what="A master with its route and rule")
        assert routing(lab, "b") == (False, False), diag(lab)

        # Deleted behind vipd's back: put back at once (rtnetlink notification, no polling).
        ip(lab, "a", "route", "del", "198.19.5.0/24", "table", "100")
        ip(lab, "a", "rule", "del", "from", "198.18.0.100", "table", "100")
        started = time.monotonic()
        lab.wait_for(lambda: routing(lab, "a") == (True, True), 2, what="route and rule restored on A")
        print(f"restored after {1000 * (time.monotonic() - started):.0f} ms")
        assert "was removed by something else; restored it" in lab.log("a"), diag(lab)

        # A planned failover moves them with the VIP; nothing stays behind on A.
        lab.vipctl("a", "failover")
        lab.wait_for(lambda: routing(lab, "b") == (True, True) and routing(lab, "a") == (False, False), 5,
                     what="route and rule moved to B")
        # A graceful stop of the master takes them away too.
        lab.stop_vipd("b")
        lab.wait_for(lambda: routing(lab, "a") == (True, True), 5, what="A master again after B stopped")
        assert routing(lab, "b") == (False, False), diag(lab)
