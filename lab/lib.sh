# shellcheck shell=bash
# vipd network-namespace test lab: helpers to source from bash.
#
#   source lab/lib.sh
#   lab_up                      # namespaces, bridge, veths, key, binaries; registers the cleanup trap
#   lab_start_vipd a; lab_start_vipd b
#   lab_wait_master a 10
#   lab_kill_hard a             # link down + SIGKILL at the same moment
#   ...
#   lab_down                    # also runs on EXIT/INT/TERM
#
# Topology (every namespace is ours, named with a unique prefix, e.g. vl1234):
#
#   <P>-a  eth0 198.18.0.1/24  ─┐
#   <P>-b  eth0 198.18.0.2/24  ─┼─ veth ─ <P>-sw: br0 (ports pa, pb, pc)
#   <P>-c  eth0 198.18.0.10/24 ─┘          (client)
#   VIP 198.18.0.100/24 on the master's eth0.
#
# Rules (docs: /work/shared/design.md): addresses from 198.18.0.0/15 only, only
# inside namespaces made here; nothing is configured in the root namespace.
# Every process started here is recorded by PID in $LAB/pids and ended by PID
# in lab_down, which also deletes every namespace listed in $LAB/netns.
#
# Environment:
#   BIN_DIR    where vipd and vipctl are (default <repo>/.build/debug); both are
#              COPIED to $LAB/bin at lab_up, so a rebuild mid-run changes nothing.
#   INTERVAL   advert interval written to the configs (default 100ms).
#   PRIORITY   overrides the node priority for one lab_start_vipd (A 150, B 100).
#   LOG_LEVEL  vipd log level (default info).
#   LAB        lab directory (default: a new mktemp -d under /tmp).
#   LAB_KEEP=1 keep $LAB (configs, logs, captures) after lab_down.

LAB_REPO=${LAB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_VIP=198.18.0.100
LAB_PREFIXLEN=24

lab_log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
lab_die() { lab_log "ERROR: $*"; return 1; }

# --- prerequisites -----------------------------------------------------------

# Installs iproute2, tcpdump, iputils-ping and python3 when their commands are
# missing (apt-get update once, only if an install fails).
lab_need_tools() {
    local missing=() pair
    for pair in ip:iproute2 tcpdump:tcpdump ping:iputils-ping python3:python3; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lab_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 || lab_die "cannot install ${missing[*]}"
    fi
}

# The unprivileged user vipd drops to (config key `user`, default vipd).
lab_need_user() {
    id -u vipd >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --shell /usr/sbin/nologin vipd
}

# --- names -------------------------------------------------------------------

lab_ns() {  # lab_ns a|b|c|sw -> namespace name
    case $1 in a|b|c|sw) echo "${LAB_P:?lab_up first}-$1" ;; *) lab_die "no node $1" ;; esac
}
lab_node_addr() { case $1 in a) echo 198.18.0.1 ;; b) echo 198.18.0.2 ;; c) echo 198.18.0.10 ;; *) lab_die "no node $1" ;; esac; }
lab_peer() { case $1 in a) echo b ;; b) echo a ;; *) lab_die "no vipd node $1" ;; esac; }
lab_default_priority() { case $1 in a) echo 150 ;; b) echo 100 ;; esac; }
lab_socket() { echo "$LAB/$1/run/control.sock"; }
lab_pid() { cat "$LAB/pid.$1" 2>/dev/null; }  # pid of the node's current vipd, if any

# Interval in milliseconds from $INTERVAL (100ms, 1s, 0.5s, 250).
lab_interval_ms() {
    python3 - "${INTERVAL:-100ms}" <<'EOF'
import re, sys
m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", sys.argv[1])
if not m: sys.exit("bad INTERVAL " + sys.argv[1])
v = float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
print(int(round(v)))
EOF
}

# --- process bookkeeping -----------------------------------------------------

# lab_record_pid PID NAME: remember a process for lab_down, with its start
# time, so that a recycled PID is never signalled.
lab_record_pid() {
    local st
    st=$(lab_proc_stat "$1") || st="gone 0"
    echo "${st#* }" >"$LAB/start.$1"
    echo "$1 $2" >>"$LAB/pids"
}

