"""pg.conf: INI read with configparser, every field checked. An error names
the file, the section and key, and why (configparser knows no line numbers
for values); `vipd-pg check-config` prints them and exits 2."""

from __future__ import annotations

import configparser
import ipaddress
import re
import shlex
from dataclasses import dataclass

DEFAULT_PATH = "/etc/vipd/pg.conf"

# (section, key) -> default; None = required.
FIELDS = {
    ("vipd", "instance"): "db",
    ("vipd", "control_socket"): "/run/vipd/control.sock",
    ("postgresql", "data_directory"): "/var/lib/postgresql/15/main",
    ("postgresql", "bin_directory"): "/usr/lib/postgresql/15/bin",
    # postgresql.conf when it is not in the data directory (Debian:
    # /etc/postgresql/15/main/postgresql.conf): pg_rewind's crash recovery needs it.
    ("postgresql", "config_file"): "",
    ("postgresql", "host"): "/var/run/postgresql",
    ("postgresql", "port"): "5432",
    ("postgresql", "user"): "postgres",
    ("postgresql", "password_file"): "",
    ("postgresql", "start"): "systemctl start postgresql@15-main",
    ("postgresql", "stop_immediate"): "systemctl kill --signal=SIGQUIT postgresql@15-main",
    ("replication", "db_address"): None,
    ("replication", "application_name"): None,
    ("replication", "user"): "replicator",
    ("replication", "password_file"): "/etc/vipd/pg-replication.password",
    ("replication", "rewind_user"): "postgres",
    ("replication", "rewind_password_file"): "",
    ("replication", "alone_after"): "2s",
    ("replication", "promotable_within"): "1s",
    ("replication", "fence_after"): "3s",
    ("agent", "listen"): "127.0.0.1:8009",
    ("agent", "interval"): "200ms",
    ("agent", "state_file"): "/var/lib/vipd-pg/state.json",
}


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    path: str
    instance: str
    control_socket: str
    data_directory: str
    bin_directory: str
    config_file: str
    host: str
    port: int
    user: str
    password_file: str
    start: tuple
    stop_immediate: tuple
    db_address: str
    application_name: str
    repl_user: str
    repl_password_file: str
    rewind_user: str
    rewind_password_file: str
    alone_after: float
    promotable_within: float
    fence_after: float
    listen_host: str
    listen_port: int
    interval: float
    state_file: str


def duration(text: str) -> float:
    """'200ms', '5s', '1.5s', '2m' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (like 200ms, 5s, 2m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


def load(path: str = DEFAULT_PATH) -> Config:
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    try:
        with open(path) as f:
            parser.read_file(f, source=path)
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"])
    except configparser.Error as e:
        raise ConfigError([f"{path}: {e}".replace("\n", " ")])
    problems: list[str] = []
    known_sections = {s for s, _ in FIELDS}
    for section in parser.sections():
        if section not in known_sections:
            problems.append(f"{path}: [{section}]: unknown section (known: {', '.join(sorted(known_sections))})")
            continue
        for key in parser[section]:
            if (section, key) not in FIELDS:
                problems.append(f"{path}: [{section}] {key}: unknown key")
    raw = {}
    for (section, key), default in FIELDS.items():
        value = parser.get(section, key, fallback=default)
        if value is None:
            problems.append(f"{path}: [{section}] {key}: required")
        raw[(section, key)] = value if value is not None else ""

    def field(section, key, convert, why=None):
        try:
            return convert(raw[(section, key)])
        except (ValueError, TypeError) as e:
            problems.append(f"{path}: [{section}] {key}: {why or e}")
            return None

    def port(text):
        n = int(text)
        if not 1 <= n <= 65535:
            raise ValueError
        return n

    def argv(text):
        words = tuple(shlex.split(text))
        if not words:
            raise ValueError("an empty command")
        return words

    def absolute(text):
        if not text.startswith("/"):
            raise ValueError(f"{text!r} is not an absolute path")
        return text

    def nonempty(text):
        if not text:
            raise ValueError("empty")
        return text

    def optional_path(text):
        return absolute(text) if text else ""

    def address(text):
        return str(ipaddress.ip_address(text))

    def name(text):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", text):
            raise ValueError(f"{text!r}: 1-63 letters, digits, '_', '.', '-'")
        return text

    def listen(text):
        host, _, p = text.rpartition(":")
        return str(ipaddress.ip_address(host)), port(p)

    def positive(text):
        v = duration(text)
        if v <= 0:
            raise ValueError(f"{text!r} must be above zero")
        return v

    values = dict(
        path=path,
        instance=field("vipd", "instance", name),
        control_socket=field("vipd", "control_socket", absolute),
        data_directory=field("postgresql", "data_directory", absolute),
        bin_directory=field("postgresql", "bin_directory", absolute),
        config_file=field("postgresql", "config_file", optional_path),
        host=field("postgresql", "host", nonempty),
        port=field("postgresql", "port", port, "a port number, 1-65535"),
        user=field("postgresql", "user", name),
        password_file=field("postgresql", "password_file", optional_path),
        start=field("postgresql", "start", argv),
        stop_immediate=field("postgresql", "stop_immediate", argv),
        db_address=field("replication", "db_address", address),
        application_name=field("replication", "application_name", name),
        repl_user=field("replication", "user", name),
        repl_password_file=field("replication", "password_file", optional_path),
        rewind_user=field("replication", "rewind_user", name),
        rewind_password_file=field("replication", "rewind_password_file", optional_path),
        alone_after=field("replication", "alone_after", positive),
        promotable_within=field("replication", "promotable_within", positive),
        fence_after=field("replication", "fence_after", positive),
        interval=field("agent", "interval", positive),
        state_file=field("agent", "state_file", absolute),
    )
    hp = field("agent", "listen", listen, "HOST:PORT with an IP address, e.g. 127.0.0.1:8009")
    values["listen_host"], values["listen_port"] = hp if hp else (None, None)
    if values["alone_after"] and values["promotable_within"] and values["alone_after"] <= values["promotable_within"]:
        # The safety argument: a standby that heard the primary within
        # promotable_within has every commit only if the primary waits longer
        # than that before it commits alone.
        problems.append(f"{path}: [replication] alone_after: must be longer than promotable_within")
    if problems:
        raise ConfigError(problems)
    return Config(**values)


def read_secret(path: str) -> str:
    """A password file's first line ('' for no file)."""
    if not path:
        return ""
    with open(path) as f:
        return f.readline().rstrip("\n")
