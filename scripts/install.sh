#!/usr/bin/env bash
# install.sh install|uninstall — install vipd, its systemd units and the bingo
# node's system files; `make install` / `make uninstall` / `make deb` call it.
#
# Environment (all optional):
#   DESTDIR   staging root (default: empty = this machine). When set, no user
#             is created, nothing is chown'ed (files belong to whoever runs
#             this), systemd is not told, and users' ids are not needed.
#   PREFIX    /usr/local; binaries go to $PREFIX/bin, completions and docs to
#             $PREFIX/share. Paths inside the installed units follow PREFIX.
#   BIN_DIR   directory holding already built vipd and vipctl. Default: the
#             release build, `swift build -c release --show-bin-path`
#             (the Makefile builds it first). Tests pass the debug build.
#   UNIT_DIR  /etc/systemd/system (admin-installed units; the .deb uses
#             /lib/systemd/system). Drop-ins, sysctl, tmpfiles and polkit
#             files go to /etc/... here and to /usr/lib/... in the .deb.
#   PACKAGING 1 when building the .deb: package paths (UNIT_DIR and the
#             others under /usr/lib), no key or token generated (postinst
#             does that on the target) and no config copied to vipd.yaml.
#
# What it does (idempotent: a second run changes nothing):
#   $PREFIX/bin/vipd, vipctl                     0755
#   $PREFIX/libexec/vipd/vipd-pg                 0755, the PostgreSQL role agent
#       (libexec/vipd-pg; its package libexec/vipd_pg/ beside it, if any, 0644)
#   $PREFIX/libexec/vipd/vipd-memory-check, bingo-pool   0755 (the bingo-memory
#       checks; the bingo pool's namespaces and nginx config)
#   $UNIT_DIR/vipd.service, vipd-nginx-test.service, vipd-pg.service,
#       bingo@.service, bingo-pool-net@.service, bingo.target,
#       bingo-blackhole.service                  0644, not enabled
#   (an old single-instance bingo.service of ours is removed, unless it still
#   runs: then install says how to switch to the pool)
#   nginx.service.d/vipd-restart.conf            nginx restarts on failure
#   sysctl.d/99-vipd.conf, tmpfiles.d/bingo.conf, polkit rules.d/50-vipd-nginx.rules
#       and 50-vipd-pg.rules (vipd-pg starts and fences postgresql@*.service)
#   /etc/vipd/ (0750 root:vipd)
#       vipd.yaml.example, vipd.yaml             0640, only if absent: never overwritten
#       auth.key, control.token                  0600 vipd:vipd, random, only if absent
#   bash/zsh/fish completions for vipctl, docs under $PREFIX/share/doc/vipd
#   system users vipd and bingo (only without DESTDIR)
# `uninstall` removes all of the above except /etc/vipd (config, keys) and the
# users, and says so.
set -euo pipefail

action=${1:-install}
here=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
PACKAGING=${PACKAGING:-0}
if [ "$PACKAGING" = 1 ]; then
    UNIT_DIR=${UNIT_DIR:-/lib/systemd/system}
    lib_etc=/usr/lib          # sysctl.d, tmpfiles.d (package defaults; /etc overrides)
    polkit_dir=/usr/share/polkit-1/rules.d
else
    UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
    lib_etc=/etc
    polkit_dir=/etc/polkit-1/rules.d
fi
etc_vipd=/etc/vipd
# zsh: Debian's fpath has /usr/local/share/zsh/site-functions and, for
# packages, /usr/share/zsh/vendor-completions.
zsh_dir=$PREFIX/share/zsh/site-functions
[ "$PREFIX" = /usr ] && zsh_dir=/usr/share/zsh/vendor-completions
root=$DESTDIR
live=0; [ -z "$DESTDIR" ] && live=1

changed=0
say() { echo "install: $*"; }

# put SRC DEST MODE: install a file we own; skip it when identical.
put() {
    local src=$1 dest=$root$2 mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "$mode" ]; then
        return 0
    fi
    install -D -m "$mode" "$src" "$dest"
    [ $live = 1 ] && chown root:root "$dest"
    say "wrote $2"; changed=1
}

# put_once SRC DEST MODE OWNER: configuration — written only if absent.
put_once() {
    local src=$1 dest=$root$2 mode=$3 owner=$4
    if [ -e "$dest" ]; then return 0; fi
    install -D -m "$mode" "$src" "$dest"
    [ $live = 1 ] && chown "$owner" "$dest"
    say "wrote $2 (never overwritten)"; changed=1
}

# secret DEST: 32 random bytes, base64 (vipd uses the text verbatim), 0600 vipd.
secret() {
    local dest=$root$1
    if [ -e "$dest" ]; then return 0; fi
    (umask 077; head -c 32 /dev/urandom | base64 > "$dest.tmp")
    [ $live = 1 ] && chown vipd:vipd "$dest.tmp"
    mv "$dest.tmp" "$dest"
    say "generated $1 (0600)"; changed=1
}

