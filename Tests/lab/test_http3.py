"""HTTP/3 for real: the shipped nginx site served by Debian trixie's nginx 1.26
(lab/vlab/trixie_nginx.py) with the HTTP/3 include turned on, in a lab of
lab/vlab (the project's one harness) with node A and the client C only:

    A  198.18.0.1   the front (lab.setup_front/start_front: enable-http3.sh for
                    the lab's nginx binary, here trixie's) + the bingo stand-in on :30164
    C  198.18.0.10  h3get.py, curl

Checks from the client: GET https://198.18.0.1/ping over HTTP/3 (lab/h3get.py,
and nginx's access log says HTTP/3.0, proxied to A's stand-in) returns pong;
plain HTTP answers without a redirect; HTTPS over HTTP/1.1 and HTTP/2 answer;
the TCP answers carry Alt-Svc advertising h3; with nginx stopped h3get reports
an error and exits 1. Then, in a second lab on the host's nginx 1.22, the same
site with the include enable-http3.sh writes for that nginx (empty) passes its
`nginx -t`.

Needs root. The trixie test skips (and says so) only when the trixie suite
cannot be reached. The lab records every process by PID, ends it by PID and
deletes its namespaces, also on failure.

    python3 -m pytest -q Tests/lab/test_http3.py -s
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

import pytest

from conftest import REPO, running_lab
from vlab import trixie_nginx
from vlab.web import as_vipd

H3GET = os.path.join(REPO, "lab", "h3get.py")
HOST_NGINX = "/usr/sbin/nginx"
NODE = "a"
SERVER = "198.18.0.1"


def run_in(lab, member, *argv):
    """ARGV in MEMBER's namespace: the CompletedProcess (exit status and both outputs)."""
    return subprocess.run(["ip", "netns", "exec", lab.ns(member), *map(str, argv)], capture_output=True, text=True,
                          timeout=60)


def nginx_test(lab):
    """`nginx -t` of the lab's nginx on the front's prefix, as vipd, in the node's namespace."""
    return run_in(lab, NODE, *as_vipd(), *lab.nginx_cmd(NODE, "-t"))


def http3_include(lab):
    with open(os.path.join(lab.nginx_prefix(NODE), "vipd", "bingo-http3.conf")) as f:
        return f.read()


def h3get(lab, *args):
    return run_in(lab, "c", sys.executable, H3GET, "--insecure", "--json", *args, f"https://{SERVER}/ping")


def access_log(lab):
    with open(os.path.join(lab.nginx_prefix(NODE), "logs", "bingo.access.log")) as f:
        return [json.loads(line) for line in f if line.strip()]


def curl(lab, url, option):
    """From the client: (status, http_version, headers dict, body, seconds)."""
    dump = os.path.join(lab.dir, "curl-headers.txt")
    code, body, info = lab.curl("c", url, extra=(option, "-D", dump), info=("http_version", "time_total"))
    with open(dump) as f:
        lines = f.read().splitlines()[1:]
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
               if name.strip()}
    return code, info["http_version"], headers, body, float(info["time_total"])


def fetch_trixie_nginx():
    t0 = time.monotonic()
    try:
        nginx13 = trixie_nginx.fetch()
    except RuntimeError as e:
        if "step 'apt-get update'" in str(e):
            print(f"\nSKIP: Debian trixie suite unreachable:\n{e}")
            pytest.skip(f"Debian trixie suite unreachable: {str(e).splitlines()[-1]}")
        raise
    print(f"\ntrixie nginx: {nginx13} ({time.monotonic() - t0:.2f} s)")
    v = subprocess.run([nginx13, "-V"], capture_output=True, text=True).stderr
    assert "nginx/1.26" in v and "--with-http_v3_module" in v, v
    return nginx13


def test_http3_front(request):
    if os.geteuid() != 0:
        pytest.skip("the namespace lab needs root")
    nginx13 = fetch_trixie_nginx()
    with running_lab(request, nodes=(NODE,), start=False, need_vipd=False, nginx_binary=nginx13) as lab:
        try:
            check_http3_front(lab)
        except BaseException:
            error_log = os.path.join(lab.nginx_prefix(NODE), "logs", "error.log")
            if os.path.exists(error_log):
                with open(error_log) as f:
                    print("--- trixie nginx error.log (tail)\n" + "".join(f.readlines()[-30:]))
            raise


