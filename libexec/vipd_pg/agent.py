"""The reconciliation loop: observe (system.py), decide (decide.py), act;
publish the verdict for vipd's check (/eligible), /status and /metrics; keep
the counters and a fence that needs hands in the state file, so a restarted
agent neither forgets nor retries a failed pg_rewind on its own."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import decide as d
from .config import Config

ROLES = ("primary", "standby", "stopped", "fenced", "unknown")
COUNTERS = ("promotions", "fences", "rejoins", "rejoin_failures")


def log(text: str):
    # The wall clock with milliseconds: the lab's logs have no journal to stamp them.
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    sys.stderr.write(f"{stamp} vipd-pg: {text}\n")
    sys.stderr.flush()


class Agent:
    def __init__(self, cfg: Config, system, clock=time.monotonic):
        self.cfg, self.system, self.clock = cfg, system, clock
        self.settings = d.Settings(alone_after=cfg.alone_after, promotable_within=cfg.promotable_within,
                                   fence_after=cfg.fence_after)
        self.lock = threading.Lock()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.memory = d.Memory()
        self.last_error = ""
        saved = self._load_state()
        for k in COUNTERS:
            self.counters[k] = int(saved.get(k, 0))
        self.memory = replace(self.memory, fenced=saved.get("fenced"), rewind_failed=saved.get("rewind_failed"))
        self.view = {"role": "unknown", "eligible": False, "reason": "starting", "last_error": ""}
        self.published_at = clock()
        self.acting = None            # the action running now (its verdict stands meanwhile)

    # --- state file ------------------------------------------------------------------

    def _load_state(self) -> dict:
        try:
            with open(self.cfg.state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save_state(self):
        data = dict(self.counters, fenced=self.memory.fenced, rewind_failed=self.memory.rewind_failed)
        try:
            os.makedirs(os.path.dirname(self.cfg.state_file), exist_ok=True)
            tmp = self.cfg.state_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.cfg.state_file)
        except OSError as e:
            self.last_error = f"state file: {e}"

    # --- one round ----------------------------------------------------------------------

    def round(self):
        now = self.clock()
        vipd = self.system.vipd()
        local = self.system.local()
        remote = self.system.remote() if d.needs_remote(now, local, self.memory) else None
        decision = d.decide(now, self.settings, vipd, local, remote, self.memory)
        before = (self.memory.fenced, self.memory.rewind_failed)
        self.memory = decision.memory
        for note in decision.notes:
            log(note)
        self._publish(decision, vipd, local)
        for action in decision.actions:
            self._act(action)
        if (self.memory.fenced, self.memory.rewind_failed) != before:
            self._save_state()

    def _act(self, action):
        name = type(action).__name__
        verdict = {"Promote": (True, "eligible: promoting"), "SetSync": None}.get(
            name, (False, f"busy: {name}"))
        with self.lock:
            self.acting = verdict if verdict else (self.view["eligible"], self.view["reason"])
        try:
            if isinstance(action, d.Promote):
                log("promoting the local standby (vipd is master of the DB address)")
                self.system.promote()
                self._count("promotions", "event promoted")
                self.system.report("db_promoted", "vipd is master of the DB address: the local standby was promoted")
            elif isinstance(action, d.SetSync):
                self.system.set_sync(action.value)
                log(f"synchronous_standby_names = '{action.value}'"
                    + (" (a standby is streaming)" if action.value else
                       f" (no standby heard for {self.cfg.alone_after:g} s: committing alone)"))
            elif isinstance(action, d.Fence):
                log(f"fencing the local primary: {action.reason}")
                self.system.fence()
                self._count("fences", f"event fenced: {action.reason}")
                self.system.report("db_fenced", f"the local primary was stopped: {action.reason}")
            elif isinstance(action, d.StartStandby):
                log("starting the stopped standby")
                self.system.start()
            elif isinstance(action, d.Rejoin):
                self.rejoin()
        except Exception as e:
            self.last_error = f"{name}: {e}"
            log(f"{name} failed: {e}")
        finally:
            with self.lock:
                self.acting = None

    def rejoin(self):
        """pg_rewind from the primary at the DB address, then start as its standby.
        A failure leaves the node fenced and says why (no retry without hands)."""
        log(f"rejoining: pg_rewind from {self.cfg.db_address}")
        try:
            if self.system.postmaster_pid():
                self.system.fence()   # a standby that cannot follow: stopped first
            line = self.system.rewind()
        except Exception as e:
            self.counters["rejoin_failures"] += 1
            self.memory = replace(self.memory, rewind_failed=str(e)[-300:])
            self._save_state()
            log(f"event rejoin_failed: {e}")
            self.system.report("db_rejoin_failed", f"pg_rewind failed, the node stays fenced: {str(e)[-300:]}")
            raise
        log(f"pg_rewind: {line}")
        log("starting as a standby")
        self.system.start()
        self._count("rejoins", "event rejoined: started as a standby of the DB address")
        self.system.report("db_rejoined", "rewound and started as a standby of the DB address")

    def _count(self, counter, text):
        self.counters[counter] += 1
        self._save_state()
        log(text)

    def _publish(self, decision, vipd, local):
        role = "fenced" if local.role == "stopped" and (self.memory.fenced or self.memory.rewind_failed) \
            else local.role
        standby = None
        if local.senders:
            s = max(local.senders, key=lambda r: r.sync_state in d.SYNC_STATES)
            last = {n: t for n, _, t in self.memory.seen}.get(s.application_name)
            standby = {"application_name": s.application_name, "state": s.state, "sync_state": s.sync_state,
                       "replay_lag_bytes": s.lag_bytes,
                       "last_reply_s": None if last is None else round(self.clock() - last, 3)}
        view = {
            "role": role, "eligible": decision.eligible, "reason": decision.reason,
            "vipd_state": vipd.state if vipd.reachable else "unreachable", "vipd_master": vipd.master,
            "synchronous": local.role == "primary" and local.sync_names not in ("", None),
            "standby": standby,
            "last_receipt_s": None if local.receipt_age is None else round(local.receipt_age, 3),
            "receiver_status": local.receiver_status, "timeline": local.timeline,
            "fenced_reason": self.memory.rewind_failed and f"pg_rewind failed: {self.memory.rewind_failed}"
            or self.memory.fenced,
            "last_error": self.last_error or local.error or vipd.error, **self.counters,
        }
        with self.lock:
            self.view = view
            self.published_at = self.clock()

    # --- what HTTP reads -------------------------------------------------------------------

    def eligibility(self):
        """(eligible, text) for GET /eligible. A loop stuck outside an action
        (a hung query) makes the node ineligible: its verdict is stale."""
        with self.lock:
            if self.acting is not None:
                return self.acting
            stale = self.clock() - self.published_at
            if stale > max(3.0, 10 * self.cfg.interval):
                return False, f"agent loop stalled for {stale:.1f} s"
            return self.view["eligible"], self.view["reason"]

    def status(self):
        # Counters and the last error as they are now: an action of this
        # round ran after its view was published.
        with self.lock:
            return dict(self.view, **self.counters, last_error=self.last_error or self.view["last_error"])

    def metrics(self) -> str:
        v = self.status()
        lines = ["# TYPE vipd_pg_role gauge"]
        lines += [f'vipd_pg_role{{role="{r}"}} {int(v["role"] == r)}' for r in ROLES]
        lag = (v.get("standby") or {}).get("replay_lag_bytes")
        gauges = {"vipd_pg_eligible": int(v["eligible"]), "vipd_pg_synchronous": int(v["synchronous"]),
                  "vipd_pg_replication_lag_bytes": lag, "vipd_pg_last_receipt_seconds": v.get("last_receipt_s")}
        for k, val in gauges.items():
            if val is not None:
                lines += [f"# TYPE {k} gauge", f"{k} {val}"]
        for c in COUNTERS:
            k = f"vipd_pg_{c}_total"
            lines += [f"# TYPE {k} counter", f"{k} {v[c]}"]
        return "\n".join(lines) + "\n"

    # --- running ------------------------------------------------------------------------------

    def serve(self) -> ThreadingHTTPServer:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/eligible":
                    ok, text = agent.eligibility()
                    self._send(200 if ok else 503, text + "\n", "text/plain")
                elif self.path == "/status":
                    self._send(200, json.dumps(agent.status(), indent=1) + "\n", "application/json")
                elif self.path == "/metrics":
                    self._send(200, agent.metrics(), "text/plain; version=0.0.4")
                else:
                    self._send(404, "not found\n", "text/plain")

            def _send(self, code, body, ctype):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer((self.cfg.listen_host, self.cfg.listen_port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def run_forever(self, stop: threading.Event):
        while not stop.is_set():
            started = self.clock()
            try:
                self.round()
            except Exception as e:   # one bad round must not end the agent
                self.last_error = f"round: {e}"
                log(f"round failed: {e}")
            stop.wait(max(0.0, self.cfg.interval - (self.clock() - started)))
