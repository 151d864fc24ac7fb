#!/usr/bin/env python3
"""The vipd demo: two nodes, each with nginx, the bingo stand-in and vipd, in
network namespaces; a client sends steady traffic through the VIP; the master
dies hard (link down + SIGKILL); the backup takes over; the node comes back.

    sudo python3 lab/demo.py          (or: make demo)

Everything runs in namespaces made here, with addresses from 198.18.0.0/15
only, and is torn down at the end (also on Ctrl-C or an error).
"""
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from vlab import ADDR, VIP, Lab  # noqa: E402


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def vipctl_status(lab, node):
    _, out, err = lab.vipctl(node, "status", check=False)
    print(f"--- node-{node} ({ADDR[node]})\n{out or err}")


def start_traffic(lab):
    paths = {}
    for name in ("http", "icmp"):
        paths[name] = tuple(os.path.join(lab.dir, f"demo-{name}.{x}") for x in ("stop", "json", "ready"))
    stop, out, ready = paths["http"]
    lab.python("c", "front_client.py", "--rate", "50", "--mix", "bingo", "--stop-file", stop, "--ready-file", ready,
               "--out", out, "--timeout", "5", name="demo-http")
    stop, out, ready = paths["icmp"]
    lab.python("c", "probe.py", VIP, "--interval", "0.01", "--stop-file", stop, "--ready-file", ready, "--out", out,
               "--max-duration", "120", name="demo-icmp")
    for name in ("http", "icmp"):
        lab.wait_for(lambda: os.path.exists(paths[name][2]), 15, f"the {name} client's first answer")
    return paths


def stop_traffic(lab, paths):
    results = {}
    for name, (stop, out, _) in paths.items():
        open(stop, "w").close()
    for name, (stop, out, _) in paths.items():
        lab.wait_for(lambda: os.path.exists(out), 20, f"the {name} client's result")
        time.sleep(0.1)
        with open(out) as f:
            results[name] = json.load(f)
    return results


def main():
    if os.geteuid() != 0:
        sys.exit("the demo needs root (network namespaces)")
    lab = Lab(check_interval_ms=250)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        say("building the lab: switch, node-a (198.18.0.1, priority 150), node-b (198.18.0.2, priority 100), client")
        lab.up()
        lab.start_all()
        lab.wait_for(lambda: lab.state("a") == "master" and lab.state("b") == "backup" and lab.holders() == ["a"],
                     20, "node-a to hold the VIP")
        time.sleep(1.5)  # let the checks settle so status shows them up
        say(f"vipctl status on both nodes (VIP {VIP})")
        vipctl_status(lab, "a")
        vipctl_status(lab, "b")

        say("client: 50 HTTP requests/s through the VIP (mixed bingo endpoints) and a ping every 10 ms")
        paths = start_traffic(lab)
        time.sleep(3)

        say("hard death of node-a: its link goes down and vipd is SIGKILLed at the same moment")
        t0 = time.monotonic()
        lab.kill_hard("a")
        lab.wait_for(lambda: lab.state("b") == "master", 10, "node-b to take over", interval=0.005)
        print(f"node-b is master {1000 * (time.monotonic() - t0):.0f} ms after the kill "
              f"(Master_Down_Interval at priority 100 and a 100 ms interval: 361 ms)")
        time.sleep(3)
        vipctl_status(lab, "b")

        say("the client's view")
        results = stop_traffic(lab, paths)
        http, icmp = results["http"], results["icmp"]
        print(f"HTTP: {http.get('total')} requests, {http.get('failed')} failed "
              f"{json.dumps(http.get('failure_reasons', {}))}, p90 of the latency-bound endpoints {http.get('non_cached_p90_ms')} ms")
        print(f"ICMP: {icmp['sent']} echoes, {icmp['sent'] - icmp['received']} unanswered; "
              f"longest gap (the outage): {icmp['max_gap_ms']:.0f} ms")

        say("node-a comes back: link up, vipd restarted; it preempts (priority 150 > 100)")
        lab.link_up("a")
        lab.start_vipd("a")
        lab.wait_for(lambda: lab.state("a") == "master" and lab.holders() == ["a"], 15, "node-a to preempt")
        time.sleep(1)
        vipctl_status(lab, "a")

        say("state changes, from the daemons' logs")
        lines = []
        for node in ("a", "b"):
            lines += [line for line in lab.log(node).splitlines() if " -> " in line]
        for line in sorted(lines):
            print(line)
    finally:
        say("tearing down the lab")
        lab.close()


if __name__ == "__main__":
    main()
