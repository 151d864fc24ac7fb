"""The commands: run, status, rejoin, check-config."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request

from . import config as config_mod
from .agent import Agent, log


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vipd-pg", description="PostgreSQL role agent for vipd's DB address")
    p.add_argument("--config", default=config_mod.DEFAULT_PATH, help="pg.conf (default %(default)s)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="the reconciliation loop, with HTTP on [agent] listen")
    sub.add_parser("status", help="print the running agent's /status (exit 1 if it does not answer)")
    sub.add_parser("rejoin", help="by hand: fence, pg_rewind from the DB address, start as a standby")
    sub.add_parser("check-config", help="validate the file (exit 2 on errors)")
    args = p.parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{cfg.path}: OK (instance {cfg.instance}, node {cfg.application_name}, "
              f"DB address {cfg.db_address}, listen {cfg.listen_host}:{cfg.listen_port})")
        return 0
    if args.command == "status":
        try:
            with urllib.request.urlopen(f"http://{cfg.listen_host}:{cfg.listen_port}/status", timeout=3) as r:
                print(json.dumps(json.loads(r.read()), indent=1))
            return 0
        except (OSError, ValueError, urllib.error.URLError) as e:
            print(f"vipd-pg: not running on {cfg.listen_host}:{cfg.listen_port}: {e}", file=sys.stderr)
            return 1
    from .system import System
    system = System(cfg)
    if args.command == "rejoin":
        return rejoin_by_hand(cfg, system)
    agent = Agent(cfg, system)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = agent.serve()
    log(f"running: instance {cfg.instance}, node {cfg.application_name}, DB address {cfg.db_address}, "
        f"HTTP on {cfg.listen_host}:{cfg.listen_port}")
    agent.run_forever(stop)
    server.shutdown()
    log("stopped (PostgreSQL left as it is)")
    return 0


def rejoin_by_hand(cfg, system) -> int:
    """The automatic path, run once on request; it also clears a failed
    rewind from the state file (the running agent sees a standby and agrees)."""
    agent = Agent(cfg, system)
    if system.postmaster_pid():
        print("stopping the local server (stop_immediate)")
        system.fence()
    print(f"pg_rewind from {cfg.db_address} ...")
    try:
        print(system.rewind())
        system.start()
    except Exception as e:
        print(f"vipd-pg rejoin: {e}", file=sys.stderr)
        print("if pg_rewind cannot do it, rebuild the standby with pg_basebackup (docs/operations.md)",
              file=sys.stderr)
        return 1
    from dataclasses import replace
    agent.memory = replace(agent.memory, fenced=None, rewind_failed=None)
    agent.counters["rejoins"] += 1
    agent._save_state()
    print("started as a standby of the DB address")
    return 0
