"""Measurements for lab/bench.py: when A's adverts reach B (for the phase of a
hard kill, and a kill at a chosen phase), and a daemon's idle CPU and memory."""

import os
import subprocess
import time


def start_advert_capture(lab, tag, src="a", at="b", vrid=None):
    """tcpdump in AT's namespace: SRC's heartbeats/adverts as AT receives them (for the
    phase of a kill); with VRID, only that virtual router's (vipd: byte 1 of the UDP
    payload, docs/protocol.md; VRRP: byte 1 of its header)."""
    name = f"adv-{tag}"
    pcap = os.path.join(lab.dir, f"{name}.pcap")
    what = ("(udp dst port 5798 or ip proto 112)" if vrid is None else
            f"((udp dst port 5798 and udp[9] = {vrid}) or (ip proto 112 and ip[21] = {vrid}))")
    lab.spawn(name, at, ["tcpdump", "-i", "eth0", "-n", "-U", "--immediate-mode", "-w", pcap,
                         f"src host {lab.addr(src)} and {what}"])
    lab.wait_for(lambda: "listening on" in lab.log(name), 10, what="tcpdump to listen", interval=0.05)
    return name, pcap


def target_phase_ms(index, runs, interval_ms):
    """Run `index` (1-based) of `runs`: (index - 0.5) / runs of an interval."""
    return (index - 0.5) / runs * interval_ms


# A resignation: priority 0 (vipd: byte 2 of the UDP payload; VRRP: byte 2 of its header).
RESIGNATION = "(udp and udp[10] = 0) or (ip proto 112 and ip[22] = 0)"


def adverts_so_far(pcap, expr=None):
    """Receive times (epoch s) of the adverts captured so far (the capture is still running);
    EXPR: only those that match this filter too (RESIGNATION)."""
    out = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt", *([expr] if expr else [])], capture_output=True,
                         text=True).stdout
    stamps = []
    for line in out.splitlines():
        try:
            stamps.append(float(line.split()[0]))
        except (IndexError, ValueError):
            pass
    return stamps


def phased_kill_time(pcap, interval_ms, phase_ms, lead_s=0.05):
    """When to kill so that `phase_ms` have passed since A's last advert: the
    first such moment at least `lead_s` from now, from the adverts B has
    received so far (A sends them every interval). None if none were seen."""
    stamps = adverts_so_far(pcap)
    if not stamps:
        return None
    interval = interval_ms / 1000
    target = stamps[-1] + phase_ms / 1000
    while target < time.time() + lead_s:
        target += interval
    return target


def last_advert_before(lab, name, pcap, t):
    """The capture NAME stopped; the receive time of A's last advert at or before T."""
    lab.stop(name, timeout=5)
    before = [x for x in adverts_so_far(pcap) if x <= t]
    return max(before) if before else None


def first_resignation_after(pcap, t):
    """(The capture stopped.) When the first priority-0 advert at or after T arrived, or None."""
    after = [x for x in adverts_so_far(pcap, RESIGNATION) if x >= t]
    return min(after) if after else None


def thread_cpu_ns(pid):
    """{thread id: nanoseconds on CPU} for PID's live threads (/proc/PID/task/*/schedstat)."""
    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                out[(pid, task)] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended meanwhile
    return out


def read_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_measure(lab, daemon, seconds):
    """CPU % of a core and the largest RSS of each node's daemon over `seconds`.

    CPU is summed per thread: a thread's last value seen counts even if it
    has ended by the end (libdispatch retires idle worker threads, and a sum
    over the threads alive at each end would drop their time or even go
    negative); a thread born in the window counts from zero. Samples every
    0.5 s, so an ended thread loses at most its last half second.
    """
    time.sleep(2.0)
    out = {}
    for node in ("a", "b"):
        out[node] = {"pids": daemon.pids(lab, node)}

    def sample(n):
        cpu = {}
        for p in out[n]["pids"]:
            cpu.update(thread_cpu_ns(p))
        return cpu

    first = {n: sample(n) for n in out}
    last = {n: dict(first[n]) for n in out}
    rss_max = {n: 0 for n in out}
    t0 = time.monotonic()
    while True:
        for n in out:
            last[n].update(sample(n))
            rss_max[n] = max(rss_max[n], sum(read_rss(p) for p in out[n]["pids"]))
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    for n in out:
        cpu_ns = sum(v - first[n].get(t, 0) for t, v in last[n].items())
        out[n]["cpu_percent"] = round(100.0 * cpu_ns / 1e9 / elapsed, 3)
        out[n]["rss_kib"] = rss_max[n]
        out[n]["per_process_rss_kib"] = [read_rss(p) for p in out[n]["pids"]]
        out[n]["threads_seen"] = len(last[n])
    out["seconds"] = round(elapsed, 1)
    return out
