#!/usr/bin/env bash
# The units under a real systemd: boots systemd as PID 1 in a throwaway
# sandbox of this machine (overlayfs over /, new mount, PID, network, cgroup
# and UTS namespaces; a veth carries the node and VIP addresses, so nothing
# reaches the real network), after `make install` of the debug build, with
# the bingo stand-in as /opt/bingo/bingo and the shipped nginx site. Checks
# what the units promise: READY, least privilege, SCHED_RR, master and VIP,
# the nginx manager's test and reload through systemctl + polkit (no sudo
# under NoNewPrivileges), reload, restart after kill -9, the watchdog, the
# bingo pool (bingo-pool-net@N and bingo@N: two members in network namespaces
# of their own on 198.19.80.0/24, behind the pool's nginx server on the
# port; a killed member restarted by systemd, a sick one by vipd's monitor
# check through polkit, a member stopped with its network), stop. Needs
# root; skipped (exit 0, "skip") where systemd cannot boot.
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
  - name: bingo-1
    role: monitor
    http: {url: "http://198.19.80.11:30164/ping", expect_status: 200, body_contains: "pong"}
    interval: 500ms
    timeout: 400ms
    restart:
      command: ["/usr/bin/systemctl", "--no-ask-password", "restart", "bingo@1.service"]
  - name: bingo-2
    role: monitor
    http: {url: "http://198.19.80.12:30164/ping", expect_status: 200, body_contains: "pong"}
    interval: 500ms
    timeout: 400ms
    restart:
      command: ["/usr/bin/systemctl", "--no-ask-password", "restart", "bingo@2.service"]
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
# test). Start-up: the blackhole route in each member's namespace makes it
# the short one. Every member runs this same file in its own namespace (the
# pool's units share /opt/bingo), on the same port; X-Bingo-Node names the
# member by its address, so the test sees which one answered.
cat >/opt/bingo/bingo <<'WRAPPER'
#!/bin/sh
a=\$(ip -4 -o addr show dev eth0 | awk '{print \$4}' | cut -d/ -f1)
exec /usr/bin/python3 /opt/bingo/bingo_standin.py --port 30164 --log-dir /opt/bongo/logs/416265556f --no-db --lifetime never --control-host 0.0.0.0 --control-port 30165 --name "member-\$a" --quiet run_server
WRAPPER
chmod 755 /opt/bingo/bingo /opt/bingo/bingo_standin.py
# The pool on a test network (198.19.80.0/24: the benchmarking range, never
# routed), as Ansible writes it.
printf 'BINGO_POOL_NET=198.19.80\n' >/etc/default/bingo-pool
BINGO_POOL_NET=198.19.80 /usr/local/libexec/vipd/bingo-pool nginx 30164 2 >/etc/nginx/conf.d/bingo-pool.conf
# What discovery writes (docs/deploying-bingo.md), with the fixed test names:
# one drop-in for every member.
mkdir -p /etc/systemd/system/bingo@.service.d
printf '[Service]\nReadWritePaths=/opt/bongo/logs/416265556f\nEnvironment=BINGO_PORT=30164\n' >/etc/systemd/system/bingo@.service.d/discovered.conf
printf 'd /opt/bongo/logs/416265556f 0750 bingo bingo -\nf /opt/bongo/logs/416265556f/main.log 0640 bingo bingo -\n' >/etc/tmpfiles.d/bingo-logdir.conf
w=/etc/systemd/system/vipdtest.target.wants
mkdir -p \$w
ln -sf /etc/systemd/system/vipd.service \$w/vipd.service
# Members 1 and 2 (Ansible enables them into bingo.target; the test target
# stands in for it). Each pulls in its network, bingo-pool-net@N.service.
ln -sf /etc/systemd/system/bingo@.service \$w/bingo@1.service
ln -sf /etc/systemd/system/bingo@.service \$w/bingo@2.service
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

