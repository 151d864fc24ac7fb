#!/usr/bin/env bash
# make install / make uninstall: DESTDIR install (files, modes, owners, a
# second run changes nothing, configs never overwritten, PREFIX followed,
# `systemd-analyze verify` clean), then — as root, in a throwaway
# copy-on-write sandbox of this machine — a live install (users created,
# keys owned by vipd) and uninstall. Closes with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=$(bin_dir) || exit 1
cd "$repo" || exit 1
tmp=$(mktemp -d /tmp/vipd-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
me=$(id -un):$(id -gn)

# ------------------------------------------------------------ DESTDIR
d=$tmp/destdir
out=$(make -s install DESTDIR="$d" BIN_DIR="$bin" 2>&1); rc=$?
check "make install DESTDIR=... exits 0" test "$rc" = 0
[ "$rc" = 0 ] || { echo "$out"; finish; exit 1; }

# expect PATH MODE: exists with that octal mode, owned by whoever ran make.
expect() {
    local path=$d$1 mode=$2
    if [ ! -e "$path" ]; then fail "$1 installed"; return; fi
    check "$1 mode $mode, owner $me" test "$(stat -c '%a %U:%G' "$path")" = "$mode $me"
}
expect /usr/local/bin/vipd 755
expect /usr/local/bin/vipctl 755
expect /usr/local/libexec/vipd/vipd-pg 755
expect /usr/local/libexec/vipd/vipd-memory-check 755
expect /usr/local/libexec/vipd/bingo-pool 755
for file in libexec/vipd_pg/*.py; do
    expect "/usr/local/libexec/vipd/vipd_pg/$(basename "$file")" 644
done
for unit in vipd.service vipd-nginx-test.service vipd-pg.service bingo@.service bingo-pool-net@.service bingo.target \
            bingo-blackhole.service; do
    expect /etc/systemd/system/$unit 644
done
expect /etc/systemd/system/nginx.service.d/vipd-restart.conf 644
expect /etc/sysctl.d/99-vipd.conf 644
expect /etc/tmpfiles.d/bingo.conf 644
expect /etc/polkit-1/rules.d/50-vipd-nginx.rules 644
expect /etc/polkit-1/rules.d/50-vipd-pg.rules 644
expect /etc/vipd 750
expect /etc/vipd/vipd.yaml 640
expect /etc/vipd/vipd.yaml.example 640
expect /etc/vipd/auth.key 600
expect /etc/vipd/control.token 600
expect /usr/local/share/bash-completion/completions/vipctl 644
expect /usr/local/share/zsh/site-functions/_vipctl 644
expect /usr/local/share/fish/vendor_completions.d/vipctl.fish 644
expect /usr/local/share/doc/vipd/README.md 644
check "installed binary runs (vipd --version)" bash -c "'$d/usr/local/bin/vipd' --version >/dev/null"
check "bash completion script names vipctl's subcommands" \
    grep -q failover "$d/usr/local/share/bash-completion/completions/vipctl"
check "auth.key holds at least 16 bytes (32 random bytes, base64)" \
    test "$(tr -d '\n' <"$d/etc/vipd/auth.key" | wc -c)" -ge 16
check "auth.key and control.token differ" \
    bash -c "! cmp -s '$d/etc/vipd/auth.key' '$d/etc/vipd/control.token'"
check "units name the installed binary (ExecStart=/usr/local/bin/vipd)" \
    grep -q '^ExecStart=/usr/local/bin/vipd --config /etc/vipd/vipd.yaml$' "$d/etc/systemd/system/vipd.service"
check "vipd-pg.service names the installed agent (/usr/local/libexec/vipd/vipd-pg)" \
    grep -q '^ExecStart=/usr/local/libexec/vipd/vipd-pg --config /etc/vipd/pg.conf run$' "$d/etc/systemd/system/vipd-pg.service"
check "the installed agent runs, with its package beside it (vipd-pg --help)" \
    bash -c "'$d/usr/local/libexec/vipd/vipd-pg' --help | grep -q check-config"
check "no user was created and nothing chown'ed with DESTDIR (no vipd-owned files)" \
    test -z "$(find "$d" ! -user "$(id -u)")"

# The example config and the generated key are accepted by vipd itself.
sed "s#/etc/vipd/auth.key#$d/etc/vipd/auth.key#" "$d/etc/vipd/vipd.yaml" >"$tmp/check.yaml"
out=$("$d/usr/local/bin/vipd" check-config "$tmp/check.yaml" 2>&1)
check "vipd check-config accepts the installed example with the generated key" grep -q ': OK' <<<"$out"
grep -q ': OK' <<<"$out" || echo "$out"

# Second run: nothing changes (content, modes, owners), and it says so.
before=$(snapshot "$d")
out=$(make -s install DESTDIR="$d" BIN_DIR="$bin" 2>&1)
after=$(snapshot "$d")
check "second install changes nothing (checksums, modes, owners)" test "$before" = "$after"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head
check "second install reports nothing to do" grep -q "nothing to do" <<<"$out"

# Configuration and keys are never overwritten.
echo "# edited by the operator" >>"$d/etc/vipd/vipd.yaml"
key=$(sha256sum <"$d/etc/vipd/auth.key")
make -s install DESTDIR="$d" BIN_DIR="$bin" >/dev/null 2>&1
check "an edited vipd.yaml survives a reinstall" grep -q "edited by the operator" "$d/etc/vipd/vipd.yaml"
check "auth.key survives a reinstall" test "$(sha256sum <"$d/etc/vipd/auth.key")" = "$key"

# A changed unit in the tree is rewritten (units are ours, not configuration).
echo "# stale" >>"$d/etc/systemd/system/bingo-blackhole.service"
make -s install DESTDIR="$d" BIN_DIR="$bin" >/dev/null 2>&1
check "a modified unit is restored" cmp -s "$d/etc/systemd/system/bingo-blackhole.service" systemd/bingo-blackhole.service

# An earlier version's single bingo.service (stopped) is removed: the pool
# (bingo@.service) replaces it and takes its port.
echo "[Service]" >"$d/etc/systemd/system/bingo.service"
out=$(make -s install DESTDIR="$d" BIN_DIR="$bin" 2>&1)
check "the old single bingo.service is removed on upgrade" test ! -e "$d/etc/systemd/system/bingo.service"
check "...and install says so" grep -q "removed /etc/systemd/system/bingo.service" <<<"$out"
check "the pool's units name the installed bingo-pool (/usr/local/libexec/vipd/bingo-pool)" bash -c "
    grep -q '^ExecStart=/usr/local/libexec/vipd/bingo-pool up %i\$' '$d/etc/systemd/system/bingo-pool-net@.service' &&
    grep -q 'a=\$\$(/usr/local/libexec/vipd/bingo-pool address %i)' '$d/etc/systemd/system/bingo@.service'"

if [ "$(id -u)" = 0 ] && command -v systemd-analyze >/dev/null; then
    out=$(verify_units "$d" 2>&1)
    check "systemd-analyze verify: every installed unit (and nginx.service with the drop-in) clean" test -z "$out"
    [ -z "$out" ] || echo "$out"
else
    echo "skip - systemd-analyze verify needs root (mount namespace)"
fi

# PREFIX is followed, inside the units too.
p=$tmp/prefix
make -s install DESTDIR="$p" PREFIX=/opt/vipd BIN_DIR="$bin" >/dev/null 2>&1
check "PREFIX=/opt/vipd: binary in /opt/vipd/bin" test -x "$p/opt/vipd/bin/vipd"
check "PREFIX=/opt/vipd: ExecStart follows" grep -q '^ExecStart=/opt/vipd/bin/vipd ' "$p/etc/systemd/system/vipd.service"
check "PREFIX=/opt/vipd: ExecStartPre follows" grep -q '^ExecStartPre=/opt/vipd/bin/vipd check-config' "$p/etc/systemd/system/vipd.service"
check "PREFIX=/opt/vipd: the agent in /opt/vipd/libexec/vipd, and vipd-pg.service follows" bash -c "
    test -x '$p/opt/vipd/libexec/vipd/vipd-pg' && grep -q '^ExecStart=/opt/vipd/libexec/vipd/vipd-pg ' '$p/etc/systemd/system/vipd-pg.service'"

# Uninstall: everything but /etc/vipd goes; a second uninstall is a no-op.
make -s uninstall DESTDIR="$d" >"$tmp/un.txt" 2>&1
left=$(cd "$d" && find . -type f ! -path './etc/vipd/*' | sort)
check "uninstall removes every installed file outside /etc/vipd" test -z "$left"
[ -z "$left" ] || echo "$left"
check "uninstall keeps /etc/vipd (config and keys)" test -f "$d/etc/vipd/auth.key" -a -f "$d/etc/vipd/vipd.yaml"
out=$(make -s uninstall DESTDIR="$d" 2>&1)
check "second uninstall: nothing to remove" grep -q "nothing to remove" <<<"$out"

# ------------------------------------------------------------ live, sandboxed
if can_sandbox; then
    out=$(in_sandbox bash -c "
        userdel vipd >/dev/null 2>&1; groupdel vipd >/dev/null 2>&1; userdel bingo >/dev/null 2>&1; groupdel bingo >/dev/null 2>&1
        rm -rf /etc/vipd
        make -s install BIN_DIR='$bin' >/dev/null || exit 1
        echo users: \$(id -u vipd >/dev/null && echo vipd) \$(id -u bingo >/dev/null && echo bingo)
        echo shell: \$(getent passwd vipd | cut -d: -f7)
        echo etc: \$(stat -c '%a %U:%G' /etc/vipd)
        echo key: \$(stat -c '%a %U:%G' /etc/vipd/auth.key)
        echo token: \$(stat -c '%a %U:%G' /etc/vipd/control.token)
        echo yaml: \$(stat -c '%a %U:%G' /etc/vipd/vipd.yaml)
        echo bin: \$(stat -c '%a %U:%G' /usr/local/bin/vipd)
        # The daemon's user must be able to read its key and config.
        setpriv --reuid=vipd --regid=vipd --clear-groups cat /etc/vipd/auth.key >/dev/null && echo readable: key
        a=\$(find /usr/local /etc/systemd /etc/vipd /etc/sysctl.d /etc/tmpfiles.d /etc/polkit-1 -printf '%p %m %u %g\n' 2>/dev/null | sort | sha256sum)
        out=\$(make -s install BIN_DIR='$bin' 2>&1)
        b=\$(find /usr/local /etc/systemd /etc/vipd /etc/sysctl.d /etc/tmpfiles.d /etc/polkit-1 -printf '%p %m %u %g\n' 2>/dev/null | sort | sha256sum)
        [ \"\$a\" = \"\$b\" ] && echo idempotent: yes
        make -s uninstall >/dev/null && test ! -e /usr/local/bin/vipd && test ! -e /etc/systemd/system/vipd.service && echo uninstalled: yes
    " 2>&1)
    check "live: users vipd and bingo created" grep -q "^users: vipd bingo$" <<<"$out"
    check "live: vipd has no login shell" grep -q "^shell: /usr/sbin/nologin$" <<<"$out"
    check "live: /etc/vipd is 750 root:vipd" grep -q "^etc: 750 root:vipd$" <<<"$out"
    check "live: auth.key is 600 vipd:vipd" grep -q "^key: 600 vipd:vipd$" <<<"$out"
    check "live: control.token is 600 vipd:vipd" grep -q "^token: 600 vipd:vipd$" <<<"$out"
    check "live: vipd.yaml is 640 root:vipd" grep -q "^yaml: 640 root:vipd$" <<<"$out"
    check "live: binaries are 755 root:root" grep -q "^bin: 755 root:root$" <<<"$out"
    check "live: user vipd can read the key (User=vipd in the unit)" grep -q "^readable: key$" <<<"$out"
    check "live: second install changes nothing" grep -q "^idempotent: yes$" <<<"$out"
    check "live: uninstall removes binaries and units" grep -q "^uninstalled: yes$" <<<"$out"
    grep -q "^uninstalled: yes$" <<<"$out" || echo "$out"
else
    echo "skip - live install needs root, unshare and overlayfs"
fi

finish
