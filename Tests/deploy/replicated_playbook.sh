#!/usr/bin/env bash
# deploy/ansible/site.yml for real, in the replicated layout (the default):
# two throwaway sandboxes of this machine with systemd booted as PID 1
# (Tests/install/lib.sh: overlayfs over /, own mount/PID/network/cgroup
# namespaces), node-a and node-b, joined by a veth pair carrying 198.18.0.1,
# 198.18.0.2, the VIP 198.18.0.100 and the database address 198.18.0.200.
# The playbook runs (connection local) inside each sandbox with --limit on
# its own node: first node-a, a fresh installation, which becomes the
# PostgreSQL primary, vipd-pg running and vipd's db instance master holding
# the database address, bingo using it; then node-b (in parallel with
# node-a's second run), which the play makes a streaming hot standby of it
# (pg_basebackup from the database address), synchronous.
# bingo is a wrapper around the stand-in whose prepare_db creates the three
# tables. The sandboxes have no network, so the Debian packages the roles
# install must be in apt's cache: the script downloads them first
# (apt-get --download-only; the machine itself is not changed). Then: a
# second run changes nothing on either node (no new standby); each node's
# bingo pool (2 members in network namespaces on 198.19.80.0/24, behind the
# pool's nginx server, each with vipd's monitor checks; the members reach the
# database address: on node-a from their own addresses, from node-b
# masqueraded to node-b's) serves; vipd is master,
# nginx serves bingo through the VIP over HTTP and HTTPS, the indexes exist,
# Prometheus scrapes vipd and mtail counts requests; a write through the
# database address is read on the standby; another student_email is
# discovered again. Last, a failover (vipd stopped on node-a: node-b's
# standby is promoted) and a run on each node after it: the promoted node
# stays the primary, node-a is not made one again. Closes with "N passed, M failed".
# PLAYBOOK_QUICK=1: CI's short version (below, before the second email).
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
# Two sandboxes: lib.sh keeps one in $sd, $boot_pid, $sandbox_cg; these
# switch between them.
sd_a=""; boot_a=""; cg_a=""; sd_b=""; boot_b=""; cg_b=""
use_a() { sd=$sd_a; boot_pid=$boot_a; sandbox_cg=$cg_a; }
use_b() { sd=$sd_b; boot_pid=$boot_b; sandbox_cg=$cg_b; }
stop_both() {
    if [ -n "$boot_b" ]; then use_b; systemd_sandbox_stop; fi
    use_a; systemd_sandbox_stop
}
trap 'stop_both; [ "${KEEP_SANDBOX:-0}" = 1 ] || rm -rf "$tmp"; [ "$play_repo" = "$repo" ] || rm -rf "$play_repo"' EXIT

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
# One inventory per sandbox: each reaches its own node locally; the other
# node is only named (--limit). The heartbeat key is set, so neither run
# reads the other node's key.
auth_key=$(head -c 32 /dev/urandom | base64)
for node in node-a node-b; do
    local_a="ansible_host: 198.18.0.1"; local_b="ansible_host: 198.18.0.2"
    [ $node = node-a ] && local_a="ansible_connection: local"
    [ $node = node-b ] && local_b="ansible_connection: local"
    cat >"$tmp/inventory-$node.yml" <<INVENTORY
all:
  children:
    bingo_nodes:
      hosts:
        node-a:
          $local_a
          ansible_python_interpreter: /usr/bin/python3
          node_address: 198.18.0.1
          vipd_priority: 150
        node-b:
          $local_b
          ansible_python_interpreter: /usr/bin/python3
          node_address: 198.18.0.2
          vipd_priority: 100
      vars:
        interface: vipd0
        vip: 198.18.0.100/24
        db_vip: 198.18.0.200/24
        student_email: $email
        bingo_domain: bingo.test
        bingo_binary_src: $tmp/bingo
        vipd_deb_src: $deb
        bingo_db_password: playbook-test
        postgresql_replication_password: 'replication:test\pass'
        vipd_auth_key: "$auth_key"
        common_apt_cache_valid_time: 315360000
        # The pool on the benchmarking range (never routed), 2 members a node.
        bingo_pool_net: "$POOL_NET"
        bingo_pool_size: 2
INVENTORY
done