# ------------------------------------------------------------ the bingo pool, nginx, vipd's nginx manager
member_ip() { echo "198.19.80.$((10 + $1))"; }
pong_at() { [ "$(sb curl -s --max-time 1 "http://$1:30164/ping")" = pong ]; }
in_netns() {  # PID NAMESPACE: the process runs in /run/netns/NAMESPACE
    [ -n "$1" ] && [ "$1" != 0 ] && [ "$(sb stat -L -c %i "/proc/$1/ns/net")" = "$(sb stat -L -c %i "/run/netns/$2")" ]
}
for i in 1 2; do
    check "bingo-pool-net@$i.service active (oneshot, RemainAfterExit), pulled in by bingo@$i" \
        test "$(prop "bingo-pool-net@$i.service" ActiveState)" = active
    check "bingo@$i.service active only once /ping answers at $(member_ip $i) (ExecStartPost)" \
        test "$(prop "bingo@$i.service" ActiveState)" = active
    pid=$(prop "bingo@$i.service" MainPID)
    check "bingo@$i runs in network namespace bingo$i, as user bingo" \
        bash -c "$(declare -f sb in_netns); sd=$sd; in_netns $pid bingo$i && [ \"\$(sb stat -c %U /proc/$pid)\" = bingo ]"
    check "bingo@$i answers GET /ping at its member address $(member_ip $i):30164" pong_at "$(member_ip $i)"
    check "8.8.8.8 is blackholed in namespace bingo$i" grep -q "^blackhole 8.8.8.8" <<<"$(sb ip -n "bingo$i" route show 8.8.8.8)"
done
check "the bridge bingo0 holds 198.19.80.1/24 (BINGO_POOL_NET from /etc/default/bingo-pool)" \
    grep -q "inet 198.19.80.1/24" <<<"$(sb ip -4 addr show dev bingo0)"
check "nftables masquerades what the pool sends off the node (table ip bingo_pool)" \
    grep -q "ip saddr 198.19.80.0/24 oifname != \"bingo0\" masquerade" <<<"$(sb nft list table ip bingo_pool)"
listeners=$(sb ss -Hltnp 'sport = :30164')
check "in the node's own namespace only nginx listens on the port (the pool's server), no bingo" \
    bash -c "grep -q nginx <<<'$listeners' && ! grep -q python3 <<<'$listeners'"
check "one log file for the pool, owned by bingo, written by both members" bash -c "$(declare -f sb); sd=$sd;
    [ \"\$(sb stat -c '%U %a' /opt/bongo/logs/416265556f/main.log)\" = 'bingo 640' ] &&
    [ \"\$(sb grep -c 'Prepare app' /opt/bongo/logs/416265556f/main.log)\" -ge 2 ]"
check "8.8.8.8 is blackholed on the node (bingo-blackhole.service)" grep -q "^blackhole 8.8.8.8" <<<"$(sb ip route show 8.8.8.8)"
check "the pool's nginx server (bingo-pool nginx 30164 2) answers GET /ping on the port" pong_at 127.0.0.1
served=$(for _ in 1 2 3 4 5 6; do sb curl -s -D - -o /dev/null --max-time 1 http://127.0.0.1:30164/ping | tr -d '\r' | sed -n 's/^X-Bingo-Node: //ip'; done | sort -u | paste -sd' ')
check "the pool's nginx spreads requests over both members ($served)" \
    test "$served" = "member-198.19.80.11 member-198.19.80.12"
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

# ------------------------------------------------------------ the pool's members fail one by one
node_falls() { sb journalctl -u vipd -o cat | grep -c 'check bingo (backend): up -> down'; }
falls=$(node_falls)
check "vipctl status lists the per-member checks bingo-1 and bingo-2" \
    bash -c "$(declare -f sb); sd=$sd; st=\$(sb vipctl status); grep -qw 'bingo-1' <<<\"\$st\" && grep -qw 'bingo-2' <<<\"\$st\""

# A member killed (an OOM kill, a panic): systemd restarts it
# (Restart=always, RestartSec=250ms); the pool serves from the other meanwhile.
pid=$(prop bingo@2.service MainPID)
n=$(prop bingo@2.service NRestarts)
sb systemctl kill -s KILL bingo@2.service
start=$SECONDS
check "the pool still answers /ping on the port while member 2 is dead" pong_at 127.0.0.1
check "kill -9 of member 2: systemd restarts it (NRestarts up, a new PID, active)" \
    wait_for 40 bash -c "$(declare -f sb prop); sd=$sd; [ \"\$(prop bingo@2.service NRestarts)\" -gt $n ] && [ \"\$(prop bingo@2.service MainPID)\" != $pid ] && [ \"\$(prop bingo@2.service ActiveState)\" = active ]"
check "...serving again at $(member_ip 2), in its namespace" \
    bash -c "$(declare -f sb prop pong_at in_netns); sd=$sd; pong_at $(member_ip 2) && in_netns \$(prop bingo@2.service MainPID) bingo2"
echo "     (member 2 back in $((SECONDS - start)) s)"

# A sick member (POST /operation, nibble 5: 500 "I feel bad" on everything)
# keeps running, so systemd never restarts it: vipd's monitor check bingo-1
# falls and restarts bingo@1.service through systemctl + polkit; the node's
# bingo check (the pool) stays up all the while.
# The pool's nginx rests a member for fail_timeout (1 s) after a failure, and
# answers 502 while every member rests: let it forget member 2's death first.
settle() { wait_for 20 pong_at "$(member_ip 1)"; wait_for 20 pong_at "$(member_ip 2)"; sleep 1.5; }
settle
pid=$(prop bingo@1.service MainPID)
pid2=$(prop bingo@2.service MainPID)
sb curl -s -o /dev/null -X POST --max-time 2 -H 'Content-Type: application/json' \
    -d '{"operation": 21474836480}' "http://$(member_ip 1):30164/operation"
start=$SECONDS
check "a poisoned member 1 is sick (500 on /ping at $(member_ip 1))" \
    test "$(sb curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$(member_ip 1):30164/ping")" = 500
ok_pool=0
for _ in 1 2 3 4 5 6; do pong_at 127.0.0.1 && ok_pool=$((ok_pool + 1)); done
check "the pool answers pong meanwhile (nginx passes over the 500): $ok_pool of 6" test "$ok_pool" = 6
check "vipd restarts the sick member through polkit: a new bingo@1 process serves pong" \
    wait_for 30 bash -c "$(declare -f sb prop pong_at); sd=$sd; [ \"\$(prop bingo@1.service MainPID)\" != $pid ] && pong_at $(member_ip 1)"
echo "     (sick to serving in $((SECONDS - start)) s)"
check "the restart is logged with its outcome" \
    wait_for 10 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'restart of bingo-1 done (exit 0)'"
check "...member 2 was left alone (same PID)" test "$(prop bingo@2.service MainPID)" = "$pid2"
check "vipctl status shows it" wait_for 10 bash -c "$(declare -f sb); sd=$sd; sb vipctl status | grep -qE 'restarted [0-9]+x, last'"
check "the node's bingo check (the pool) never fell meanwhile (a monitor check's fall marks nothing down)" \
    test "$(node_falls)" = "$falls"
check "...while bingo-1 (monitor) did" \
    bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'check bingo-1 (monitor): up -> down'"
# The polkit rule allows restarting bingo@N.service and nothing broader.
as_vipd() { sb setpriv --reuid=vipd --regid=vipd --clear-groups systemctl --no-ask-password "$@"; }
check "polkit: user vipd may not restart bingo-pool-net@1.service, bingo.target or vipd-pg.service" \
    bash -c "$(declare -f sb as_vipd); sd=$sd; ! as_vipd restart bingo-pool-net@1.service 2>/dev/null && ! as_vipd restart bingo.target 2>/dev/null && ! as_vipd restart vipd-pg.service 2>/dev/null"
check "polkit: ...nor stop bingo@1.service" bash -c "$(declare -f sb as_vipd); sd=$sd; ! as_vipd stop bingo@1.service 2>/dev/null"
check "...and bingo@1 still runs" test "$(prop bingo@1.service ActiveState)" = active

# A member's network stopped: the member goes with it (BindsTo=), the
# namespace is deleted, the pool serves from member 1. Started again, the
# member pulls its network back in.
settle
bridge_mac() { sb cat /sys/class/net/bingo0/address; }
mac=$(bridge_mac)
sb systemctl stop bingo-pool-net@2.service
check "the bridge keeps its MAC address when a port goes (set by bingo-pool, not the lowest port's)" \
    test "$(bridge_mac)" = "$mac"
check "stopping bingo-pool-net@2 stops bingo@2 (BindsTo=)" test "$(prop bingo@2.service ActiveState)" = inactive
check "...and deletes namespace bingo2" sb test ! -e /run/netns/bingo2
ok_pool=0
for _ in 1 2 3 4 5 6; do pong_at 127.0.0.1 && ok_pool=$((ok_pool + 1)); done
check "...the pool answers /ping from member 1, each within 1 s (member 2's address unreachable at once): $ok_pool of 6" \
    test "$ok_pool" = 6
sb systemctl start bingo@2.service
check "starting bingo@2 brings its network back (bingo-pool-net@2 active, pong at $(member_ip 2))" \
    bash -c "$(declare -f sb prop pong_at); sd=$sd; [ \"\$(prop bingo-pool-net@2.service ActiveState)\" = active ] && pong_at $(member_ip 2)"

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
# Both members sick: the pool fails, the node's bingo check falls and vipd
# renders the upstream again.
for i in 1 2; do sb curl -s -X POST --max-time 2 "http://$(member_ip $i):30165/control/bad" >/dev/null; done
check "nginx -t failing (vipd-nginx-test.service): vipd logs the rejection" \
    wait_for 20 bash -c "$(declare -f sb); sd=$sd; sb journalctl -u vipd -o cat | grep -q 'nginx test rejected'"
check "...and keeps the previous upstream file" test "$(sb cat /etc/nginx/vipd/bingo-upstream.conf)" = "$before"

sb systemctl stop vipd.service
check "systemctl stop: vipd resigned and removed the VIP" bash -c "$(declare -f sb vip_here); sd=$sd; ! vip_here"
check "systemctl stop: clean exit" test "$(prop vipd.service Result)" = success

[ "$failures" = 0 ] || sb journalctl --no-pager -o cat -n 80 -u vipd -u 'bingo@*' -u 'bingo-pool-net@*' -u nginx -u vipd-nginx-test | grep -v "thread priority" | tail -60
finish
