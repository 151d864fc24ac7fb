#!/usr/bin/env python3
"""bingo stand-in -- a TEST FIXTURE, not production code.

The real backend ("bingo", see /work/shared/bingo.md) is a closed-source Go
binary that cannot be downloaded on these machines. This file imitates the parts
of its behaviour that matter to vipd and to the nginx front, so that tests can
put realistic traffic through the whole installation:

* HTTP/1.1 with keep-alive on --host/--port (default 0.0.0.0:30164), one thread
  per connection, so a slow /long_dummy never blocks a /ping.
* The endpoints of bingo.md with realistic latencies (lists 20-50 ms, single
  items a few ms, /long_dummy ~1.5 s). No caching headers, ever: whether
  something is cached is the front's decision.
* Every response carries ``X-Bingo-Node: <--name>`` so a test can see which
  backend answered.
* Health: ``GET /ping`` answers 200 ``pong`` or, when "bad", 500 ``I feel bad``.
  Being bad affects /ping only (the real binary's behaviour on other endpoints
  while bad is unknown); every other endpoint keeps answering.
* Throttling ("throttles itself to roughly 100 RPS per instance"): a token
  bucket of --throttle-rps tokens per second with a burst of one second's worth.
  Mode "reject" (default) answers 429 ``Too Many Requests`` with
  ``Retry-After: 1`` when the bucket is empty -- fast and visible, so a front
  that needs both instances for its peak shows errors instead of silently
  queueing. Mode "delay" instead queues each request until its slot (a smooth
  rate limit, no burst). Every request on the main listener counts, /ping too,
  so a health checker can see 429s while an instance is overloaded.
* Runtime control on a separate listener (--control-host/--control-port,
  default 127.0.0.1:30165) that never goes through the throttle:
      POST /control/bad                 /ping -> 500 "I feel bad"
      POST /control/good                /ping -> 200 "pong"
      POST /control/crash               answers, then os._exit(1) (like an OOM kill)
      POST /control/throttle?rps=N[&mode=reject|delay]   rps=0 disables
      POST /control/delay?ms=N          add N ms to every main-listener request
      GET  /control/state               JSON: health, throttle, counters
  Signals: SIGUSR1 -> bad, SIGUSR2 -> good, SIGTERM/SIGINT -> clean exit 0.
* --start-delay SECONDS sleeps before listening (the real binary takes ~30 s to
  start unless 8.8.8.8 is blackholed). --bad starts unhealthy.
* One line per request on stderr unless --quiet. One "listening" line on stderr
  when both listeners are up (printed even with --quiet).

Python 3.11 standard library only. Run ``python3 bingo_standin.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "20231121T1537-standin"


# --------------------------------------------------------------------------- state


class Throttle:
    """Token bucket (mode "reject") or smooth scheduler (mode "delay")."""

    def __init__(self, rps: float = 0.0, mode: str = "reject") -> None:
        self._lock = threading.Lock()
        self.configure(rps, mode)

    def configure(self, rps: float, mode: str) -> None:
        if mode not in ("reject", "delay"):
            raise ValueError("mode must be reject or delay")
        if rps < 0:
            raise ValueError("rps must be >= 0")
        with self._lock:
            self.rps = float(rps)
            self.mode = mode
            self._tokens = float(rps)  # start with a full bucket (1 s burst)
            self._last = time.monotonic()
            self._next_slot = self._last

    def admit(self) -> float | None:
        """Returns seconds to wait before serving (0 = now), or None = reject."""
        with self._lock:
            if self.rps <= 0:
                return 0.0
            now = time.monotonic()
            if self.mode == "reject":
                self._tokens = min(self.rps, self._tokens + (now - self._last) * self.rps)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return 0.0
                return None
            # delay: every request gets the next free slot 1/rps apart.
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.rps
            return slot - now


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.healthy: bool = not args.bad
        self.long_delay: float = args.long_delay
        self.latency_scale: float = args.latency_scale
        self.extra_delay: float = 0.0
        self.throttle = Throttle(args.throttle_rps, args.throttle_mode)
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.port = args.port
        self._lock = threading.Lock()
        self.requests_total = 0
        self.throttled_total = 0
        self.by_endpoint: dict[str, int] = {}
        # Deterministic test data, loosely shaped like the cinema database.
        rnd = random.Random(20231121)
        self.movies = {
            i: {"id": i, "name": f"Movie {i}", "year": 1950 + rnd.randrange(74),
                "duration": 80 + rnd.randrange(100)}
            for i in range(1, 201)
        }
        self.customers = {
            i: {"id": i, "name": f"Name{i}", "surname": f"Surname{rnd.randrange(1000)}",
                "birthday": f"{1950 + rnd.randrange(55)}-{1 + rnd.randrange(12):02d}-"
                            f"{1 + rnd.randrange(28):02d}"}
            for i in range(1, 201)
        }
        self.sessions: dict[int, dict] = {}
        for i in range(1, 501):
            self.sessions[i] = {
                "id": i, "customer_id": 1 + rnd.randrange(200),
                "movie_id": 1 + rnd.randrange(200),
                "started_at": f"2023-{1 + rnd.randrange(12):02d}-{1 + rnd.randrange(28):02d}"
                              f"T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00Z",
            }
        self._next_session_id = 501

    def count(self, endpoint: str, throttled: bool = False) -> None:
        with self._lock:
            self.requests_total += 1
            if throttled:
                self.throttled_total += 1
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def create_session(self, data: dict) -> dict:
        with self._lock:
            sid = self._next_session_id
            self._next_session_id += 1
            session = dict(data)
            session["id"] = sid
            session.setdefault("started_at",
                               datetime.now(timezone.utc).isoformat(timespec="seconds"))
            self.sessions[sid] = session
            return session

    def delete_session(self, sid: int) -> bool:
        with self._lock:
            return self.sessions.pop(sid, None) is not None

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "name": self.name, "pid": os.getpid(), "port": self.port,
                "version": VERSION, "started_at": self.started_at,
                "healthy": self.healthy,
                "throttle_rps": self.throttle.rps, "throttle_mode": self.throttle.mode,
                "extra_delay_ms": round(self.extra_delay * 1000),
                "long_delay_s": self.long_delay,
                "requests_total": self.requests_total,
                "throttled_total": self.throttled_total,
                "requests_by_endpoint": dict(self.by_endpoint),
                "sessions": len(self.sessions),
            }


# ------------------------------------------------------------------------ handlers


GREETING = """<!DOCTYPE html>
<html><head><title>bingo</title></head>
<body><h1>Hello from bingo!</h1>
<p>Session history API of an online cinema (stand-in, node {name}).</p>
</body></html>
"""

ITEM_RE = re.compile(r"^/api/(movie|customer|session)/([^/]+)$")


class _Handler(BaseHTTPRequestHandler):
    """Shared plumbing: keep-alive, node header, body reading, replies."""

    protocol_version = "HTTP/1.1"   # keep-alive; every reply sets Content-Length
    server_version = "bingo-standin/1"
    timeout = 75                    # idle keep-alive connections are closed after this
    state: State                    # set on the subclass built in main()
    quiet: bool = False

    def setup(self) -> None:
        super().setup()
        # Like Go's net/http (the real bingo): no Nagle. Headers and body go
        # out in separate writes, and on a kept-alive connection (nginx's
        # upstream keepalive) Nagle would hold the body back until the peer's
        # delayed ACK, adding ~40 ms to every request after the first.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def end_headers(self) -> None:  # every response, including send_error()'s
        self.send_header("X-Bingo-Node", self.state.name)
        super().end_headers()

    def log_message(self, fmt: str, *args) -> None:
        if not self.quiet:
            sys.stderr.write(f"{self.state.name}: {fmt % args}\n")

    def log_request(self, code="-", size="-") -> None:
        pass  # replaced by the one line written in _finish()

    def _read_body(self) -> bytes:
        # Always consume the body, or the next request on a kept-alive
        # connection would be parsed from its leftovers.
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: bytes | str | dict | list,
               ctype: str = "text/plain; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
            ctype = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def _dispatch(self) -> None:
        t0 = time.monotonic()
        self._status = 0
        try:
            self.body = self._read_body()
        except ValueError as e:  # malformed Content-Length or chunk size
            self.close_connection = True
            self._reply(400, f"bad request: {e}\n")
        else:
            self.route()
        if not self.quiet:
            sys.stderr.write(
                f"{datetime.now(timezone.utc).isoformat(timespec='milliseconds')} "
                f"{self.state.name} {self.client_address[0]} \"{self.command} {self.path}\" "
                f"{self._status} {(time.monotonic() - t0) * 1000:.1f}ms\n")

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def route(self) -> None:
        raise NotImplementedError


class BingoHandler(_Handler):
    def _sleep(self, lo: float, hi: float) -> None:
        d = random.uniform(lo, hi) * self.state.latency_scale + self.state.extra_delay
        if d > 0:
            time.sleep(d)

    def route(self) -> None:
        st = self.state
        path = urlsplit(self.path).path
        method = "GET" if self.command == "HEAD" else self.command
        endpoint = self._endpoint(method, path)

        wait = st.throttle.admit()
        if wait is None:
            st.count(endpoint, throttled=True)
            self._reply(429, "Too Many Requests\n", headers={"Retry-After": "1"})
            return
        st.count(endpoint)
        if wait > 0:
            time.sleep(wait)

        if path == "/":
            if method != "GET":
                return self._method_not_allowed("GET")
            self._sleep(0.001, 0.003)
            return self._reply(200, GREETING.format(name=st.name), "text/html; charset=utf-8")

        if path == "/ping":
            if method != "GET":
                return self._method_not_allowed("GET")
            self._sleep(0.0005, 0.002)
            if st.healthy:
                return self._reply(200, "pong")
            return self._reply(500, "I feel bad")

        if path == "/long_dummy":
            if method != "GET":
                return self._method_not_allowed("GET")
            time.sleep(st.long_delay + st.extra_delay)
            now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            return self._reply(200, f"long dummy answer from {st.name}, generated at {now}\n")

        if path == "/operation":
            if method != "POST":
                return self._method_not_allowed("POST")
            try:
                data = json.loads(self.body)
            except (ValueError, UnicodeDecodeError):
                return self._reply(400, {"error": "body is not JSON"})
            op = data.get("operation") if isinstance(data, dict) else None
            if not isinstance(op, int) or isinstance(op, bool):
                return self._reply(400, {"error": 'expected {"operation": <integer>}'})
            self._sleep(0.002, 0.008)
            return self._reply(200, {"operation": op, "result": op * 2, "node": st.name})

        if path == "/db_dummy":
            if method != "GET":
                return self._method_not_allowed("GET")
            self._sleep(0.003, 0.015)
            return self._reply(200, {"db": "ok", "node": st.name})

        if path in ("/api/movie", "/api/customer"):
            if method != "GET":
                return self._method_not_allowed("GET")
            self._sleep(0.020, 0.050)
            table = st.movies if path == "/api/movie" else st.customers
            return self._reply(200, list(table.values()))

        if path == "/api/session":
            if method == "GET":
                self._sleep(0.020, 0.050)
                return self._reply(200, list(st.sessions.copy().values()))
            if method == "POST":
                try:
                    data = json.loads(self.body)
                except (ValueError, UnicodeDecodeError):
                    return self._reply(400, {"error": "body is not JSON"})
                if not isinstance(data, dict):
                    return self._reply(400, {"error": "expected a JSON object"})
                self._sleep(0.003, 0.010)
                # 200 rather than 201: the real binary's code is unknown, and
                # 200 is what a naive checker most likely expects.
                return self._reply(200, st.create_session(data))
            return self._method_not_allowed("GET, POST")

        m = ITEM_RE.match(path)
        if m:
            kind, raw_id = m.groups()
            allowed = "GET, DELETE" if kind == "session" else "GET"
            if method not in allowed.split(", "):
                return self._method_not_allowed(allowed)
            self._sleep(0.001, 0.005)
            try:
                item_id = int(raw_id)
            except ValueError:
                return self._reply(404, {"error": f"{kind} not found"})
            if method == "DELETE":
                if st.delete_session(item_id):
                    return self._reply(200, {"deleted": item_id})
                return self._reply(404, {"error": "session not found"})
            table = {"movie": st.movies, "customer": st.customers,
                     "session": st.sessions}[kind]
            item = table.get(item_id)
            if item is None:
                return self._reply(404, {"error": f"{kind} not found"})
            return self._reply(200, item)

        return self._reply(404, "404 page not found\n")

    @staticmethod
    def _endpoint(method: str, path: str) -> str:
        m = ITEM_RE.match(path)
        if m:
            path = f"/api/{m.group(1)}/{{id}}"
        return f"{method} {path}"

    def _method_not_allowed(self, allow: str) -> None:
        self._reply(405, "method not allowed\n", headers={"Allow": allow})


class ControlHandler(_Handler):
    def route(self) -> None:
        st = self.state
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path, method = url.path, self.command

        if path == "/control/state" and method == "GET":
            return self._reply(200, st.snapshot())
        if method != "POST":
            return self._reply(404 if not path.startswith("/control/") else 405,
                               "use POST /control/{bad,good,crash,throttle,delay} "
                               "or GET /control/state\n")
        if path == "/control/bad":
            st.healthy = False
            return self._reply(200, st.snapshot())
        if path == "/control/good":
            st.healthy = True
            return self._reply(200, st.snapshot())
        if path == "/control/crash":
            self.close_connection = True
            self._reply(200, "crashing\n", headers={"Connection": "close"})
            self.wfile.flush()
            sys.stderr.write(f"{st.name}: crash requested, exiting with status 1\n")
            sys.stderr.flush()
            os._exit(1)
        if path == "/control/throttle":
            try:
                st.throttle.configure(float(q.get("rps", "0")),
                                      q.get("mode", st.throttle.mode))
            except ValueError as e:
                return self._reply(400, {"error": str(e)})
            return self._reply(200, st.snapshot())
        if path == "/control/delay":
            try:
                ms = float(q.get("ms", "0"))
            except ValueError as e:
                return self._reply(400, {"error": str(e)})
            st.extra_delay = max(0.0, ms) / 1000.0
            return self._reply(200, st.snapshot())
        return self._reply(404, "unknown control endpoint\n")


# ---------------------------------------------------------------------------- main


class _Server(ThreadingHTTPServer):
    daemon_threads = True       # a hung connection never blocks exit
    request_queue_size = 128    # listen backlog; the default 5 drops SYNs at 120 RPS

    def handle_error(self, request, client_address) -> None:
        # A client (nginx after its read timeout) hanging up mid-answer is
        # normal here; anything else still gets the standard traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="bingo stand-in (test fixture)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=30164)
    p.add_argument("--control-host", default="127.0.0.1")
    p.add_argument("--control-port", type=int, default=30165)
    p.add_argument("--name", default=socket.gethostname(),
                   help="value of the X-Bingo-Node header (default: hostname)")
    p.add_argument("--start-delay", type=float, default=0.0, metavar="SECONDS",
                   help="sleep this long before listening (slow start)")
    p.add_argument("--long-delay", type=float, default=1.5, metavar="SECONDS",
                   help="how long GET /long_dummy takes")
    p.add_argument("--latency-scale", type=float, default=1.0,
                   help="multiply every simulated latency except /long_dummy (0 = none)")
    p.add_argument("--throttle-rps", type=float, default=0.0, metavar="N",
                   help="requests per second before throttling (0 = off)")
    p.add_argument("--throttle-mode", choices=("reject", "delay"), default="reject",
                   help="reject: 429 beyond the rate; delay: queue to the rate")
    p.add_argument("--bad", action="store_true", help="start unhealthy")
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = State(args)
    attrs = {"state": state, "quiet": args.quiet}
    bingo_cls = type("Bingo", (BingoHandler,), attrs)
    control_cls = type("Control", (ControlHandler,), attrs)

    # Signals are blocked in every thread (the server threads inherit the mask)
    # and taken synchronously with sigwait() in the main thread. With ordinary
    # handlers a process-directed signal may be delivered to a server thread
    # while the main thread sleeps, and the handler would not run until the main
    # thread wakes up for some other reason.
    sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    def handle(signum: int) -> bool:
        """Acts on one signal; True means: stop now."""
        if signum in (signal.SIGTERM, signal.SIGINT):
            return True
        state.healthy = signum == signal.SIGUSR2
        if not args.quiet:
            sys.stderr.write(f"{state.name}: signal {signum}: healthy={state.healthy}\n")
        return False

    # Slow start: nothing listens yet, but signals still work.
    deadline = time.monotonic() + args.start_delay
    while (remaining := deadline - time.monotonic()) > 0:
        info = signal.sigtimedwait(sigs, remaining)
        if info is not None and handle(info.si_signo):
            return 0

    running: list[_Server] = []  # only servers whose serve_forever thread started
    try:
        # The control listener comes up first so a test can always reach it
        # once the main port answers.
        for addr, cls in (((args.control_host, args.control_port), control_cls),
                          ((args.host, args.port), bingo_cls)):
            srv = _Server(addr, cls)
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             daemon=True).start()
            running.append(srv)
        sys.stderr.write(f"{state.name}: listening on {args.host}:{args.port} "
                         f"(control {args.control_host}:{args.control_port}), "
                         f"pid {os.getpid()}\n")
        sys.stderr.flush()
        while not handle(signal.sigwait(sigs)):
            pass
    finally:
        for srv in running:
            srv.shutdown()
            srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
