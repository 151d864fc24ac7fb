"""Small things every part of the lab uses: its error, running a command,
waiting for a condition, installing what is missing, parsing an interval."""

import os
import pwd
import re
import shutil
import subprocess
import sys
import time


class LabError(RuntimeError):
    pass


def say(text, tag="lab"):
    sys.stderr.write(f"[{tag} {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def sh(*argv, check=True, timeout=60, stdin=None):
    """Runs a command (a list, no shell); returns its stdout."""
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(map(str, argv))} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result.stdout


def wait_for(predicate, timeout, what="condition", interval=0.02):
    """Polls PREDICATE until it returns something true (returned) or TIMEOUT s pass (LabError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_until(at_us):
    """Returns at AT_US (wall clock, microseconds since the epoch), or at once if
    that has passed: sleeping most of the way and spinning for the last 5 ms, so
    it lands within a fraction of a millisecond. None: at once."""
    if not at_us:
        return
    left = at_us / 1e6 - time.time() - 0.005
    if left > 0:
        time.sleep(left)
    while time.time_ns() // 1000 < at_us:
        pass


def interval_ms(text):
    """'100ms', '1s', '0.5s', '250' -> milliseconds (int)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", str(text))
    if not m:
        raise LabError(f"bad interval {text!r}")
    return int(round(float(m.group(1)) * (1000 if m.group(2) == "s" else 1)))


def ms_to_interval(ms):
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def read(path):
    """The file's text, or "" if it does not exist (yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def installed(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in out.stdout


def need_packages(*packages):
    """Installs the Debian packages that are missing (apt-get update once, only if
    an install fails). Debian starts nginx/keepalived/postgresql on install where
    it can: the lab never uses those system instances and never touches them."""
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return
    say(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr)
        if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
            raise LabError(f"cannot install {' '.join(missing)}")


# Commands the lab needs, and the package that has each.
TOOLS = {"ip": "iproute2", "tcpdump": "tcpdump", "ping": "iputils-ping", "nft": "nftables", "curl": "curl",
         "setpriv": "util-linux", "openssl": "openssl"}


def need_tools(*commands):
    need_packages(*sorted({TOOLS[c] for c in (commands or TOOLS) if not shutil.which(c)}))


def need_user(name="vipd"):
    """The unprivileged user vipd drops to (config key `user`, default vipd); the
    lab's nginx and stand-ins run as it too."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        sh("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
           name)