cat >"$tmp/setup.sh" <<'SETUP'
set -e
ip link set lo up
# A fresh host: nothing of ours installed yet.
if dpkg -s vipd >/dev/null 2>&1; then dpkg -P vipd >/dev/null; fi
rm -rf /etc/vipd /opt/bingo /etc/nginx/vipd /var/lib/vipd-pg /var/lib/postgresql/.pgpass
# ...and, if this machine has PostgreSQL, a cluster of its own, as the
# package makes it on a fresh host (its own system identifier: two sandboxes
# must not start from one copy of this machine's data directory).
if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header | while read -r version cluster _; do
        pg_dropcluster "$version" "$cluster"
        pg_createcluster "$version" "$cluster" >/dev/null
    done
fi
# This machine's apt deletes downloaded packages after every dpkg run (a
# container image's docker-clean); offline, the roles need them to stay.
rm -f /etc/apt/apt.conf.d/docker-clean
# The sandbox cannot create user namespaces, which Debian's prometheus.service
# asks for (PrivateUsers=true). Only here; a real host keeps it.
mkdir -p /etc/systemd/system/prometheus.service.d
printf '[Service]\nPrivateUsers=false\n' >/etc/systemd/system/prometheus.service.d/sandbox.conf
SETUP

systemd_sandbox_start "$tmp" "$tmp/setup.sh" || skip "$sandbox_error"
sd_a=$sd boot_a=$boot_pid cg_a=$sandbox_cg
mkdir "$tmp/b" && chmod 755 "$tmp/b"
SANDBOX_TAG=b systemd_sandbox_start "$tmp/b" "$tmp/setup.sh" || skip "node-b: $sandbox_error"
sd_b=$sd boot_b=$boot_pid cg_b=$sandbox_cg
use_a
sbb() { nsenter -t "$sd_b" -m -p -n -C -u -r -w "$@"; }
# The link between the nodes: one veth pair, an end in each sandbox.
if ! ip link add vipd0 netns "$sd_a" type veth peer name vipd0 netns "$sd_b"; then
    fail "a veth pair between the sandboxes"; finish; exit 1
fi
sb ip addr add 198.18.0.1/24 dev vipd0 && sb ip link set vipd0 up
sbb ip addr add 198.18.0.2/24 dev vipd0 && sbb ip link set vipd0 up

# play NODE [args]: site.yml inside NODE's sandbox, on NODE only.
play() {
    local node=$1 enter=sb; shift
    [ "$node" = node-b ] && enter=sbb
    $enter env ANSIBLE_CONFIG="$play_repo/deploy/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_HOME="$tmp/ansible-home-$node" \
        ANSIBLE_LOCAL_TEMP="$tmp/ansible-tmp-$node" DEBIAN_FRONTEND=noninteractive \
        ansible-playbook -i "$tmp/inventory-$node.yml" "$play_repo/deploy/ansible/site.yml" --limit "$node" "$@"
}
recap() { grep -E "^${2:-node-a} +:" "$1" | tail -1 | tr -s ' '; }
show_failure() { grep -E -B2 -A12 "^fatal|FAILED" "$1" | head -80; echo "--- last lines of the run:"; tail -n 30 "$1"; }
started=$SECONDS

# ok RECAP RC: the run exited 0 and its recap names the node without failures.
ran_ok() { [ "$2" = 0 ] && grep -qE 'ok=[1-9].* failed=0' <<<"$1"; }
play node-a >"$tmp/run1.log" 2>&1; rc=$?
check "node-a: first run of site.yml succeeds ($(recap "$tmp/run1.log"), $((SECONDS - started)) s)" ran_ok "$(recap "$tmp/run1.log")" "$rc"
ran_ok "$(recap "$tmp/run1.log")" "$rc" || rc=1
if [ "$rc" != 0 ]; then show_failure "$tmp/run1.log"; finish; exit 1; fi

