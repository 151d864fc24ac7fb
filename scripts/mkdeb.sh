#!/usr/bin/env bash
# mkdeb.sh — build dist/vipd_<version>_<arch>.deb with dpkg-deb (`make deb`).
#
# Environment:
#   BIN_DIR        prebuilt vipd and vipctl (default: the release build,
#                  swift build -c release $RELEASE_FLAGS, built here first)
#   RELEASE_FLAGS  default --static-swift-stdlib: the package must run on a
#                  host without the Swift toolchain, so the Swift runtime and
#                  Foundation are linked in; what remains is libc, libcap,
#                  libstdc++ and friends, turned into Depends below.
#   ALLOW_TOOLCHAIN_LIBS=1  accept binaries that load libraries from the Swift
#                  toolchain (the CI test packages the debug build; such a
#                  package only runs where the toolchain is installed).
#   DIST           output directory (default dist/)
#   DEB_COMPRESS   dpkg-deb compressor (default xz; the CI test uses gzip)
#
# Layout (Debian paths, PREFIX=/usr): /usr/bin/vipd, /usr/bin/vipctl, the
# PostgreSQL role agent /usr/libexec/vipd/vipd-pg, the bingo pool's
# /usr/libexec/vipd/bingo-pool and vipd-memory-check, units in
# /lib/systemd/system (none enabled), nginx drop-in in
# /lib/systemd/system/nginx.service.d, /usr/lib/sysctl.d/99-vipd.conf,
# /usr/lib/tmpfiles.d/bingo.conf, /usr/share/polkit-1/rules.d, completions,
# docs. /etc/vipd/vipd.yaml is a conffile (the example; dpkg keeps local edits).
# The maintainer scripts create the users and the keys, and start nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
RELEASE_FLAGS=${RELEASE_FLAGS:---static-swift-stdlib}
DIST=${DIST:-$here/dist}

if [ -z "${BIN_DIR:-}" ]; then
    scripts/deps.sh
    # shellcheck disable=SC2086  # RELEASE_FLAGS is a list of flags
    swift build -c release $RELEASE_FLAGS
    # shellcheck disable=SC2086
    BIN_DIR=$(swift build -c release $RELEASE_FLAGS --show-bin-path)
fi
version=$("$BIN_DIR/vipd" --version)
arch=$(dpkg --print-architecture)
name=vipd_${version}_${arch}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$name
mkdir -p "$root/DEBIAN"

DESTDIR=$root PREFIX=/usr PACKAGING=1 BIN_DIR=$BIN_DIR scripts/install.sh install >/dev/null
# As Debian's packages are: symbols stripped (Swift's runtime metadata lives
# in sections strip keeps).
strip --strip-unneeded "$root/usr/bin/vipd" "$root/usr/bin/vipctl"
install -D -m 0644 conf/vipd.example.yaml "$root/etc/vipd/vipd.yaml"
chmod 0750 "$root/etc/vipd"

# Depends: the Debian package of every shared library the binaries load.
libs=$(ldd "$BIN_DIR/vipd" "$BIN_DIR/vipctl" | awk '/=> \// {print $3}' | sort -u)
toolchain=$(grep -v -E '^/(usr/)?lib' <<<"$libs" || true)
if [ -n "$toolchain" ] && [ "${ALLOW_TOOLCHAIN_LIBS:-0}" != 1 ]; then
    echo "mkdeb: the binaries load libraries from outside the system:" >&2
    echo "$toolchain" >&2
    echo "mkdeb: build with RELEASE_FLAGS=--static-swift-stdlib (the default)" >&2
    exit 1
