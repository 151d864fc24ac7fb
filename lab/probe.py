#!/usr/bin/env python3
"""Client probe for the vipd lab: ICMP echo to the VIP every few milliseconds,
reporting the longest gap between consecutive replies (the client's outage).

Runs inside the client namespace (ip netns exec <P>-c python3 lab/probe.py ...).

Why a raw ICMP socket and not `ping -D -i 0.005`:
  * each reply is timestamped by the kernel when it arrives (SO_TIMESTAMPNS),
    so a probe descheduled for a few ms on a busy 2-core box still measures
    the gap exactly; ping -D stamps when it gets round to printing;
  * every echo carries our own identifier and a 32-bit counter, so sent,
    received, duplicates and the replies that bound the gap are exact, and
    nothing depends on parsing ping's output or its pacing quirks (iputils
    sends `-i 0.01` every ~16 ms on this kernel, see design.md);
  * stop on a file or after N seconds is ours to decide, and the JSON is
    written by the probe itself, python3 stdlib only.
Pacing: a send every --interval (default 5 ms) on a monotonic schedule; when
the probe falls behind it skips the missed slots rather than bursting.

Output (stdout, or --out FILE), one JSON object:
  sent, received, lost, duplicates, interval_ms, duration_s,
  max_gap_ms   longest gap between consecutive replies (the outage),
  gap_start / gap_end   wall-clock times (epoch s) of the two replies bounding it,
  tail_gap_ms  from the last reply to the end of the run (an outage that had
               not ended when the probe stopped shows here, not in max_gap_ms),
  first_reply / last_reply, gaps_over_ms: every gap above --report-gap-ms,
  unanswered: send times of the first 50 echoes that got no reply.

Only targets in 198.18.0.0/15 are accepted (the lab's benchmarking range).
"""

import argparse
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
LAB_NET = ipaddress.ip_network("198.18.0.0/15")


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return (~total) & 0xFFFF


def echo_request(ident: int, seq16: int, counter: int) -> bytes:
    payload = struct.pack("!IQ", counter, time.time_ns()) + b"vipd-lab-probe".ljust(44, b".")
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq16)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq16) + payload


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", nargs="?", default="198.18.0.100")
    p.add_argument("--interval", type=float, default=0.005, help="seconds between echoes (default 0.005)")
    p.add_argument("--duration", type=float, help="run this many seconds")
    p.add_argument("--stop-file", help="run until this file exists")
    p.add_argument("--max-duration", type=float, default=300.0, help="hard stop in any mode (default 300 s)")
    p.add_argument("--ready-file", help="created once the first reply has arrived")
    p.add_argument("--out", help="write the JSON here instead of stdout")
    p.add_argument("--report-gap-ms", type=float, default=50.0, help="list every gap above this (default 50)")
    a = p.parse_args(argv)
    if a.duration is None and a.stop_file is None:
        p.error("give --duration or --stop-file")
    if ipaddress.ip_address(a.target) not in LAB_NET:
        p.error(f"{a.target} is outside 198.18.0.0/15; the lab probes nothing else")
    if a.interval < 0.001:
        p.error("--interval below 1 ms is not supported")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    target = a.target

    sent = 0
    sent_at = []          # counter -> wall time (ns) of the send
    replies = {}          # counter -> kernel receive time (ns, CLOCK_REALTIME)
    duplicates = 0
    ready_done = a.ready_file is None

    start_mono = time.monotonic()
    start_wall = time.time()
    end_mono = start_mono + min(a.duration if a.duration is not None else a.max_duration, a.max_duration)
    next_send = start_mono
    next_stop_check = start_mono

    def drain():
        nonlocal duplicates, ready_done
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            if addr[0] != target or len(data) < 20:
                continue
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:]
            if len(icmp) < 12:
                continue
            typ, _code, _csum, rid, _seq16, counter = struct.unpack("!BBHHHI", icmp[:12])
            if typ != 0 or rid != ident:
                continue
            stamp = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    stamp = sec * 1_000_000_000 + nsec
            if stamp is None:
                stamp = time.time_ns()
            if counter in replies:
                duplicates += 1
                continue
            replies[counter] = stamp
            if not ready_done:
                with open(a.ready_file, "w") as f:
                    f.write("ready\n")
                ready_done = True

    while True:
        now = time.monotonic()
        if now >= end_mono:
            break
        if a.stop_file and now >= next_stop_check:
            next_stop_check = now + 0.02
            if os.path.exists(a.stop_file):
                break
        if now >= next_send:
            sent_at.append(time.time_ns())
            try:
                sock.sendto(echo_request(ident, sent & 0xFFFF, sent), (target, 0))
            except OSError:
                pass  # e.g. EHOSTUNREACH after failed ARP: counted as sent, unanswered
            sent += 1
            next_send += a.interval
            if next_send < now:  # fell behind: skip the missed slots, never burst
                next_send = now + a.interval
        timeout = max(0.0, min(next_send, end_mono, next_stop_check if a.stop_file else end_mono) - time.monotonic())
        r, _, _ = select.select([sock], [], [], timeout)
        if r:
            drain()
    # Replies still in flight for the last echoes.
    linger_end = time.monotonic() + 0.05
    while time.monotonic() < linger_end:
        r, _, _ = select.select([sock], [], [], 0.01)
        if r:
            drain()
    end_wall = time.time()

    stamps = sorted(replies.values())
    result = {
        "target": target,
        "interval_ms": a.interval * 1000,
        "sent": sent,
        "received": len(stamps),
        "lost": sent - len(stamps),
        "duplicates": duplicates,
        "duration_s": round(end_wall - start_wall, 3),
        "start": start_wall,
        "end": end_wall,
        "first_reply": stamps[0] / 1e9 if stamps else None,
        "last_reply": stamps[-1] / 1e9 if stamps else None,
        "max_gap_ms": None,
        "gap_start": None,
        "gap_end": None,
        "tail_gap_ms": round((end_wall - stamps[-1] / 1e9) * 1000, 3) if stamps else None,
        "gaps_over_ms": [],
        # Send times (epoch s) of the first 50 echoes that got no reply.
        "unanswered": [sent_at[i] / 1e9 for i in range(sent) if i not in replies][:50],
    }
    best = -1
    for prev, cur in zip(stamps, stamps[1:]):
        gap = cur - prev
        if gap > best:
            best = gap
            result["max_gap_ms"] = round(gap / 1e6, 3)
            result["gap_start"] = prev / 1e9
            result["gap_end"] = cur / 1e9
        if gap / 1e6 > a.report_gap_ms:
            result["gaps_over_ms"].append({"at": prev / 1e9, "ms": round(gap / 1e6, 3)})
    text = json.dumps(result)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, a.out)
    else:
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
