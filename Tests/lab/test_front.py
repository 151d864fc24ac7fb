"""The front on both nodes in a network-namespace lab: health checks, the nginx
upstream vipd renders, and failover on a dead front.

Nodes A (198.18.0.1, priority 150) and B (198.18.0.2, priority 100) each run
Debian's nginx with the shipped site (conf/nginx), the bingo stand-in on
:30164 and vipd with a front check (nginx's 127.0.0.1:8081/vipd-health) and
a backend check (the stand-in's /ping), both every 250 ms with rise 2 and
fall 2; the client C (198.18.0.10) talks to the VIP 198.18.0.100. See
lab/vlab/web.py for the front and who runs what.

Needs root; run with  python3 -m pytest -q Tests/lab/test_front.py
Every test first restores the baseline (everything up, A master, both
upstream files with both backends up), so each also runs alone (-k).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import running_lab

CLIENT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab",
                      "front_client.py")
INTERVAL_S = 0.25
RISE = FALL = 2
DETECT_S = 2 * INTERVAL_S * FALL   # the bound: within 2 x (interval x fall)
RECOVER_S = 2 * INTERVAL_S * RISE


@pytest.fixture(scope="module")
def lab(request):
    with running_lab(request, start=False, check_interval_ms=int(INTERVAL_S * 1000), rise=RISE, fall=FALL,
                     debounce_ms=100) as lab:
        lab.start_all()
        yield lab


def baseline(lab):
    """Both stand-ins healthy, both nginx and vipd running, A the sole master, no backend down."""
    for node in ("a", "b"):
        if not lab.running(f"bingo-{node}"):
            lab.start_bingo(node)
        lab.bingo_control(node, "good")
        if not lab.running(f"nginx-{node}"):
            lab.start_front(node)
        broken = os.path.join(lab.nginx_prefix(node), "conf.d", "zz-broken.conf")
        if os.path.exists(broken):
            os.unlink(broken)
        if not lab.vipd_running(node):
            lab.start_vipd(node)
    lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("a") == "master" and lab.state("b") == "backup",
                 20, "baseline: A master and sole VIP holder, B backup")
    lab.wait_for(lambda: not lab.marked_down("a") and not lab.marked_down("b"), 20,
                 "baseline: no backend marked down on either node")


def start_client(lab, name, rate=40, mix="ping"):
    stop, out, ready = (os.path.join(lab.dir, f"{name}.{x}") for x in ("stop", "json", "ready"))
    lab.spawn(name, "c", [sys.executable, CLIENT, "--rate", str(rate), "--mix", mix, "--stop-file", stop,
                          "--ready-file", ready, "--out", out, "--timeout", "5"])
    lab.wait_for(lambda: os.path.exists(ready), 10, "the client's first answer")
    return stop, out


def stop_client(lab, name, stop, out):
    open(stop, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 15, "the client's result")
    lab.stop(name)
    with open(out) as f:
        return json.load(f)


def time_until(lab, predicate, timeout, what):
    start = time.monotonic()
    lab.wait_for(predicate, timeout, what, interval=0.01)
    return time.monotonic() - start


def test_sick_backend_is_marked_down_on_both_fronts_and_requests_keep_succeeding(lab):
    baseline(lab)
    reloads = {node: lab.nginx_reloads(node) for node in ("a", "b")}
    stop, out = start_client(lab, "client-sick")
    time.sleep(1)
    lab.bingo_control("a", "bad")
    # Generous wait, then the real check on the measured time.
    took = time_until(lab, lambda: "node-a" in lab.marked_down("a") and "node-a" in lab.marked_down("b"),
                      10, "both fronts to mark A's backend down")
    print(f"\nA's sick backend marked down on both fronts after {took:.2f}s (bound {DETECT_S}s)")
    assert took <= DETECT_S, f"took {took:.2f}s, more than 2 x interval x fall = {DETECT_S}s\n{lab.diag()}"
    assert lab.marked_down("a") == {"node-a"} and lab.marked_down("b") == {"node-a"}
    assert lab.state("a") == "master", "a sick backend does not move the VIP"
    st = lab.status("b")
    assert [p["backend_healthy"] for p in st["peers"]] == [False]
    time.sleep(2)  # traffic while A's backend is out

    lab.bingo_control("a", "good")
    took_back = time_until(lab, lambda: not lab.marked_down("a") and not lab.marked_down("b"),
                           10, "A's backend back on both fronts")
    print(f"A's backend back on both fronts after {took_back:.2f}s (bound {RECOVER_S}s)")
    assert took_back <= RECOVER_S, f"took {took_back:.2f}s to return, more than {RECOVER_S}s\n{lab.diag()}"
    time.sleep(1)
    result = stop_client(lab, "client-sick", stop, out)
    assert result["total"] >= 150
    print(f"client: {result['failed']}/{result['total']} requests failed")
    assert result["failed"] == 0, json.dumps(result["first_failures"], indent=1)
    # Each front really reloaded nginx for both changes (a -t that passed, then -s reload).
    for node in ("a", "b"):
        assert lab.nginx_reloads(node) >= reloads[node] + 2, node


def test_every_backend_sick_lists_all_up(lab):
    baseline(lab)
    lab.bingo_control("a", "bad")
    lab.bingo_control("b", "bad")
    # Both report unhealthy: never render all down (nginx would answer 502 to everything).
    lab.wait_for(lambda: all("Every backend looks unhealthy" in lab.upstream(n) for n in ("a", "b")), 10,
                 "the all-unhealthy rendering on both nodes")
    assert lab.marked_down("a") == set() and lab.marked_down("b") == set()
    # A sick bingo answers 500 "I feel bad" on every endpoint (bingo.md), so
    # with both sick that is the best there is: the request must still reach
    # a bingo and bring its answer back, not nginx's 502 of an upstream
    # with no server left.
    status, body = lab.curl("c", "http://198.18.0.100/api/movie/7")
    assert (status, body) == (500, "I feel bad")
    lab.bingo_control("a", "good")
    lab.wait_for(lambda: lab.marked_down("a") == {"node-b"} and lab.marked_down("b") == {"node-b"}, 10,
                 "only B's backend down once A recovers")
    lab.bingo_control("b", "good")


def test_stopped_nginx_on_the_master_moves_the_vip(lab):
    baseline(lab)
    lab.stop_front("a")
    took = time_until(lab, lambda: lab.holders() == ["b"] and lab.state("b") == "master", 10,
                      "B to take the VIP")
    print(f"\nnginx stopped on A: VIP on B after {took:.2f}s")
    assert lab.state("a") == "fault", lab.diag()
    st = lab.status("a")
    assert "front check \"nginx\" down" in (st.get("last_transition_reason") or ""), st
    # fall failed probes, then the priority-0 resignation: B takes over after Skew_Time.
    assert took <= DETECT_S + 0.5, f"VIP moved after {took:.2f}s\n{lab.diag()}"
    status, body = lab.curl("c", "http://198.18.0.100/ping")
    assert (status, body) == (200, "pong")

    # nginx back on A: the front check rises, A leaves fault and preempts.
    lab.start_front("a")
    lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("a") == "master", 10, "A to take the VIP back")
    assert lab.state("b") == "backup"


def test_rendering_rejected_by_nginx_t_keeps_the_previous_file_serving(lab):
    baseline(lab)
    # Break B's nginx configuration (as an operator's bad edit would): the
    # running nginx keeps serving, but nginx -t now fails.
    broken = os.path.join(lab.nginx_prefix("b"), "conf.d", "zz-broken.conf")
    with open(broken, "w") as f:
        f.write("this_is_not_a_directive on;\n")
    os.chown(broken, *_vipd_ids())
    previous = lab.upstream("b")
    reloads = lab.nginx_reloads("b")
    log_mark = len(lab.log("b"))

    lab.bingo_control("a", "bad")   # a change both fronts must render
    lab.wait_for(lambda: "node-a" in lab.marked_down("a"), 10, "A's own front to take the change")
    lab.wait_for(lambda: "nginx test rejected the new upstream" in lab.log("b")[log_mark:], 10,
                 "B's vipd to report the rejected rendering")
    assert lab.upstream("b") == previous, "the rejected rendering must not stay in place"
    assert lab.nginx_reloads("b") == reloads, "no reload after a failed test"
    assert lab.running("nginx-b")
    status, body = lab.curl("c", "http://198.18.0.2/ping")   # B's front, still on the previous file
    assert (status, body) == (200, "pong")
    assert "unknown directive \"this_is_not_a_directive\"" in lab.log("b")[log_mark:]
    metrics = subprocess.run(["curl", "-sf", "--unix-socket", lab.socket("b"), "http://localhost/metrics"],
                             capture_output=True, text=True, timeout=10).stdout
    failures = [line for line in metrics.splitlines() if line.startswith("vipd_nginx_reload_failures_total")]
    assert failures and float(failures[0].split()[-1]) >= 1, failures

    # Once the configuration is fixed, the pending rendering goes in (retry with backoff, 5 s first).
    os.unlink(broken)
    lab.wait_for(lambda: "node-a" in lab.marked_down("b") and lab.nginx_reloads("b") == reloads + 1, 15,
                 "B to write the rendering and reload nginx once the configuration is fixed")
    lab.bingo_control("a", "good")


def _vipd_ids():
    import pwd
    entry = pwd.getpwnam("vipd")
    return entry.pw_uid, entry.pw_gid


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
