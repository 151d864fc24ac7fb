#!/usr/bin/env bash
# deploy/ansible: `ansible-playbook --syntax-check`, `ansible-lint` (production
# profile), and every template rendered for both hosts of the example
# inventory, then checked by the real consumers: `vipd check-config` (this
# build's vipd), `promtool check config`, YAML parsing of bingo's config.
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

# A password on the command line, so the render does not create credentials/.
out=$(ansible-playbook -i "$inventory" Tests/deploy/render.yml -e out="$tmp/r" -e bingo_db_password=render-test 2>&1); rc=$?
check "every template renders for both hosts" test "$rc" = 0
[ "$rc" = 0 ] || tail -30 <<<"$out"

head -c 32 /dev/urandom | base64 >"$tmp/auth.key"; chmod 600 "$tmp/auth.key"
head -c 32 /dev/urandom | base64 >"$tmp/token"; chmod 600 "$tmp/token"
for host in node-a node-b; do
    r=$tmp/r/$host
    sed -e "s#/etc/vipd/auth.key#$tmp/auth.key#" -e "s#/etc/vipd/control.token#$tmp/token#" "$r/vipd.yaml" >"$r/vipd-check.yaml"
    out=$("$bin/vipd" check-config "$r/vipd-check.yaml" 2>&1)
    check "$host: vipd check-config accepts the rendered vipd.yaml" grep -q ": OK (node $host, 1 peer(s), 1 instance(s), 1 VIP(s))" <<<"$out"
    grep -q ": OK" <<<"$out" || echo "$out"
    out=$(promtool check config --syntax-only "$r/prometheus.yml" 2>&1)
    check "$host: promtool accepts the rendered prometheus.yml" grep -q SUCCESS <<<"$out"
    grep -q SUCCESS <<<"$out" || echo "$out"
    check "$host: bingo config.yaml has student_email and the database" python3 - "$r/bingo-config.yaml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["student_email"] == "you@example.com", c
pg = c["postgres_cluster"]
assert pg["hosts"][0]["address"] == "127.0.0.1" and pg["hosts"][0]["port"] == 5432, pg
assert pg["user"] == "bingo" and pg["password"] == "render-test" and pg["db_name"] == "bingo", pg
PY
    check "$host: starting upstream lists both backends" \
        test "$(grep -cE '^    server 198\.18\.0\.[12]:31234;$' "$r/bingo-upstream.conf")" = 2
    check "$host: vipd's bingo check and backend_port use the discovered port" \
        bash -c "grep -qF 'http://127.0.0.1:31234/ping' '$r/vipd.yaml' && grep -qE '^  backend_port: 31234$' '$r/vipd.yaml'"
    check "$host: nginx site carries the inventory's domain" grep -q "server_name bingo.example.com;" "$r/bingo.conf"
done
check "node-a's peer is node-b and vice versa" bash -c "
    grep -A1 '^  - id: node-b' '$tmp/r/node-a/vipd.yaml' | grep -q 198.18.0.2 &&
    grep -A1 '^  - id: node-a' '$tmp/r/node-b/vipd.yaml' | grep -q 198.18.0.1"
check "node-a federates node-b's Prometheus" grep -q '198.18.0.2:9090' "$tmp/r/node-a/prometheus.yml"

finish
