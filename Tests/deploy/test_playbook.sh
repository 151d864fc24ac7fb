#!/usr/bin/env bash
# deploy/ansible/site.yml for real, on node-a of a two-node inventory, in
# the local database layout (postgresql_mode: local): the
# playbook runs (connection local) inside a throwaway sandbox of this machine
# with systemd booted as PID 1 (Tests/install/lib.sh: overlayfs over /, own
# mount/PID/network/cgroup namespaces, a veth carrying 198.18.0.1 and the
# VIP). node-b is in the inventory but never reached (--limit node-a): it is
# the peer vipd hears nothing from. bingo is a wrapper around the stand-in
# whose prepare_db creates the three tables. The sandbox has no network, so
# the Debian packages the roles install must be in apt's cache: the script
# downloads them first (apt-get --download-only; the machine itself is not
# changed). Then: a second run changes nothing; the bingo pool (3 members in
# network namespaces on 198.19.80.0/24, behind the pool's nginx server on the
# discovered port, each with vipd's monitor checks) serves; vipd is master,
# nginx serves bingo through the VIP over HTTP and HTTPS, the indexes exist,
# Prometheus scrapes vipd and mtail counts requests; an old single
# bingo.service is stopped, disabled and removed by the next run. Closes
# with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../install/lib.sh
source "$(dirname "$0")/../install/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pool_checks.sh
source "$(dirname "$0")/pool_checks.sh"
bin=$(bin_dir) || exit 1
cd "$repo" || exit 1
skip() { echo "skip - $*"; echo; echo "0 passed, 0 failed"; exit 0; }
command -v ansible-playbook >/dev/null || { echo "ansible-playbook missing: run scripts/deploy-deps.sh"; exit 1; }

