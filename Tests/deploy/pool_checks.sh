# shellcheck shell=bash
# The bingo pool as the playbook leaves it on one node (sourced by
# test_playbook.sh and replicated_playbook.sh, after Tests/install/lib.sh):
#   check_pool ENTER NODE SIZE PORT DB_HOST
# ENTER runs a command in the node's sandbox (sb or sbb). The test
# inventories set bingo_pool_net: 198.19.80 (POOL_NET), so every member
# address is in 198.18.0.0/15 and nothing leaves the sandboxes.
POOL_NET=${POOL_NET:-198.19.80}
check_pool() {
    local enter=$1 node=$2 size=$3 port=$4 db=$5 i n addr pid active conf summary want
    for ((i = 1; i <= size; i++)); do
        addr=$POOL_NET.$((10 + i))
        check "$node: bingo@$i.service enabled and active" \
            test "$($enter systemctl show "bingo@$i.service" -p UnitFileState --value) $($enter systemctl show "bingo@$i.service" -p ActiveState --value)" = "enabled active"
        pid=$($enter systemctl show "bingo@$i.service" -p MainPID --value)
        check "$node: bingo@$i runs in network namespace bingo$i" \
            test "$($enter stat -L -c %i "/proc/$pid/ns/net" 2>&1)" = "$($enter stat -L -c %i "/run/netns/bingo$i" 2>&1)"
        check "$node: bingo@$i answers GET /ping at its address $addr:$port" \
            test "$($enter curl -s --max-time 3 "http://$addr:$port/ping")" = pong
    done
    active=$($enter systemctl list-units --plain --no-legend --state=active 'bingo@*.service' | awk '{print $1}' | sort -V | paste -sd' ')
    want=$(for ((i = 1; i <= size; i++)); do echo "bingo@$i.service"; done | paste -sd' ')
    check "$node: exactly bingo_pool_size ($size) members run ($active)" test "$active" = "$want"
    check "$node: bingo.target enabled and active" \
        test "$($enter systemctl show bingo.target -p UnitFileState --value) $($enter systemctl show bingo.target -p ActiveState --value)" = "enabled active"
    check "$node: no single bingo.service (the pool replaced it)" \
        test "$($enter systemctl show bingo.service -p LoadState --value)" = not-found
    check "$node: /etc/default/bingo-pool sets BINGO_POOL_NET=$POOL_NET" "$enter" grep -qx "BINGO_POOL_NET=$POOL_NET" /etc/default/bingo-pool
    conf=$($enter cat /etc/nginx/conf.d/bingo-pool.conf 2>&1)
    # The members once each as primaries (bingo-pool may add backup lines).
    n=$(grep -E "^ +server ${POOL_NET//./\\.}\.[0-9]+:$port " <<<"$conf" | grep -cvw backup)
    check "$node: conf.d/bingo-pool.conf listens on $port and names the $size members ($n)" \
        bash -c "grep -qE '^ +listen $port;' <<<\"\$1\" && [ $n = $size ]" _ "$conf"
    check "$node: the pool's nginx server answers GET /ping on 127.0.0.1:$port" \
        test "$($enter curl -s --max-time 3 "http://127.0.0.1:$port/ping")" = pong
    # What vipd runs: the node's bingo check without a restart, a monitor
    # check and a memory check per member, each restarting its member; the web
    # instance (if any) follows nginx and bingo only.
    summary=$($enter python3 -c '
import sys, yaml
c = yaml.safe_load(open("/etc/vipd/vipd.yaml"))
checks = {k["name"]: k for k in c.get("checks", [])}
out = ["bingo:" + checks["bingo"]["role"] + (":restart" if "restart" in checks["bingo"] else "")]
for i in range(1, int(sys.argv[1]) + 1):
    for name in ("bingo-%d" % i, "bingo-memory-%d" % i):
        k = checks.get(name, {})
        out.append(name + ":" + k.get("role", "-") + ":" + k.get("restart", {}).get("command", ["-"])[-1])
out.append("web:" + ",".join(next((i["track_checks"] for i in c.get("instances", []) if i["name"] == "web"), ["-"])))
print(" ".join(out))' "$size" 2>&1)
    want="bingo:backend"
    for ((i = 1; i <= size; i++)); do want+=" bingo-$i:monitor:bingo@$i.service bingo-memory-$i:monitor:bingo@$i.service"; done
    check "$node: vipd.yaml: bingo (backend, no restart), bingo-N and bingo-memory-N (monitor, restart bingo@N) ($summary)" \
        test "${summary% web:*}" = "$want"
    for ((i = 1; i <= size; i++)); do
        check "$node: vipctl status lists the check bingo-$i" bash -c "grep -qw 'bingo-$i' <<<\"\$1\"" _ "$($enter vipctl status 2>&1)"
    done
    # The members reach the database: from their own addresses to a server on
    # this node (pg_hba: bingo_pool_net.0/24), masqueraded to the node's
    # address to one on the other node (nftables table ip bingo_pool).
    check "$node: member 1 reaches the database at $db as bingo's user (from its namespace)" \
        test "$($enter ip netns exec bingo1 env PGPASSWORD=playbook-test psql -XAtq "host=$db user=bingo dbname=bingo connect_timeout=3" -c 'SELECT 1' 2>&1)" = 1
}
