# shellcheck shell=bash
# Shared helpers for the install tests (sourced). Prints "ok"/"FAIL" lines.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
failures=0
checks=0
ok()   { echo "ok   - $*"; checks=$((checks + 1)); }
fail() { echo "FAIL - $*"; checks=$((checks + 1)); failures=$((failures + 1)); }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
finish() {
    echo
    echo "$((checks - failures)) passed, $failures failed"
    [ "$failures" = 0 ]
}

# The binaries to install: BIN_DIR, else the debug build CI has just made
# (a release build would add many minutes to CI; install.sh and mkdeb.sh do
# not care which build they get).
bin_dir() {
    local dir=${BIN_DIR:-$repo/.build/debug}
    if [ ! -x "$dir/vipd" ] || [ ! -x "$dir/vipctl" ]; then
        echo "no vipd/vipctl in $dir: run swift build first (or set BIN_DIR)" >&2
        exit 1
    fi
    echo "$dir"
}

# snapshot DIR: path, type, mode, owner, group and content hash of everything under DIR.
snapshot() {
    (cd "$1" && find . -printf '%p %y %m %u %g\n' | sort | while read -r path type rest; do
        if [ "$type" = f ]; then
            echo "$path $type $rest $(sha256sum <"$path" | cut -c1-16)"
        else
            echo "$path $type $rest"
        fi
    done)
}

# in_sandbox CMD...: run CMD as root in a throwaway copy-on-write view of the
# whole machine (overlayfs over /, in a private mount namespace, chroot'ed).
# Users, /usr, /etc and dpkg's database can be changed freely there; nothing
# reaches the real system. The repository is visible at the same path.
in_sandbox() {
    local t cmd rc
    t=$(mktemp -d /tmp/vipd-sandbox.XXXXXX)
    cmd=$(mktemp /tmp/vipd-sandbox-cmd.XXXXXX)
    { printf 'cd %q || exit 1\n' "$repo"; printf '%q ' "$@"; echo; } >"$cmd"
    unshare --mount --propagation private bash -c "
        set -e
        mount -t tmpfs tmpfs '$t'
        mkdir '$t/upper' '$t/work' '$t/root'
        mount -t overlay overlay -o lowerdir=/,upperdir='$t/upper',workdir='$t/work' '$t/root'
        mount --bind /proc '$t/root/proc'
        mount --rbind /dev '$t/root/dev'
        mount --bind /sys '$t/root/sys'
        mount -t tmpfs tmpfs '$t/root/run'
        chroot '$t/root' /bin/bash '$cmd'
    "
    rc=$?
    rm -f "$cmd"; rmdir "$t" 2>/dev/null || true
    return $rc
}

can_sandbox() {
    [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && grep -qw overlay /proc/filesystems
}

# verify_units ROOT: `systemd-analyze verify` on the units installed under
# ROOT, with ROOT's $PREFIX/bin and unit directory bind-mounted over the real
# paths (in a private mount namespace) so the ExecStart= binaries exist. Any
# output (warnings included) counts as a failure: verify exits 0 on warnings.
verify_units() {
    local root=$1 unit_dir=${2:-/etc/systemd/system} bin=${3:-/usr/local/bin}
    unshare --mount --propagation private bash -c "
        set -e
        mount --bind '$root$bin' '$bin'
        mount --bind '$root$unit_dir' '$unit_dir'
        mount -t tmpfs tmpfs /opt
        mkdir -p /opt/bingo && printf '#!/bin/sh\n' >/opt/bingo/bingo && chmod 755 /opt/bingo/bingo
        systemd-analyze verify vipd.service vipd-nginx-test.service bingo.service bingo-blackhole.service \
            \$(test -f /lib/systemd/system/nginx.service && echo nginx.service) 2>&1
    "
}
