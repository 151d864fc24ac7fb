#!/usr/bin/env python3
"""HTTP client probe for the vipd lab: one NEW TCP connection with one
`GET /` every few milliseconds to the VIP, reporting the longest gap between
successful responses (the client's outage) and every failed request.

Runs inside the client namespace (ip netns exec <P>-c python3 lab/httpprobe.py ...).

* Requests are started on a monotonic schedule (--interval, default 10 ms),
  independent of each other: a request that hangs (e.g. its SYN went to a dead
  node and waits for the 1 s retransmit) does not delay the next one. When the
  probe falls behind it skips the missed slots rather than bursting.
* Each request: non-blocking connect, `GET / HTTP/1.0` (the server closes the
  connection after answering), read until EOF. Success = a complete
  `HTTP/1.x 200` response within --timeout (default 2 s: long enough for the
  kernel's first SYN retransmit at 1 s, so a request whose first SYN was lost
  in a short outage still counts as served — the outage shows in the gap, a
  failure only when the client would really see an error).
* Failed = connection refused/reset/unreachable, a non-200 answer, or no
  complete answer within --timeout. Counted by reason. A response that had
  fully arrived (headers and Content-Length bytes of body) before the
  connection was reset or timed out is a success, as it is for any HTTP
  client: it has its answer. This happens when the VIP moves right after the
  old holder answered (the client's ACK or FIN goes to the new holder, which
  resets the connection it does not know). Such successes are also counted
  in `complete_then_error` by reason, so nothing is hidden.
* The time of a success is the kernel's receive timestamp of the response
  (SO_TIMESTAMPNS on the TCP socket), so a probe descheduled on a busy machine
  still measures the gap exactly (same reasoning as lab/probe.py).
* The response body is the serving node's name (the lab's nginx answers
  "a\n" or "b\n"; through the real front the X-Bingo-Node header of the
  backend is used instead); `served_by` counts them and `switches` lists when
  the serving node changed.

Output (stdout, or --out FILE), one JSON object: sent, ok, failed,
failed_by_reason, complete_then_error, max_gap_ms, gap_start, gap_end (epoch s of the successes
bounding the longest gap), tail_gap_ms, latency_ms {p50, p90, p99, max},
served_by, switches, failures (first 50: start time, reason, local port), gaps_over_ms.

Only targets in 198.18.0.0/15 are accepted (the lab's benchmarking range).
"""

import argparse
import errno
import ipaddress
import json
import os
import random
import resource
import selectors
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
LAB_NET = ipaddress.ip_network("198.18.0.0/15")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", nargs="?", default="198.18.0.100")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--path", default="/")
    p.add_argument("--paths", help="comma list of paths used in turn instead of --path; {id} becomes a "
                                   "random integer 1..200 (e.g. /db_dummy,/api/movie/{id})")
    p.add_argument("--interval", type=float, default=0.010, help="seconds between request starts (default 0.010)")
    p.add_argument("--timeout", type=float, default=2.0, help="per-request timeout in seconds (default 2)")
    p.add_argument("--duration", type=float, help="run this many seconds")
    p.add_argument("--stop-file", help="run until this file exists")
    p.add_argument("--max-duration", type=float, default=300.0, help="hard stop in any mode (default 300 s)")
    p.add_argument("--ready-file", help="created once the first success has arrived")
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


class Req:
    __slots__ = ("sock", "fd", "start_ns", "deadline", "buf", "stamp", "phase", "request", "port")

    def __init__(self, sock, start_ns, deadline):
        self.sock, self.fd, self.start_ns, self.deadline = sock, sock.fileno(), start_ns, deadline
        self.buf, self.stamp, self.phase, self.port = b"", None, "connect", None


