#!/usr/bin/env bash
# deploy/ansible: `ansible-playbook --syntax-check`, `ansible-lint` (production
# profile), and every template rendered for both hosts of the example
# inventory, then checked by the real consumers: `vipd check-config` (this
# build's vipd), `promtool check config`, YAML parsing of bingo's config,
# `vipd-pg check-config` (libexec/vipd-pg) for pg.conf, PostgreSQL's own list
# of settings for the replication settings. The replicated layout (the
# default), vipd's first pass before bingo's port is known, and the local
# layout.
# Needs scripts/deploy-deps.sh and a vipd build (BIN_DIR, default the debug
# build). Closes with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../install/lib.sh
source "$(dirname "$0")/../install/lib.sh"
bin=$(bin_dir) || exit 1
cd "$repo" || exit 1
tmp=$(mktemp -d /tmp/vipd-ansible-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export ANSIBLE_CONFIG=$repo/deploy/ansible/ansible.cfg
export ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$tmp/ansible-local ANSIBLE_HOME=$tmp/ansible-home
inventory=deploy/ansible/inventory.example.yml

out=$(ansible-playbook -i "$inventory" --syntax-check deploy/ansible/site.yml 2>&1)
check "ansible-playbook --syntax-check site.yml" grep -q "^playbook: deploy/ansible/site.yml" <<<"$out"
grep -q "^playbook:" <<<"$out" || echo "$out"

out=$(cd deploy/ansible && ansible-lint --nocolor --profile production 2>&1); rc=$?
check "ansible-lint (production profile) passes" test "$rc" = 0
[ "$rc" = 0 ] || grep -vE "WARNING .*display.py" <<<"$out" | tail -40

# Passwords on the command line, so the render does not create credentials/.
render() {  # DIR [ansible-playbook args]: render into DIR, one check
    local dir=$1; shift
    out=$(ansible-playbook -i "$inventory" Tests/deploy/render.yml -e out="$dir" -e bingo_db_password=render-test \
          -e postgresql_replication_password=render-test "$@" 2>&1); rc=$?
    check "every template renders for both hosts ($(basename "$dir")${*:+: $*})" test "$rc" = 0
    [ "$rc" = 0 ] || tail -30 <<<"$out"
}
render "$tmp/r"
render "$tmp/local" -e postgresql_mode=local
# vipd's first pass in the replicated layout, before the bingo role has
# discovered the port on a fresh host.
render "$tmp/first" -e bingo_port=""
# Another pool size and network.
render "$tmp/pool" -e bingo_pool_size=7 -e bingo_pool_net=198.19.81
# Out of range: a clear failure before anything else.
for bad in "bingo_pool_size=0" "bingo_pool_size=201" "bingo_pool_size=four" "bingo_pool_net=10.0" "bingo_pool_net=198.19.256"; do
    out=$(ansible-playbook -i "$inventory" Tests/deploy/render.yml -e out="$tmp/bad" -e bingo_db_password=render-test \
          -e postgresql_replication_password=render-test -e "$bad" 2>&1); rc=$?
    check "$bad is refused with a message naming both settings" \
        bash -c "[ $rc != 0 ] && grep -q 'bingo_pool_size must be a whole number from 1 to 200' <<<\"\$1\"" _ "$out"
done

# pool_checks.py VIPD_YAML SIZE NET: the bingo pool's checks in a rendered vipd.yaml.
cat >"$tmp/pool_checks.py" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1])); size = int(sys.argv[2]); net = sys.argv[3]
checks = {k["name"]: k for k in c["checks"]}
b = checks["bingo"]
assert b["role"] == "backend" and "restart" not in b and b["http"]["url"] == "http://127.0.0.1:31234/ping", b
names = [k["name"] for k in c["checks"] if k["name"].startswith("bingo-")]
assert names == [n for i in range(1, size + 1) for n in ("bingo-%d" % i, "bingo-memory-%d" % i)], names
for i in range(1, size + 1):
    m, mem = checks["bingo-%d" % i], checks["bingo-memory-%d" % i]
    unit = ["/usr/bin/systemctl", "--no-ask-password", "restart", "bingo@%d.service" % i]
    assert m["role"] == "monitor" and m["http"]["url"] == "http://%s.%d:31234/ping" % (net, 10 + i), m
    assert (m["interval"], m["timeout"], m["rise"], m["fall"]) == (b["interval"], b["timeout"], b["rise"], b["fall"]), m
    assert m["restart"] == {"command": unit, "backoff": "10s", "max_backoff": "5m"}, m
    assert mem["role"] == "monitor" and mem["exec"]["command"][1:3] == ["--unit", "bingo@%d.service" % i], mem
    assert mem["restart"]["command"] == unit, mem
