#!/bin/bash
# test-nginx-conf.sh -- validates and exercises the bingo nginx front on loopback.
#
# 1. Copies bingo-http.conf, bingo.conf and bingo-upstream.conf.example into a
#    temporary nginx prefix with a minimal main nginx.conf shaped like Debian's
#    (conf.d/*.conf and sites-enabled/* included in http{}), rewriting with sed:
#    listen ports -> 127.0.0.1:<free high ports>, /etc/nginx/vipd, log and cache
#    paths -> the temporary prefix, backends -> two bingo stand-ins on
#    127.0.0.1. A guard then fails the test if any production address, port or
#    path survived the rewrite. Runs enable-http3.sh and make-selfsigned-cert.sh
#    against the prefix, and `nginx -t`.
# 2. Starts two stand-ins (Tests/standin/bingo_standin.py) and nginx, and checks
#    with curl: /ping over HTTP and HTTP/2+TLS, the health listener, no-store and
#    no caching on /api/movie/1, POST bodies, /long_dummy MISS then HIT then a
#    stale answer refreshed in the background, retry on 500 and on timeout for
#    GET, no retry of a POST once sent, and service with one stand-in crashed.
#
# Only 127.0.0.1 is used. Every process started here is stopped by PID on exit,
# whatever the outcome (trap). Needs nginx (installed with apt-get if missing
# and running as root), curl, openssl, python3.
# Usage: conf/nginx/test-nginx-conf.sh      (KEEP_TMP=1 keeps the temp prefix)
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
standin=$repo/Tests/standin/bingo_standin.py
curl=(curl --noproxy '*' -s --max-time 30)   # never via a proxy: loopback only

if ! command -v nginx >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null || exit 1
    else
        echo "nginx is not installed (apt-get install -y nginx)" >&2; exit 1
    fi
fi

tmp=$(mktemp -d /tmp/vipd-nginx-test.XXXXXX)
pids=()
cleanup() {
    local pid i
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }

# Seven distinct free ports on 127.0.0.1 (all bound at once so they differ).
read -r http_port https_port health_port b1 b1c b2 b2c < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(7)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')

# ------------------------------------------------------------ config prefix
mkdir -p "$tmp"/{conf.d,sites-enabled,vipd/tls,logs,lib,tmp}
chmod 755 "$tmp"   # mktemp -d is 0700; the workers (www-data) must traverse it

sed -e "s#/var/lib/nginx/bingo-cache#$tmp/lib/bingo-cache#" \
    "$here/bingo-http.conf" >"$tmp/conf.d/bingo-http.conf"
# The stale-answer check below must not wait 45 s: the test copy keeps
# /long_dummy answers fresh for 2 s. Everything else is the shipped config.
sed -e "s#/etc/nginx/vipd/#$tmp/vipd/#g" \
    -e "s#/var/log/nginx/#$tmp/logs/#g" \
    -e "s#listen 80 default_server#listen 127.0.0.1:$http_port default_server#" \
    -e "s#listen 443 ssl http2 default_server#listen 127.0.0.1:$https_port ssl http2 default_server#" \
    -e "s#listen 127.0.0.1:8081#listen 127.0.0.1:$health_port#" \
    -e "s#proxy_cache_valid\( *\)200 45s#proxy_cache_valid\1200 2s#" \
    "$here/bingo.conf" >"$tmp/sites-enabled/bingo.conf"
# max_fails=0 in the test only: with nginx's passive checks a failed backend
# is skipped for 10 s, and the scenarios below would stop reaching the broken
# stand-in they are meant to exercise. Production keeps the defaults.
sed -E -e "s#198\.18\.0\.1:[0-9]+#127.0.0.1:$b1 max_fails=0#" \
    -e "s#198\.18\.0\.2:[0-9]+#127.0.0.1:$b2 max_fails=0#" \
    "$here/bingo-upstream.conf.example" >"$tmp/vipd/bingo-upstream.conf"