# Not under /tmp: systemd-tmpfiles empties /tmp when the sandbox boots.
tmp=$(mktemp -d /var/tmp/vipd-playbook-test.XXXXXX)
chmod 755 "$tmp"
# The same goes for a checkout under /tmp or /var/tmp (CI's clone may live
# there; bingo@.service's PrivateTmp hides both): then the sandbox gets a copy
# of it, without the build folders, under /var/lib.
play_repo=$repo
case "$repo" in
    /tmp/*|/var/tmp/*)
        play_repo=$(mktemp -d /var/lib/vipd-playbook-repo.XXXXXX)
        chmod 755 "$play_repo"
        tar -C "$repo" --exclude='./.build' --exclude='./.build-*' --exclude='./.git' -cf - . | tar -C "$play_repo" -xf -
        ;;
esac
trap 'systemd_sandbox_stop; [ "${KEEP_SANDBOX:-0}" = 1 ] || rm -rf "$tmp"; [ "$play_repo" = "$repo" ] || rm -rf "$play_repo"' EXIT

# Everything the roles apt-install, in the cache (plus what they pull in).
packages=(chrony acl sudo strace nftables python3-psycopg2 postgresql postgresql-client nginx polkitd dbus curl
          prometheus prometheus-node-exporter prometheus-nginx-exporter mtail python3-apt python3-yaml)
if ! DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y -q --no-install-recommends \
        "${packages[@]}" >"$tmp/apt.log" 2>&1; then
    tail -5 "$tmp/apt.log"; skip "cannot download the packages the roles install"
fi

if ! deb=$(make -s deb BIN_DIR="$bin" DIST="$tmp" ALLOW_TOOLCHAIN_LIBS=1 DEB_COMPRESS=none 2>"$tmp/deb.err"); then
    cat "$tmp/deb.err"; fail "make deb"; finish; exit 1
fi

# bingo for the test: the stand-in, and a prepare_db that creates the tables
# bingo.md's indexes refer to.
{
    echo '#!/bin/sh'
    # shellcheck disable=SC2016  # $1 of the generated script
    echo 'case "$1" in'
    # No --port/--log-dir: the stand-in derives both from student_email by
    # its own hash, and the playbook must discover them (the failing openat,
    # the listening socket) as on the real binary. Kind knobs only where this
    # test is not about bingo: --no-db (fake_prepare_db's tables are not
    # bingo's; the queries are tested in Tests/standin), --lifetime never.
    echo "    run_server) exec /usr/bin/python3 $play_repo/Tests/standin/bingo_standin.py --no-db --lifetime never --name sandbox --quiet run_server ;;"
    echo "    prepare_db) exec /usr/bin/python3 $play_repo/Tests/deploy/fake_prepare_db.py ;;"
    echo '    *) echo "usage: bingo run_server|prepare_db" >&2; exit 2 ;;'
    echo 'esac'
} >"$tmp/bingo"
chmod 755 "$tmp/bingo"

# An email whose port and log directory are not the operator's 30164 and
# 416265556f (the stand-in's hash gives neither for any email).
email=ops@example.org
cat >"$tmp/inventory.yml" <<INVENTORY
all:
  children:
    bingo_nodes:
      hosts:
        node-a:
          ansible_connection: local
          ansible_python_interpreter: /usr/bin/python3
          node_address: 198.18.0.1
          vipd_priority: 150
        node-b:
          ansible_host: 198.18.0.2
          node_address: 198.18.0.2
          vipd_priority: 100
      vars:
        interface: vipd0
        vip: 198.18.0.100/24
        student_email: $email
        bingo_domain: bingo.test
        bingo_binary_src: $tmp/bingo
        vipd_deb_src: $deb
        bingo_db_password: playbook-test
        common_apt_cache_valid_time: 315360000
        # One node, so the local layout (the replicated default needs both
        # nodes: Tests/deploy/replicated_playbook.sh, make deploy-test).
        postgresql_mode: local
        # The pool on the benchmarking range (never routed), 3 members.
        bingo_pool_net: "$POOL_NET"
        bingo_pool_size: 3
INVENTORY

cat >"$tmp/setup.sh" <<'SETUP'
set -e
ip link set lo up
ip link add vipd0 type veth peer name vipd1
ip link set vipd1 up
ip addr add 198.18.0.1/24 dev vipd0
ip link set vipd0 up
# A fresh host: nothing of ours installed yet.
if dpkg -s vipd >/dev/null 2>&1; then dpkg -P vipd >/dev/null; fi
rm -rf /etc/vipd /opt/bingo /etc/nginx/vipd
# This machine's apt deletes downloaded packages after every dpkg run (a
# container image's docker-clean); offline, the roles need them to stay.
rm -f /etc/apt/apt.conf.d/docker-clean
# The sandbox cannot create user namespaces, which Debian's prometheus.service
# asks for (PrivateUsers=true). Only here; a real host keeps it.
mkdir -p /etc/systemd/system/prometheus.service.d
printf '[Service]\nPrivateUsers=false\n' >/etc/systemd/system/prometheus.service.d/sandbox.conf
SETUP

systemd_sandbox_start "$tmp" "$tmp/setup.sh" || skip "$sandbox_error"

play() {
    sb env ANSIBLE_CONFIG="$play_repo/deploy/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_HOME="$tmp/ansible-home" \
        ANSIBLE_LOCAL_TEMP="$tmp/ansible-tmp" DEBIAN_FRONTEND=noninteractive \
        ansible-playbook -i "$tmp/inventory.yml" "$play_repo/deploy/ansible/site.yml" --limit node-a "$@"
}
recap() { grep -E "^node-a +:" "$1" | tail -1 | tr -s ' '; }

play >"$tmp/run1.log" 2>&1; rc=$?
check "first run of site.yml succeeds ($(recap "$tmp/run1.log"))" test "$rc" = 0
if [ "$rc" != 0 ]; then grep -E -B2 -A12 "^fatal|FAILED" "$tmp/run1.log" | head -80; echo "--- last lines of the run:"; tail -n 30 "$tmp/run1.log"; finish; exit 1; fi

play >"$tmp/run2.log" 2>&1; rc=$?
second=$(recap "$tmp/run2.log")
check "second run succeeds and changes nothing ($second)" \
    bash -c "[ $rc = 0 ] && grep -qE 'changed=0 .*failed=0' <<<'$second'"
grep -E "^changed:" -B1 "$tmp/run2.log" | head -20

prop() { sb systemctl show "$1" -p "$2" --value; }

# ------------------------------------------------------------ discovery
# What bingo really does in the sandbox, found from the outside: the port
# member 1's main process listens on (in its namespace), and the main.log it
# has open.
member_port() { sb nsenter -t "$1" -n ss -Hltnp | grep -F "pid=$1," | grep -oE ':[0-9]+ ' | head -n 1 | tr -dc 0-9; }
bpid=$(prop bingo@1.service MainPID)
port=$(member_port "$bpid")
logdir=$(sb sh -c "ls -l /proc/$bpid/fd" | grep -oE '/opt/bongo/logs/[^ ]+/main\.log' | head -n 1)
logdir=${logdir%/main.log}
echo "     (bingo for $email: port $port, log directory $logdir)"
check "bingo listens on a port of its own, not 30164 ($port)" bash -c "[ -n '$port' ] && [ '$port' != 30164 ]"
check "bingo writes its log under /opt/bongo/logs, not 416265556f ($logdir)" \
    bash -c "[[ '$logdir' == /opt/bongo/logs/?????????? ]] && [ '$logdir' != /opt/bongo/logs/416265556f ]"
check "the discovery record names them" python3 -c "
import json, sys; r = json.loads(sys.argv[1])
assert r['student_email'] == '$email' and r['port'] == int('$port') and r['log_dir'] == '$logdir', r" \
    "$(sb cat /opt/bingo/discovered.json)"
check "bingo's log is written there, owned by bingo" \
    bash -c "$(declare -f sb); sd=$sd; [ \"\$(sb stat -c '%U %a' '$logdir/main.log')\" = 'bingo 640' ] && sb grep -q 'I am alive\|Prepare app' '$logdir/main.log'"
check "bingo@1.service: ReadWritePaths is the discovered directory" test "$(prop bingo@1.service ReadWritePaths)" = "$logdir"
check "bingo@1.service: BINGO_PORT for the readiness probe is the discovered port" \
    grep -qw "BINGO_PORT=$port" <<<"$(prop bingo@1.service Environment)"
check "tmpfiles creates the discovered directory (bingo-logdir.conf)" \
    sb grep -qE "^d +$logdir +0750 bingo bingo" /etc/tmpfiles.d/bingo-logdir.conf
check "logrotate rotates the discovered log" sb grep -q "^$logdir/main.log {" /etc/logrotate.d/bingo
check "vipd's bingo check asks the discovered port" sb grep -qF "http://127.0.0.1:$port/ping" /etc/vipd/vipd.yaml
check "vipd's nginx.backend_port is the discovered port" sb grep -qE "^  backend_port: $port\$" /etc/vipd/vipd.yaml
check "the nginx upstream (vipd's rendering) points at the discovered port" \
    sb grep -qE "^ *server 198\.18\.0\.1:${port}[ ;]" /etc/nginx/vipd/bingo-upstream.conf
check "the second run did not discover again (no change in the bingo role)" \
    bash -c "! grep -A1 -E '^TASK \[bingo' '$tmp/run2.log' | grep -q '^changed:'"
check "no installed bingo file names 30164 or 416265556f" \
    bash -c "$(declare -f sb); sd=$sd; ! sb grep -lE '30164|416265556f' /etc/systemd/system/bingo@.service /etc/systemd/system/bingo@.service.d/discovered.conf /etc/tmpfiles.d/bingo.conf /etc/tmpfiles.d/bingo-logdir.conf /etc/logrotate.d/bingo /etc/vipd/vipd.yaml /etc/nginx/vipd/bingo-upstream.conf /etc/nginx/conf.d/bingo-pool.conf"
check "bingo's config.yaml names the node's address (127.0.0.1 would be a member's own loopback)" \
    test "$(sb python3 -c 'import yaml; print(yaml.safe_load(open("/opt/bingo/config.yaml"))["postgres_cluster"]["hosts"])')" = \
         "[{'address': '198.18.0.1', 'port': 5432}]"
check "pg_hba lets the pool in (bingo_pool_net.0/24)" sb grep -qx "host bingo bingo $POOL_NET.0/24 scram-sha-256" /etc/postgresql/15/main/pg_hba.conf

# ------------------------------------------------------------ the pool
check_pool sb node-a 3 "$port" 198.18.0.1

for unit in vipd nginx postgresql chrony bingo-blackhole prometheus prometheus-node-exporter \
            prometheus-nginx-exporter mtail; do
    check "$unit.service enabled and active" \
        test "$(prop "$unit.service" UnitFileState) $(prop "$unit.service" ActiveState)" = "enabled active"
done
is_master() { sb vipctl status --json | grep -q '"state":"master"' && sb ip -4 addr show vipd0 | grep -q 198.18.0.100/24; }
check "vipd is master and holds the VIP" wait_for 10 is_master
check "GET /ping through the VIP over HTTP -> pong" test "$(sb curl -s --max-time 3 http://198.18.0.100/ping)" = pong
check "GET /ping through the VIP over HTTPS (self-signed for bingo.test) -> pong" \
    test "$(sb curl -sk --max-time 3 --resolve bingo.test:443:198.18.0.100 https://bingo.test/ping)" = pong
check "bingo's config.yaml carries student_email" sb grep -q "^student_email: $email\$" /opt/bingo/config.yaml
check "bingo's config.yaml is 0640 root:bingo (it holds the password)" \
    test "$(sb stat -c '%a %U:%G' /opt/bingo/config.yaml)" = "640 root:bingo"
idx=$(sb runuser -u postgres -- psql -d bingo -tAc "SELECT count(*) FROM (
    SELECT conname FROM pg_constraint WHERE conname IN ('sessions_pk', 'customers_pk', 'movies_pk')
    UNION ALL SELECT indexname FROM pg_indexes
    WHERE indexname IN ('sessions_movie_id_idx', 'movies_year_name_idx', 'customers_surname_idx', 'movies_year_idx')) x" 2>&1)
check "the 3 primary keys and 4 indexes of bingo.md exist ($idx)" test "$idx" = 7
rows=$(sb runuser -u postgres -- psql -d bingo -tAc "SELECT count(*) FROM public.movies" 2>&1)
check "prepare_db ran once: test data present, not duplicated ($rows movies)" test "$rows" = 2
check "vipd rendered the nginx upstream (test and reload via systemctl + polkit)" \
    sb grep -q "Rendered by vipd" /etc/nginx/vipd/bingo-upstream.conf
check "auth.key 0600 vipd" test "$(sb stat -c '%a %U' /etc/vipd/auth.key)" = "600 vipd"
vipd_up() { sb curl -s 'http://198.18.0.1:9090/api/v1/query?query=up%7Bjob%3D%22vipd%22%7D' | grep -q '"1"\]'; }
check "Prometheus scrapes vipd with the token (up{job=\"vipd\"} == 1)" wait_for 30 vipd_up
for _ in 1 2 3; do sb curl -s -o /dev/null http://198.18.0.100/api/movie/1; done
counted() { sb curl -s http://127.0.0.1:3903/metrics | grep -q 'bingo_http_requests_total{endpoint="/api/movie/{id}"'; }
check "mtail counts requests per endpoint from nginx's JSON log" wait_for 10 counted
check "chrony configured (NTP is a bingo requirement)" sb test -f /etc/chrony/conf.d/bingo.conf
check "sysctl applied: ip_nonlocal_bind=1" test "$(sb sysctl -n net.ipv4.ip_nonlocal_bind)" = 1

# ------------------------------------------------------------ another email
# A changed student_email: discovered again, and every consumer follows.
email2=ops2@example.org
# ...on a node that still has the single bingo.service of before the pool
# (enabled, running): the run must stop, disable and remove it.
sb sh -c 'mkdir -p /etc/systemd/system/bingo.service.d &&
    printf "[Unit]\nDescription=the single bingo of before the pool\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n" >/etc/systemd/system/bingo.service &&
    systemctl daemon-reload && systemctl enable --now bingo.service' >/dev/null 2>&1
check "(an old single bingo.service runs before the next run)" test "$(prop bingo.service ActiveState)" = active
play -e student_email=$email2 >"$tmp/run3.log" 2>&1; rc=$?
check "a run with student_email=$email2 succeeds ($(recap "$tmp/run3.log"))" test "$rc" = 0
[ "$rc" = 0 ] || grep -E -B2 -A12 "^fatal|FAILED" "$tmp/run3.log" | head -40
# vipd's checks still probe the old port until the play's last handler reloads
# vipd, and its self-healing may restart a member meanwhile (seen in CI:
# "check bingo is down: restarting (attempt 3)" just before the reload): wait
# until member 1's main process listens again before reading its port.
port2=""
for _ in $(seq 1 40); do
    bpid=$(prop bingo@1.service MainPID)
    port2=$(member_port "$bpid")
    [ -n "$port2" ] && break
    sleep 0.5
done
logdir2=$(sb sh -c "ls -l /proc/$bpid/fd" | grep -oE '/opt/bongo/logs/[^ ]+/main\.log' | head -n 1)
logdir2=${logdir2%/main.log}
echo "     (bingo for $email2: port $port2, log directory $logdir2)"
check "re-discovered: another port and log directory ($port2, $logdir2)" \
    bash -c "[ -n '$port2' ] && [ '$port2' != '$port' ] && [[ '$logdir2' == /opt/bongo/logs/?????????? ]] && [ '$logdir2' != '$logdir' ]"
check "...and the drop-in, tmpfiles and vipd's check follow" bash -c "$(declare -f sb prop); sd=$sd;
    [ \"\$(prop bingo@1.service ReadWritePaths)\" = '$logdir2' ] &&
    sb grep -qE '^d +$logdir2 ' /etc/tmpfiles.d/bingo-logdir.conf &&
    sb grep -qF 'http://127.0.0.1:$port2/ping' /etc/vipd/vipd.yaml && sb grep -qE '^  backend_port: $port2\$' /etc/vipd/vipd.yaml"
check "...and vipd re-rendered the nginx upstream on the new port" \
    wait_for 20 sb grep -qE "^ *server 198\.18\.0\.1:${port2}[ ;]" /etc/nginx/vipd/bingo-upstream.conf
check "GET /ping through the VIP -> pong (bingo on the new port)" \
    wait_for 20 bash -c "$(declare -f sb); sd=$sd; [ \"\$(sb curl -s --max-time 3 http://198.18.0.100/ping)\" = pong ]"
check "the old single bingo.service was stopped, disabled and removed by that run" \
    test "$(prop bingo.service LoadState) $(prop bingo.service ActiveState)" = "not-found inactive"
check "...and its drop-in directory" sb test ! -e /etc/systemd/system/bingo.service.d
check_pool sb node-a 3 "$port2" 198.18.0.1

[ "$failures" = 0 ] || sb journalctl --no-pager -o cat -n 40 | tail -40
finish
