"""A network-namespace lab with the whole front on each node: nginx (Debian's
binary, the shipped conf/nginx site), the bingo stand-in and vipd with health
checks and the nginx manager. Used by Tests/lab/test_front.py and
lab/bench_backend_crash.py. Needs root.

Topology (every namespace is ours, named with a unique prefix, e.g. vf1234):

    <P>-a  eth0 198.18.0.1/24  --+
    <P>-b  eth0 198.18.0.2/24  --+-- veth -- <P>-sw: br0
    <P>-c  eth0 198.18.0.10/24 --+           (client)
    VIP 198.18.0.100/24 on the master's eth0.

Same rules and approach as lab/lib.sh on the main branch (copied, not shared):
addresses from 198.18.0.0/15 only, only inside namespaces made here; every
process is recorded with its PID and start time and ended by PID, never by
name; namespaces are deleted at the end. A reaper process watches a pipe from
this one and cleans up if we die without doing so (even by SIGKILL).

Who runs what, and why (see docs/nginx.md#who-runs-the-commands): vipd
starts as root and drops to user `vipd`, so its `nginx -t` and
`nginx -s reload` run as `vipd`. In the lab nginx itself runs as `vipd` too
(master and workers), with its whole prefix owned by `vipd` and
net.ipv4.ip_unprivileged_port_start=80 in the node namespaces (a per-namespace
sysctl) so it may listen on 80 and 443. Then both commands work unprivileged,
with no sudo: the test checks vipd's real reload path end to end.
"""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(LAB_DIR))
NGINX_CONF = os.path.join(REPO, "conf", "nginx")
STANDIN = os.path.join(REPO, "Tests", "standin", "bingo_standin.py")

VIP = "198.18.0.100"
ADDR = {"a": "198.18.0.1", "b": "198.18.0.2", "c": "198.18.0.10"}
PRIORITY = {"a": 150, "b": 100}
NODES = ("a", "b")
BACKEND_PORT = 30164
CONTROL_PORT = 30165


class LabError(RuntimeError):
    pass