if [ "$(id -u)" = 0 ]; then user_line="user www-data;"; else user_line=""; fi
cat >"$tmp/nginx.conf" <<EOF
# Minimal main config for the test, shaped like Debian's /etc/nginx/nginx.conf.
$user_line
worker_processes 1;   # one worker: round-robin order is then deterministic
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log notice;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $tmp/logs/access.log;
    client_body_temp_path $tmp/tmp/body;
    proxy_temp_path       $tmp/tmp/proxy;
    fastcgi_temp_path     $tmp/tmp/fastcgi;
    uwsgi_temp_path       $tmp/tmp/uwsgi;
    scgi_temp_path        $tmp/tmp/scgi;
    include $tmp/conf.d/*.conf;
    include $tmp/sites-enabled/*;
}
EOF

# Guard: nothing may still point at production ports, paths or lab addresses
# (comments stripped first: they may mention them).
leftovers=$(for f in "$tmp"/conf.d/* "$tmp"/sites-enabled/* "$tmp"/vipd/*.conf; do
    sed 's/[[:space:]]*#.*$//' "$f" |
        grep -nE '/etc/nginx/vipd|/var/(log|lib|cache)/nginx|198\.18\.|listen +(80|443)[ ;]|:8081' |
        sed "s#^#$f:#"
done)
check "rewritten config has no production ports, paths or addresses" test -z "$leftovers"
[ -z "$leftovers" ] || { echo "$leftovers"; exit 1; }

out=$("$here/enable-http3.sh" "$tmp/vipd/bingo-http3.conf" 2>&1); echo "     $out"
if nginx -V 2>&1 | grep -q -- --with-http_v3_module; then
    check "enable-http3.sh installed the HTTP/3 include" grep -q quic "$tmp/vipd/bingo-http3.conf"
else
    check "enable-http3.sh left an empty include (no http_v3 in this nginx)" \
        bash -c "! grep -v '^#' '$tmp/vipd/bingo-http3.conf' | grep -q ."
fi

"$here/make-selfsigned-cert.sh" "$tmp/vipd/tls" localhost >/dev/null
sum1=$(cat "$tmp"/vipd/tls/bingo.{crt,key} | sha256sum)
"$here/make-selfsigned-cert.sh" "$tmp/vipd/tls" localhost >/dev/null
sum2=$(cat "$tmp"/vipd/tls/bingo.{crt,key} | sha256sum)
check "make-selfsigned-cert.sh is idempotent" test "$sum1" = "$sum2"
check "certificate key is private (0600)" test "$(stat -c %a "$tmp/vipd/tls/bingo.key")" = 600

nginx_t=$(nginx -p "$tmp/" -c "$tmp/nginx.conf" -t 2>&1)
check "nginx -t accepts the configuration" grep -q "test is successful" <<<"$nginx_t"
grep -q "test is successful" <<<"$nginx_t" || { echo "$nginx_t"; exit 1; }

# The same files under Debian's stock main config (its http-level settings:
# gzip, ssl_protocols, sendfile, ...), with its includes pointed at the prefix
# -- which also stands for "Debian's default site removed". Only -t, so
# nothing binds; logs and temp dirs are redirected so /var is not touched.
if [ -f /etc/nginx/nginx.conf ]; then
    sed -e "s#^pid .*#pid $tmp/debian.pid;#" \
        -e "s#/var/log/nginx/#$tmp/logs/debian-#g" \
        -e "s#/etc/nginx/conf.d/#$tmp/conf.d/#" \
        -e "s#/etc/nginx/sites-enabled/#$tmp/sites-enabled/#" \
        -e "s#^http {#http { client_body_temp_path $tmp/tmp/body; proxy_temp_path $tmp/tmp/proxy; fastcgi_temp_path $tmp/tmp/fastcgi; uwsgi_temp_path $tmp/tmp/uwsgi; scgi_temp_path $tmp/tmp/scgi;#" \
        /etc/nginx/nginx.conf >"$tmp/debian-nginx.conf"
    nginx_t=$(nginx -p "$tmp/" -c "$tmp/debian-nginx.conf" -t 2>&1)
    check "nginx -t accepts it under Debian's /etc/nginx/nginx.conf" grep -q "test is successful" <<<"$nginx_t"
    grep -q "test is successful" <<<"$nginx_t" || echo "$nginx_t"
fi

# ------------------------------------------------------------ run it
# The stand-ins: bingo refuses root, so as nobody when this runs as root,
# with a root prefix holding config.yaml. Kind knobs, because this test is
# about the nginx site, not bingo: fixed ports and log directory (the site's
# upstream is rewritten to them), --no-db, --lifetime never, and a short
# start-up (this host may have a route to 8.8.8.8; the blackhole route is
# bingo-blackhole.service's, not this test's).
chmod 755 "$tmp"
mkdir -p "$tmp/bingo-root/opt/bingo" "$tmp/bingo-logs"
printf 'student_email: nginx-test@example.com\npostgres_cluster:\n  hosts:\n  - address: localhost\n    port: 5432\n  user: postgres\n  password: postgres\n  db_name: postgres\n  ssl_mode: disable\n  use_closest_node: false\n' \
    >"$tmp/bingo-root/opt/bingo/config.yaml"
chmod -R a+rX "$tmp/bingo-root"
as_bingo=()
if [ "$(id -u)" = 0 ]; then
    chown nobody "$tmp/bingo-logs"
    as_bingo=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
start_standin() {  # NAME PORT CONTROL_PORT
    "${as_bingo[@]}" /usr/bin/python3 "$standin" --root "$tmp/bingo-root" --log-dir "$tmp/bingo-logs" \
        --host 127.0.0.1 --port "$2" --control-port "$3" --name "$1" --no-db --lifetime never \
        --init-timeout 0.2 --quiet run_server &
}
start_standin b1 "$b1" "$b1c"
pids+=($!)
start_standin b2 "$b2" "$b2c"
pids+=($!)
nginx -p "$tmp/" -c "$tmp/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")

wait_port() {
    local i
    for i in $(seq 100); do
        "${curl[@]}" -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "nothing answers on 127.0.0.1:$1" >&2; return 1
}
wait_port "$b1" && wait_port "$b2" && wait_port "$health_port" || exit 1

front=http://127.0.0.1:$http_port
# fetch METHOD PATH [BODY] [extra curl args]: sets $status $took $body, headers in $tmp/h
fetch() {
    local method=$1 path=$2 data=${3:-}; shift 3 2>/dev/null || shift $#
    local args=(-X "$method" -D "$tmp/h" -o "$tmp/b" -w '%{http_code} %{time_total}')
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
    read -r status took < <("${curl[@]}" "${args[@]}" "$@" "$front$path")
    body=$(cat "$tmp/b")
}
hdr() { grep -i "^$1:" "$tmp/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# count NODE ENDPOINT: requests the stand-in has seen, e.g. count b1 "GET /ping"
count() {
    local port=$b1c; [ "$1" = b2 ] && port=$b2c
    "${curl[@]}" "http://127.0.0.1:$port/control/state" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_by_endpoint"].get(sys.argv[1], 0))' "$2"
}
control() { "${curl[@]}" -o /dev/null -X POST "http://127.0.0.1:$1$2"; }
faster_than() { python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))' "$1" "$2"; }

check "health listener: /vipd-health answers ok" \
    test "$("${curl[@]}" "http://127.0.0.1:$health_port/vipd-health")" = ok
check "health listener: stub_status" \
    grep -q "Active connections" <<<"$("${curl[@]}" "http://127.0.0.1:$health_port/nginx_status")"

fetch GET /ping
check "GET /ping over HTTP -> 200 pong" test "$status $body" = "200 pong"
check "GET /ping carries Cache-Control: no-store" test "$(hdr Cache-Control)" = no-store
check "GET /ping shows the answering node" grep -qE '^b[12]$' <<<"$(hdr X-Bingo-Node)"

h2=$("${curl[@]}" -k --http2 -o /dev/null -w '%{http_code} %{http_version}' "https://127.0.0.1:$https_port/ping")
check "GET /ping over TLS uses HTTP/2 -> 200" test "$h2" = "200 2"
plain=$("${curl[@]}" -o /dev/null -w '%{http_code}' "$front/")
check "plain HTTP is served, not redirected (GET / -> 200)" test "$plain" = 200

nodes=$(for i in 1 2 3 4; do fetch GET /ping; hdr X-Bingo-Node; done | sort -u | tr '\n' ' ')
check "requests are spread over both stand-ins ($nodes)" test "$nodes" = "b1 b2 "

# /api/movie/1: never cached, by nginx or by the client.
before=$(( $(count b1 "GET /api/movie/{id}") + $(count b2 "GET /api/movie/{id}") ))
for i in 1 2 3 4 5; do fetch GET /api/movie/1; done
after=$(( $(count b1 "GET /api/movie/{id}") + $(count b2 "GET /api/movie/{id}") ))
check "GET /api/movie/1 -> 200 JSON" test "$status $(hdr Content-Type)" = "200 application/json"
check "GET /api/movie/1 carries Cache-Control: no-store" test "$(hdr Cache-Control)" = no-store
check "GET /api/movie/1 has no cache status" test -z "$(hdr X-Cache-Status)"
check "GET /api/movie/1 is not cached (5 requests reached the stand-ins: $((after - before)))" \
    test $((after - before)) = 5

# POST goes through the named location; the body must arrive intact.
# bingo answers every harmless value with the same fixed body, so "intact"
# shows as: a valid body -> 200, a bad one -> 400 (below), both from bingo.
fetch POST /operation '{"operation": 7}'
check "POST /operation -> 200 with the body intact" test "$status" = 200
check "POST /operation carries Cache-Control: no-store" test "$(hdr Cache-Control)" = no-store
fetch POST /operation '{"operation": "x"}'
check "POST /operation with a bad body -> 400 from bingo" test "$status" = 400
fetch POST /api/session '{"start_time": "2021-12-09T16:12:52.059188Z", "customer_id": 1, "movie_id": 2}'
sid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$body" 2>/dev/null)
check "POST /api/session -> 200 with an id" test "$status" = 200 -a -n "$sid"
# The stand-ins do not share a database: delete on the node that created it
# would need session affinity, so only check that DELETE is proxied.
fetch DELETE "/api/session/$sid"
check "DELETE /api/session/{id} is proxied (200 or 404 from bingo)" grep -qE '^(200|404)$' <<<"$status"

# /long_dummy: MISS (slow), then HIT (fast), then stale + background refresh.
fetch GET /long_dummy
first_body=$body
check "GET /long_dummy first time: MISS, slow (${took}s)" \
    test "$status $(hdr X-Cache-Status)" = "200 MISS" -a "$(faster_than "$took" 1.4 && echo fast)" = ""
fetch GET /long_dummy
check "GET /long_dummy second time: HIT, under 1 s (${took}s)" \
    test "$status $(hdr X-Cache-Status)" = "200 HIT" -a "$(faster_than "$took" 1.0 && echo fast)" = fast
check "GET /long_dummy has no Cache-Control: no-store" test -z "$(hdr Cache-Control)"
# (HTTP/2 header names arrive in lower case)
h=$("${curl[@]}" -k -D - -o /dev/null "https://127.0.0.1:$https_port/long_dummy" |
    grep -i '^X-Cache-Status:' | cut -d' ' -f2- | tr -d '\r')
check "GET /long_dummy over HTTPS shares the cache entry ($h)" test "$h" = HIT
# The test copy keeps answers fresh for 2 s -- up to 3 s really: nginx keeps
# cache validity in whole seconds. Poll until the copy is no longer fresh.
for i in $(seq 30); do
    sleep 0.2; fetch GET /long_dummy
    [ "$(hdr X-Cache-Status)" = HIT ] || break
done
check "expired /long_dummy is answered at once from the stale copy (${took}s, $(hdr X-Cache-Status))" \
    test "$(faster_than "$took" 1.0 && echo fast) $body" = "fast $first_body"
for i in $(seq 30); do   # the background refresh takes ~1.5 s
    sleep 0.2; fetch GET /long_dummy
    [ "$body" != "$first_body" ] && break
done
check "background refresh replaced the copy (HIT, new body)" \
    test "$status $(hdr X-Cache-Status)" = "200 HIT" -a "$body" != "$first_body"
n=$(( $(count b1 "GET /long_dummy") + $(count b2 "GET /long_dummy") ))
check "stand-ins saw only 2 of the /long_dummy requests (the fill and the refresh: $n)" test "$n" = 2

# A sick stand-in: GET is retried on 500.
control "$b1c" /control/bad
codes=$(for i in 1 2 3 4 5 6; do fetch GET /ping; echo "$status"; done | sort | uniq -c | xargs)
check "b1 bad: 6 GET /ping all 200 via retry ($codes)" test "$codes" = "6 200"
check "b1 bad: b1 was really asked" test "$(count b1 "GET /ping")" -gt 0
control "$b1c" /control/good

# A stuck stand-in: GET is retried after the 3 s read timeout...
control "$b1c" "/control/delay?ms=4000"
codes=$(for i in 1 2; do fetch GET /db_dummy; echo "$status"; done | sort | uniq -c | xargs)
check "b1 stuck: GET /db_dummy retried after the timeout ($codes)" test "$codes" = "2 200"
check "b1 stuck: b1 was really asked" test "$(count b1 "GET /db_dummy")" -gt 0
# ...but a POST that reached it is not sent again (5 s read timeout -> 504).
control "$b1c" "/control/delay?ms=6500"
before=$(( $(count b1 "POST /operation") + $(count b2 "POST /operation") ))
sent=0 got504=0
while [ $sent -lt 4 ] && [ $got504 = 0 ]; do
    fetch POST /operation '{"operation": 1}'
    sent=$((sent + 1)); [ "$status" = 504 ] && got504=1
done
after=$(( $(count b1 "POST /operation") + $(count b2 "POST /operation") ))
check "b1 stuck: a POST sent to it ends in 504, not retried" test "$got504" = 1
check "b1 stuck: every POST executed exactly once ($sent sent, $((after - before)) executed)" \
    test $((after - before)) = "$sent"
control "$b1c" "/control/delay?ms=0"

# A crashed stand-in: connection refused is retried, for POST too.
control "$b1c" /control/crash
sleep 0.3
codes=$(for i in 1 2 3 4 5 6; do fetch GET /api/movie/2; echo "$status"; done | sort | uniq -c | xargs)
check "b1 crashed: GET /api/movie/2 x6 all 200 ($codes)" test "$codes" = "6 200"
codes=$(for i in 1 2 3 4; do fetch POST /operation '{"operation": 2}'; echo "$status"; done | sort | uniq -c | xargs)
check "b1 crashed: POST /operation x4 all 200 (refused connections are retried) ($codes)" \
    test "$codes" = "4 200"
check "nginx is still running" kill -0 "$nginx_pid"

# The JSON access log.
logcheck=$(python3 - "$tmp/logs/bingo.access.log" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
recs = [json.loads(l) for l in lines]          # raises on a malformed line
eps = {r["endpoint"] for r in recs}
need = {"/ping", "/api/movie/{id}", "/operation", "/long_dummy", "/api/session/{id}"}
assert need <= eps, f"missing endpoints {need - eps}"
assert any(", " in r["upstream_status"] for r in recs), "no retried request logged"
assert any(r["upstream_cache_status"] == "HIT" for r in recs), "no cache HIT logged"
assert all(isinstance(r["status"], int) and isinstance(r["request_time"], float) for r in recs)
print(f"{len(recs)} lines")
EOF
)
check "access log: one valid JSON object per line, endpoints normalised, retries visible ($logcheck)" \
    test -n "$logcheck"

echo
if [ "$failures" = 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; fi
[ "$failures" = 0 ]
