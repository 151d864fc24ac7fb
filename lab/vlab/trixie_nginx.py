#!/usr/bin/env python3
"""Debian 13 (trixie)'s nginx 1.26, built --with-http_v3_module, runnable on this
Debian 12 host without installing anything.

Debian 12's nginx 1.22 cannot do QUIC, so the lab's HTTP/3 tests borrow trixie's
binary. fetch() downloads it with apt into a PRIVATE directory:

  <cache>/apt/        its own sources.list (the host's Debian mirror, suite
                      trixie, signatures checked with the host's
                      debian-archive-keyring), empty sources.list.d and
                      preferences.d, its own state (lists) and cache dirs
  <cache>/debs/       the .debs: nginx and the library packages it needs (the
                      "Section: libs" part of its Depends closure: libc6,
                      libssl3t64, libpcre2-8-0, ...)
  <cache>/root/       the .debs unpacked with dpkg-deb -x
  <cache>/nginx       a generated wrapper script (the path fetch() returns)
  <cache>/manifest.json  written last: package names, versions, sizes

Nothing is installed through dpkg, /etc/apt and the host's package state are
never touched. The nginx binary itself asks only for GLIBC_2.34 and
OPENSSL_3.0.0, but trixie's libcrypto.so.3 (libssl3t64, OpenSSL 3.5) and
libcrypt.so.1 need GLIBC_2.38 (bookworm has 2.36). Rather than mix trixie's
nginx with bookworm's OpenSSL 3.0, the wrapper runs it on trixie's complete
library set, through trixie's own dynamic loader, with only the private
library directories on the search path:

  exec <root>/usr/lib64/ld-linux-x86-64.so.2 --library-path <root libs> \
       --argv0 <wrapper> <root>/usr/sbin/nginx "$@"

No dynamic modules are fetched: the lab gives nginx its own -p prefix and -c
config and the shipped site uses no load_module. Compiled-in default paths
(/etc/nginx/nginx.conf, /var/log/nginx/error.log, /var/lib/nginx/*) are the
host's, so always pass -c and -p (and set the temp paths, as lab/vlab/web.py does).

A second call with everything in place only reads manifest.json (no network,
no apt). Concurrent callers serialise on <cache>/.lock. Failures raise
RuntimeError naming the step, with apt's stderr.

CLI: python3 lab/vlab/trixie_nginx.py [--cache DIR]   prints the wrapper's path.
"""

import argparse
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

DEFAULT_CACHE = "/var/cache/vipd-lab/trixie-nginx"
SUITE = "trixie"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
KEYRINGS = ("/usr/share/keyrings/debian-archive-keyring.gpg",
            "/usr/share/keyrings/debian-archive-trixie-stable.gpg")
MANIFEST_VERSION = 1


