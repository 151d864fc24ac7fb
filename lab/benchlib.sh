# shellcheck shell=bash
# Benchmark and soak helpers on top of lab/lib.sh: a tiny HTTP server (nginx)
# on each node, Debian's keepalived as the comparison daemon, stress-ng, and a
# heartbeat-only partition. Source it AFTER lib.sh:
#
#   source lab/lib.sh; source lab/benchlib.sh
#   lab_up; bench_need_packages
#   bench_start_http a; bench_start_http b
#   bench_start_keepalived a; bench_start_keepalived b     # or lab_start_vipd
#   bench_kill_hard_keepalived a
#
# Same rules as lib.sh: addresses from 198.18.0.0/15 only, only in the lab's
# namespaces; every process is recorded with lab_record_pid and ended by PID
# (lab_down kills whatever is left); nothing is configured in the root namespace.
#
# keepalived runs in the foreground of the node's namespace (-n), VRRP only
# (-P), no respawn (-R), console logging (-l -D -G), with its own config and
# its own pid files under $LAB/ka-NODE/, so several instances never share
# anything. Its parent PID is $LAB/kapid.NODE, the VRRP child's $LAB/kavrrp.NODE.

# --- packages ---------------------------------------------------------------

# bench_need_packages [PKG...]: installs keepalived, stress-ng and nginx (or the
# given packages) if missing; apt-get update once, only if an install fails.
# Debian starts keepalived/nginx on install where it can: the lab never uses
# those system instances, and nothing here touches them.
bench_need_packages() {
    local want=("$@") missing=() pkg
    [ ${#want[@]} -gt 0 ] || want=(keepalived stress-ng nginx)
    for pkg in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lab_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
            || lab_die "cannot install ${missing[*]}"
    fi
}

# --- HTTP server on each node -------------------------------------------------

# bench_start_http NODE: nginx in NODE's namespace on 0.0.0.0:80 (so it answers
# on the VIP the moment the address appears), one worker, no access log, every
# request answered "NODE\n" with "Connection: close" semantics for HTTP/1.0.
# Prints the nginx master's PID ($LAB/httppid.NODE). HTTP_DELAY_MS=N: instead a
# server that answers the same after N ms (lab/slowhttp.py), so requests are
# in progress on the node when the VIP moves.
bench_start_http() {
    local n=$1 d pid
    d="$LAB/http-$n"
    if [ -n "${HTTP_DELAY_MS:-}" ]; then
        pid=$(lab_bg "http-$n" "$n" python3 "$LAB_LIB_DIR/slowhttp.py" --name "$n" --delay-ms "$HTTP_DELAY_MS") || return 1
        bench_wait_http "$n" "$pid" || return 1
        return 0
    fi
    mkdir -p "$d/tmp"
    chmod 755 "$d"
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 0;
    server {
        listen 80 default_server backlog=4096;
        location / { default_type text/plain; return 200 "$n\n"; }
    }
}
EOF
    pid=$(lab_bg "http-$n" "$n" nginx -c "$d/nginx.conf") || return 1
    bench_wait_http "$n" "$pid"
}

# bench_wait_http NODE PID: records PID as NODE's HTTP server, returns (printing
# it) once the node's own address answers on :80.
bench_wait_http() {
    local n=$1 pid=$2 i=0
    echo "$pid" >"$LAB/httppid.$n"
    until ip netns exec "$(lab_ns "$n")" bash -c "exec 3<>/dev/tcp/$(lab_node_addr "$n")/80" 2>/dev/null; do
        lab_pid_is_ours "$pid" || { lab_die "the HTTP server on $n exited: $(cat "$LAB/http-$n.err")"; return 1; }
        [ $i -lt 200 ] || { lab_die "the HTTP server on $n not listening after 10 s"; return 1; }
        sleep 0.05; i=$((i + 1))
    done
    echo "$pid"
}

bench_stop_http() {
    local pid; pid=$(cat "$LAB/httppid.$1" 2>/dev/null)
    [ -n "$pid" ] && lab_kill_pid "$pid" QUIT 10
    rm -f "$LAB/httppid.$1"
}

# --- keepalived -------------------------------------------------------------

# bench_keepalived_config NODE: writes $LAB/ka-NODE/keepalived.conf.
#   INTERVAL   advert interval (as lib.sh: 100ms, 1s, 20ms)
#   PRIORITY   node priority (default A 150, B 100, like vipd)
#   KA_RT=1    realtime scheduling + locked memory for the VRRP process
#              (vrrp_rt_priority / vrrp_no_swap), the counterpart of vipd's
#              realtime_priority / lock_memory.
# Every instance starts in BACKUP (the election decides, as with vipd),
# preemption on, VRRPv3, unicast to the peer, no VMAC, no auth (VRRPv3 has
# none), no scripts. track_file "planned" (weight 1) reads $LAB/ka-NODE/prio:
# writing -100 there lowers the effective priority by 100 — the closest
# keepalived gets to a planned handover.
bench_keepalived_config() {
    local n=$1 d peer prio adv ms rt=""
    d="$LAB/ka-$n"; peer=$(lab_peer "$n") || return 1
    prio=${PRIORITY:-$(lab_default_priority "$n")}
    ms=$(lab_interval_ms) || return 1
    adv=$(python3 -c "print(f'{$ms/1000:g}')")
    mkdir -p "$d"
    [ -f "$d/prio" ] || echo 0 >"$d/prio"
    if [ "${KA_RT:-0}" = 1 ]; then
        rt="    vrrp_rt_priority ${KA_RT_PRIORITY:-10}
    vrrp_no_swap"
    fi
    cat >"$d/keepalived.conf" <<EOF
global_defs {
    router_id node-$n
    vrrp_version 3
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 5
    vrrp_garp_master_refresh 0
    max_auto_priority -1
$rt
}
track_file planned {
    file "$d/prio"
    weight 1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $prio
    advert_int $adv
    unicast_src_ip $(lab_node_addr "$n")
    unicast_peer {
        $(lab_node_addr "$peer")
    }
    virtual_ipaddress {
        $LAB_VIP/$LAB_PREFIXLEN dev eth0
    }
    garp_master_delay 0
    garp_master_repeat 5
    track_file {
        planned
    }
}
EOF
}

# bench_start_keepalived NODE: starts keepalived in NODE's namespace in the
# foreground; log appended to $LAB/NODE.log. Prints the parent's PID once the
# VRRP child is up (its PID in $LAB/kavrrp.NODE; both recorded for lab_down).
bench_start_keepalived() {
    local n=$1 ns d pid child i=0
    ns=$(lab_ns "$n") || return 1
    d="$LAB/ka-$n"
    bench_keepalived_config "$n" || return 1
    rm -f "$d/keepalived.pid" "$d/vrrp.pid"
    echo "=== lab: start keepalived on $n at $(date +%s.%N) priority ${PRIORITY:-$(lab_default_priority "$n")}" >>"$LAB/$n.log"
    # Its own copy per node, as for vipd (lab_start_vipd).
    [ -x "$LAB/bin/keepalived-$n" ] || cp "$(command -v keepalived)" "$LAB/bin/keepalived-$n" || return 1
    ip netns exec "$ns" "$LAB/bin/keepalived-$n" -n -P -R -l -D -G -f "$d/keepalived.conf" \
        -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" -b "$d/bfd.pid" \
        -i "node-$n" </dev/null >>"$LAB/$n.log" 2>&1 &
    pid=$!
    echo "$pid" >"$LAB/kapid.$n"
    lab_record_pid "$pid" "keepalived-$n"
    while :; do
        child=$(cat "$d/vrrp.pid" 2>/dev/null)
        if [ -n "$child" ] && [ -d "/proc/$child" ] && [ "$(awk '{print $4}' "/proc/$child/stat" 2>/dev/null)" = "$pid" ]; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 400 ]; then
            lab_die "keepalived on $n did not start (pid $pid); log: $(tail -5 "$LAB/$n.log")"; return 1
        fi
        sleep 0.01; i=$((i + 1))
    done
    echo "$child" >"$LAB/kavrrp.$n"
    lab_record_pid "$child" "keepalived-vrrp-$n"
    echo "$pid"
}