fi
lib_packages=$(grep -E '^/(usr/)?lib' <<<"$libs" | while read -r lib; do
    real=$(readlink -f "$lib")
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true
done | cut -d: -f1 | grep -v -- '-dev$' || true)
# The agent (/usr/libexec/vipd/vipd-pg) is Python 3 with psycopg2.
# shellcheck disable=SC2086  # one package name per word
depends=$(printf '%s\n' $lib_packages passwd iproute2 curl python3 python3-psycopg2 | sort -u | paste -sd, | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

cat >"$root/DEBIAN/control" <<EOF
Package: vipd
Version: $version
Architecture: $arch
Maintainer: vipd maintainers <vipd@example.com>
Installed-Size: $size
Depends: $depends
Recommends: nginx, polkitd, chrony
Section: net
Priority: optional
Homepage: https://example.com/vipd
Description: virtual-IP failover daemon (keepalived-class, VRRP-like)
 vipd elects one master among two or more nodes over authenticated UDP
 heartbeats; the master holds the floating IP and announces it with
 gratuitous ARP / unsolicited neighbour advertisements. vipctl operates it.
 .
 Also ships the systemd units of the two-node bingo installation (the bingo
 pool: bingo@.service, bingo-pool-net@.service, bingo.target and bingo-pool;
 its blackhole route, nginx restart drop-in, sysctl and tmpfiles settings)
 and vipd-pg, the agent that keeps the PostgreSQL primary where vipd's db
 instance is master (promotion, fencing, rejoin with pg_rewind).
 Nothing is enabled or started on installation.
EOF

echo /etc/vipd/vipd.yaml >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# vipd postinst: users, key files, permissions. Enables and starts nothing.
set -e
if [ "$1" = configure ]; then
    for user in vipd bingo; do
        if ! getent passwd "$user" >/dev/null; then
            home=/nonexistent; [ "$user" = bingo ] && home=/opt/bingo
            useradd --system --user-group --no-create-home --home-dir "$home" \
                    --shell /usr/sbin/nologin --comment "$user daemon" "$user"
        fi
    done
    chown root:vipd /etc/vipd /etc/vipd/vipd.yaml
    chmod 0750 /etc/vipd
    chmod 0640 /etc/vipd/vipd.yaml
    for secret in auth.key control.token; do
        if [ ! -e "/etc/vipd/$secret" ]; then
            (umask 077; head -c 32 /dev/urandom | base64 >"/etc/vipd/$secret")
            chown vipd:vipd "/etc/vipd/$secret"
            echo "vipd: generated /etc/vipd/$secret (copy the same auth.key to every node)"
        fi
    done
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        systemd-tmpfiles --create bingo.conf || true
        # Versions before the pool shipped one bingo.service (dpkg has removed
        # its file by now); left running, it holds the port the pool's nginx
        # server needs. Stopping it here would be an outage: say how to switch.
        if [ -n "$2" ] && systemctl is-active --quiet bingo.service; then
            echo "vipd: bingo.service (one instance) still runs; the bingo pool replaces it:"
            echo "vipd: systemctl disable --now bingo.service, then the pool (deploying-bingo.md, \"The bingo pool\")"
        fi
        if [ -n "$2" ] && systemctl is-active --quiet vipd.service; then
            echo "vipd: upgraded; the running daemon was left alone. To switch to the new"
            echo "vipd: binary without a failover: vipctl failover (if master), then systemctl restart vipd"
        fi
    fi
    if [ -z "$2" ]; then
        echo "vipd: installed, nothing enabled. Edit /etc/vipd/vipd.yaml, run sysctl --system,"
        echo "vipd: then systemctl enable --now vipd (see /usr/share/doc/vipd/deploying-bingo.md)"
    fi
fi
exit 0
EOF

cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# vipd prerm: on removal, stop a running vipd (it resigns: the peer takes the
# VIP after Skew_Time). Upgrades leave it running.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet vipd.service; then
        systemctl stop vipd.service || true
    fi
    systemctl disable vipd.service >/dev/null 2>&1 || true
fi
exit 0
EOF

cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# vipd postrm: purge removes the generated keys; the users stay (files they
# owned may remain, e.g. bingo's logs), as Debian does for system users.
set -e
case "$1" in
    remove)
        if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
        ;;
    purge)
        rm -f /etc/vipd/auth.key /etc/vipd/control.token /etc/vipd/vipd.yaml.dpkg-*
        rmdir /etc/vipd 2>/dev/null || true
        ;;
esac
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$DIST"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$root" "$DIST/$name.deb" >/dev/null
echo "$DIST/$name.deb"