def host_mirror():
    """The Debian archive URI the host's apt uses (the entry serving bookworm,
    not -security/-updates), from sources.list and sources.list.d/*.list|*.sources."""
    candidates = []
    paths = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] == "deb":
                candidates.append((line[1], [line[2]]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if fields.get("enabled", ["yes"])[0].lower() == "no" or "deb" not in fields.get("types", []):
                continue
            for uri in fields.get("uris", []):
                candidates.append((uri, fields.get("suites", [])))
    for uri, suites in candidates:
        if any(s in ("bookworm", "stable", SUITE) for s in suites) and "security" not in uri:
            return uri.rstrip("/")
    return FALLBACK_MIRROR


class _Apt:
    """apt-get / apt-cache confined to <cache>/apt."""

    def __init__(self, cache_dir):
        self.base = os.path.join(cache_dir, "apt")
        self.sources = os.path.join(self.base, "sources.list")

    def options(self):
        b = self.base
        opts = {
            "Dir::Etc::SourceList": self.sources,
            "Dir::Etc::SourceParts": os.path.join(b, "sources.list.d"),
            "Dir::Etc::Preferences": os.path.join(b, "preferences"),
            "Dir::Etc::PreferencesParts": os.path.join(b, "preferences.d"),
            "Dir::State": os.path.join(b, "state"),
            "Dir::State::status": os.path.join(b, "state", "status"),
            "Dir::Cache": os.path.join(b, "cache"),
            "Dir::Cache::pkgcache": "",       # no binary caches to go stale
            "Dir::Cache::srcpkgcache": "",
            "APT::Default-Release": "",
            "Debug::NoLocking": "1",           # never takes the host's apt locks (our own .lock instead)
            "APT::Sandbox::User": "root",      # the private dirs are root's; no _apt sandbox warning
        }
        return [a for k, v in opts.items() for a in ("-o", f"{k}={v}")]

    def prepare(self, mirror):
        for sub in ("sources.list.d", "preferences.d", "state/lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.base, sub), exist_ok=True)
        open(os.path.join(self.base, "state", "status"), "a").close()
        keyring = next((k for k in KEYRINGS if os.path.exists(k)), None)
        if keyring:
            option = f"[signed-by={keyring}]"
        else:
            # No Debian keyring on this host: fall back to unverified lists, loudly.
            print(f"trixie_nginx: WARNING: none of {KEYRINGS} exists; trixie lists are NOT signature-checked",
                  file=sys.stderr)
            option = "[trusted=yes]"
        with open(self.sources, "w") as f:
            f.write(f"# written by lab/vlab/trixie_nginx.py; private, not the host's apt\n"
                    f"deb {option} {mirror} {SUITE} main\n")

    def run(self, step, tool, args, cwd=None, timeout=600):
        cmd = [tool] + self.options() + args
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                                 env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C"))
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"trixie_nginx: step '{step}' failed: {e}") from None
        # apt-get update exits 0 on some fetch failures but says W:/E: on stderr.
        bad = out.returncode != 0 or (step == "apt-get update" and re.search(r"^(E:|W: Failed to fetch)", out.stderr, re.M))
        if bad:
            raise RuntimeError(f"trixie_nginx: step '{step}' failed (exit {out.returncode}):\n"
                               f"{' '.join(cmd)}\n{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout


def _record(stanza_text):
    fields, key = {}, None
    for line in stanza_text.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _closure(apt, root_pkg="nginx"):
    """root_pkg plus every "Section: libs" package reachable through Depends and
    Pre-Depends (first alternative). {name: record}. One apt-cache call per level
    (each call parses the whole Packages list, ~1 s)."""
    known, chosen, level = {}, {}, [root_pkg]
    while level:
        new = sorted(set(n for n in level if n not in known))
        if new:
            text = apt.run(f"apt-cache show {' '.join(new)}", "apt-cache", ["show", "--no-all-versions"] + new)
            for stanza in text.strip().split("\n\n"):
                rec = _record(stanza)
                known[rec.get("Package")] = rec
        nxt = []
        for name in level:
            rec = known.get(name)
            if rec is None:
                raise RuntimeError(f"trixie_nginx: step 'apt-cache show': no package {name} in {SUITE}")
            if name in chosen or (name != root_pkg and rec.get("Section", "").split("/")[-1] != "libs"):
                continue
            chosen[name] = rec
            deps = ", ".join(filter(None, (rec.get("Pre-Depends"), rec.get("Depends"))))
            for dep in filter(None, (d.strip() for d in deps.split(","))):
                nxt.append(dep.split("|")[0].split("(")[0].split(":")[0].strip())
        level = [n for n in nxt if n not in chosen]
    return chosen


def _ready(cache_dir):
    """The manifest, when a previous fetch finished and its files are still there."""
    try:
        with open(os.path.join(cache_dir, "manifest.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    if m.get("version") != MANIFEST_VERSION:
        return None
    if all(os.path.exists(p) for p in (m["wrapper"], m["loader"], m["nginx"])):
        return m
    return None


def _write_wrapper(path, root, loader, libdirs, nginx):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"""#!/bin/sh
# Generated by lab/vlab/trixie_nginx.py: Debian trixie's nginx, run through
# trixie's own dynamic loader and libraries (this host's glibc is older).
OPENSSL_MODULES={root}/usr/lib/x86_64-linux-gnu/ossl-modules
export OPENSSL_MODULES
exec {loader} --library-path {':'.join(libdirs)} --argv0 "$0" {nginx} "$@"
""")
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def fetch(cache_dir=DEFAULT_CACHE):
    """Path of a runnable nginx 1.26 (a wrapper script) with --with-http_v3_module,
    from Debian trixie. See the module docstring."""
    cache_dir = os.path.abspath(cache_dir)
    m = _ready(cache_dir)
    if m:
        return m["wrapper"]
    os.makedirs(cache_dir, mode=0o755, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        m = _ready(cache_dir)     # another caller may have finished meanwhile
        if m:
            return m["wrapper"]
        return _fetch_locked(cache_dir)


def _fetch_locked(cache_dir):
    started = time.time()
    mirror = host_mirror()
    apt = _Apt(cache_dir)
    apt.prepare(mirror)
    apt.run("apt-get update", "apt-get", ["update", "-q"])
    pkgs = _closure(apt)

    debs = os.path.join(cache_dir, "debs")
    if os.path.isdir(debs):
        shutil.rmtree(debs)
    os.makedirs(debs)
    names = sorted(pkgs)
    apt.run("apt-get download", "apt-get", ["download", "-q"] + [f"{n}={pkgs[n]['Version']}" for n in names], cwd=debs)

    root = os.path.join(cache_dir, "root")
    staging = root + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    files = sorted(glob.glob(os.path.join(debs, "*.deb")))
    if len(files) != len(names):
        raise RuntimeError(f"trixie_nginx: step 'apt-get download' gave {len(files)} .debs for {len(names)} packages")
    for deb in files:
        out = subprocess.run(["dpkg-deb", "-x", deb, staging], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"trixie_nginx: step 'dpkg-deb -x {os.path.basename(deb)}' failed:\n{out.stderr}")
    shutil.rmtree(root, ignore_errors=True)
    os.rename(staging, root)

    loaders = [p for p in (os.path.join(root, d, "ld-linux-x86-64.so.2") for d in ("usr/lib64", "lib64",
               "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")) if os.path.exists(p)]
    nginx = next((p for p in (os.path.join(root, "usr/sbin/nginx"), os.path.join(root, "sbin/nginx"))
                  if os.path.exists(p)), None)
    if not loaders or not nginx:
        raise RuntimeError(f"trixie_nginx: step 'locate': no dynamic loader or nginx binary under {root}")
    libdirs = sorted({os.path.dirname(p) for pattern in ("lib*/**/lib*.so*", "usr/lib*/**/lib*.so*")
                      for p in glob.glob(os.path.join(root, pattern), recursive=True)
                      if not re.search(r"/(ossl-modules|engines-\d+|gconv)/", p)})
    wrapper = os.path.join(cache_dir, "nginx")
    _write_wrapper(wrapper, root, loaders[0], libdirs, nginx)

    # Every shared library resolves inside the private tree, and -V works.
    out = subprocess.run([loaders[0], "--list", "--library-path", ":".join(libdirs), nginx],
                         capture_output=True, text=True)
    if out.returncode != 0 or "not found" in out.stdout:
        raise RuntimeError(f"trixie_nginx: step 'check libraries' failed:\n{out.stdout}{out.stderr}")
    out = subprocess.run([wrapper, "-V"], capture_output=True, text=True)
    if out.returncode != 0 or "--with-http_v3_module" not in out.stderr:
        raise RuntimeError(f"trixie_nginx: step 'nginx -V' failed or lacks http_v3 (exit {out.returncode}):\n{out.stderr}")

    manifest = {
        "version": MANIFEST_VERSION, "suite": SUITE, "mirror": mirror,
        "sources": open(apt.sources).read(),
        "packages": [{"name": n, "version": pkgs[n]["Version"], "size": int(pkgs[n].get("Size", 0))} for n in names],
        "total_bytes": sum(os.path.getsize(f) for f in files),
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fetch_seconds": round(time.time() - started, 1),
        "nginx_version": out.stderr.splitlines()[0],
        "wrapper": wrapper, "loader": loaders[0], "nginx": nginx, "library_path": libdirs,
    }
    with open(os.path.join(cache_dir, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(cache_dir, "manifest.json.tmp"), os.path.join(cache_dir, "manifest.json"))
    return wrapper


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fetch Debian trixie's nginx (HTTP/3) into a private directory "
                                             "and print the path of its wrapper script.")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help=f"cache directory (default {DEFAULT_CACHE})")
    args = ap.parse_args(argv)
    try:
        print(fetch(args.cache))
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