PY
head -c 32 /dev/urandom | base64 >"$tmp/auth.key"; chmod 600 "$tmp/auth.key"
head -c 32 /dev/urandom | base64 >"$tmp/token"; chmod 600 "$tmp/token"
for host in node-a node-b; do
    r=$tmp/r/$host
    sed -e "s#/etc/vipd/auth.key#$tmp/auth.key#" -e "s#/etc/vipd/control.token#$tmp/token#" "$r/vipd.yaml" >"$r/vipd-check.yaml"
    out=$("$bin/vipd" check-config "$r/vipd-check.yaml" 2>&1)
    check "$host: vipd check-config accepts the rendered vipd.yaml (web and db)" grep -q ": OK (node $host, 1 peer(s), 2 instance(s), 2 VIP(s))" <<<"$out"
    grep -q ": OK" <<<"$out" || echo "$out"
    out=$("$bin/vipctl" check-config "$r/vipd-check.yaml" 2>&1)
    check "$host: the instances are web (vrid 51) and db (vrid 52)" grep -qF "instances web (vrid 51), db (vrid 52)" <<<"$out"
    check "$host: db follows only the pg check (vipd-pg's /eligible), never preempts, holds 198.18.0.200" python3 - "$r/vipd.yaml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
web, db = c["instances"]
assert web["track_checks"] == ["nginx", "bingo"] and web["vips"] == [{"address": "198.18.0.100/24"}], web
assert db["track_checks"] == ["pg"] and db["timing"] == {"preempt": False}, db
assert db["vips"] == [{"address": "198.18.0.200/24"}] and "quorum" not in db, db
pg = [k for k in c["checks"] if k["name"] == "pg"][0]
assert pg["role"] == "front" and pg["http"]["url"] == "http://127.0.0.1:8009/eligible", pg
assert pg["http"]["body_contains"] == "eligible" and (pg["interval"], pg["timeout"], pg["rise"], pg["fall"]) == ("500ms", "400ms", 1, 3), pg
PY
    l=$tmp/local/$host
    sed -e "s#/etc/vipd/auth.key#$tmp/auth.key#" -e "s#/etc/vipd/control.token#$tmp/token#" "$l/vipd.yaml" >"$l/vipd-check.yaml"
    out=$("$bin/vipd" check-config "$l/vipd-check.yaml" 2>&1)
    check "$host: local layout - one router, no pg check" bash -c \
        "grep -q ': OK (node $host, 1 peer(s), 1 instance(s), 1 VIP(s))' <<<'$out' && ! grep -q 'name: pg' '$l/vipd.yaml'"
    f=$tmp/first/$host
    sed -e "s#/etc/vipd/auth.key#$tmp/auth.key#" -e "s#/etc/vipd/control.token#$tmp/token#" "$f/vipd.yaml" >"$f/vipd-check.yaml"
    out=$("$bin/vipd" check-config "$f/vipd-check.yaml" 2>&1)
    check "$host: first pass (port unknown) - valid, db ready, no bingo check, nginx manager writing nowhere nginx reads" bash -c \
        "grep -q ': OK (node $host, 1 peer(s), 2 instance(s), 2 VIP(s))' <<<'$out' && ! grep -q -- '- name: bingo' '$f/vipd.yaml' &&
         grep -q 'track_checks: \[nginx\]' '$f/vipd.yaml' && grep -qx '  upstream_file: /etc/nginx/vipd/pending-discovery/bingo-upstream.conf' '$f/vipd.yaml'"
    out=$(python3 libexec/vipd-pg --config "$r/pg.conf" check-config 2>&1)
    check "$host: vipd-pg check-config accepts the rendered pg.conf" grep -qF ": OK (instance db, node $host, DB address 198.18.0.200, listen 127.0.0.1:8009)" <<<"$out"
    grep -q ": OK" <<<"$out" || echo "$out"
    check "$host: pg.conf - the replication role rewinds too, systemd starts and fences the cluster" bash -c "
        grep -qx 'rewind_user = replicator' '$r/pg.conf' &&
        grep -qx 'start = systemctl --no-ask-password start postgresql@15-main.service' '$r/pg.conf' &&
        grep -qx 'stop_immediate = systemctl --no-ask-password kill --signal=SIGQUIT postgresql@15-main.service' '$r/pg.conf'"
    addr=198.18.0.1; [ "$host" = node-b ] && addr=198.18.0.2   # inventory.example.yml
    check "$host: replication settings - listen on $addr and the DB address, wal_keep_size 1GB, pg_rewind's wal_log_hints" bash -c "
        grep -qx \"listen_addresses = 'localhost,$addr,198.18.0.200'\" '$r/vipd-replication.conf' &&
        grep -qx 'wal_keep_size = 1GB' '$r/vipd-replication.conf' && grep -qx 'wal_log_hints = on' '$r/vipd-replication.conf' &&
        grep -qx 'wal_level = replica' '$r/vipd-replication.conf' && grep -qx 'synchronous_commit = on' '$r/vipd-replication.conf' &&
        ! grep -q '^synchronous_standby_names' '$r/vipd-replication.conf'"
    if [ -x /usr/lib/postgresql/15/bin/postgres ]; then
        known=$(runuser -u nobody -- /usr/lib/postgresql/15/bin/postgres --describe-config 2>/dev/null | cut -f1)
        unknown=$(grep -oE '^[a-z_]+' "$r/vipd-replication.conf" | grep -vxF -f <(echo "$known") || true)
        check "$host: every replication setting is one PostgreSQL 15 knows (${unknown:-all known})" test -z "$unknown"
    fi
    out=$(promtool check config --syntax-only "$r/prometheus.yml" 2>&1)
    check "$host: promtool accepts the rendered prometheus.yml" grep -q SUCCESS <<<"$out"
    grep -q SUCCESS <<<"$out" || echo "$out"
    check "$host: bingo config.yaml has student_email and the database" python3 - "$r/bingo-config.yaml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["student_email"] == "you@example.com", c