# node-b's first run (it makes node-b a standby of node-a) in parallel with
# node-a's second run: the sandboxes are separate, and nothing node-b's
# joining changes on node-a is the play's (vipd-pg sets synchronous_standby_names).
t=$SECONDS
play node-b >"$tmp/runb1.log" 2>&1 &
runb1=$!
play node-a >"$tmp/run2.log" 2>&1; rc=$?
second=$(recap "$tmp/run2.log")
check "node-a: second run succeeds and changes nothing ($second, $((SECONDS - t)) s)" \
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
    bash -c "$(declare -f sb); sd=$sd; ! sb grep -lE '30164|416265556f' /etc/systemd/system/bingo@.service /etc/systemd/system/bingo@.service.d/discovered.conf /etc/nginx/conf.d/bingo-pool.conf /etc/tmpfiles.d/bingo.conf /etc/tmpfiles.d/bingo-logdir.conf /etc/logrotate.d/bingo /etc/vipd/vipd.yaml /etc/nginx/vipd/bingo-upstream.conf"
check_pool sb node-a 2 "$port" 198.18.0.200
for unit in vipd vipd-pg nginx postgresql chrony bingo-blackhole prometheus prometheus-node-exporter \
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

# ------------------------------------------------------------ the database, node-a alone
# inst ENTER NAME: the state of vipd's instance NAME in that sandbox.
inst() {
    "$1" vipctl status --json 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(next((i.get("state") for i in d.get("instances", []) if i.get("instance") == sys.argv[1]), "absent"))' "$2"
}
psql_a() { sb runuser -u postgres -- psql -XAtq -d postgres -c "$1" 2>&1; }
psql_b() { sbb runuser -u postgres -- psql -XAtq -d postgres -c "$1" 2>&1; }
holds_db() { [ "$(inst "$1" db)" = master ] && "$1" ip -4 addr show vipd0 | grep -q 198.18.0.200/24; }
check "node-a: vipd's db instance is master and holds the database address 198.18.0.200" wait_for 10 holds_db sb
check "node-a: vipd's front instance is web" test "$(inst sb web)" = master
check "node-a: vipd-pg says eligible: primary" bash -c "$(declare -f sb); sd=$sd; sb curl -s http://127.0.0.1:8009/eligible | grep -q '^eligible: primary'"
check "node-a: PostgreSQL is a primary with the replication settings" \
    test "$(psql_a "SELECT pg_is_in_recovery(), current_setting('wal_level'), current_setting('wal_log_hints'),
                    current_setting('wal_keep_size'), current_setting('listen_addresses')")" = "f|replica|on|1GB|localhost,198.18.0.1,198.18.0.200"
check "node-a: PostgreSQL listens on the database address" bash -c "$(declare -f sb); sd=$sd; sb ss -Hltn | grep -q '198.18.0.200:5432 '"
check "node-a: pg_hba lets replication, pg_rewind and bingo in from both nodes and the database address" \
    test "$(sb grep -cE '^host (replication|postgres) replicator 198\.18\.0\.(1|2|200)/32 scram-sha-256$|^host bingo bingo 198\.18\.0\.(1|2|200)/32 scram-sha-256$' \
            "/etc/postgresql/15/main/pg_hba.conf")" = 9
check "node-a: pg_hba lets this node's bingo pool in (bingo_pool_net.0/24)" \
    sb grep -qx "host bingo bingo $POOL_NET.0/24 scram-sha-256" /etc/postgresql/15/main/pg_hba.conf
check "node-a: the replication role has REPLICATION and pg_rewind's functions" \
    test "$(psql_a "SELECT rolreplication, has_function_privilege('replicator', 'pg_read_binary_file(text, bigint, bigint, boolean)', 'EXECUTE')
                    FROM pg_roles WHERE rolname = 'replicator'")" = "t|t"
