"""bingo's HTTP API: the routes, the sick answer, the quota, the log line
per request. One thread per connection, keep-alive, no caching headers
(whether something is cached is the front's decision)."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .db import DatabaseError, NotFound
from .fate import operation_death

GREETING = "Hello from bingo! Session history API of an online cinema.\n"
SICK = "I feel bad"
OPERATION_ANSWER = {"status": "ok"}   # the same for every harmless value
ITEM_RE = re.compile(r"^/api/(movie|customer|session)/([^/]+)$")


class App:
    """What the handlers share; built by cli.run_server."""

    def __init__(self, *, name, db, log, fate, quota, throttled_status,
                 long_delay, quiet) -> None:
        self.name, self.db, self.log, self.fate, self.quota = name, db, log, fate, quota
        self.throttled_status = throttled_status
        self.long_delay = long_delay
        self.extra_delay = 0.0        # control listener: /control/delay
        self.quiet = quiet
        self.requests_total = 0
        self.throttled_total = 0
        self.by_endpoint: dict[str, int] = {}   # "GET /api/movie/{id}" -> count
        self._lock = threading.Lock()

    def count(self, method: str, path: str) -> None:
        m = ITEM_RE.match(path)
        key = f"{method} " + (f"/api/{m.group(1)}/{{id}}" if m else path)
        with self._lock:
            self.by_endpoint[key] = self.by_endpoint.get(key, 0) + 1


class Plumbing(BaseHTTPRequestHandler):
    """Keep-alive, body reading, replies; shared with the control listener."""

    protocol_version = "HTTP/1.1"   # keep-alive; every reply sets Content-Length
    server_version = "bingo"
    timeout = 75                    # idle keep-alive connections are closed after this
    app: App

    def setup(self) -> None:
        super().setup()
        # Like Go's net/http: no Nagle, or a kept-alive upstream connection
        # would wait for the peer's delayed ACK (~40 ms) on every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def end_headers(self) -> None:
        if self.app.name:
            # Not the real binary's: lets a test see which backend answered.
            self.send_header("X-Bingo-Node", self.app.name)
        super().end_headers()

    def log_message(self, fmt: str, *args) -> None:
        if not self.app.quiet:
            sys.stderr.write(f"{self.app.name}: {fmt % args}\n")

    def log_request(self, code="-", size="-") -> None:
        pass

    def read_body(self) -> bytes:
        # Always consumed, or the next request on the connection would be
        # parsed from its leftovers.
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

    def reply(self, status: int, body, ctype: str = "text/plain; charset=utf-8",
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
        self.status = status

    def dispatch(self) -> None:
        t0 = time.monotonic()
        self.status = 0
        try:
            self.body = self.read_body()
        except ValueError as e:
            self.close_connection = True
            self.reply(400, f"bad request: {e}\n")
        else:
            self.route()
        self.finished(t0)

    def finished(self, t0: float) -> None:
        pass

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = dispatch

    def route(self) -> None:
        raise NotImplementedError


class BingoHandler(Plumbing):
    def finished(self, t0: float) -> None:
        path = urlsplit(self.path).path
        ns = int((time.monotonic() - t0) * 1e9)
        self.app.log.info("request completed", url_path=path, method=self.command,
                          status=self.status, event_duration=ns)
        if not self.app.quiet:
            sys.stderr.write(f"{self.app.name} {self.client_address[0]} \"{self.command} "
                             f"{self.path}\" {self.status} {ns / 1e6:.1f}ms\n")

    def route(self) -> None:
        app = self.app
        app.count("GET" if self.command == "HEAD" else self.command, urlsplit(self.path).path)
        if app.fate.sick:
            return self.reply(500, SICK)
        admitted, renewed = app.quota.admit()
        if renewed:
            app.log.info("Quota updated.", limit=app.quota.limit)
        app.requests_total += 1
        if not admitted:
            app.throttled_total += 1
            app.log.warn("Too many requests", url_path=urlsplit(self.path).path)
            return self.reply(app.throttled_status, "Too many requests\n")
        delay = app.fate.slowdown() + app.extra_delay
        if delay > 0:
            time.sleep(delay)
        path = urlsplit(self.path).path
        method = "GET" if self.command == "HEAD" else self.command
        try:
            self.serve(path, method)
        except NotFound:
            self.reply(404, {"error": "not found"})
        except (DatabaseError, ConnectionError) as e:
            app.log.error("query failed", error=str(e))
            self.reply(500, {"error": str(e)})

    def serve(self, path: str, method: str) -> None:
        app, db = self.app, self.app.db
        simple = {"/": ("GET", lambda: (GREETING, "text/plain; charset=utf-8")),
                  "/ping": ("GET", lambda: ("pong", "text/plain; charset=utf-8")),
                  "/db_dummy": ("GET", lambda: (db.db_dummy(), None)),
                  "/api/movie": ("GET", lambda: (db.movies(), None)),
                  "/api/customer": ("GET", lambda: (db.customers(), None))}
        if path == "/" and method == "POST":   # the acceptance checks POST / too
            return self.reply(200, GREETING)
        if path in simple:
            allowed, make = simple[path]
            if method != allowed:
                return self.not_allowed(allowed)
            body, ctype = make()
            return self.reply(200, body, ctype) if ctype else self.reply(200, body)
        if path == "/long_dummy":
            if method != "GET":
                return self.not_allowed("GET")
            time.sleep(app.long_delay)
            return self.reply(200, f"long dummy answer, generated at {time.time():.3f}\n")
        if path == "/operation":
            return self.operation(method)
        if path == "/api/session":
            if method == "GET":
                return self.reply(200, db.sessions())
            if method == "POST":
                return self.create_session()
            return self.not_allowed("GET, POST")
        m = ITEM_RE.match(path)
        if m:
            kind, raw = m.groups()
            allowed = ("GET", "DELETE") if kind == "session" else ("GET",)
            if method not in allowed:
                return self.not_allowed(", ".join(allowed))
            if not raw.isdigit():
                raise NotFound
            if method == "DELETE":
                return self.reply(200, db.delete_session(int(raw)))
            get = {"movie": db.movies, "customer": db.customers, "session": db.sessions}[kind]
            return self.reply(200, get(int(raw)))
        self.reply(404, "404 page not found\n")

    def json_body(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def operation(self, method: str) -> None:
        if method != "POST":
            return self.not_allowed("POST")
        data = self.json_body()
        op = data.get("operation") if isinstance(data, dict) else None
        if not isinstance(op, int) or isinstance(op, bool):
            return self.reply(400, {"error": 'expected {"operation": <integer>}'})
        death = operation_death(op)
        if death == "sick":
            self.app.fate.die("sick", f"operation {op}")
            return self.reply(500, SICK)
        if death == "panic":
            self.wfile.flush()
            self.app.fate.die("panic", f"operation {op}")   # does not return
        if death == "leak":
            self.app.fate.die("leak", f"operation {op}")
        self.reply(200, OPERATION_ANSWER)

    def create_session(self) -> None:
        data = self.json_body()
        try:
            args = (str(data["start_time"]), int(data["customer_id"]), int(data["movie_id"]))
        except (TypeError, KeyError, ValueError):
            return self.reply(400, {"error": 'expected {"start_time","customer_id","movie_id"}'})
        self.reply(200, self.app.db.create_session(*args))

    def not_allowed(self, allow: str) -> None:
        self.reply(405, "method not allowed\n", headers={"Allow": allow})


class Server(ThreadingHTTPServer):
    daemon_threads = True       # a hung connection never blocks exit
    request_queue_size = 128    # listen backlog; the default 5 drops SYNs at 120 RPS

    def __init__(self, addr, handler) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # `:::PORT` like the real binary: one IPv6 socket for IPv4 too.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hanging up mid-answer is normal here
        super().handle_error(request, client_address)
