"""The command line: bingo's subcommands, and the stand-in's knobs (flags
the real binary does not have; README.md lists each with its default).

run_server goes through the real binary's start-up in order: root refusal,
config, logger, database, the initialization request, listening."""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time

from . import VERSION, config, startup
from .fate import DEATHS, Fate, parse_lifetime
from .throttle import Quota

DEFAULTS = {
    "root": os.environ.get("BINGO_STANDIN_ROOT") or None,
    "host": "::", "port": None, "log_dir": None, "name": None, "seed": None,
    "lifetime": "1320-1500", "deaths": ",".join(DEATHS), "exit_status": 0,
    "leak_mb_per_s": 4.0, "leak_ms_per_mb": 1.0,
    "init_timeout": 30.0, "init_fail_fast": 2.0,
    "rps_limit": 100, "throttled_status": 429,
    "pool_size": 2, "statement_timeout": 20.0, "connect_timeout": 5.0, "no_db": False,
    "scale": 1.0, "long_delay": 1.5,
    "control_host": "127.0.0.1", "control_port": 0, "quiet": False,
}


def _knobs() -> argparse.ArgumentParser:
    k = argparse.ArgumentParser(add_help=False)
    S = argparse.SUPPRESS   # unset knobs take DEFAULTS, wherever they were given
    a = k.add_argument
    a("--root", default=S, metavar="DIR", help="prefix for /opt/bingo and /opt/bongo (tests; env BINGO_STANDIN_ROOT)")
    a("--host", default=S, help="listen address (default :: = all, IPv6 socket)")
    a("--port", type=int, default=S, help="override the port derived from student_email")
    a("--log-dir", default=S, metavar="DIR", help="override the log directory derived from student_email")
    a("--name", default=S, help="send X-Bingo-Node: NAME (not the real binary's)")
    a("--seed", type=int, default=S, help="seed of every random choice (default: random, logged)")
    a("--lifetime", default=S, metavar="LO-HI|S|never", help="seconds until the death (default 1320-1500)")
    a("--deaths", default=S, metavar="LIST", help="deaths to choose from (default exit,panic,sick,leak)")
    a("--exit-status", type=int, default=S, help="status of the 'exit' death (default 0)")
    a("--leak-mb-per-s", type=float, default=S, help="leak rate (default 4)")
    a("--leak-ms-per-mb", type=float, default=S, help="slowdown per leaked MiB (default 1)")
    a("--init-timeout", type=float, default=S, metavar="S", help="start-up wait with a route to 8.8.8.8 (default 30)")
    a("--init-fail-fast", type=float, default=S, metavar="S", help="start-up wait without one (default 2)")
    a("--rps-limit", type=int, default=S, help="requests per second per instance, 0 = none (default 100)")
    a("--throttled-status", type=int, default=S, help="answer over the limit (default 429)")
    a("--pool-size", type=int, default=S, help="database connections (default 2)")
    a("--statement-timeout", type=float, default=S, metavar="S", help="query timeout (default 20)")
    a("--connect-timeout", type=float, default=S, metavar="S", help="per host (default 5)")
    a("--no-db", action="store_true", default=S, help="in-memory data instead of PostgreSQL (kind)")
    a("--scale", type=float, default=S, help="prepare_db: fraction of the full data (default 1)")
    a("--long-delay", type=float, default=S, metavar="S", help="GET /long_dummy takes this long (default 1.5)")
    a("--control-host", default=S, help="control listener address (default 127.0.0.1)")
    a("--control-port", type=int, default=S, help="control listener port, 0 = off (default 0)")
    a("--quiet", action="store_true", default=S, help="no per-request lines on stderr")
    return k


