"""vipd and keepalived 2.4.3 (built from the source tarball, lab/vlab/keepalived_source.py)
in one virtual router with auth_hmac (HMAC-SHA256 trailer, draft-cassen-vrrp-auth-hmac):
each side verifies the other's signed adverts, in both roles; a forged advert
(wrong key), an unsigned one and a replayed capture, sent into the lab with a
raw socket, are dropped and counted by vipd and ignored by keepalived.

Node A (198.18.0.1) and B (198.18.0.2), the VIP 198.18.0.100, unicast, enforce
mode, time window 5 s. The first run on a machine builds keepalived (minutes);
later runs reuse /var/cache/vipd-lab/keepalived-2.4.3/<sha256>.
"""

import time

import pytest

import vlab.vrrp3_auth as auth
from vlab.vrrp3 import VIP, diag, ka_log, ka_pids, master_down_ms, takeover_ms

@pytest.fixture(scope="module")
def keepalived243():
    from vlab.keepalived_source import build
    return build()


@pytest.fixture
def pair(request):
    from conftest import running_lab
    with running_lab(request, start=False) as lab:
        auth.key_file(lab)
        yield lab


election, start_keepalived, raw, attacks = auth.election, auth.start_keepalived, auth.raw, auth.attacks


def test_vipd_follows_a_signing_keepalived_and_drops_forgeries_and_replays(pair, keepalived243):
    lab = pair
    start_keepalived(lab, keepalived243, "a", 150)
    lab.start_vipd("b", election=election(lab, 100))
    lab.wait_for(lambda: "Entering MASTER STATE" in ka_log(lab, "a"), 5, what="keepalived master")
    lab.wait_for(lambda: lab.status("b").get("master") == "node-a", 3, what="vipd verifies keepalived's adverts")
    captured = raw(lab, "b", "capture", lab.addr("a"), "3")
    assert len(bytes.fromhex(captured)) == 20 + 12 + 28, "keepalived's advert carries the 28-byte trailer"
    before = dict(lab.status("b")["counters"]["dropped"])
    # Priority 255: a takeover if vipd believed any of them.
    raw(lab, "a", "send", *attacks(lab, 255, captured))
    def counted():
        now = lab.status("b")["counters"]["dropped"]
        return all(now[k] > before[k] for k in ("replay", "bad_auth", "hmac_missing")) and now
    after = lab.wait_for(counted, 3, what="vipd counts the replay, the forgery and the unsigned advert")
    print("vipd drops:", {k: after[k] - before[k] for k in ("replay", "bad_auth", "hmac_missing", "hmac_stale")})
    time.sleep(0.3)
    assert lab.state("b") == "backup" and lab.status("b").get("master") == "node-a", diag(lab)
    assert lab.holders(VIP) == ["a"], diag(lab)
    # And vipd takes over when the signing master dies.
    t_kill, _ = lab.kill_hard("a", pids=ka_pids(lab, "a"))
    took = takeover_ms(lab, "b", t_kill)
    print(f"vipd took over from keepalived 2.4.3 in {took:.0f} ms")
    assert took <= master_down_ms(100) + 300, diag(lab)


def test_keepalived_follows_a_signing_vipd_and_ignores_forgeries_and_replays(pair, keepalived243):
    lab = pair
    lab.start_vipd("a", election=election(lab, 150))
    start_keepalived(lab, keepalived243, "b", 100)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 5, what="vipd master")
    time.sleep(0.5)
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), "keepalived did not accept vipd's trailer\n" + diag(lab)
    assert "authentication" not in ka_log(lab, "b"), diag(lab)
    captured = raw(lab, "b", "capture", lab.addr("a"), "3")
    assert len(bytes.fromhex(captured)) == 20 + 12 + 28, "vipd's advert carries the 28-byte trailer"
    a = lab.addr("a")
    # Priority 0 from the master: keepalived would take over at once if it believed it.
    raw(lab, "a", "send", *attacks(lab, 0, captured))
    lab.wait_for(lambda: all(s in ka_log(lab, "b") for s in (
        f"replayed authentication trailer from {a}", f"invalid authentication HMAC from {a}",
        f"missing authentication trailer from {a}")), 3, what="keepalived logs the three refusals")
    time.sleep(0.5)
    assert "Entering MASTER STATE" not in ka_log(lab, "b"), diag(lab)
    assert lab.holders(VIP) == ["a"], diag(lab)
    # Both roles: keepalived takes over when vipd dies, and vipd follows it back as backup.
    t_kill, _ = lab.kill_hard("a")
    took = takeover_ms(lab, "b", t_kill)
    print(f"keepalived 2.4.3 took over from vipd in {took:.0f} ms")
    assert took <= master_down_ms(100) + 300, diag(lab)
    lab.link_up("a")
    lab.start_vipd("a", election=election(lab, 50))
    lab.wait_for(lambda: lab.status("a").get("master") == "node-b", 3, what="vipd verifies keepalived's adverts")
    dropped = lab.status("a")["counters"]["dropped"]
    assert all(dropped[k] == 0 for k in ("bad_auth", "hmac_missing", "hmac_stale", "unknown_key")), dropped