def sh(*argv, check=True, capture=True, timeout=60):
    """Runs a command (a list, no shell); returns stdout."""
    result = subprocess.run(list(argv), capture_output=capture, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result.stdout if capture else ""


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def cleanup(lab_dir):
    """Kills every recorded process by PID (if still the one we started) and
    deletes every recorded namespace. Idempotent; used by FrontLab.down and the reaper."""
    pids_file = os.path.join(lab_dir, "pids")
    if os.path.exists(pids_file):
        with open(pids_file) as f:
            procs = [line.split() for line in f if line.strip()]
        # nginx first, gently: SIGKILL of its master would orphan the workers.
        masters = [(pid, start) for pid, start, name in procs if name.startswith("nginx")]
        for pid, start in masters:
            if proc_start_time(int(pid)) == start:
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(proc_start_time(int(p)) == s for p, s in masters):
            time.sleep(0.02)
        for pid, start, _name in procs:
            if proc_start_time(int(pid)) == start:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid, start, _name in procs:
            deadline = time.monotonic() + 5
            while proc_start_time(int(pid)) == start and time.monotonic() < deadline:
                time.sleep(0.02)
    netns_file = os.path.join(lab_dir, "netns")
    if os.path.exists(netns_file):
        with open(netns_file) as f:
            for ns in f.read().split():
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def reaper_main(lab_dir):
    """Blocks until our parent closes stdin (it finished or died), then cleans up unless it did."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    if not os.path.exists(os.path.join(lab_dir, "down")):
        cleanup(lab_dir)
        if os.environ.get("LAB_KEEP") != "1":
            shutil.rmtree(lab_dir, ignore_errors=True)


class FrontLab:
    """The lab. Typical use: lab = FrontLab(); lab.up(); lab.start_all(); ...; lab.down()."""

    def __init__(self, check_interval_ms=250, rise=2, fall=2, debounce_ms=100, advert_interval_ms=100,
                 throttle_rps=0, bin_dir=None):
        self.check_interval_ms = check_interval_ms
        self.rise = rise
        self.fall = fall
        self.debounce_ms = debounce_ms
        self.advert_interval_ms = advert_interval_ms
        self.throttle_rps = throttle_rps
        self.bin_dir = bin_dir or os.environ.get("BIN_DIR", os.path.join(REPO, ".build", "debug"))
        self.prefix = f"vf{os.getpid() % 100000}"
        self.dir = None
        self.procs = {}  # name -> (Popen, start time)
        self.reaper = None

    # --- lab up / down ---------------------------------------------------------

    def ns(self, node):
        return f"{self.prefix}-{node}"

    def up(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root")
        for tool in ("ip", "nginx", "curl", "setpriv", "openssl"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is missing (scripts/deps.sh installs it)")
        for binary in ("vipd", "vipctl"):
            if not os.access(os.path.join(self.bin_dir, binary), os.X_OK):
                raise LabError(f"{self.bin_dir}/{binary} not found: build first (swift build) or set BIN_DIR")
        try:
            pwd.getpwnam("vipd")
        except KeyError:
            sh("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", "vipd")
        self.dir = tempfile.mkdtemp(prefix="vipd-frontlab.")
        os.chmod(self.dir, 0o755)  # vipd (as user vipd) must reach its control socket and configs
        open(os.path.join(self.dir, "pids"), "w").close()
        open(os.path.join(self.dir, "netns"), "w").close()
        self.reaper = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reaper", self.dir],
                                       stdin=subprocess.PIPE, start_new_session=True)
        os.makedirs(os.path.join(self.dir, "bin"))
        for binary in ("vipd", "vipctl"):  # copied: a rebuild during the run changes nothing
            shutil.copy2(os.path.join(self.bin_dir, binary), os.path.join(self.dir, "bin", binary))
        self.key = os.path.join(self.dir, "auth.key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)

        for node in ("sw", "a", "b", "c"):
            ns = self.ns(node)
            if ns in sh("ip", "netns", "list").split():
                raise LabError(f"namespace {ns} exists already")
            sh("ip", "netns", "add", ns)
            with open(os.path.join(self.dir, "netns"), "a") as f:
                f.write(ns + "\n")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sw = self.ns("sw")
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        for node in ("a", "b", "c"):
            ns = self.ns(node)
            sh("ip", "-n", sw, "link", "add", f"p{node}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", sw, "link", "set", f"p{node}", "master", "br0")
            sh("ip", "-n", sw, "link", "set", f"p{node}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ADDR[node]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        for node in NODES:
            # nginx runs as user vipd and listens on 80/443 (see the module doc).
            sh("ip", "netns", "exec", self.ns(node), "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=80")
        return self

    def down(self, keep=False):
        if self.dir is None or os.path.exists(os.path.join(self.dir, "down")):
            return
        cleanup(self.dir)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=5)
            except Exception:
                pass
        open(os.path.join(self.dir, "down"), "w").close()
        if self.reaper:
            self.reaper.stdin.close()
            self.reaper.wait(timeout=30)
        if keep or os.environ.get("LAB_KEEP") == "1":
            sys.stderr.write(f"[frontlab] kept {self.dir}\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- processes -------------------------------------------------------------

    def spawn(self, name, node, argv, user=None):
        """Starts argv in NODE's namespace (as USER if given); output to DIR/NAME.log."""
        if name in self.procs and self.running(name):
            raise LabError(f"{name} is already running")
        prefix = ["ip", "netns", "exec", self.ns(node)]
        if user:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        log.write(f"=== {time.strftime('%H:%M:%S')} start {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(prefix + argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        # ip (and setpriv) exec the program, so the PID is the program's own.
        start = None
        for _ in range(200):
            start = proc_start_time(proc.pid)
            if start is not None:
                break
            time.sleep(0.005)
        if start is None:
            raise LabError(f"{name} exited at once: {self.log(name)[-2000:]}")
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write(f"{proc.pid} {start} {name}\n")
        self.procs[name] = (proc, start)
        return proc

    def running(self, name):
        if name not in self.procs:
            return False
        proc, start = self.procs[name]
        return proc.poll() is None and proc_start_time(proc.pid) == start

    def pid(self, name):
        return self.procs[name][0].pid if self.running(name) else None

    def stop(self, name, sig=signal.SIGTERM, timeout=10):
        """Signals NAME by PID and waits for it; SIGKILL after TIMEOUT seconds."""
        if not self.running(name):
            return
        proc, _ = self.procs[name]
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def nsexec(self, node, *argv, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.ns(node), *argv, check=check, timeout=timeout)

    # --- the bingo stand-in ------------------------------------------------------

    def standin_root(self, node):
        """The stand-in's root prefix (ROOT/opt/bingo/config.yaml) and log
        directory on NODE, both reachable by user vipd."""
        root = os.path.join(self.dir, node, "bingo-root")
        logs = os.path.join(root, "logs")
        os.makedirs(os.path.join(root, "opt", "bingo"), exist_ok=True)
        os.makedirs(logs, exist_ok=True)
        with open(os.path.join(root, "opt", "bingo", "config.yaml"), "w") as f:
            f.write(f"student_email: lab-{node}@example.com\npostgres_cluster:\n  hosts:\n"
                    "  - address: localhost\n    port: 5432\n  user: postgres\n  password: postgres\n"
                    "  db_name: postgres\n  ssl_mode: disable\n  use_closest_node: false\n")
        for d in (os.path.join(self.dir, node), root, os.path.join(root, "opt"), os.path.join(root, "opt", "bingo")):
            os.chmod(d, 0o755)
        vipd = pwd.getpwnam("vipd")
        os.chown(logs, vipd.pw_uid, vipd.pw_gid)
        return root, logs

    def standin_argv(self, node, *extra):
        """The stand-in as this lab runs it (as user vipd: bingo refuses root).
        Kind knobs, each because this lab tests the front, not bingo:
          --port 30164 / --log-dir: the nginx site and vipd's checks name
            port 30164; finding the email-derived port and log directory is
            the installation's work (Tests/standin checks the derivation);
          --no-db: no PostgreSQL per node here (lab/bench_api.py has one);
          --lifetime never: a death of old age in the middle of an election
            test would be a different test (Tests/standin tests the deaths);
          --control-port: bad/good/crash on demand.
        The 100 RPS limit stays unless throttle_rps says otherwise."""
        root, logs = self.standin_root(node)
        argv = [sys.executable, STANDIN, "--root", root, "--log-dir", logs, "--port", str(BACKEND_PORT),
                "--control-host", "127.0.0.1", "--control-port", str(CONTROL_PORT), "--name", node,
                "--no-db", "--lifetime", "never", "--quiet"]
        if self.throttle_rps:
            argv += ["--rps-limit", str(self.throttle_rps)]
        return argv + list(extra) + ["run_server"]

    def start_standin(self, node):
        self.spawn(f"standin-{node}", node, self.standin_argv(node), user="vipd")
        self.wait_for(lambda: self.curl(node, f"http://127.0.0.1:{CONTROL_PORT}/control/state")[0] == 200,
                      15, f"stand-in on {node}")

    def standin_control(self, node, action):
        status, body = self.curl(node, f"http://127.0.0.1:{CONTROL_PORT}/control/{action}", method="POST")
        if status != 200:
            raise LabError(f"stand-in control {action} on {node}: {status} {body}")

    # --- nginx -------------------------------------------------------------------

    def nginx_prefix(self, node):
        return os.path.join(self.dir, node, "nginx")

    def upstream_file(self, node):
        return os.path.join(self.nginx_prefix(node), "vipd", "bingo-upstream.conf")

    def nginx_cmd(self, node, *extra):
        prefix = self.nginx_prefix(node)
        return ["/usr/sbin/nginx", "-p", prefix + "/", "-c", os.path.join(prefix, "nginx.conf"), *extra]

    def setup_nginx(self, node):
        """The shipped site in a prefix of its own: the same rewrites of paths as
        conf/nginx/test-nginx-conf.sh, but the real ports (80, 443, 127.0.0.1:8081)
        and the lab's real backend addresses."""
        p = self.nginx_prefix(node)
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
        # The starting upstream a deployment installs; vipd takes it over.
        shutil.copy(os.path.join(NGINX_CONF, "bingo-upstream.conf.example"), self.upstream_file(node))
        sh(os.path.join(NGINX_CONF, "enable-http3.sh"), f"{p}/vipd/bingo-http3.conf")
        sh(os.path.join(NGINX_CONF, "make-selfsigned-cert.sh"), f"{p}/vipd/tls", "bingo.lab")
        with open(os.path.join(p, "nginx.conf"), "w") as f:
            f.write(f"""# Main config of the lab's nginx on node {node}, shaped like Debian's.
# No "user" directive: master and workers run as vipd (see frontlab.py).
worker_processes 2;
pid {p}/nginx.pid;
error_log {p}/logs/error.log notice;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
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
        # Guard: nothing may still point at the host's nginx paths.
        for sub in ("conf.d/bingo-http.conf", "sites-enabled/bingo.conf", "nginx.conf"):
            with open(os.path.join(p, sub)) as f:
                code = "\n".join(line.split("#", 1)[0] for line in f)
            if re.search(r"/etc/nginx/vipd|/var/(log|lib|cache)/nginx", code):
                raise LabError(f"{p}/{sub} still points at host paths")
        sh("chown", "-R", "vipd:vipd", os.path.join(self.dir, node))
        # In the node's namespace: nginx -t binds the listen sockets too.
        out = subprocess.run(["ip", "netns", "exec", self.ns(node), "setpriv", "--reuid=vipd", "--regid=vipd",
                              "--clear-groups", "--"] + self.nginx_cmd(node, "-t"), capture_output=True, text=True)
        if out.returncode != 0:
            raise LabError(f"nginx -t as vipd failed on {node}: {out.stderr}")

    def start_nginx(self, node):
        self.spawn(f"nginx-{node}", node, self.nginx_cmd(node, "-g", "daemon off;"), user="vipd")
        self.wait_for(lambda: self.curl(node, "http://127.0.0.1:8081/vipd-health")[0] == 200, 10, f"nginx on {node}")

    def stop_nginx(self, node):
        self.stop(f"nginx-{node}", signal.SIGTERM)

    def nginx_reloads(self, node):
        """How often nginx on NODE was told to reload (SIGHUP lines in its error log)."""
        try:
            with open(os.path.join(self.nginx_prefix(node), "logs", "error.log")) as f:
                return sum("(SIGHUP) received" in line for line in f)
        except OSError:
            return 0

    # --- vipd --------------------------------------------------------------------

    def socket(self, node):
        return os.path.join(self.dir, node, "run", "control.sock")

    def vipd_config(self, node):
        peer = "b" if node == "a" else "a"
        p = self.nginx_prefix(node)
        ms = self.check_interval_ms
        timeout_ms = max(50, ms * 4 // 5)
        checks = "".join(f"""
  - name: {name}
    role: {role}
    http: {{url: "{url}", expect_status: 200, body_contains: "{text}"}}
    interval: {ms}ms
    timeout: {timeout_ms}ms
    rise: {self.rise}
    fall: {self.fall}""" for name, role, url, text in (
            ("nginx", "front", "http://127.0.0.1:8081/vipd-health", "ok"),
            ("bingo", "backend", f"http://127.0.0.1:{BACKEND_PORT}/ping", "pong")))
        return f"""node:
  id: node-{node}
  interface: eth0
  address: {ADDR[node]}
  priority: {PRIORITY[node]}
peers:
  - id: node-{peer}
    address: {ADDR[peer]}
vrid: 51
vips:
  - address: {VIP}/24
timing:
  advert_interval: {self.advert_interval_ms}ms
auth:
  key_file: {self.key}
control:
  socket: {self.socket(node)}
state_dir: {self.dir}/state-{node}
log_level: info
checks:{checks}
nginx:
  upstream_file: {self.upstream_file(node)}
  upstream_name: bingo
  backend_port: {BACKEND_PORT}
  test_command: {json.dumps(self.nginx_cmd(node, "-t", "-q"))}
  reload_command: {json.dumps(self.nginx_cmd(node, "-s", "reload"))}
  debounce: {self.debounce_ms}ms
"""

    def start_vipd(self, node):
        path = os.path.join(self.dir, node, "vipd.yaml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.vipd_config(node))
        # vipd starts as root (netlink, AF_PACKET) and drops to user vipd itself.
        self.spawn(f"vipd-{node}", node, [os.path.join(self.dir, "bin", "vipd"), "--config", path])
        self.wait_for(lambda: self.status(node) is not None, 15, f"vipd on {node} to answer")

    def start_all(self):
        for node in NODES:
            self.start_standin(node)
            self.setup_nginx(node)
            self.start_nginx(node)
        for node in NODES:
            self.start_vipd(node)
        return self

    # --- observation ---------------------------------------------------------------

    def status(self, node):
        out = subprocess.run([os.path.join(self.dir, "bin", "vipctl"), "status", "--json", "--socket", self.socket(node)],
                             capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def state(self, node):
        st = self.status(node)
        return st["state"] if st else "down"

    def holders(self):
        out = []
        for node in NODES:
            if f" {VIP}/" in self.nsexec(node, "ip", "-4", "-o", "addr", "show", "dev", "eth0", check=False):
                out.append(node)
        return out

    def upstream(self, node):
        with open(self.upstream_file(node)) as f:
            return f.read()

    def marked_down(self, node):
        """Node ids whose server line is marked down in NODE's upstream file."""
        return {m.group(1) for m in re.finditer(r"^\s*server \S+ down;\s*# (\S+)", self.upstream(node), re.M)}

    def curl(self, node, url, method="GET", timeout=5):
        """An HTTP request from NODE's namespace; (status, body), status 0 on failure."""
        out = subprocess.run(["ip", "netns", "exec", self.ns(node), "curl", "--noproxy", "*", "-s", "-X", method,
                              "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}", url],
                             capture_output=True, text=True)
        body, _, code = out.stdout.rpartition("\n")
        return (int(code) if code.isdigit() else 0), body

    def wait_for(self, predicate, timeout, what="condition", interval=0.02):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise LabError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    def diag(self, lines=30):
        parts = []
        for name in ("vipd-a", "vipd-b"):
            parts.append(f"--- {name}.log (last {lines} lines)\n" + "\n".join(self.log(name).splitlines()[-lines:]))
        for node in NODES:
            try:
                parts.append(f"--- upstream on {node}\n{self.upstream(node)}")
            except OSError:
                pass
        parts.append(f"--- VIP holders: {self.holders()}")
        return "\n".join(parts)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reaper":
        reaper_main(sys.argv[2])
    else:
        sys.exit("usage: frontlab.py --reaper LAB_DIR (internal)")
