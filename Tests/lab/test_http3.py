"""HTTP/3 for real: the shipped nginx site served by Debian trixie's nginx 1.26
(lab/vlab/trixie_nginx.py) with the HTTP/3 include turned on, in two network
namespaces of this test's own:

    vh<pid>s  server  198.18.5.1/24   nginx (-p private prefix) + a Python backend on :30164
    vh<pid>c  client  198.18.5.2/24   h3get.py, curl

Checks from the client: GET https://198.18.5.1/ping over HTTP/3 (lab/h3get.py,
and nginx's access log says HTTP/3.0) returns the backend's answer; plain HTTP
answers without a redirect; HTTPS over HTTP/1.1 and HTTP/2 answer; the TCP
answers carry Alt-Svc advertising h3; with nginx stopped h3get reports an
error and exits 1. Then the same site, with the include
written by enable-http3.sh for the host's nginx 1.22 (empty), passes that
nginx's `nginx -t`.

Needs root. Skips (and says so) only when the trixie suite cannot be reached.
Every process is recorded by PID and killed by PID; both namespaces and the
work directory are removed in a finally.

    python3 -m pytest -q Tests/lab/test_http3.py -s
"""

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX_CONF = os.path.join(REPO, "conf", "nginx")
H3GET = os.path.join(REPO, "lab", "h3get.py")
SERVER, CLIENT, PORT = "198.18.5.1", "198.18.5.2", 30164
PREFIX = f"vh{os.getpid()}"
NS_S, NS_C = PREFIX + "s", PREFIX + "c"

BACKEND = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
token = sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16   # headers and body in one write: no Nagle/delayed-ACK stall on nginx's keepalive connection
    def do_GET(self):
        body = f"pong {token} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer((sys.argv[1], 30164), H).serve_forever()
"""


def _load_trixie_nginx():
    # By path: lab/vlab/ is shared, its __init__.py (if any) is not this test's business.
    spec = importlib.util.spec_from_file_location("trixie_nginx", os.path.join(REPO, "lab", "vlab", "trixie_nginx.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sh(*argv, check=True, env=None, timeout=60):
    out = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out


def nsx(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def render_site(p, http3_nginx, upstream):
    """The shipped site in prefix P, as Tests/lab/frontlab.py setup_nginx does it;
    the http3 include is written by enable-http3.sh for the nginx binary HTTP3_NGINX."""
    for sub in ("conf.d", "sites-enabled", "vipd/tls", "logs", "lib", "tmp"):
        os.makedirs(os.path.join(p, sub), exist_ok=True)

    def rewrite(src, dst, pairs):
        with open(os.path.join(NGINX_CONF, src)) as f:
            text = f.read()
        for old, new in pairs:
            text = text.replace(old, new)
        with open(os.path.join(p, dst), "w") as f:
            f.write(text)

    rewrite("bingo-http.conf", "conf.d/bingo-http.conf", [("/var/lib/nginx/bingo-cache", f"{p}/lib/bingo-cache")])
    rewrite("bingo.conf", "sites-enabled/bingo.conf",
            [("/etc/nginx/vipd/", f"{p}/vipd/"), ("/var/log/nginx/", f"{p}/logs/")])
    # The example's two lab backends become the one backend of this test.
    with open(os.path.join(NGINX_CONF, "bingo-upstream.conf.example")) as f:
        text = f.read()
    text = re.sub(r"^\s*server 198\.18\.0\.2:30164;\n", "", text, flags=re.M)
    text = text.replace("198.18.0.1:30164", upstream)
    assert upstream in text
    with open(os.path.join(p, "vipd", "bingo-upstream.conf"), "w") as f:
        f.write(text)
    out = sh(os.path.join(NGINX_CONF, "enable-http3.sh"), f"{p}/vipd/bingo-http3.conf",
             env=dict(os.environ, NGINX=http3_nginx))
    print(out.stdout.strip())
    sh(os.path.join(NGINX_CONF, "make-selfsigned-cert.sh"), f"{p}/vipd/tls", "bingo.lab")
    with open(os.path.join(p, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 2;
pid {p}/nginx.pid;
error_log {p}/logs/error.log notice;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path       {p}/tmp/proxy;
    fastcgi_temp_path     {p}/tmp/fastcgi;
    uwsgi_temp_path       {p}/tmp/uwsgi;
    scgi_temp_path        {p}/tmp/scgi;
    include {p}/conf.d/*.conf;
    include {p}/sites-enabled/*;
}}
""")
    for sub in ("conf.d/bingo-http.conf", "sites-enabled/bingo.conf", "nginx.conf"):
        with open(os.path.join(p, sub)) as f:
            code = "\n".join(line.split("#", 1)[0] for line in f)
        assert not re.search(r"/etc/nginx/vipd|/var/(log|lib|cache)/nginx", code), f"{sub} points at host paths"
    with open(os.path.join(p, "vipd", "bingo-http3.conf")) as f:
        return f.read()


