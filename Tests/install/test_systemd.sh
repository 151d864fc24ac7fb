#!/usr/bin/env bash
# The units under a real systemd: boots systemd as PID 1 in a throwaway
# sandbox of this machine (overlayfs over /, new mount, PID, network, cgroup
# and UTS namespaces; a veth carries the node and VIP addresses, so nothing
# reaches the real network), after `make install` of the debug build, with
# the bingo stand-in as /opt/bingo/bingo and the shipped nginx site. Checks
# what the units promise: READY, least privilege, SCHED_RR, master and VIP,
# the nginx manager's test and reload through systemctl + polkit (no sudo
# under NoNewPrivileges), reload, restart after kill -9, the watchdog, bingo's
# restart, stop. Needs root; skipped (exit 0, "skip") where systemd cannot boot.
# Closes with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=$(bin_dir) || exit 1
cd "$repo" || exit 1

skip() { echo "skip - $*"; echo; echo "0 passed, 0 failed"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd"
can_sandbox || skip "needs unshare and overlayfs"
grep -qw cgroup2 /proc/filesystems || skip "no cgroup2"
pkgs=()
for p in nginx dbus polkitd; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
        skip "cannot install ${pkgs[*]}"
fi

tmp=$(mktemp -d /tmp/vipd-systemd-test.XXXXXX)
trap 'systemd_sandbox_stop; [ "${KEEP_SANDBOX:-0}" = 1 ] || rm -rf "$tmp"' EXIT

# ------------------------------------------------------------ inside, before boot
cat >"$tmp/setup.sh" <<SETUP
set -e
cd "$repo"
ip link set lo up
ip link add vipd0 type veth peer name vipd1
ip link set vipd1 up
ip addr add 198.18.0.1/24 dev vipd0
ip link set vipd0 up
make -s install BIN_DIR="$bin" >/dev/null
cat >/etc/vipd/vipd.yaml <<'Y'
node: {id: node-a, interface: vipd0, address: 198.18.0.1, priority: 150}
peers:
  - {id: node-b, address: 198.18.0.2}
vrid: 51
vips:
  - address: 198.18.0.100/24
timing: {advert_interval: 100ms}
auth: {key_file: /etc/vipd/auth.key}
control: {socket: /run/vipd/control.sock, listen: "127.0.0.1:9798", token_file: /etc/vipd/control.token}
checks:
  - name: nginx
    role: front
    http: {url: "http://127.0.0.1:8081/vipd-health", expect_status: 200, body_contains: "ok"}
    interval: 500ms
    timeout: 400ms
  - name: bingo
    role: backend
    http: {url: "http://127.0.0.1:30164/ping", expect_status: 200, body_contains: "pong"}
    interval: 500ms
    timeout: 400ms
    restart:
      command: ["/usr/bin/systemctl", "--no-ask-password", "restart", "bingo.service"]
nginx:
  upstream_file: /etc/nginx/vipd/bingo-upstream.conf
  upstream_name: bingo
  backend_port: 30164
  test_command: ["/usr/bin/systemctl", "--no-ask-password", "start", "vipd-nginx-test.service"]
  reload_command: ["/usr/bin/systemctl", "--no-ask-password", "reload", "nginx.service"]
  debounce: 200ms
Y
install -d -o vipd -g vipd -m 755 /etc/nginx/vipd
install -d -m 700 /etc/nginx/vipd/tls
cp conf/nginx/bingo-http.conf conf/nginx/bingo.conf /etc/nginx/conf.d/
install -o vipd -g vipd -m 644 conf/nginx/bingo-upstream.conf.example /etc/nginx/vipd/bingo-upstream.conf
conf/nginx/make-selfsigned-cert.sh /etc/nginx/vipd/tls bingo.example.com >/dev/null
conf/nginx/enable-http3.sh >/dev/null
rm -f /etc/nginx/sites-enabled/default
mkdir -p /opt/bingo
cp -r Tests/standin/bingo_standin.py Tests/standin/standin /opt/bingo/
printf 'student_email: sandbox@example.com\npostgres_cluster:\n  hosts:\n  - address: localhost\n    port: 5432\n  user: postgres\n  password: postgres\n  db_name: postgres\n  ssl_mode: disable\n  use_closest_node: false\n' >/opt/bingo/config.yaml
chmod 644 /opt/bingo/config.yaml
# The stand-in with kind knobs, because this test is about the units, not
# bingo: a fixed --port/--log-dir, written into the drop-in and tmpfiles file
# that discovery writes on a real node (discovering the email-derived ones is
# Tests/deploy/test_playbook.sh's), --no-db (no
# PostgreSQL in this sandbox), --lifetime never (a death would be another
# test). Start-up: bingo.service's blackhole route makes it the short one.
printf '#!/bin/sh\nexec /usr/bin/python3 /opt/bingo/bingo_standin.py --port 30164 --log-dir /opt/bongo/logs/416265556f --no-db --lifetime never --control-port 30165 --name sandbox --quiet run_server\n' >/opt/bingo/bingo
chmod 755 /opt/bingo/bingo /opt/bingo/bingo_standin.py
# What discovery writes (docs/deploying-bingo.md), with the fixed test names.
mkdir -p /etc/systemd/system/bingo.service.d
printf '[Service]\nReadWritePaths=/opt/bongo/logs/416265556f\nEnvironment=BINGO_PORT=30164\n' >/etc/systemd/system/bingo.service.d/discovered.conf
printf 'd /opt/bongo/logs/416265556f 0750 bingo bingo -\nf /opt/bongo/logs/416265556f/main.log 0640 bingo bingo -\n' >/etc/tmpfiles.d/bingo-logdir.conf
w=/etc/systemd/system/vipdtest.target.wants
mkdir -p \$w
ln -sf /etc/systemd/system/vipd.service \$w/vipd.service
ln -sf /etc/systemd/system/bingo.service \$w/bingo.service
ln -sf /lib/systemd/system/nginx.service \$w/nginx.service
SETUP

systemd_sandbox_start "$tmp" "$tmp/setup.sh" || skip "$sandbox_error"
check "systemd booted the test target, no unit failed" test "$(sb systemctl list-units --state=failed --plain --no-legend | wc -l)" = 0
sb systemctl list-units --state=failed --plain --no-legend

prop() { sb systemctl show "$1" -p "$2" --value; }
vip_here() { sb ip -4 addr show vipd0 | grep -q "198.18.0.100/24"; }
is_master() { sb vipctl status --json | grep -q '"state":"master"'; }

# ------------------------------------------------------------ vipd.service
check "vipd.service active (Type=notify: READY=1 received)" test "$(prop vipd.service ActiveState)" = active
pid=$(prop vipd.service MainPID)
st=$(sb cat "/proc/$pid/status")
check "vipd runs as user vipd" test "$(sb stat -c %U "/proc/$pid")" = vipd
check "capabilities: exactly CAP_NET_ADMIN and CAP_NET_RAW (effective, bounding, ambient)" \
    test "$(grep -E '^Cap(Eff|Bnd|Amb):' <<<"$st" | awk '{print $2}' | sort -u)" = 0000000000003000
check "NoNewPrivileges and a seccomp filter" test "$(grep -E '^(NoNewPrivs|Seccomp):' <<<"$st" | awk '{print $2}' | paste -sd,)" = 1,2
check "SCHED_RR priority 10" grep -q "policy: SCHED_RR" <<<"$(sb chrt -p "$pid")"
check "watchdog armed (5 s)" test "$(prop vipd.service WatchdogUSec)" = 5s
check "becomes master and holds the VIP" wait_for 10 bash -c "$(declare -f sb vip_here is_master); sd=$sd; is_master && vip_here"

# ------------------------------------------------------------ bingo, nginx, vipd's nginx manager
check "bingo.service active only once /ping answers (ExecStartPost)" test "$(prop bingo.service ActiveState)" = active
check "bingo runs as user bingo" test "$(sb stat -c %U "/proc/$(prop bingo.service MainPID)")" = bingo
check "bingo's log file exists, owned by bingo" test "$(sb stat -c '%U %a' /opt/bongo/logs/416265556f/main.log)" = "bingo 640"
check "8.8.8.8 is blackholed" grep -q "^blackhole 8.8.8.8" <<<"$(sb ip route show 8.8.8.8)"
check "vipd rendered the upstream: nginx -t and reload ran through systemctl + polkit" \
    wait_for 10 sb grep -q "Rendered by vipd" /etc/nginx/vipd/bingo-upstream.conf
check "GET /ping through the VIP and nginx -> pong" test "$(sb curl -s --max-time 3 http://198.18.0.100/ping)" = pong
# shellcheck disable=SC2016  # expanded inside the sandbox
check "Prometheus can read /metrics with the token" \
    grep -q 'vipd_state{vrrp_instance="vrid51",state="master"} 1' <<<"$(sb sh -c 'curl -s -H "Authorization: Bearer $(cat /etc/vipd/control.token)" http://127.0.0.1:9798/metrics')"

# ------------------------------------------------------------ lifecycle
sb systemctl reload vipd.service
check "systemctl reload -> SIGHUP reload" wait_for 5 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'SIGHUP: reloading'"
check "after reload: still active" test "$(prop vipd.service ActiveState)" = active

n=$(prop vipd.service NRestarts)
sb systemctl kill -s KILL vipd.service
check "kill -9: restarted (Restart=always, RestartSec=1) and master again with the VIP" \
    wait_for 10 bash -c "$(declare -f sb vip_here is_master prop); sd=$sd; [ \"\$(prop vipd.service NRestarts)\" -gt $n ] && is_master && vip_here"
check "the restarted vipd removed the VIP left by the killed one first" \
    bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'left behind by an earlier run'"

n=$(prop vipd.service NRestarts)
sb systemctl kill -s STOP vipd.service
check "a hung vipd (SIGSTOP) is killed by the watchdog and restarted" \
    wait_for 20 bash -c "$(declare -f sb prop); sd=$sd; [ \"\$(prop vipd.service NRestarts)\" -gt $n ] && [ \"\$(prop vipd.service ActiveState)\" = active ]"
check "master again after the watchdog restart" wait_for 10 bash -c "$(declare -f sb vip_here is_master); sd=$sd; is_master && vip_here"

# A crash: systemd restarts it (Restart=always); vipd's check may fall in the
# meantime and restart it as well, which only makes it come back sooner.
pid=$(prop bingo.service MainPID)
sb curl -s -X POST --max-time 2 http://127.0.0.1:30165/control/crash >/dev/null
start=$SECONDS
check "bingo crash: restarted and serving again" \
    wait_for 40 bash -c "$(declare -f sb prop); sd=$sd; [ \"\$(prop bingo.service MainPID)\" != $pid ] && [ \"\$(prop bingo.service ActiveState)\" = active ]"
echo "     (bingo back in $((SECONDS - start)) s)"

# A sick bingo (POST /operation, nibble 5: 500 "I feel bad" on everything)
# keeps running, so systemd never restarts it: vipd's backend check falls
# and restarts it through systemctl + polkit (issue 14, self-healing).
wait_for 20 sb curl -fs -o /dev/null --max-time 1 http://127.0.0.1:30164/ping
pid=$(prop bingo.service MainPID)
sb curl -s -o /dev/null -X POST --max-time 2 -H 'Content-Type: application/json' \
    -d '{"operation": 21474836480}' http://127.0.0.1:30164/operation
start=$SECONDS
check "a poisoned bingo is sick (500 on /ping)" \
    test "$(sb curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:30164/ping)" = 500
check "vipd restarts the sick bingo through polkit: a new process serves pong" \
    wait_for 30 bash -c "$(declare -f sb prop); sd=$sd; [ \"\$(prop bingo.service MainPID)\" != $pid ] && sb curl -fs --max-time 1 http://127.0.0.1:30164/ping | grep -q pong"
echo "     (sick to serving in $((SECONDS - start)) s)"
check "the restart is logged with its outcome" \
    wait_for 10 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'restart of bingo done (exit 0)'"
check "vipctl status shows it" wait_for 10 bash -c "$(declare -f sb); sd=$sd; sb vipctl status | grep -qE 'restarted [0-9]+x, last'"

# A configuration nginx -t rejects: vipd keeps the previous upstream file.
# First wait until vipd has seen bingo healthy again (rise) and rendered it.
check "vipd saw bingo healthy again and re-rendered the upstream" \
    wait_for 20 sb grep -q "this node: backend checks pass" /etc/nginx/vipd/bingo-upstream.conf
# The file is written before vipd tests and reloads it: let that reload finish
# first, or the broken line below would make it fail as a reload, not a test.
check "vipd reloaded nginx with that rendering" \
    wait_for 20 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -E 'nginx upstream|nginx reload|nginx test' | tail -n 1 | grep -q reloaded"
sleep 1
before=$(sb cat /etc/nginx/vipd/bingo-upstream.conf)
sb sh -c 'echo "this is not nginx;" >>/etc/nginx/conf.d/bingo-http.conf'
sb curl -s -X POST --max-time 2 http://127.0.0.1:30165/control/bad >/dev/null
check "nginx -t failing (vipd-nginx-test.service): vipd logs the rejection" \
    wait_for 20 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'nginx test rejected'"
check "...and keeps the previous upstream file" test "$(sb cat /etc/nginx/vipd/bingo-upstream.conf)" = "$before"

sb systemctl stop vipd.service
check "systemctl stop: vipd resigned and removed the VIP" bash -c "$(declare -f sb vip_here); sd=$sd; ! vip_here"
check "systemctl stop: clean exit" test "$(prop vipd.service Result)" = success

[ "$failures" = 0 ] || sb journalctl --no-pager -o cat -n 60 -u vipd -u bingo -u nginx -u vipd-nginx-test | grep -v "thread priority" | tail -40
finish
