#!/usr/bin/env python3
"""keepalived 2.4.3 (the first release with auth_hmac) built from the source
tarball in /work/shared/third_party, for the lab's HMAC interop test.

Debian 12 ships keepalived 2.2.7, which has no auth_hmac. build() compiles
2.4.3 once per machine and caches it, keyed by the tarball's sha256:

  <cache>/<sha256>/keepalived     the binary (the path build() returns)
  <cache>/<sha256>/manifest.json  written last: tarball, sha256, configure flags
  <cache>/<sha256>/build.log      configure and make output

A second call with manifest.json in place only hashes the tarball. A new
tarball (another sha256) builds beside the old one. Concurrent callers
serialise on <cache>/.lock. The build runs in a scratch directory under
<cache> and is renamed into place, so a half-built tree is never used.
Build dependencies (build-essential autoconf automake pkg-config libssl-dev
libnl-3-dev libnl-genl-3-dev) are installed with apt-get when missing.
Failures raise RuntimeError naming the step, with the tail of its output.

CLI: python3 lab/vlab/keepalived_source.py [--tarball T] [--cache DIR]
prints the binary's path.
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from .third_party import path as third_party_path

DEFAULT_TARBALL = third_party_path("keepalived-2.4.3.tar.gz") or "/work/shared/third_party/keepalived-2.4.3.tar.gz"
DEFAULT_CACHE = "/var/cache/vipd-lab/keepalived-2.4.3"
BUILD_DEPS = ("build-essential", "autoconf", "automake", "pkg-config",
              "libssl-dev", "libnl-3-dev", "libnl-genl-3-dev")
# VRRP only; auth (which carries auth_hmac) stays on, as it is by default.
CONFIGURE = ("--disable-lvs", "--disable-snmp", "--disable-dbus",
             "--disable-nftables", "--disable-iptables",
             "--enable-vrrp-auth")
MANIFEST_VERSION = 1


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(step, argv, cwd, log):
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    p = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        log.flush()
        with open(log.name, errors="replace") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"keepalived 2.4.3 build: {step} failed (rc {p.returncode}):\n{tail}")


def _missing_deps():
    missing = []
    for pkg in BUILD_DEPS:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                           capture_output=True, text=True)
        if p.returncode != 0 or "install ok installed" not in p.stdout:
            missing.append(pkg)
    return missing


def _install_deps():
    missing = _missing_deps()
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=env)
        p = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                           capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"keepalived 2.4.3 build: apt-get install {' '.join(missing)} failed:\n"
                           f"{p.stderr[-3000:]}")


def cached(tarball=DEFAULT_TARBALL, cache=DEFAULT_CACHE):
    """The cached binary's path, or None when this tarball was never built here."""
    d = os.path.join(cache, sha256_of(tarball))
    if os.path.exists(os.path.join(d, "manifest.json")) and os.access(os.path.join(d, "keepalived"), os.X_OK):
        return os.path.join(d, "keepalived")
    return None


def build(tarball=DEFAULT_TARBALL, cache=DEFAULT_CACHE):
    """Path of a keepalived 2.4.3 binary, building it first if needed."""
    if not os.path.exists(tarball):
        raise RuntimeError(f"keepalived 2.4.3 build: tarball {tarball} not found")
    digest = sha256_of(tarball)
    final = os.path.join(cache, digest)
    binary = os.path.join(final, "keepalived")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, "manifest.json")) and os.access(binary, os.X_OK):
            return binary
        _install_deps()
        scratch = tempfile.mkdtemp(prefix=".build-", dir=cache)
        try:
            with tarfile.open(tarball) as tf:
                tf.extractall(scratch, filter="data") if hasattr(tarfile, "data_filter") \
                    else tf.extractall(scratch)
            tops = [e for e in os.listdir(scratch) if os.path.isdir(os.path.join(scratch, e))]
            if len(tops) != 1:
                raise RuntimeError(f"keepalived 2.4.3 build: {tarball} does not hold one top directory")
            src = os.path.join(scratch, tops[0])
            out = os.path.join(scratch, "out")
            os.makedirs(out)
            with open(os.path.join(out, "build.log"), "w") as log:
                if not os.path.exists(os.path.join(src, "configure")):
                    _run("autogen.sh", ["./autogen.sh"], src, log)
                _run("configure", ["./configure", *CONFIGURE], src, log)
                _run("make", ["make", f"-j{os.cpu_count() or 2}"], src, log)
            shutil.copy2(os.path.join(src, "keepalived", "keepalived"), os.path.join(out, "keepalived"))
            with open(os.path.join(out, "manifest.json"), "w") as f:
                json.dump({"version": MANIFEST_VERSION, "tarball": tarball, "sha256": digest,
                           "configure": list(CONFIGURE)}, f, indent=1)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(out, final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return binary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", default=DEFAULT_TARBALL)
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    a = ap.parse_args()
    try:
        print(build(a.tarball, a.cache))
    except RuntimeError as e:
        print(e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
