#!/usr/bin/env bash
# conf/mtail, conf/prometheus, conf/grafana: the mtail program compiles and
# turns a sample of nginx's JSON log into the expected series; the Prometheus
# config is valid; every query of the Grafana dashboard parses and names only
# metrics that vipd or the mtail program export. Needs mtail and promtool
# (scripts/deploy-deps.sh). Closes with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../install/lib.sh
source "$(dirname "$0")/../install/lib.sh"
cd "$repo" || exit 1
tmp=$(mktemp -d /tmp/vipd-obs-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ------------------------------------------------------------ mtail
mkdir "$tmp/progs"
cp conf/mtail/bingo.mtail "$tmp/progs/"
check "mtail compiles conf/mtail/bingo.mtail" bash -c "mtail --compile_only --progs '$tmp/progs' --logtostderr >'$tmp/compile.txt' 2>&1"
mtail --one_shot --one_shot_format=prometheus --progs "$tmp/progs" \
      --logs conf/mtail/testdata/bingo.access.log --logtostderr 2>/dev/null | grep -v '^#' >"$tmp/out"
series() { grep -F "$1" "$tmp/out" | awk '{print $NF}'; }
check "requests counted by endpoint, method, status" \
    test "$(series 'bingo_http_requests_total{endpoint="/api/movie/{id}",method="GET",prog="bingo.mtail",status="200"}')" = 1
check "a 504 on POST /operation is an error" \
    test "$(series 'bingo_http_errors_total{endpoint="/operation",method="POST"')" = 1
check "200s are not errors" bash -c "! grep -q 'bingo_http_errors_total{endpoint=\"/ping\"' '$tmp/out'"
check "a quoted \"endpoint\" inside the URI does not confuse the parser (/ping counted once)" \
    test "$(series 'bingo_http_requests_total{endpoint="/ping",method="GET",prog="bingo.mtail",status="200"}')" = 1
check "retry on the other backend counted (upstream_status \"500, 200\")" \
    test "$(series 'bingo_http_upstream_retries_total{endpoint="/ping"')" = 1
check "/long_dummy cache HIT counted" \
    test "$(series 'bingo_http_cache_total{cache_status="HIT",endpoint="/long_dummy"')" = 1
check "latency histogram: 12 ms lands in le=0.025, not le=0.01" \
    test "$(series 'bingo_http_request_duration_seconds_bucket{endpoint="/api/movie/{id}",method="GET",prog="bingo.mtail",le="0.01"}') $(series 'bingo_http_request_duration_seconds_bucket{endpoint="/api/movie/{id}",method="GET",prog="bingo.mtail",le="0.025"}')" = "0 1"
check "the non-JSON line is counted as unparsed" \
    test "$(series 'bingo_http_log_lines_unparsed_total{')" = 1

# The sample log must still match what nginx writes: same keys, same order.
fmt_keys=$(sed -n "/^log_format bingo_json/,/;\$/p" conf/nginx/bingo-http.conf | grep -oE '"[a-z_]+":' | tr -d '":' | paste -sd' ')
log_keys=$(head -1 conf/mtail/testdata/bingo.access.log | python3 -c 'import json,sys; print(" ".join(json.loads(sys.stdin.read())))')
check "testdata uses nginx's log_format keys in nginx's order" test "$fmt_keys" = "$log_keys"
[ "$fmt_keys" = "$log_keys" ] || printf 'nginx: %s\nlog:   %s\n' "$fmt_keys" "$log_keys"

# ------------------------------------------------------------ prometheus
out=$(promtool check config --syntax-only conf/prometheus/prometheus.yml 2>&1)
check "promtool: conf/prometheus/prometheus.yml is valid" grep -q SUCCESS <<<"$out"
grep -q SUCCESS <<<"$out" || echo "$out"

out=$(promtool check rules conf/prometheus/vipd-alerts.yml 2>&1)
check "promtool: conf/prometheus/vipd-alerts.yml is valid" grep -q SUCCESS <<<"$out"
grep -q SUCCESS <<<"$out" || echo "$out"

# ------------------------------------------------------------ grafana
python3 - conf/grafana/vipd-dashboard.json "$tmp/rules.yml" "$tmp/names" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for p in panels:
        exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
        walk(p.get("panels", []))
walk(dash["panels"])
exprs += [a["expr"] for a in dash.get("annotations", {}).get("list", []) if a.get("expr")]
# The alerting rules' metric names are checked the same way (not re-parsed).
alerts = open("conf/prometheus/vipd-alerts.yml").read()
extra_names = re.findall(r"\b((?:vipd|bingo_http)_[a-z_]+)", alerts)
with open(sys.argv[2], "w") as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__range", "1h").replace("$__rate_interval", "1m")
        f.write(f"  - record: dashboard:q{i}\n    expr: {json.dumps(e)}\n")
names = set(re.findall(r"\b((?:vipd|bingo_http|nginx)_[a-z_]+)", " ".join(exprs))) | set(extra_names)
open(sys.argv[3], "w").write("\n".join(sorted(names)) + "\n")
pass
PY
out=$(promtool check rules "$tmp/rules.yml" 2>&1)
check "promtool: every dashboard query parses" grep -q SUCCESS <<<"$out"
grep -q SUCCESS <<<"$out" || echo "$out"
# vipd-pg's names: its literal gauges and the counters it builds from COUNTERS.
PYTHONPATH=libexec python3 -c '
import re
from vipd_pg.agent import COUNTERS
text = open("libexec/vipd_pg/agent.py").read()
names = set(re.findall(r"\"(vipd_pg_[a-z_]+)\"", text)) | {f"vipd_pg_{c}_total" for c in COUNTERS} | {"vipd_pg_role"}
print("\n".join(sorted(names)))' >"$tmp/pg_names"
missing=""
while read -r name; do
    base=${name%_bucket}
    case $name in
        vipd_pg_*) grep -qx "$name" "$tmp/pg_names" || missing="$missing $name" ;;
        vipd_*) grep -rqF "\"$name\"" Sources/ || missing="$missing $name" ;;
        bingo_http_*) grep -qE "^(counter|histogram|gauge) $base\b" conf/mtail/bingo.mtail || missing="$missing $name" ;;
        nginx_*) ;;  # prometheus-nginx-exporter's own names
    esac
done <"$tmp/names"
check "dashboard and alerts name only metrics vipd and bingo.mtail export${missing:+ (missing:$missing)}" test -z "$missing"

finish
