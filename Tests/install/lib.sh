# shellcheck shell=bash disable=SC2034  # sandbox_error is read by the scripts that source this file
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
    # The whole prefix (bin/, libexec/vipd/ for vipd-pg.service), not only bin/.
    local prefix=${bin%/bin}
    unshare --mount --propagation private bash -c "
        set -e
        mount --bind '$root$prefix' '$prefix'
        mount --bind '$root$unit_dir' '$unit_dir'
        mount -t tmpfs tmpfs /opt
        mkdir -p /opt/bingo && printf '#!/bin/sh\n' >/opt/bingo/bingo && chmod 755 /opt/bingo/bingo
        systemd-analyze verify vipd.service vipd-nginx-test.service vipd-pg.service bingo@1.service bingo@2.service \
            bingo-pool-net@1.service bingo.target bingo-blackhole.service \
            \$(test -f /lib/systemd/system/nginx.service && echo nginx.service) 2>&1
    "
}

# ---------------------------------------------------------------- systemd sandbox
# systemd_sandbox_start TMPDIR SETUP: boots systemd as PID 1 in a throwaway
# copy-on-write view of this machine (overlayfs over /, new mount, PID,
# network, cgroup and UTS namespaces; a cgroup2 subtree of its own). SETUP,
# a bash script, runs in the chroot first (create interfaces, install, enable
# units into vipdtest.target.wants). Sets $sd (systemd's host PID) and the
# function sb (run a command inside). Returns 1 with $sandbox_error set where
# this machine cannot do it. systemd_sandbox_stop ends everything in it.
sd=""; boot_pid=""; sandbox_cg=""; sandbox_error=""
sb() { nsenter -t "$sd" -m -p -n -C -u -r -w "$@"; }
systemd_sandbox_start() {
    local tmp=$1 setup=$2 base state _
    [ "$(id -u)" = 0 ] || { sandbox_error="needs root"; return 1; }
    [ -x /lib/systemd/systemd ] || { sandbox_error="no /lib/systemd/systemd"; return 1; }
    can_sandbox || { sandbox_error="needs unshare and overlayfs"; return 1; }
    for base in /sys/fs/cgroup/unified /sys/fs/cgroup; do
        if [ -f "$base/cgroup.procs" ] && grep -q "$base cgroup2" /proc/mounts; then
            sandbox_cg=$base/vipd-test-$$${SANDBOX_TAG:+-$SANDBOX_TAG}; break
        fi
    done
    [ -n "$sandbox_cg" ] || { sandbox_error="no writable cgroup2 hierarchy"; return 1; }
    mkdir -p "$sandbox_cg"
    (
        echo $BASHPID >"$sandbox_cg/cgroup.procs"
        exec setsid unshare --mount --propagation private --net --pid --fork --cgroup --uts bash -c "
            set -e
            t='$tmp'
            mkdir \$t/sb && mount -t tmpfs tmpfs \$t/sb
            mkdir \$t/sb/upper \$t/sb/work \$t/sb/root
            r=\$t/sb/root
            mount -t overlay overlay -o lowerdir=/,upperdir=\$t/sb/upper,workdir=\$t/sb/work \$r
            mount -t proc proc \$r/proc
            mount --rbind /dev \$r/dev
            mount -t sysfs -o ro sysfs \$r/sys
            mount -t cgroup2 cgroup2 \$r/sys/fs/cgroup
            mount -t tmpfs tmpfs \$r/run
            chroot \$r bash '$setup'
            mkdir -p \$r/etc/systemd/system/vipdtest.target.wants
            printf '[Unit]\\nDescription=vipd test\\nRequires=basic.target\\nAfter=basic.target\\n' >\$r/etc/systemd/system/vipdtest.target
            for u in systemd-udevd.service systemd-udev-trigger.service systemd-networkd.service getty.target systemd-logind.service; do
                ln -sf /dev/null \$r/etc/systemd/system/\$u
            done
            exec chroot \$r env container=vipd-test /lib/systemd/systemd --system --unit=vipdtest.target --show-status=false
        " >"$tmp/boot.log" 2>&1
    ) &
    boot_pid=$!
    for _ in $(seq 300); do
        sd=$(pgrep -P "$boot_pid" 2>/dev/null | head -1)
        [ -n "$sd" ] && [ "$(cat /proc/"$sd"/comm 2>/dev/null)" = systemd ] && break
        sd=""
        kill -0 "$boot_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$sd" ]; then cat "$tmp/boot.log"; sandbox_error="systemd did not start in the sandbox"; return 1; fi
    for _ in $(seq 120); do
        state=$(sb systemctl is-system-running 2>/dev/null)
        case $state in running|degraded) return 0 ;; esac
        sleep 0.5
    done
    sb systemctl list-jobs --no-pager 2>&1 | head
    sandbox_error="systemd did not finish booting ($state)"
    return 1
}
systemd_sandbox_stop() {
    if [ "${KEEP_SANDBOX:-0}" = 1 ] && [ -n "$sd" ]; then echo "kept: nsenter -t $sd -m -p -n -C -u -r -w"; return; fi
    # SIGKILL to the namespace's PID 1 ends every process in it.
    [ -z "$sd" ] && [ -n "$boot_pid" ] && sd=$(pgrep -P "$boot_pid" 2>/dev/null | head -1)
    [ -n "$sd" ] && kill -KILL "$sd" 2>/dev/null
    [ -n "$boot_pid" ] && kill -KILL "$boot_pid" 2>/dev/null
    local _
    for _ in $(seq 50); do
        if [ -z "$sd" ] || ! kill -0 "$sd" 2>/dev/null; then break; fi
        sleep 0.1
    done
    # The cgroups empty out a moment after the processes are gone.
    for _ in $(seq 30); do
        if [ -z "$sandbox_cg" ] || [ ! -d "$sandbox_cg" ]; then break; fi
        find "$sandbox_cg" -depth -type d -exec rmdir {} \; 2>/dev/null
        sleep 0.2
    done
    return 0
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
    local n=$(( $1 * 5 )) _; shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