def check_http3_front(lab):
    lab.start_bingo(NODE)
    lab.setup_front(NODE)   # enable-http3.sh with NGINX=trixie's nginx, and nginx -t as vipd
    upstream = lab.upstream(NODE)
    assert re.findall(r"^\s*server (\S+);", upstream, re.M) == [f"{SERVER}:{lab.backend_port}"], upstream
    include = http3_include(lab)
    assert "listen 443 quic" in include, f"enable-http3.sh did not turn HTTP/3 on:\n{include}"
    t = nginx_test(lab)
    print(f"trixie nginx -t: exit {t.returncode}\n{t.stderr.strip()}")
    assert t.returncode == 0, t.stderr
    lab.start_front(NODE)
    lab.wait_for(lambda: lab.curl("c", f"http://{SERVER}/ping")[0] == 200, 10, "nginx to answer on :80")

    # --- HTTP/3 (aioquic), 1 fresh connection then 20 requests on one connection
    lines = []
    for count in (1, 20):
        out = h3get(lab, "--timeout", "5", "--count", count)
        got = [json.loads(line) for line in out.stdout.splitlines()]
        assert out.returncode == 0 and len(got) == count, f"h3get failed:\n{out.stdout}{out.stderr}"
        for r in got:
            assert r["status"] == 200 and r["body"] == "pong" and r["error"] is None, r
        lines.append(got)
    first, warm = lines[0][0]["ms"], [r["ms"] for r in lines[1][1:]]
    print(f"HTTP/3: fresh connection (handshake + GET) {first:.1f} ms; "
          f"GET on an open connection median {statistics.median(warm):.2f} ms, max {max(warm):.2f} ms")
    h3_lines = [e for e in access_log(lab) if e["protocol"] == "HTTP/3.0" and e["uri"] == "/ping"]
    assert len(h3_lines) == 21, f"nginx logged {len(h3_lines)} HTTP/3.0 requests of 21"
    backend = f"{SERVER}:{lab.backend_port}"
    for e in h3_lines:   # answered by A's stand-in through the upstream, not by nginx itself
        assert e["status"] == 200 and e["upstream_addr"] == backend and e["upstream_status"] == "200", e

    # --- TCP: plain HTTP (no redirect), HTTPS/1.1, HTTP/2; Alt-Svc on all of them
    for name, url, option, version in (("HTTP/1.1", f"http://{SERVER}/ping", "--http1.1", "1.1"),
                                       ("HTTPS/1.1", f"https://{SERVER}/ping", "--http1.1", "1.1"),
                                       ("HTTP/2", f"https://{SERVER}/ping", "--http2", "2")):
        code, got_version, headers, body, total = curl(lab, url, option)
        print(f"{name}: {code} over HTTP/{got_version} in {total * 1000:.1f} ms, alt-svc: {headers.get('alt-svc')}")
        assert code == 200, f"{name}: status {code} (plain HTTP must answer, not redirect)"
        assert got_version == version and body == "pong", (name, got_version, body)
        assert re.search(r'\bh3=":443"', headers.get("alt-svc", "")), f"{name}: no Alt-Svc h3: {headers}"
    assert {"HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} <= {e["protocol"] for e in access_log(lab)}

    # --- nginx stopped (the stand-in stays): h3get reports an error and exits 1
    lab.stop_front(NODE)
    out = h3get(lab, "--timeout", "1")
    r = json.loads(out.stdout)
    print(f"HTTP/3 with nginx stopped: exit {out.returncode}, {r}")
    assert out.returncode == 1 and r["status"] is None and r["error"], (out.stdout, out.stderr)


def test_http3_include_off_on_host_nginx(request):
    """The same site on the host's nginx 1.22: the include is written empty and nginx -t passes."""
    if os.geteuid() != 0:
        pytest.skip("the namespace lab needs root")
    with running_lab(request, nodes=(NODE,), clients=(), start=False, need_vipd=False,
                     nginx_binary=HOST_NGINX) as lab:
        lab.setup_front(NODE)   # enable-http3.sh with NGINX=/usr/sbin/nginx, and nginx -t as vipd
        include = http3_include(lab)
        assert "listen" not in "\n".join(line.split("#", 1)[0] for line in include.splitlines()), include
        t = nginx_test(lab)
        version = subprocess.run([HOST_NGINX, "-v"], capture_output=True, text=True).stderr.strip()
        print(f"\nhost {version} -t, HTTP/3 include off: exit {t.returncode}\n{t.stderr.strip()}")
        assert t.returncode == 0, t.stderr
