#!/usr/bin/env bash
# Two vipd nodes on loopback addresses (no VIP): watch them elect a master,
# kill the master with SIGKILL, watch the backup take over, bring it back.
# Every process started here is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN_DIR:-.build/debug}
dir=$(mktemp -d /tmp/vipd-demo.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true  # reaps the killed daemons quietly
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

head -c 32 /dev/urandom | base64 > "$dir/auth.key"
chmod 600 "$dir/auth.key"
write_config() { # id address priority peer-id peer-address
    mkdir -p "$dir/$1"
    cat > "$dir/$1/vipd.yaml" <<YAML
node: {id: $1, interface: lo, address: $2, priority: $3}
peers: [{id: $4, address: $5}]
vrid: 51
auth: {key_file: $dir/auth.key}
control: {socket: $dir/$1/run/control.sock}
YAML
}
write_config node-a 127.0.77.1 150 node-b 127.0.77.2
write_config node-b 127.0.77.2 100 node-a 127.0.77.1
start() { "$BIN/vipd" --config "$dir/$1/vipd.yaml" 2>> "$dir/$1.log" & pids+=($!); eval "pid_${1//-/_}=$!"; }
status() { "$BIN/vipctl" status --socket "$dir/$1/run/control.sock"; }
state_of() {
    "$BIN/vipctl" status --json --socket "$dir/$1/run/control.sock" 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || true
}

echo "== starting node-a (priority 150) and node-b (priority 100)"
start node-a; start node-b
sleep 1.5
echo; echo "== vipctl status on node-a"; status node-a
echo; echo "== SIGKILL node-a (the master)"
t0=$(date +%s%N)
kill -KILL "$pid_node_a"; wait "$pid_node_a" 2>/dev/null || true
until [ "$(state_of node-b)" = master ]; do sleep 0.002; done
t1=$(date +%s%N)
echo "node-b is master $(( (t1 - t0) / 1000000 )) ms after the kill (Master_Down_Interval at priority 100: 361 ms;"
echo "this poll adds ~30 ms of its own)"
echo; status node-b
echo; echo "== node-a comes back and preempts"
start node-a
sleep 1.5
status node-a
echo; echo "== state changes, from the daemons' logs"
cat "$dir"/node-*.log | grep -E -- "-> |peer .* (lost|found)" | sort -s -k1,1
echo; echo "== done; stopping everything"
