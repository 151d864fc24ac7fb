#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian 12
# machine (run as root). Idempotent and quiet when everything is present.
set -euo pipefail

# postgresql + python3-psycopg2: the bingo stand-in's real database
# (Tests/standin, lab/bench_api.py) and the PostgreSQL role agent
# (libexec/vipd-pg, Tests/lab/test_db_replication.py); strace: its tests find bingo's log
# directory the way an operator does; keepalived: the VRRPv3 peer of the
# interop tests (Tests/lab/test_vrrp3_interop.py) and the bench's baseline.
# nftables: the lab's network faults and the bingo pool's masquerade (libexec/bingo-netns).
packages=(libcap-dev iproute2 iputils-ping tcpdump nginx procps psmisc curl openssl
          postgresql python3-psycopg2 strace keepalived nftables)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts nginx and the packaged PostgreSQL cluster on install;
    # the tests run their own instances (and PostgreSQL's would hold 5432).
    for unit in nginx postgresql keepalived; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then
            systemctl stop "$unit" || true
        fi
    done
fi

# pytest runs the process and lab tests; prometheus_client parses /metrics in them.
for module in pytest prometheus_client; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        echo "deps: installing $module"
        python3 -m pip install -q --root-user-action=ignore "$module"
    fi
done

# aioquic: lab/h3get.py, the acceptance suite's HTTP/3 client (pinned in lab/requirements-http3.txt).
if ! python3 -c "import aioquic" >/dev/null 2>&1; then
    echo "deps: installing aioquic"
    req="$(dirname "$0")/../lab/requirements-http3.txt"
    python3 -m pip install -q --root-user-action=ignore -r "$req" 2>/dev/null ||
        python3 -m pip install -q --root-user-action=ignore --break-system-packages -r "$req"   # Debian's python3: externally managed
fi

# vipd drops root to this user after opening its sockets.
if ! id vipd >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vipd
fi