check "node-a: ~postgres/.pgpass 0600 postgres; pg.conf and the password file 0640 root:postgres" bash -c "$(declare -f sb); sd=$sd;
    [ \"\$(sb stat -c '%a %U' /var/lib/postgresql/.pgpass)\" = '600 postgres' ] &&
    [ \"\$(sb stat -c '%a %U:%G' /etc/vipd/pg.conf /etc/vipd/pg-replication.password | sort -u)\" = '640 root:postgres' ]"
check "node-a: bingo's config.yaml names the database address only" \
    test "$(sb python3 -c 'import yaml; print(yaml.safe_load(open("/opt/bingo/config.yaml"))["postgres_cluster"]["hosts"])')" = \
         "[{'address': '198.18.0.200', 'port': 5432}]"

# ------------------------------------------------------------ node-b, the standby
wait "$runb1"; rc=$?
check "node-b: first run (--limit node-b) succeeds ($(recap "$tmp/runb1.log" node-b), $((SECONDS - t)) s)" ran_ok "$(recap "$tmp/runb1.log" node-b)" "$rc"
ran_ok "$(recap "$tmp/runb1.log" node-b)" "$rc" || { show_failure "$tmp/runb1.log"; finish; exit 1; }
grep -F '"msg": "primary:' "$tmp/runb1.log" | head -1
check "node-b: a hot standby streaming from the database address as node-b" \
    test "$(psql_b "SELECT pg_is_in_recovery(), status, sender_host, conninfo LIKE '%application_name=node-b%' FROM pg_stat_wal_receiver")" = "t|streaming|198.18.0.200|t"
check "node-b: the same system identifier as node-a's" \
    test "$(psql_b "SELECT system_identifier FROM pg_control_system()")" = "$(psql_a "SELECT system_identifier FROM pg_control_system()")"
sync_b() { [ "$(psql_a "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = 'node-b'")" = "streaming|sync" ]; }
check "node-a: node-b is its synchronous standby (vipd-pg turned it on)" wait_for 20 sync_b
check "node-b: the package's empty cluster was replaced, not kept (it held no database)" \
    bash -c "$(declare -f sbb); sd_b=$sd_b; ! sbb sh -c 'ls -d /var/lib/postgresql/15/main.replaced-*' 2>/dev/null"
eligible_b() { sbb curl -s http://127.0.0.1:8009/eligible | grep -q '^eligible: standby streaming'; }
check "node-b: vipd-pg says eligible: standby streaming" wait_for 20 eligible_b
check "node-b: vipd's db instance is backup, node-a keeps the address" \
    bash -c "$(declare -f sb sbb inst holds_db); sd=$sd; sd_b=$sd_b; [ \"\$(inst sbb db)\" = backup ] && holds_db sb"
check "node-b: bingo's config.yaml names the database address only" \
    sbb grep -qxF "  - address: 198.18.0.200" /opt/bingo/config.yaml
# node-b's members reach the database address on node-a masqueraded to
# node-b's own address (nftables table ip bingo_pool), which pg_hba lets in.
port_b=$(sbb python3 -c 'import json; print(json.load(open("/opt/bingo/discovered.json"))["port"])' 2>&1)
check_pool sbb node-b 2 "$port_b" 198.18.0.200
check "node-b: GET /ping through node-b's pool from node-a (the front's path to the other node's backend)" \
    test "$(sb curl -s --max-time 3 "http://198.18.0.2:$port_b/ping")" = pong
for unit in vipd vipd-pg nginx postgresql; do
    check "node-b: $unit.service enabled and active" \
        test "$(sbb systemctl show "$unit.service" -p UnitFileState --value) $(sbb systemctl show "$unit.service" -p ActiveState --value)" = "enabled active"
done
check "node-a: bingo's user writes a session through the database address (synchronous commit)" \
    sb env PGPASSWORD=playbook-test psql -XAtq "host=198.18.0.200 user=bingo dbname=bingo connect_timeout=3" \
        -c "INSERT INTO public.sessions VALUES (4242, 1, 1)"
replicated() { [ "$(sbb runuser -u postgres -- psql -XAtq -d bingo -c "SELECT count(*) FROM public.sessions WHERE id = 4242")" = 1 ]; }
check "a session written through the database address is read on node-b's standby" wait_for 10 replicated
standby_id() { psql_b "SELECT pg_postmaster_start_time(), system_identifier FROM pg_control_system()"; }
b_before=$(standby_id)

# PLAYBOOK_QUICK=1 (CI's short version) skips the next two rounds of runs:
# another email on node-a with node-b's second run, and the runs after the
# failover. The first runs, the idempotent second run of node-a, the
# discovery, the replication and the failover itself are checked either way.
quick=${PLAYBOOK_QUICK:-0}
if [ "$quick" != 1 ]; then
# ------------------------------------------------------------ another email, and node-b again
# A changed student_email: discovered again, and every consumer follows.
# Meanwhile (in parallel: the sandboxes are separate) node-b's second run,
# which must change nothing and leave its standby alone.
email2=ops2@example.org
play node-b >"$tmp/runb2.log" 2>&1 &
runb2=$!
play node-a -e student_email=$email2 >"$tmp/run3.log" 2>&1; rc=$?
check "node-a: a run with student_email=$email2 succeeds ($(recap "$tmp/run3.log"))" ran_ok "$(recap "$tmp/run3.log")" "$rc"
[ "$rc" = 0 ] || grep -E -B2 -A12 "^fatal|FAILED" "$tmp/run3.log" | head -40
wait "$runb2"; rc=$?
second=$(recap "$tmp/runb2.log" node-b)
check "node-b: second run succeeds and changes nothing ($second)" bash -c "[ $rc = 0 ] && grep -qE 'changed=0 .*failed=0' <<<'$second'"
grep -E "^changed:" -B1 "$tmp/runb2.log" | head -20
check "node-b: ...its standby not rebuilt nor restarted" test "$(standby_id)" = "$b_before"
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
check_pool sb node-a 2 "$port2" 198.18.0.200

fi

# ------------------------------------------------------------ after a failover
# vipd stopped on node-a: it resigns, node-b's vipd takes the database
# address, node-b's vipd-pg promotes its standby, node-a's fences its primary
# (vipd gone) and rejoins it as a standby of node-b (pg_rewind). Then a run on
# each node: the promoted node-b stays the primary, node-a (postgresql_primary
# in the inventory) is not made one again, nothing is rebuilt.
sb systemctl stop vipd.service
promoted() { holds_db sbb && [ "$(psql_b "SELECT pg_is_in_recovery()")" = f ]; }
check "failover: node-b holds the database address and its PostgreSQL is the primary" wait_for 30 promoted
rejoined() { [ "$(psql_a "SELECT pg_is_in_recovery(), status FROM pg_stat_wal_receiver")" = "t|streaming" ]; }
check "failover: node-a's old primary was fenced and rejoined node-b as a standby (vipd-pg, pg_rewind)" wait_for 60 rejoined
sb systemctl start vipd.service
check "failover: node-a's vipd back, db backup (no preemption), node-b keeps the address" \
    wait_for 20 bash -c "$(declare -f sb sbb inst holds_db); sd=$sd; sd_b=$sd_b; [ \"\$(inst sb db)\" = backup ] && holds_db sbb"
if [ "$quick" != 1 ]; then
b_primary=$(psql_b "SELECT pg_postmaster_start_time()")
play node-b >"$tmp/runb3.log" 2>&1 &
runb3=$!
play node-a -e student_email="$email2" >"$tmp/run4.log" 2>&1; rc=$?
after=$(recap "$tmp/run4.log")
check "after the failover: node-a's run succeeds and changes nothing ($after)" bash -c "[ $rc = 0 ] && grep -qE 'changed=0 .*failed=0' <<<'$after'"
[ "$rc" = 0 ] || show_failure "$tmp/run4.log"
grep -E "^changed:" -B1 "$tmp/run4.log" | head -20
wait "$runb3"; rc=$?
after=$(recap "$tmp/runb3.log" node-b)
check "after the failover: node-b's run succeeds and changes nothing ($after)" bash -c "[ $rc = 0 ] && grep -qE 'changed=0 .*failed=0' <<<'$after'"
[ "$rc" = 0 ] || show_failure "$tmp/runb3.log"
grep -E "^changed:" -B1 "$tmp/runb3.log" | head -20
check "after the failover: node-b is still the primary, not restarted; node-a still its standby" bash -c "$(declare -f sb sbb psql_a psql_b); sd=$sd; sd_b=$sd_b;
    [ \"\$(psql_b 'SELECT pg_is_in_recovery(), pg_postmaster_start_time()')\" = 'f|$b_primary' ] &&
    [ \"\$(psql_a 'SELECT pg_is_in_recovery()')\" = t ]"
fi
check "after the failover: the session written before it is there" \
    test "$(sbb runuser -u postgres -- psql -XAtq -d bingo -c "SELECT count(*) FROM public.sessions WHERE id = 4242")" = 1
echo "     (playbook runs and checks: $((SECONDS - started)) s)"

if [ "$failures" != 0 ]; then
    echo "--- node-a:"; sb journalctl --no-pager -o cat -n 40 -u vipd -u vipd-pg -u 'postgresql*' | grep -v 'thread priority' | tail -40
    echo "--- node-b:"; sbb journalctl --no-pager -o cat -n 40 -u vipd -u vipd-pg -u 'postgresql*' | grep -v 'thread priority' | tail -40
fi
finish