def parse_args(argv):
    knobs = _knobs()
    p = argparse.ArgumentParser(prog="bingo", parents=[knobs],
                                description="bingo stand-in (a test fixture; see README.md)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in ("run_server", "prepare_db", "print_default_config", "print_current_config", "version"):
        sub.add_parser(name, parents=[knobs])
    args = p.parse_args(argv)
    for k, v in DEFAULTS.items():
        if not hasattr(args, k):
            setattr(args, k, v)
    if args.command is None:
        p.print_help()
        sys.exit(0)
    return args


def panic(msg: str) -> None:
    # A Go panic: the message, a goroutine trace, status 2.
    sys.stderr.write(f"panic: {msg}\n\ngoroutine 1 [running]:\nmain.main()\n")
    sys.exit(2)


def fail(msg: str) -> None:
    # cobra's way: "Error: ..." and status 1.
    sys.stderr.write(f"Error: {msg}\n")
    sys.exit(1)


def refuse_root() -> None:
    if startup.running_as_root():
        sys.stderr.write(startup.ROOT_REFUSAL + "\n")
        sys.exit(1)


def load_config(args) -> dict:
    try:
        return config.load(args.root)
    except (OSError, config.ConfigError):
        panic("failed to read config data")


def open_log(args, cfg, seed):
    from .logger import JsonLog
    email = str(cfg.get("student_email", ""))
    directory = args.log_dir or config.under_root(args.root, config.log_dir_for(email))
    try:
        return JsonLog(os.path.join(directory, "main.log"), email, seed)
    except OSError:
        panic("failed to build logger")


def connect(args, cfg, log):
    if args.no_db:
        from .memdb import MemoryDatabase
        return MemoryDatabase(args.seed)
    from .db import NO_HOST, Database
    try:
        return Database(cfg, config.hosts(cfg), args.pool_size, args.statement_timeout,
                        args.connect_timeout)
    except ConnectionError:
        log.error("Failed to connect to the database.", error=NO_HOST)
        fail(NO_HOST)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "version":
        print(VERSION)
        return 0
    if args.command == "print_default_config":
        sys.stdout.write(config.DEFAULT_CONFIG)
        return 0
    if args.command == "print_current_config":
        print(config.dump_yaml(load_config(args)))
        return 0
    refuse_root()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    if args.command == "prepare_db":
        return prepare_db(args)
    return run_server(args)


def prepare_db(args) -> int:
    from .prepare import prepare
    cfg = load_config(args)
    log = open_log(args, cfg, args.seed)
    db = connect(args, cfg, log)
    conn = db._pool.get()
    t0 = time.monotonic()
    try:
        n = prepare(conn, args.scale, args.seed, log)
    except Exception as e:  # psycopg2.Error: the table exists, the disk is full...
        log.error("Failed to prepare the database.", error=str(e).strip())
        fail(f"failed prepare_db: {str(e).strip()}")
    sys.stderr.write(f"prepare_db: {n} in {time.monotonic() - t0:.1f}s\n")
    return 0


def run_server(args) -> int:
    from .http import App, BingoHandler, Server
    from .control import ControlHandler

    # Signals blocked in every thread (the server threads inherit the mask)
    # and taken with sigwait in the main thread, so SIGTERM always acts.
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    cfg = load_config(args)
    log = open_log(args, cfg, args.seed)
    rng = random.Random(args.seed)
    deaths = tuple(d for d in args.deaths.split(",") if d)
    if not set(deaths) <= set(DEATHS):
        fail(f"--deaths: unknown {sorted(set(deaths) - set(DEATHS))}")
    fate = Fate(rng, parse_lifetime(args.lifetime), deaths, log, args.exit_status,
                args.leak_mb_per_s, args.leak_ms_per_mb, os._exit)
    log.info("Prepare app.", lifetime_s=fate.lifetime, death=fate.death)
    db = connect(args, cfg, log)

    log.info("Run initialization request.", url="http://8.8.8.8/")
    wait = startup.init_request_seconds(args.init_timeout, args.init_fail_fast)
    if signal.sigtimedwait(sigs, wait) is not None:
        return 0
    log.warn("Failed initialization request.", waited_s=wait)

    port = args.port or config.port_for(str(cfg.get("student_email", "")))
    app = App(name=args.name, db=db, log=log, fate=fate, quota=Quota(args.rps_limit),
              throttled_status=args.throttled_status, long_delay=args.long_delay, quiet=args.quiet)
    servers = []
    try:
        listeners = [((args.host, port), BingoHandler)]
        if args.control_port:
            listeners.insert(0, ((args.control_host, args.control_port), ControlHandler))
        for addr, base in listeners:
            srv = Server(addr, type(base.__name__, (base,), {"app": app}))
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             daemon=True).start()
            servers.append(srv)
        fate.start_clock()
        threading.Thread(target=_alive, args=(log,), daemon=True).start()
        sys.stderr.write(f"bingo: listening on [{args.host}]:{port}, pid {os.getpid()}, "
                         f"seed {args.seed}, database {db.host[0]}:{db.host[1]}\n")
        sys.stderr.flush()
        signal.sigwait(sigs)
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
    return 0


def _alive(log) -> None:
    while True:
        log.info("I am alive.")
        time.sleep(10)
