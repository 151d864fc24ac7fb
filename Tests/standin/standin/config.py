"""bingo's configuration: the default file, a reader for the small YAML subset
it uses, and where the files live (under an optional root prefix).

The stand-in is standard library only (plus psycopg2), so it cannot use
PyYAML; the reader takes exactly what config.yaml needs: nested maps by
indentation, lists of maps or scalars, plain or quoted scalars, comments.
"""

from __future__ import annotations

import hashlib
import os
import re

CONFIG_PATH = "/opt/bingo/config.yaml"   # hard-coded in the real binary, no flag
LOG_BASE = "/opt/bongo/logs"             # note: bongo, as the real binary has it

DEFAULT_CONFIG = """\
student_email: you@example.com
postgres_cluster:
  hosts:
  - address: localhost
    port: 5432
  user: postgres
  password: postgres
  db_name: postgres
  ssl_mode: disable
  use_closest_node: false
"""


class ConfigError(Exception):
    pass


def _scalar(text: str):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("", "~", "null"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _strip_comment(line: str) -> str:
    # A '#' starts a comment at the line start or after a blank, outside quotes.
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def parse_yaml(text: str):
    """Parses the subset described above; raises ConfigError on anything else."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if line.strip():
            lines.append((number, len(line) - len(line.lstrip(" ")), line.strip()))
    value, rest = _block(lines, 0, lines[0][1] if lines else 0)
    if rest < len(lines):
        raise ConfigError(f"line {lines[rest][0]}: unexpected indentation")
    return value if lines else {}


def _block(lines, i, indent):
    if lines[i][2].startswith("- ") or lines[i][2] == "-":
        return _list(lines, i, indent)
    return _map(lines, i, indent)


def _map(lines, i, indent, first: str | None = None):
    out = {}
    while i < len(lines) or first is not None:
        if first is not None:
            number, text = lines[i][0], first
            first = None
        else:
            number, ind, text = lines[i]
            if ind < indent:
                break
            if ind > indent or text.startswith("-"):
                raise ConfigError(f"line {number}: unexpected indentation")
        key, sep, rest = text.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"line {number}: expected 'key: value'")
        i += 1
        if rest.strip():
            out[key.strip()] = _scalar(rest)
        elif i < len(lines) and (lines[i][1] > indent or
                                 (lines[i][1] == indent and lines[i][2].startswith("-"))):
            out[key.strip()], i = _block(lines, i, lines[i][1])
        else:
            out[key.strip()] = None
    return out, i


def _list(lines, i, indent):
    out = []
    while i < len(lines):
        number, ind, text = lines[i]
        if ind < indent or not text.startswith("-"):
            break
        if ind > indent:
            raise ConfigError(f"line {number}: unexpected indentation")
        item = text[1:].strip()
        if not item:
            i += 1
            value, i = _block(lines, i, lines[i][1]) if i < len(lines) else (None, i)
        elif ":" in item and not item[0] in "'\"":
            # "- key: value" opens a map whose other keys sit under the first.
            item_indent = ind + (len(text) - len(item))
            value, i = _map(lines, i, item_indent, first=item)
        else:
            value, i = _scalar(item), i + 1
        out.append(value)
    return out, i


def dump_yaml(value, indent: int = 0) -> str:
    """The inverse, in the layout of DEFAULT_CONFIG (print_current_config)."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                lines.append(dump_yaml(v, indent + 2))
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{k}:")
                lines.append(dump_yaml(v, indent))
            else:
                lines.append(f"{pad}{k}: {_show(v)}")
    else:
        for v in value:
            if isinstance(v, dict) and v:
                inner = dump_yaml(v, indent + 2).splitlines()
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_show(v)}")
    return "\n".join(lines)


def _show(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def under_root(root: str | None, path: str) -> str:
    """PATH inside the test-only root prefix (two lab nodes cannot share /opt)."""
    return os.path.join(root, path.lstrip("/")) if root else path


def load(root: str | None) -> dict:
    """The config the real binary would read. OSError or ConfigError if it cannot."""
    with open(under_root(root, CONFIG_PATH), encoding="utf-8") as f:
        data = parse_yaml(f.read())
    if not isinstance(data, dict):
        raise ConfigError("config is not a map")
    return data


def hosts(cfg: dict) -> list[tuple[str, int]]:
    cluster = cfg.get("postgres_cluster") or {}
    return [(str(h.get("address", "localhost")), int(h.get("port", 5432)))
            for h in cluster.get("hosts") or [] if isinstance(h, dict)]


# --------------------------------------------------------- identity from the email
# The real binary derives its port and log directory from student_email with a
# function nobody knows. This one is the stand-in's own, keyed so that nothing
# outside can reproduce the real pairs (30164/416265556f): consumers have to
# discover both, as on the real installation.
_KEY = b"bingo-standin identity v1"


def _digest(email: str) -> bytes:
    return hashlib.blake2b(email.strip().encode(), key=_KEY, digest_size=16).digest()


def port_for(email: str) -> int:
    """1024..32767, the range the real ports seen (3901..30164) fall in."""
    return 1024 + int.from_bytes(_digest(email)[:4], "big") % (32768 - 1024)


def log_dir_for(email: str) -> str:
    return f"{LOG_BASE}/{_digest(email)[4:9].hex()}"