mkdir_owned() {  # DIR MODE OWNER
    local dir=$root$1
    if [ ! -d "$dir" ]; then install -d -m "$2" "$dir"; say "created $1/"; changed=1; fi
    if [ "$(stat -c %a "$dir")" != "$2" ]; then chmod "$2" "$dir"; changed=1; fi
    if [ $live = 1 ] && [ "$(stat -c %U:%G "$dir")" != "$3" ]; then chown "$3" "$dir"; changed=1; fi
}

# Units name /usr/local/... (the agent /usr/local/libexec/vipd/ or
# /usr/libexec/vipd/); rewrite for another PREFIX.
render_unit() {  # SRC -> stdout
    sed -e "s#/usr/local/bin/#$PREFIX/bin/#g" -e "s#/usr/local/share/doc/vipd/#$PREFIX/share/doc/vipd/#g" \
        -e "s#/usr/\(local/\)\{0,1\}libexec/vipd/#$PREFIX/libexec/vipd/#g" "$1"
}

unit_files=(vipd.service vipd-nginx-test.service vipd-pg.service bingo@.service bingo-pool-net@.service bingo.target
            bingo-blackhole.service)
# Installed by earlier versions, replaced by the pool (bingo@.service).
obsolete_units=(bingo.service)
# The PostgreSQL role agent (docs/deploying-bingo.md, "PostgreSQL"): the
# executable and, if it has grown one, its Python package beside it (the
# script finds it on sys.path[0], its own directory).
agent_files() {  # relative to libexec/
    echo vipd-pg
    echo vipd-memory-check   # the bingo-memory checks (docs/operations.md, "Self-healing backends")
    echo bingo-pool          # the bingo pool's namespaces and nginx config (docs/deploying-bingo.md)
    if [ -d "$here/libexec/vipd_pg" ]; then
        (cd "$here/libexec" && find vipd_pg -name '*.py' | sort)
    fi
}
dest_files() {  # every path this script installs (for uninstall and the tests)
    echo "$PREFIX/bin/vipd" "$PREFIX/bin/vipctl"
    echo "$PREFIX/libexec/vipd"
    for unit in "${unit_files[@]}"; do echo "$UNIT_DIR/$unit"; done
    echo "$UNIT_DIR/nginx.service.d/vipd-restart.conf"
    echo "$lib_etc/sysctl.d/99-vipd.conf" "$lib_etc/tmpfiles.d/bingo.conf" "$polkit_dir/50-vipd-nginx.rules"
    echo "$polkit_dir/50-vipd-pg.rules"
    echo "$PREFIX/share/bash-completion/completions/vipctl"
    echo "$zsh_dir/_vipctl"
    echo "$PREFIX/share/fish/vendor_completions.d/vipctl.fish"
    echo "$PREFIX/share/doc/vipd"
}

create_users() {
    local user home
    for user in vipd bingo; do
        if id "$user" >/dev/null 2>&1; then continue; fi
        home=/nonexistent; [ "$user" = bingo ] && home=/opt/bingo
        useradd --system --user-group --no-create-home --home-dir "$home" \
                --shell /usr/sbin/nologin --comment "$user daemon" "$user"
        say "created system user $user"; changed=1
    done
}

systemd_running() { [ $live = 1 ] && [ -d /run/systemd/system ]; }

# The single bingo.service of earlier versions: the pool (bingo@N.service and
# nginx's conf.d/bingo-pool.conf) takes its port, so it must not run beside
# it. Removed when it is stopped; a running one is left alone (stopping it is
# an outage this script must not cause) with the steps to switch.
remove_obsolete_units() {
    local unit
    for unit in "${obsolete_units[@]}"; do
        [ -e "$root$UNIT_DIR/$unit" ] || continue
        if systemd_running && systemctl is-active --quiet "$unit"; then
            say "kept $UNIT_DIR/$unit: it still runs. The bingo pool replaces it (docs/deploying-bingo.md,"
            say "  \"Upgrading from the single bingo.service\"): systemctl disable --now $unit, then run this again"
            continue
        fi
        if systemd_running; then systemctl disable --quiet "$unit" 2>/dev/null || true; fi
        rm -f -- "$root$UNIT_DIR/$unit"
        say "removed $UNIT_DIR/$unit (replaced by bingo@.service, the bingo pool)"; changed=1
    done
}