pg = c["postgres_cluster"]
assert pg["hosts"] == [{"address": "198.18.0.200", "port": 5432}], pg  # the DB address only
assert pg["user"] == "bingo" and pg["password"] == "render-test" and pg["db_name"] == "bingo", pg
PY
    check "$host: starting upstream lists both backends" \
        test "$(grep -cE '^    server 198\.18\.0\.[12]:31234;$' "$r/bingo-upstream.conf")" = 2
    check "$host: the bingo pool - 4 members on 169.254.80 (defaults): bingo (backend, no restart), bingo-N and bingo-memory-N (monitor, restart bingo@N)" \
        python3 "$tmp/pool_checks.py" "$r/vipd.yaml" 4 169.254.80
    p=$tmp/pool/$host
    sed -e "s#/etc/vipd/auth.key#$tmp/auth.key#" -e "s#/etc/vipd/control.token#$tmp/token#" "$p/vipd.yaml" >"$p/vipd-check.yaml"
    out=$("$bin/vipd" check-config "$p/vipd-check.yaml" 2>&1)
    check "$host: bingo_pool_size=7 on 198.19.81 - vipd check-config accepts it" grep -q ': OK' <<<"$out"
    grep -q ": OK" <<<"$out" || echo "$out"
    check "$host: ...7 members on 198.19.81" python3 "$tmp/pool_checks.py" "$p/vipd.yaml" 7 198.19.81
    check "$host: /etc/default/bingo-pool names the pool's network" grep -qx "BINGO_POOL_NET=169.254.80" "$r/bingo-pool.default"
    check "$host: vipd's bingo check and backend_port use the discovered port" \
        bash -c "grep -qF 'http://127.0.0.1:31234/ping' '$r/vipd.yaml' && grep -qE '^  backend_port: 31234$' '$r/vipd.yaml'"
    check "$host: nginx site carries the inventory's domain" grep -q "server_name bingo.example.com;" "$r/bingo.conf"
done
check "node-a's peer is node-b and vice versa" bash -c "
    grep -A1 '^  - id: node-b' '$tmp/r/node-a/vipd.yaml' | grep -q 198.18.0.2 &&
    grep -A1 '^  - id: node-a' '$tmp/r/node-b/vipd.yaml' | grep -q 198.18.0.1"
check "node-a federates node-b's Prometheus" grep -q '198.18.0.2:9090' "$tmp/r/node-a/prometheus.yml"

finish
