"""HTTP on the lab's nodes: the project's nginx site (conf/nginx) as the front,
with vipd managing its upstream; a tiny nginx that only says the node's name
(the benchmark's server); and curl from any member."""

import json
import os
import re
import signal
import subprocess
import sys

from .util import LabError, sh, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX_CONF = os.path.join(REPO, "conf", "nginx")
LAB_DIR = os.path.join(REPO, "lab")


class Web:
    # --- the project's site ---------------------------------------------------------

    def nginx_prefix(self, node):
        return os.path.join(self.dir, node, "nginx")

    def upstream_file(self, node):
        return os.path.join(self.nginx_prefix(node), "vipd", "bingo-upstream.conf")

    def nginx_cmd(self, node, *extra):
        p = self.nginx_prefix(node)
        return [self.nginx_binary, "-p", p + "/", "-c", os.path.join(p, "nginx.conf"), *extra]

    def setup_front(self, node):
        """The shipped site in a prefix of its own: the paths rewritten as
        conf/nginx/test-nginx-conf.sh does, the real ports (80, 443, 127.0.0.1:8081)
        and the lab's backends at self.backend_port. Master and workers run as user
        vipd (no "user" directive), with the prefix owned by vipd and
        net.ipv4.ip_unprivileged_port_start=80 in the node's namespace, so vipd's
        own `nginx -t` and `nginx -s reload` (as user vipd) work with no sudo."""
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
        # The starting upstream a deployment writes (roles/nginx/templates/
        # bingo-upstream.conf.j2); vipd takes it over.
        servers = "".join(f"    server {self.addr(n)}:{self.backend_port};\n" for n in self.nodes)
        with open(self.upstream_file(node), "w") as f:
            f.write(f"upstream bingo {{\n{servers}    keepalive 32;\n}}\n")
        # HTTP/3 on exactly when the nginx the lab runs can do it (trixie's 1.26: on; the host's 1.22: off).
        subprocess.run([os.path.join(NGINX_CONF, "enable-http3.sh"), f"{p}/vipd/bingo-http3.conf"], check=True,
                       capture_output=True, env=dict(os.environ, NGINX=self.nginx_binary))
        sh(os.path.join(NGINX_CONF, "make-selfsigned-cert.sh"), f"{p}/vipd/tls", "bingo.lab")
        mime = "/etc/nginx/mime.types"
        with open(os.path.join(p, "nginx.conf"), "w") as f:
            f.write(f"""# Main config of the lab's nginx on node {node}, shaped like Debian's.
# No "user" directive: master and workers run as vipd (vlab/web.py).
worker_processes 2;
pid {p}/nginx.pid;
error_log {p}/logs/error.log notice;
events {{ worker_connections 1024; }}
http {{
    include {mime};
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
        self.nsexec(node, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=80")
        # In the node's namespace: nginx -t binds the listen sockets too.
        out = subprocess.run(["ip", "netns", "exec", self.ns(node), *as_vipd(), *self.nginx_cmd(node, "-t")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise LabError(f"nginx -t as vipd failed on {node}: {out.stderr}")
        self.fronts.add(node)

    def start_front(self, node):
        """setup_front (once) and nginx started; returns the master's PID once
        its local health location answers."""
        if node not in self.fronts:
            self.setup_front(node)
        pid = self.spawn(f"nginx-{node}", node, self.nginx_cmd(node, "-g", "daemon off;"), user="vipd")
        wait_for(lambda: self.curl(node, "http://127.0.0.1:8081/vipd-health")[0] == 200, 10, f"nginx on {node}")
        return pid

    def stop_front(self, node):
        self.registry.stop(f"nginx-{node}", signal.SIGTERM)

    def front_vipd_yaml(self, node):
        """vipd's checks of the local front and backend, and its nginx manager."""
        def timing(name):
            # (interval, timeout, rise, fall): the lab's defaults unless check_timing names it.
            ms = self.check_interval_ms
            return self.check_timing.get(name, (ms, max(50, ms * 4 // 5), self.rise, self.fall))
        checks = "".join(f"""
  - name: {name}
    role: {role}
    http: {{url: "{url}", expect_status: 200, body_contains: "{text}"}}
    interval: {timing(name)[0]}ms
    timeout: {timing(name)[1]}ms
    rise: {timing(name)[2]}
    fall: {timing(name)[3]}{self.check_extra.get(name, "")}""" for name, role, url, text in (
            ("nginx", "front", "http://127.0.0.1:8081/vipd-health", "ok"),
            ("bingo", "backend", f"http://127.0.0.1:{self.backend_port}/ping", "pong"))) + self.extra_checks
        return f"""checks:{checks}
nginx:
  upstream_file: {self.upstream_file(node)}
  upstream_name: bingo
  backend_port: {self.backend_port}
  test_command: {json.dumps(self.nginx_cmd(node, "-t", "-q"))}
  reload_command: {json.dumps(self.nginx_cmd(node, "-s", "reload"))}
  debounce: {self.debounce_ms}ms
"""

    def upstream(self, node):
        with open(self.upstream_file(node)) as f:
            return f.read()

    def marked_down(self, node):
        """Node ids whose server line is marked down in NODE's upstream file."""
        return {m.group(1) for m in re.finditer(r"^\s*server \S+ down;\s*# (\S+)", self.upstream(node), re.M)}

    def nginx_reloads(self, node):
        """How often nginx on NODE was told to reload (SIGHUP lines in its error log)."""
        try:
            with open(os.path.join(self.nginx_prefix(node), "logs", "error.log")) as f:
                return sum("(SIGHUP) received" in line for line in f)
        except OSError:
            return 0

    # --- the benchmark's name server ---------------------------------------------------

    def start_http(self, node, delay_ms=None):
        """nginx on 0.0.0.0:80 in NODE's namespace (so it answers on the VIP the
        moment the address appears), one worker, no access log, every request
        answered "NODE\\n" with no keep-alive. DELAY_MS: instead a server that
        answers the same after that long (lab/slowhttp.py), so requests are in
        progress on the node when the VIP moves. Returns its PID once it listens."""
        if delay_ms:
            pid = self.spawn(f"http-{node}", node, [sys.executable, os.path.join(LAB_DIR, "slowhttp.py"),
                                                 "--name", node, "--delay-ms", str(delay_ms)])
        else:
            d = os.path.join(self.dir, f"http-{node}")
            os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(f"""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_timeout 0;
    server {{
        listen 80 default_server backlog=4096;
        location / {{ default_type text/plain; return 200 "{node}\\n"; }}
    }}
}}
""")
            pid = self.spawn(f"http-{node}", node, [self.nginx_binary, "-c", os.path.join(d, "nginx.conf")])
        self.wait_tcp(node, self.addr(node), 80, f"http-{node}")
        return pid

    def stop_http(self, node):
        self.registry.stop(f"http-{node}", signal.SIGQUIT, 10)

    # --- clients -----------------------------------------------------------------------

    def curl(self, member, url, method="GET", timeout=5, extra=(), info=()):
        """An HTTP request from MEMBER's namespace; (status, body), status 0 on failure.
        INFO: names of curl's -w variables (e.g. "http_version", "time_total"); then
        (status, body, {name: value as curl wrote it})."""
        write_out = "\n%{http_code}" + "".join(f" %{{{name}}}" for name in info)
        out = subprocess.run(["ip", "netns", "exec", self.ns(member), "curl", "--noproxy", "*", "-s", "-k",
                              "-X", method, "--max-time", str(timeout), *extra, "-o", "-", "-w", write_out,
                              url], capture_output=True, text=True)
        body, _, tail = out.stdout.rpartition("\n")
        code, *values = tail.split(" ")
        status = int(code) if code.isdigit() else 0
        return (status, body, dict(zip(info, values))) if info else (status, body)

    def wait_tcp(self, member, address, port, name, timeout=15):
        """Until ADDRESS:PORT accepts a connection from MEMBER's namespace (the
        process NAME must stay alive meanwhile)."""
        def listening():
            if name and not self.registry.pid(name):
                raise LabError(f"{name} exited: {self.log(name)[-1500:]}")
            return subprocess.run(["ip", "netns", "exec", self.ns(member), "bash", "-c",
                                   f"exec 3<>/dev/tcp/{address}/{port}"], capture_output=True).returncode == 0
        wait_for(listening, timeout, f"{name or address}:{port} to listen", interval=0.05)


def as_vipd():
    return ["setpriv", "--reuid=vipd", "--regid=vipd", "--clear-groups", "--"]