def curl(url, *opts):
    """From the client namespace: (status, http_version, headers dict, body, seconds)."""
    out = nsx(NS_C, "curl", "--noproxy", "*", "-s", "-k", "-i", "--max-time", "5", *opts,
              "-w", "\n%{http_code} %{http_version} %{time_total}", url, check=False)
    text, _, tail = out.stdout.rpartition("\n")
    code, version, total = tail.split()
    head, _, body = text.partition("\n\n")     # text mode: curl's CRLFs arrive as \n
    headers = {}
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(code), version, headers, body, float(total)


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _kill(procs):
    """SIGTERM each recorded process (and the children it had, e.g. nginx workers), then SIGKILL leftovers."""
    pids = []
    for proc in procs:
        pids += _children(proc.pid) + [proc.pid]
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        try:
            os.kill(pid, signal.SIGKILL)   # a worker left behind by its killed master
        except OSError:
            pass


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")   # so that the finally below runs


def test_http3_front():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    trixie_nginx = _load_trixie_nginx()
    t0 = time.monotonic()
    try:
        nginx13 = trixie_nginx.fetch()
    except RuntimeError as e:
        if "step 'apt-get update'" in str(e):
            print(f"\nSKIP: Debian trixie suite unreachable:\n{e}")
            pytest.skip(f"Debian trixie suite unreachable: {str(e).splitlines()[-1]}")
        raise
    print(f"\ntrixie nginx: {nginx13} ({time.monotonic() - t0:.2f} s)")
    v = sh(nginx13, "-V").stderr
    assert "nginx/1.26" in v and "--with-http_v3_module" in v, v

    previous = signal.signal(signal.SIGTERM, _sigterm)
    work = tempfile.mkdtemp(prefix=f"{PREFIX}-")
    os.chmod(work, 0o755)            # nginx workers run as nobody: they need the temp and cache dirs
    procs, namespaces = [], []
    nginx_log = os.path.join(work, "h3", "logs")
    try:
        # --- two namespaces and a veth pair, IPv6 off, 198.18.5.0/24
        for ns in (NS_S, NS_C):
            sh("ip", "netns", "add", ns)
            namespaces.append(ns)
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            nsx(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", PREFIX + "a", "netns", NS_S, "type", "veth", "peer", "name", PREFIX + "b", "netns", NS_C)
        for ns, dev, addr in ((NS_S, PREFIX + "a", SERVER), (NS_C, PREFIX + "b", CLIENT)):
            nsx(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
            nsx(ns, "ip", "link", "set", dev, "up")

        # --- backend and trixie nginx in the server namespace
        token = secrets.token_hex(4)
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS_S, sys.executable, "-c", BACKEND, SERVER, token],
                                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "backend.log"), "w")))
        p = os.path.join(work, "h3")
        include = render_site(p, nginx13, f"{SERVER}:{PORT}")
        assert "listen 443 quic" in include, f"enable-http3.sh did not turn HTTP/3 on:\n{include}"
        t = nsx(NS_S, nginx13, "-t", "-p", p, "-c", f"{p}/nginx.conf", check=False)
        print(f"trixie nginx -t: exit {t.returncode}\n{t.stderr.strip()}")
        assert t.returncode == 0, t.stderr
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS_S, nginx13, "-p", p, "-c", f"{p}/nginx.conf",
                                       "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while True:
            try:
                if curl(f"http://{SERVER}/ping")[0] == 200:
                    break
            except ValueError:
                pass
            assert all(pr.poll() is None for pr in procs), "backend or nginx exited"
            assert time.monotonic() < deadline, "nginx did not answer on :80 within 10 s"
            time.sleep(0.1)
        expected = f"pong {token} /ping\n"

        # --- HTTP/3 (aioquic), 1 fresh connection then 20 requests on one connection
        lines = []
        for count in (1, 20):
            out = nsx(NS_C, sys.executable, H3GET, "--insecure", "--json", "--timeout", "5", "--count", str(count),
                      f"https://{SERVER}/ping", check=False)
            got = [json.loads(line) for line in out.stdout.splitlines()]
            assert out.returncode == 0 and len(got) == count, f"h3get failed:\n{out.stdout}{out.stderr}"
            for r in got:
                assert r["status"] == 200 and r["body"] == expected and r["error"] is None, r
            lines.append(got)
        first, warm = lines[0][0]["ms"], [r["ms"] for r in lines[1][1:]]
        print(f"HTTP/3: fresh connection (handshake + GET) {first:.1f} ms; "
              f"GET on an open connection median {statistics.median(warm):.2f} ms, max {max(warm):.2f} ms")
        with open(os.path.join(nginx_log, "bingo.access.log")) as f:
            log = [json.loads(line) for line in f if line.strip()]
        h3_lines = [e for e in log if e["protocol"] == "HTTP/3.0" and e["uri"] == "/ping"]
        assert len(h3_lines) == 21 and all(e["status"] == 200 for e in h3_lines), \
            f"nginx logged {len(h3_lines)} HTTP/3.0 requests of 21"

        # --- TCP: plain HTTP (no redirect), HTTPS/1.1, HTTP/2; Alt-Svc on all of them
        for name, url, opts, version in (("HTTP/1.1", f"http://{SERVER}/ping", ["--http1.1"], "1.1"),
                                         ("HTTPS/1.1", f"https://{SERVER}/ping", ["--http1.1"], "1.1"),
                                         ("HTTP/2", f"https://{SERVER}/ping", ["--http2"], "2")):
            code, got_version, headers, body, total = curl(url, *opts)
            print(f"{name}: {code} over HTTP/{got_version} in {total * 1000:.1f} ms, alt-svc: {headers.get('alt-svc')}")
            assert code == 200, f"{name}: status {code} (plain HTTP must answer, not redirect)"
            assert got_version == version and body == expected, (name, got_version, body)
            assert re.search(r'\bh3=":443"', headers.get("alt-svc", "")), f"{name}: no Alt-Svc h3: {headers}"
        log = [json.loads(line) for line in open(os.path.join(nginx_log, "bingo.access.log")) if line.strip()]
        assert {"HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} <= {e["protocol"] for e in log}

        # --- the same site on the host's nginx 1.22: the include is written empty and nginx -t passes
        _kill(procs[1:])            # trixie's nginx stops; the backend stays
        del procs[1:]
        out = nsx(NS_C, sys.executable, H3GET, "--insecure", "--json", "--timeout", "1", f"https://{SERVER}/ping",
                  check=False)
        r = json.loads(out.stdout)
        print(f"HTTP/3 with nginx stopped: exit {out.returncode}, {r}")
        assert out.returncode == 1 and r["status"] is None and r["error"], (out.stdout, out.stderr)
        p22 = os.path.join(work, "host")
        include22 = render_site(p22, "nginx", f"{SERVER}:{PORT}")
        assert "listen" not in "\n".join(l.split("#", 1)[0] for l in include22.splitlines()), include22
        t = nsx(NS_C, "nginx", "-t", "-p", p22, "-c", f"{p22}/nginx.conf", check=False)   # binds :80/:443 in the client ns
        print(f"host {sh('nginx', '-v').stderr.strip()} -t, HTTP/3 include off: exit {t.returncode}\n{t.stderr.strip()}")
        assert t.returncode == 0, t.stderr
    except BaseException:
        try:
            with open(os.path.join(nginx_log, "error.log")) as f:
                print("--- trixie nginx error.log (tail)\n" + "".join(f.readlines()[-30:]))
        except OSError:
            pass
        raise
    finally:
        _kill(procs)
        for ns in namespaces:
            sh("ip", "netns", "delete", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