def response_complete(buf):
    """True if `buf` holds a whole HTTP response: headers, and as many body
    bytes as its Content-Length says (without one, only EOF ends it)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return round(s[k], 3)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    paths = a.paths.split(",") if a.paths else [a.path]
    rnd = random.Random(1)

    def next_request(n):
        path = paths[n % len(paths)].replace("{id}", str(rnd.randint(1, 200)))
        return f"GET {path} HTTP/1.0\r\nHost: {a.target}\r\nUser-Agent: vipd-lab-httpprobe\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    inflight = {}
    sent = 0
    successes = []          # (kernel stamp ns, node)
    latencies = []
    failures = []           # (start epoch s, reason)
    failed_by_reason = {}
    complete_then_error = {}
    ready_done = a.ready_file is None

    def fail(req, reason, answered=False):
        # A connection error after a whole response is a success (see the
        # module doc); a whole response that is not a 200 (answered) is not.
        if not answered and req.phase == "read" and response_complete(req.buf):
            complete_then_error[reason] = complete_then_error.get(reason, 0) + 1
            succeed(req)
            return
        failed_by_reason[reason] = failed_by_reason.get(reason, 0) + 1
        failures.append((req.start_ns / 1e9, reason, req.port))
        finish(req)

    def finish(req):
        try:
            sel.unregister(req.sock)
        except (KeyError, ValueError):
            pass
        req.sock.close()
        inflight.pop(req.fd, None)

    def succeed(req):
        nonlocal ready_done
        head = req.buf.split(b"\r\n", 1)[0]
        parts = head.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or parts[1] != b"200":
            fail(req, "status " + (parts[1].decode(errors="replace") if len(parts) > 1 else "garbled"), answered=True)
            return
        head_block, _, body = req.buf.partition(b"\r\n\r\n")
        node = body.strip().decode(errors="replace")[:16]
        for line in head_block.split(b"\r\n")[1:]:
            if line.lower().startswith(b"x-bingo-node:"):  # through the real front: which backend answered
                node = line.split(b":", 1)[1].strip().decode(errors="replace")[:32]
        stamp = req.stamp or time.time_ns()
        successes.append((stamp, node))
        latencies.append((stamp - req.start_ns) / 1e6)
        finish(req)
        if not ready_done:
            with open(a.ready_file, "w") as f:
                f.write("ready\n")
            ready_done = True

    def start_one():
        nonlocal sent
        now_ns = time.time_ns()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        req = Req(s, now_ns, time.monotonic() + a.timeout)
        req.request = next_request(sent)
        sent += 1
        rc = s.connect_ex((a.target, a.port))
        try:
            req.port = s.getsockname()[1]  # bound by connect: finds the request in a capture
        except OSError:
            pass
        if rc not in (0, errno.EINPROGRESS):
            inflight[req.fd] = req
            fail(req, errno.errorcode.get(rc, str(rc)))
            return
        inflight[req.fd] = req
        sel.register(s, selectors.EVENT_WRITE, req)

    def on_event(req, mask):
        if req.phase == "connect":
            err = req.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                fail(req, errno.errorcode.get(err, str(err)))
                return
            try:
                req.sock.send(req.request)
            except OSError as e:
                fail(req, errno.errorcode.get(e.errno, str(e.errno)))
                return
            req.phase = "read"
            sel.modify(req.sock, selectors.EVENT_READ, req)
            return
        while True:
            try:
                data, anc, _flags, _addr = req.sock.recvmsg(65536, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                fail(req, errno.errorcode.get(e.errno, str(e.errno)))
                return
            if not data:
                if req.buf:
                    succeed(req)
                else:
                    fail(req, "empty")
                return
            if req.stamp is None:
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                        sec, nsec = struct.unpack("qq", value[:16])
                        req.stamp = sec * 1_000_000_000 + nsec
            req.buf += data

    start_mono = time.monotonic()
    start_wall = time.time()
    end_mono = start_mono + min(a.duration if a.duration is not None else a.max_duration, a.max_duration)
    next_send = start_mono
    next_check = start_mono
    stopping = False
    while True:
        now = time.monotonic()
        if not stopping:
            if now >= end_mono:
                stopping = True
            elif a.stop_file and now >= next_check:
                next_check = now + 0.02
                if os.path.exists(a.stop_file):
                    stopping = True
            if stopping:
                stop_wall = time.time()
                drain_until = now + a.timeout + 0.1
        if stopping and (not inflight or now >= drain_until):
            break
        if not stopping and now >= next_send:
            start_one()
            next_send += a.interval
            if next_send < now:
                next_send = now + a.interval
        # time-outs
        for req in [r for r in list(inflight.values()) if r.deadline <= now]:
            fail(req, "timeout")
        wake = [next_send if not stopping else now + 0.02, now + 0.05]
        if a.stop_file and not stopping:
            wake.append(next_check)
        timeout = max(0.0, min(wake) - time.monotonic())
        for key, mask in sel.select(timeout):
            on_event(key.data, mask)
    for req in list(inflight.values()):
        fail(req, "timeout")

    successes.sort()
    stamps = [s for s, _ in successes]
    result = {
        "target": f"{a.target}:{a.port}", "interval_ms": a.interval * 1000, "timeout_s": a.timeout,
        "sent": sent, "ok": len(successes), "failed": sum(failed_by_reason.values()),
        "failed_by_reason": failed_by_reason, "complete_then_error": complete_then_error,
        "duration_s": round(stop_wall - start_wall, 3), "start": start_wall, "end": stop_wall,
        "first_ok": stamps[0] / 1e9 if stamps else None, "last_ok": stamps[-1] / 1e9 if stamps else None,
        "max_gap_ms": None, "gap_start": None, "gap_end": None,
        "tail_gap_ms": round((stop_wall - stamps[-1] / 1e9) * 1000, 3) if stamps else None,
        "latency_ms": {"p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                       "p99": percentile(latencies, 99), "max": round(max(latencies), 3) if latencies else None},
        "served_by": {}, "switches": [], "gaps_over_ms": [],
        "failures": [{"at": t, "reason": r, "port": p} for t, r, p in sorted(failures)[:50]],
    }
    for _, node in successes:
        result["served_by"][node] = result["served_by"].get(node, 0) + 1
    for (p, pn), (c, cn) in zip(successes, successes[1:]):
        if pn != cn:
            result["switches"].append({"at": c / 1e9, "from": pn, "to": cn})
    best = -1
    for prev, cur in zip(stamps, stamps[1:]):
        gap = cur - prev
        if gap > best:
            best = gap
            result["max_gap_ms"] = round(gap / 1e6, 3)
            result["gap_start"], result["gap_end"] = prev / 1e9, cur / 1e9
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
