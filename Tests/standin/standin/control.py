"""The control listener: a test-only side door (the real binary has none),
off unless --control-port is given, never throttled. It only does what a
test could otherwise do the slow way (wait out the lifetime, kill -9)."""

from __future__ import annotations

import os
import sys
from urllib.parse import parse_qs, urlsplit

from .http import Plumbing


class ControlHandler(Plumbing):
    def state(self) -> dict:
        app = self.app
        return {"name": app.name, "pid": os.getpid(), "sick": app.fate.sick,
                "healthy": not app.fate.sick,
                "lifetime_s": app.fate.lifetime, "death": app.fate.death,
                "leaked_mb": len(app.fate.leaked), "rps_limit": app.quota.limit,
                "requests_total": app.requests_total, "throttled_total": app.throttled_total,
                "requests_by_endpoint": dict(app.by_endpoint),
                "extra_delay_ms": round(app.extra_delay * 1000),
                "db_host": list(app.db.host) if app.db.host else None}

    def route(self) -> None:
        app = self.app
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path, method = url.path, self.command
        if path == "/control/state" and method == "GET":
            return self.reply(200, self.state())
        if method != "POST":
            return self.reply(405 if path.startswith("/control/") else 404,
                              "POST /control/{bad,good,crash,rps,delay} or GET /control/state\n")
        if path == "/control/bad":      # sick: 500 on every endpoint
            app.fate.sick = True
        elif path == "/control/good":   # what only a restart does to the real one
            app.fate.sick = False
        elif path == "/control/crash":  # like an OOM kill: exit 1 without a word
            self.close_connection = True
            self.reply(200, "crashing\n", headers={"Connection": "close"})
            self.wfile.flush()
            sys.stderr.write(f"{app.name}: crash requested, exiting with status 1\n")
            sys.stderr.flush()
            os._exit(1)
        elif path == "/control/rps":
            try:
                limit = int(q.get("limit", ""))
                if limit < 0:
                    raise ValueError("limit must be >= 0")
            except ValueError as e:
                return self.reply(400, {"error": str(e)})
            app.quota.limit = limit
        elif path == "/control/delay":
            try:
                app.extra_delay = max(0.0, float(q.get("ms", "0"))) / 1000.0
            except ValueError as e:
                return self.reply(400, {"error": str(e)})
        else:
            return self.reply(404, "unknown control endpoint\n")
        self.reply(200, self.state())