do_install() {
    if [ -z "${BIN_DIR:-}" ]; then
        BIN_DIR=$(cd "$here" && swift build -c release --show-bin-path)
    fi
    for bin in vipd vipctl; do
        [ -x "$BIN_DIR/$bin" ] || { echo "install: $BIN_DIR/$bin not found (build first: make release)" >&2; exit 1; }
    done
    if [ $live = 1 ]; then
        [ "$(id -u)" = 0 ] || { echo "install: run as root (or set DESTDIR)" >&2; exit 1; }
        create_users
    fi

    put "$BIN_DIR/vipd"   "$PREFIX/bin/vipd"   755
    put "$BIN_DIR/vipctl" "$PREFIX/bin/vipctl" 755
    local file
    for file in $(agent_files); do
        [ -f "$here/libexec/$file" ] || { echo "install: libexec/$file not found" >&2; exit 1; }
        if [ "$file" = vipd-pg ] || [ "$file" = vipd-memory-check ] || [ "$file" = bingo-pool ]; then
            put "$here/libexec/$file" "$PREFIX/libexec/vipd/$file" 755
        else
            put "$here/libexec/$file" "$PREFIX/libexec/vipd/$file" 644
        fi
    done

    local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
    for unit in "${unit_files[@]}"; do
        render_unit "$here/systemd/$unit" >"$tmp/$unit"
        put "$tmp/$unit" "$UNIT_DIR/$unit" 644
    done
    remove_obsolete_units
    put "$here/systemd/nginx-restart.conf"   "$UNIT_DIR/nginx.service.d/vipd-restart.conf" 644
    put "$here/systemd/99-vipd.conf"         "$lib_etc/sysctl.d/99-vipd.conf" 644
    put "$here/systemd/bingo.tmpfiles.conf"  "$lib_etc/tmpfiles.d/bingo.conf" 644
    put "$here/systemd/vipd-nginx.rules"     "$polkit_dir/50-vipd-nginx.rules" 644
    put "$here/systemd/vipd-pg.rules"        "$polkit_dir/50-vipd-pg.rules" 644

    # Completions come from the binary itself (swift-argument-parser).
    "$BIN_DIR/vipctl" --generate-completion-script bash >"$tmp/bash"
    "$BIN_DIR/vipctl" --generate-completion-script zsh  >"$tmp/zsh"
    "$BIN_DIR/vipctl" --generate-completion-script fish >"$tmp/fish"
    put "$tmp/bash" "$PREFIX/share/bash-completion/completions/vipctl" 644
    put "$tmp/zsh"  "$zsh_dir/_vipctl" 644
    put "$tmp/fish" "$PREFIX/share/fish/vendor_completions.d/vipctl.fish" 644

    put "$here/README.md" "$PREFIX/share/doc/vipd/README.md" 644
    for doc in "$here"/docs/*.md; do put "$doc" "$PREFIX/share/doc/vipd/$(basename "$doc")" 644; done
    put "$here/conf/vipd.example.yaml" "$PREFIX/share/doc/vipd/examples/vipd.example.yaml" 644

    if [ "$PACKAGING" != 1 ]; then
        mkdir_owned "$etc_vipd" 750 root:vipd
        put_once "$here/conf/vipd.example.yaml" "$etc_vipd/vipd.yaml.example" 640 root:vipd
        put_once "$here/conf/vipd.example.yaml" "$etc_vipd/vipd.yaml" 640 root:vipd
        secret "$etc_vipd/auth.key"
        secret "$etc_vipd/control.token"
    fi

    if systemd_running; then
        systemctl daemon-reload
        if [ $changed = 1 ]; then systemd-tmpfiles --create bingo.conf || true; fi
    fi
    if [ $changed = 0 ]; then say "nothing to do, everything is up to date"; fi
    if [ $live = 1 ] && [ "$PACKAGING" != 1 ] && [ $changed = 1 ]; then
        cat <<EOF
install: done. Nothing was enabled or started. Next:
  edit $etc_vipd/vipd.yaml, then:  vipd check-config $etc_vipd/vipd.yaml
  sysctl --system                  (applies $lib_etc/sysctl.d/99-vipd.conf)
  systemctl enable --now vipd
  bingo: discover its port and log directory first (docs/deploying-bingo.md,
  "Discovering bingo's port and log directory"); the units name neither
EOF
    fi
}

do_uninstall() {
    local path unit
    if systemd_running; then
        for unit in vipd.service vipd-pg.service bingo.target bingo-blackhole.service \
                    $(systemctl list-units --plain --no-legend --state=active 'bingo@*.service' 'bingo-pool-net@*.service' | awk '{print $1}'); do
            if systemctl is-active --quiet "$unit"; then
                echo "uninstall: $unit is running; stop it first (systemctl disable --now $unit)" >&2
                exit 1
            fi
        done
    fi
    for path in $(dest_files); do
        if [ -e "$root$path" ] || [ -L "$root$path" ]; then
            rm -rf -- "$root$path"
            say "removed $path"; changed=1
        fi
    done
    rmdir "$root$UNIT_DIR/nginx.service.d" 2>/dev/null || true
    if systemd_running; then systemctl daemon-reload; fi
    [ $changed = 0 ] && say "nothing to remove"
    if [ -d "$root$etc_vipd" ]; then
        say "kept $etc_vipd (configuration and keys) and the users vipd and bingo; remove them by hand if wanted"
    fi
}

case $action in
    install) do_install ;;
    uninstall) do_uninstall ;;
    list) dest_files | tr ' ' '\n' ;;
    *) echo "usage: $0 install|uninstall|list" >&2; exit 2 ;;
esac