# lab_proc_stat PID -> "STATE STARTTIME" from /proc/PID/stat.
lab_proc_stat() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo "$1 ${20}"
}

# True if PID is a live (not zombie) process that this lab started.
lab_pid_is_ours() {
    local pid=$1 st
    [ -n "$pid" ] && [ -r "$LAB/start.$pid" ] || return 1
    st=$(lab_proc_stat "$pid") || return 1
    [ "${st%% *}" != Z ] && [ "${st#* }" = "$(cat "$LAB/start.$pid")" ]
}

# lab_descendants PID: the PIDs of PID's children, grandchildren, ...
lab_descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        lab_descendants "$child"
    done
}

# lab_kill_pid PID [SIGNAL] [TIMEOUT_S]: signal, wait until gone, SIGKILL after timeout.
lab_kill_pid() {
    local pid=$1 sig=${2:-TERM} timeout=${3:-10} i=0
    lab_pid_is_ours "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -s "$sig" "$pid" 2>/dev/null
    while lab_pid_is_ours "$pid" && [ $i -lt $((timeout * 20)) ]; do sleep 0.05; i=$((i + 1)); done
    if lab_pid_is_ours "$pid"; then
        lab_log "pid $pid still alive ${timeout}s after SIG$sig; SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        while lab_pid_is_ours "$pid"; do sleep 0.05; done
    fi
    wait "$pid" 2>/dev/null   # reap it if it is our child
    return 0
}

# lab_bg NAME NODE CMD...: run CMD in NODE's namespace in the background,
# stdout to $LAB/NAME.out, stderr to $LAB/NAME.err; prints the PID.
lab_bg() {
    local name=$1 node=$2 ns pid; shift 2
    ns=$(lab_ns "$node") || return 1
    ip netns exec "$ns" "$@" </dev/null >"$LAB/$name.out" 2>"$LAB/$name.err" &
    pid=$!
    lab_record_pid "$pid" "$name"
    echo "$pid" >"$LAB/bgpid.$name"
    echo "$pid"
}

# --- lab up / down -------------------------------------------------------------

lab_up() {
    [ "$(id -u)" = 0 ] || lab_die "the lab needs root" || return 1
    if [ -n "${LAB_P:-}" ] && [ -f "${LAB:-/nonexistent}/netns" ]; then return 0; fi
    lab_need_tools || return 1
    lab_need_user || return 1
    BIN_DIR=${BIN_DIR:-$LAB_REPO/.build/debug}
    local b
    for b in vipd vipctl; do
        [ -x "$BIN_DIR/$b" ] || lab_die "$BIN_DIR/$b not found (build first, or set BIN_DIR)" || return 1
    done
    LAB=${LAB:-$(mktemp -d /tmp/vipd-lab.XXXXXX)}
    mkdir -p "$LAB/bin"
    chmod 755 "$LAB"           # vipd (after dropping to user vipd) must reach its control socket
    LAB_P=${LAB_PREFIX:-vl$$}
    echo "$LAB_P" >"$LAB/prefix"
    : >"$LAB/netns"; : >"$LAB/pids"
    trap 'lab_down' EXIT
    trap 'lab_down; exit 130' INT
    trap 'lab_down; exit 143' TERM
    cp "$BIN_DIR/vipd" "$BIN_DIR/vipctl" "$LAB/bin/" || return 1
    chmod 755 "$LAB/bin/vipd" "$LAB/bin/vipctl"
    head -c 32 /dev/urandom >"$LAB/auth.key"
    chmod 600 "$LAB/auth.key"

    local n ns
    for n in sw a b c; do
        ns=$(lab_ns $n)
        if ip netns list | grep -qw -- "$ns"; then lab_die "namespace $ns exists already" || return 1; fi
        ip netns add "$ns" || return 1
        echo "$ns" >>"$LAB/netns"
        # IPv4 only: no IPv6 link-local chatter (RS, MLD, DAD) on the lab link.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    local sw; sw=$(lab_ns sw)
    ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$sw" link set br0 up
    for n in a b c; do
        ns=$(lab_ns $n)
        ip -n "$sw" link add "p$n" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$sw" link set "p$n" master br0
        ip -n "$sw" link set "p$n" up
        ip -n "$ns" addr add "$(lab_node_addr $n)/$LAB_PREFIXLEN" dev eth0
        ip -n "$ns" link set eth0 up
    done
    lab_log "lab up: $LAB, namespaces $(tr '\n' ' ' <"$LAB/netns")"
}