# PIDs of NODE's keepalived (parent, VRRP child) that are still ours.
bench_keepalived_pids() {
    local p out=()
    for p in "$(cat "$LAB/kavrrp.$1" 2>/dev/null)" "$(cat "$LAB/kapid.$1" 2>/dev/null)"; do
        lab_pid_is_ours "$p" && out+=("$p")
    done
    echo "${out[*]}"
}

# bench_stop_keepalived NODE: graceful stop (SIGTERM to the parent, which stops
# the VRRP child: priority-0 advert, VIP removed), wait for both.
bench_stop_keepalived() {
    local n=$1 parent child
    parent=$(cat "$LAB/kapid.$n" 2>/dev/null); child=$(cat "$LAB/kavrrp.$n" 2>/dev/null)
    [ -n "$parent" ] && lab_kill_pid "$parent" TERM 10
    [ -n "$child" ] && lab_kill_pid "$child" KILL 5
    rm -f "$LAB/kapid.$n" "$LAB/kavrrp.$n"
}

# bench_kill_hard_keepalived NODE: link down + SIGKILL of both keepalived
# processes at the same moment (like lab_kill_hard). Times in $LAB/killtime.NODE.
bench_kill_hard_keepalived() {
    local n=$1 pids sw lpid t0 p
    pids=$(bench_keepalived_pids "$n"); sw=$(lab_ns sw)
    lab_wait_until "${KILL_AT:-}"
    t0=$EPOCHREALTIME
    ip -n "$sw" link set "p$n" down &
    lpid=$!
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids
    wait "$lpid"
    echo "$t0 $EPOCHREALTIME" >"$LAB/killtime.$n"
    for p in $pids; do
        while lab_pid_is_ours "$p"; do sleep 0.01; done
        wait "$p" 2>/dev/null
    done
    rm -f "$LAB/kapid.$n" "$LAB/kavrrp.$n"
    echo "=== lab: hard kill (link down + SIGKILL) of $n at $t0" >>"$LAB/$n.log"
}