# Kills every recorded process (by PID), deletes every namespace made here,
# removes $LAB unless LAB_KEEP=1. Idempotent.
lab_down() {
    [ -n "${LAB:-}" ] && [ -d "$LAB" ] || return 0
    [ -f "$LAB/down" ] && return 0
    local pid name ns kids=()
    if [ -f "$LAB/pids" ]; then
        # Children of recorded processes go too: an nginx master killed
        # alone leaves its workers running as orphans. Listed before any
        # kill, while the parent links still exist.
        while read -r pid name; do
            lab_pid_is_ours "$pid" && mapfile -t -O "${#kids[@]}" kids < <(lab_descendants "$pid")
        done <"$LAB/pids"
        while read -r pid name; do
            lab_pid_is_ours "$pid" && kill -KILL "$pid" 2>/dev/null
        done <"$LAB/pids"
        for pid in "${kids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
        while read -r pid name; do
            while lab_pid_is_ours "$pid"; do sleep 0.02; done
            wait "$pid" 2>/dev/null
        done <"$LAB/pids"
    fi
    if [ -f "$LAB/netns" ]; then
        while read -r ns; do
            [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
        done <"$LAB/netns"
    fi
    touch "$LAB/down"
    if [ "${LAB_KEEP:-0}" = 1 ]; then
        lab_log "lab down; kept $LAB"
    else
        rm -rf "$LAB"
        lab_log "lab down"
    fi
}

# --- vipd --------------------------------------------------------------------

# lab_write_config NODE [EXTRA_YAML]: writes $LAB/NODE/vipd.yaml.
lab_write_config() {
    local n=$1 extra=${2:-} peer prio
    peer=$(lab_peer "$n") || return 1
    prio=${PRIORITY:-$(lab_default_priority "$n")}
    mkdir -p "$LAB/$n"
    chmod 755 "$LAB/$n"
    cat >"$LAB/$n/vipd.yaml" <<EOF
node:
  id: node-$n
  interface: eth0
  address: $(lab_node_addr "$n")
  priority: $prio
peers:
  - id: node-$peer
    address: $(lab_node_addr "$peer")
vrid: 51
vips:
  - address: $LAB_VIP/$LAB_PREFIXLEN
timing:
  advert_interval: ${INTERVAL:-100ms}
auth:
  key_file: $LAB/auth.key
control:
  socket: $(lab_socket "$n")
state_dir: $LAB/state-$n
log_level: ${LOG_LEVEL:-info}
EOF
    [ -n "$extra" ] && printf '%s\n' "$extra" >>"$LAB/$n/vipd.yaml"
    return 0
}

# lab_start_vipd NODE [EXTRA_YAML]: writes the config and starts vipd in NODE's
# namespace; its log is appended to $LAB/NODE.log. Prints the PID of vipd itself.
lab_start_vipd() {
    local n=$1 ns pid old i=0
    old=$(lab_pid "$n")
    if lab_pid_is_ours "$old"; then lab_die "vipd on $n is already running (pid $old)"; return 1; fi
    ns=$(lab_ns "$n") || return 1
    lab_write_config "$n" "${2:-}" || return 1
    echo "=== lab: start vipd on $n at $(date +%s.%N) priority ${PRIORITY:-$(lab_default_priority "$n")}" >>"$LAB/$n.log"
    # Each node runs its own copy of the binary, as two machines would: one
    # file mapped by both processes would put pages one of them touched into
    # the other's resident set, and the kernel pages out a file's pages only
    # for a process that is alone in mapping them (docs/benchmarks.md).
    [ -x "$LAB/bin/vipd-$n" ] || cp "$LAB/bin/vipd" "$LAB/bin/vipd-$n" || return 1
    # `ip netns exec` enters the namespace and execs vipd: $! is vipd's PID.
    ip netns exec "$ns" "$LAB/bin/vipd-$n" --config "$LAB/$n/vipd.yaml" </dev/null >>"$LAB/$n.log" 2>&1 &
    pid=$!
    echo "$pid" >"$LAB/pid.$n"
    lab_record_pid "$pid" "vipd-$n"
    # Verify: once ip has exec'd, /proc/PID/exe is our copy of vipd.
    while [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$LAB/bin/vipd-$n" ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 200 ]; then
            lab_die "vipd on $n did not start (pid $pid); log: $(tail -5 "$LAB/$n.log")"; return 1
        fi
        sleep 0.01; i=$((i + 1))
    done
    echo "$pid"
}

# lab_wait_running NODE [TIMEOUT_S]: until its control socket answers.
lab_wait_running() {
    local n=$1 timeout=${2:-15} end
    end=$(( $(date +%s) + timeout ))
    until lab_status "$n" >/dev/null 2>&1; do
        lab_pid_is_ours "$(lab_pid "$n")" || { lab_die "vipd on $n exited; log: $(tail -5 "$LAB/$n.log")"; return 1; }
        [ "$(date +%s)" -lt "$end" ] || { lab_die "vipd on $n not answering after ${timeout}s"; return 1; }
        sleep 0.05
    done
}

lab_status() { "$LAB/bin/vipctl" status --json --socket "$(lab_socket "$1")"; }

lab_state() {  # lab_state NODE -> master|backup|fault|init|down
    lab_status "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || echo down
}

# lab_wait_master NODE [TIMEOUT_S]: until NODE reports master and is the only VIP holder.
lab_wait_master() {
    local n=$1 timeout=${2:-10} end
    end=$(( $(date +%s) + timeout ))
    until [ "$(lab_state "$n")" = master ] && [ "$(lab_who_holds_vip)" = "$n" ]; do
        [ "$(date +%s)" -lt "$end" ] || { lab_die "$n not sole master after ${timeout}s (holders: '$(lab_who_holds_vip)')"; return 1; }
        sleep 0.05
    done
}

# lab_stop NODE: graceful stop (SIGTERM, wait; SIGKILL after 10 s).
lab_stop() {
    local pid; pid=$(lab_pid "$1")
    [ -n "$pid" ] && lab_kill_pid "$pid" TERM 10
    rm -f "$LAB/pid.$1"
}

# lab_kill_hard NODE: hard node death — its link down and vipd SIGKILLed at the
# same moment (both started together; returns once both are done). Wall times
# (epoch s) of the kill and of the link being down are left in $LAB/killtime.NODE.
# KILL_AT=<epoch microseconds> delays the kill until then (lab_wait_until).
lab_kill_hard() {
    local n=$1 pid sw lpid t0
    pid=$(lab_pid "$n"); sw=$(lab_ns sw)
    lab_pid_is_ours "$pid" || pid=
    lab_wait_until "${KILL_AT:-}"
    t0=$EPOCHREALTIME   # builtin: no fork between this and the kill
    ip -n "$sw" link set "p$n" down &
    lpid=$!
    [ -n "$pid" ] && kill -KILL "$pid"
    wait "$lpid"
    echo "$t0 $EPOCHREALTIME" >"$LAB/killtime.$n"
    if [ -n "$pid" ]; then
        while lab_pid_is_ours "$pid"; do sleep 0.01; done
        wait "$pid" 2>/dev/null
    fi
    rm -f "$LAB/pid.$n"
    echo "=== lab: hard kill (link down + SIGKILL) of $n at $t0" >>"$LAB/$n.log"
}

# lab_wait_until [EPOCH_US]: returns at wall time EPOCH_US (microseconds since
# the epoch, an integer: no locale decimal point), sleeping most of the way and
# spinning for the last 5 ms, so a kill lands within a fraction of a
# millisecond of it; at once if EPOCH_US is empty or past.
lab_wait_until() {
    local at=${1:-} now left
    [ -n "$at" ] || return 0
    now=${EPOCHREALTIME/[.,]/}
    left=$(( at - now - 5000 ))
    [ "$left" -gt 0 ] && sleep "$(( left / 1000000 )).$(printf '%06d' $(( left % 1000000 )))"
    while now=${EPOCHREALTIME/[.,]/}; [ "$now" -lt "$at" ]; do :; done
}

# lab_kill9 NODE: SIGKILL vipd only (the link stays up), like a crash.
lab_kill9() {
    local pid; pid=$(lab_pid "$1")
    [ -n "$pid" ] && lab_kill_pid "$pid" KILL 5
    rm -f "$LAB/pid.$1"
    echo "=== lab: SIGKILL of vipd on $1 at $(date +%s.%N)" >>"$LAB/$1.log"
}

lab_link_up() { ip -n "$(lab_ns sw)" link set "p$1" up; }
lab_link_down() { ip -n "$(lab_ns sw)" link set "p$1" down; }

# lab_cut FROM TO on|off [egress|ingress]: a ONE-WAY cut of the heartbeats
# (UDP 5798) FROM -> TO, made with nftables on a node's own eth0 inside its
# namespace (this kernel has no sch_netem): a netdev egress filter on FROM
# (default), or a netdev ingress filter on TO. Everything else, and the
# heartbeats TO -> FROM, keep flowing. Table "vipdcut" in that namespace (with
# a counter: lab_cut_dropped); off deletes it in both. Installs nftables if missing.
lab_cut() {
    local from=$1 to=$2 what=$3 where=${4:-egress} ns match
    if [ "$what" = off ]; then
        ip netns exec "$(lab_ns "$from")" nft delete table netdev vipdcut 2>/dev/null
        ip netns exec "$(lab_ns "$to")" nft delete table netdev vipdcut 2>/dev/null
        return 0
    fi
    lab_need_nft || return 1
    case $where in
        egress) ns=$(lab_ns "$from") && match="ip daddr $(lab_node_addr "$to")" || return 1 ;;
        ingress) ns=$(lab_ns "$to") && match="ip saddr $(lab_node_addr "$from")" || return 1 ;;
        *) lab_die "lab_cut: egress or ingress, not $where"; return 1 ;;
    esac
    ip netns exec "$ns" nft -f - <<EOF
table netdev vipdcut {
    chain cut { type filter hook $where device "eth0" priority 0; $match udp dport 5798 counter drop; }
}
EOF
}

# lab_cut_dropped FROM TO [egress|ingress]: heartbeats the cut has dropped so far.
lab_cut_dropped() {
    local ns
    if [ "${3:-egress}" = egress ]; then ns=$(lab_ns "$1"); else ns=$(lab_ns "$2"); fi
    ip netns exec "$ns" nft list table netdev vipdcut 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}

lab_need_nft() {
    command -v nft >/dev/null 2>&1 && return 0
    lab_log "installing nftables"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >&2 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >&2 || lab_die "cannot install nftables"
}

# --- observation -------------------------------------------------------------

# Node namespaces holding the VIP, space separated ("a", "b", "a b" or "").
lab_who_holds_vip() {
    local n out=()
    for n in a b; do
        ip -n "$(lab_ns $n)" -4 -o addr show 2>/dev/null | grep -qF " $LAB_VIP/" && out+=("$n")
    done
    echo "${out[*]}"
}

lab_mac() { ip -n "$(lab_ns "$1")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# The client's neighbour entry for the VIP: "MAC STATE" or "" if none.
lab_client_neigh() {
    ip -n "$(lab_ns c)" neigh show "$LAB_VIP" dev eth0 | awk '{for (i=1;i<=NF;i++) if ($i=="lladdr") m=$(i+1); s=$NF} END {if (NR) print m, s}'
}