# bench_keepalived_state NODE -> master|backup|fault|down, from the last
# "Entering X STATE" line of the log since the last start.
bench_keepalived_state() {
    local n=$1 st
    [ -n "$(bench_keepalived_pids "$n")" ] || { echo down; return 0; }
    st=$(awk '/^=== lab: start keepalived/ {s="init"} /Entering MASTER STATE/ {s="master"}
              /Entering BACKUP STATE/ {s="backup"} /Entering FAULT STATE/ {s="fault"} END {print s}' "$LAB/$n.log")
    echo "${st:-init}"
}

# bench_keepalived_set_prio_offset NODE OFFSET: the track_file value (effective
# priority = base + OFFSET); keepalived watches the file with inotify.
bench_keepalived_set_prio_offset() {
    local f="$LAB/ka-$1/prio"
    echo "$2" >"$f.tmp" && mv -f "$f.tmp" "$f"
}

# --- faults ------------------------------------------------------------------

# bench_drop_heartbeats NODE on|off [PROTO]: drop heartbeats to and from NODE
# in NODE's own namespace (an nftables table "vipdlab" with input and output
# filters there; this kernel has no tc actions): vipd's UDP port 5798 by
# default, PROTO=vrrp for keepalived (IP protocol 112). Everything else (ARP,
# ICMP, HTTP) keeps flowing. Installs nftables if missing.
bench_drop_heartbeats() {
    local n=$1 what=$2 proto=${3:-udp} ns match
    ns=$(lab_ns "$n") || return 1
    if [ "$what" = off ]; then
        ip netns exec "$ns" nft delete table inet vipdlab 2>/dev/null
        return 0
    fi
    command -v nft >/dev/null 2>&1 || bench_need_packages nftables || return 1
    if [ "$proto" = vrrp ]; then match="meta l4proto 112"; else match="udp dport 5798"; fi
    ip netns exec "$ns" nft -f - <<EOF
table inet vipdlab {
    chain input { type filter hook input priority 0; $match drop; }
    chain output { type filter hook output priority 0; $match drop; }
}
EOF
}

# bench_partition on|off [PROTO]: drop heartbeats between the nodes in the
# switch: an nftables bridge-family filter on br0's forward path in the switch
# namespace (UDP port 5798, or PROTO=vrrp for IP protocol 112). The nodes see
# no local error, exactly as when the network loses the packets; ARP, ICMP
# and HTTP keep flowing. Installs nftables if missing.
bench_partition() {
    local what=$1 proto=${2:-udp} ns match
    ns=$(lab_ns sw) || return 1
    if [ "$what" = off ]; then
        ip netns exec "$ns" nft delete table bridge vipdlab 2>/dev/null
        return 0
    fi
    command -v nft >/dev/null 2>&1 || bench_need_packages nftables || return 1
    if [ "$proto" = vrrp ]; then match="meta l4proto 112"; else match="udp dport 5798"; fi
    ip netns exec "$ns" nft -f - <<EOF
table bridge vipdlab {
    chain forward { type filter hook forward priority 0; $match drop; }
}
EOF
}

# bench_start_stress SECONDS [WORKERS]: stress-ng CPU hogs on every core (or
# WORKERS), in the client namespace (no network use), bounded by --timeout.
# Prints the stress-ng parent's PID (ended with SIGTERM, which stops its workers).
bench_start_stress() {
    local secs=$1 workers=${2:-$(nproc)} pid
    pid=$(lab_bg stress c stress-ng --cpu "$workers" --cpu-load 100 --timeout "${secs}s" --metrics-brief) || return 1
    echo "$pid" >"$LAB/stresspid"
    echo "$pid"
}

bench_stop_stress() {
    local pid; pid=$(cat "$LAB/stresspid" 2>/dev/null)
    [ -n "$pid" ] && lab_kill_pid "$pid" TERM 10
    rm -f "$LAB/stresspid"
}

# --- the real front: bingo stand-in + the project's nginx site ------------------

# bench_start_bingo NODE: the bingo stand-in (Tests/standin/bingo_standin.py)
# on port 30164 (all addresses) in NODE's namespace, as user vipd (bingo
# refuses root), its default throttle (100 RPS) and start-up (no route to
# 8.8.8.8 in the namespace: the short one). Kind knobs, because this scenario
# measures the front's failover, not bingo: --port 30164 and --log-dir (the
# nginx site names 30164; discovering the email-derived ones is the
# installation's work), --no-db (the database is lab/bench_api.py's) and
# --lifetime never (a death of old age would be a second fault in the run).
# Prints its PID.
bench_start_bingo() {
    local n=$1 pid i=0 root
    root="$LAB/bingo-root-$n"
    mkdir -p "$root/opt/bingo" "$root/logs"
    printf 'student_email: lab-%s@example.com\npostgres_cluster:\n  hosts:\n  - address: localhost\n    port: 5432\n  user: postgres\n  password: postgres\n  db_name: postgres\n  ssl_mode: disable\n  use_closest_node: false\n' \
        "$n" >"$root/opt/bingo/config.yaml"
    chmod 755 "$root" "$root/opt" "$root/opt/bingo"
    chown vipd:vipd "$root/logs"
    pid=$(lab_bg "bingo-$n" "$n" setpriv --reuid=vipd --regid=vipd --clear-groups -- \
        /usr/bin/python3 "$LAB_REPO/Tests/standin/bingo_standin.py" --root "$root" --log-dir "$root/logs" --port 30164 \
        --name "node-$n" --no-db --lifetime never --quiet run_server) || return 1
    echo "$pid" >"$LAB/bingopid.$n"
    until ip netns exec "$(lab_ns "$n")" bash -c "exec 3<>/dev/tcp/$(lab_node_addr "$n")/30164" 2>/dev/null; do
        lab_pid_is_ours "$pid" || { lab_die "bingo stand-in on $n exited: $(tail -3 "$LAB/bingo-$n.err")"; return 1; }
        [ $i -lt 300 ] || { lab_die "bingo stand-in on $n not listening after 15 s"; return 1; }
        sleep 0.05; i=$((i + 1))
    done
    echo "$pid"
}

# bench_start_front NODE: nginx in NODE's namespace with the project's site
# (conf/nginx/bingo-http.conf, bingo.conf, bingo-upstream.conf.example, whose
# backends are already the lab's 198.18.0.1/2:30164) rendered into
# $LAB/front-NODE: only the /etc/nginx/vipd, log and cache paths are rewritten;
# listeners stay :80, :443 (self-signed certificate) and 127.0.0.1:8081, all
# inside the namespace. Prints the nginx master's PID ($LAB/httppid.NODE).
bench_start_front() {
    local n=$1 d c pid i=0
    d="$LAB/front-$n"; c="$LAB_REPO/conf/nginx"
    mkdir -p "$d"/{conf.d,sites-enabled,vipd/tls,logs,lib,tmp}
    chmod 755 "$d"; chmod 777 "$d/lib" "$d/tmp" "$d/logs"
    sed -e "s#/var/lib/nginx/bingo-cache#$d/lib/bingo-cache#" "$c/bingo-http.conf" >"$d/conf.d/bingo-http.conf"
    sed -e "s#/etc/nginx/vipd/#$d/vipd/#g" -e "s#/var/log/nginx/#$d/logs/#g" \
        "$c/bingo.conf" >"$d/sites-enabled/bingo.conf"
    cp "$c/bingo-upstream.conf.example" "$d/vipd/bingo-upstream.conf"
    : >"$d/vipd/bingo-http3.conf"
    "$c/make-selfsigned-cert.sh" "$d/vipd/tls" bingo.example.com >/dev/null 2>&1 || return 1
    cat >"$d/nginx.conf" <<EOF2
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path       $d/tmp/proxy;
    fastcgi_temp_path     $d/tmp/fastcgi;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    include $d/conf.d/*.conf;
    include $d/sites-enabled/*;
}
EOF2
    ip netns exec "$(lab_ns "$n")" nginx -p "$d/" -c "$d/nginx.conf" -t >"$d/nginx-t.txt" 2>&1 \
        || { lab_die "nginx -t failed on $n: $(cat "$d/nginx-t.txt")"; return 1; }
    pid=$(lab_bg "http-$n" "$n" nginx -p "$d/" -c "$d/nginx.conf") || return 1
    echo "$pid" >"$LAB/httppid.$n"
    until ip netns exec "$(lab_ns "$n")" bash -c "exec 3<>/dev/tcp/$(lab_node_addr "$n")/80" 2>/dev/null; do
        lab_pid_is_ours "$pid" || { lab_die "front nginx on $n exited: $(cat "$LAB/http-$n.err")"; return 1; }
        [ $i -lt 200 ] || { lab_die "front nginx on $n not listening after 10 s"; return 1; }
        sleep 0.05; i=$((i + 1))
    done
    echo "$pid"
}
