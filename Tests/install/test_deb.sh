#!/usr/bin/env bash
# make deb: builds the package (from the debug build, see lib.sh), checks its
# contents and metadata, then — as root, in a throwaway copy-on-write sandbox
# of this machine — installs it with dpkg (users, keys, modes, nothing
# enabled, `systemd-analyze verify` on the packaged units), removes it
# (conffile kept), purges it (everything gone), and installs and purges it
# once more with apt. Closes with "N passed, M failed".
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=$(bin_dir) || exit 1
cd "$repo" || exit 1
tmp=$(mktemp -d /tmp/vipd-deb-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Uncompressed: the debug binaries are large and xz would dominate the test.
deb=$(make -s deb BIN_DIR="$bin" DIST="$tmp" ALLOW_TOOLCHAIN_LIBS=1 DEB_COMPRESS=none 2>"$tmp/err")
rc=$?
check "make deb exits 0" test "$rc" = 0
[ "$rc" = 0 ] || { cat "$tmp/err"; finish; exit 1; }
version=$("$bin/vipd" --version)
check "package named vipd_${version}_$(dpkg --print-architecture).deb" \
    test "$(basename "$deb")" = "vipd_${version}_$(dpkg --print-architecture).deb"

field() { dpkg-deb -f "$deb" "$1"; }
check "control: Package vipd, Version from vipd --version" test "$(field Package) $(field Version)" = "vipd $version"
check "control: Depends on libcap2 (and the other shared libraries)" grep -q libcap2 <<<"$(field Depends)"
check "control: Depends on python3 and python3-psycopg2 (the agent vipd-pg)" \
    bash -c "grep -qw python3 <<<'$(field Depends)' && grep -qw python3-psycopg2 <<<'$(field Depends)'"
check "control: nginx only recommended" grep -q nginx <<<"$(field Recommends)"
check "conffiles: /etc/vipd/vipd.yaml" test "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/vipd/vipd.yaml
contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}')
for path in ./usr/bin/vipd ./usr/bin/vipctl ./lib/systemd/system/vipd.service ./lib/systemd/system/bingo@.service \
            ./lib/systemd/system/bingo-pool-net@.service ./lib/systemd/system/bingo.target \
            ./usr/libexec/vipd/bingo-pool ./usr/libexec/vipd/vipd-memory-check \
            ./lib/systemd/system/nginx.service.d/vipd-restart.conf ./usr/lib/sysctl.d/99-vipd.conf \
            ./usr/lib/tmpfiles.d/bingo.conf ./usr/share/bash-completion/completions/vipctl \
            ./usr/libexec/vipd/vipd-pg ./usr/libexec/vipd/vipd_pg/cli.py ./lib/systemd/system/vipd-pg.service \
            ./usr/share/polkit-1/rules.d/50-vipd-pg.rules; do
    check "contains $path (root/root)" grep -qE "^[-drwx]+ root/root $path\$" <<<"$contents"
done
check "no single-instance bingo.service any more (the pool replaces it)" bash -c "! grep -q '/bingo\.service\$' <<<'$contents'"
check "bingo-pool is executable (0755)" grep -qE "^-rwxr-xr-x root/root ./usr/libexec/vipd/bingo-pool\$" <<<"$contents"
check "bingo-pool-net@.service runs /usr/libexec/vipd/bingo-pool up %i" \
    bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./lib/systemd/system/bingo-pool-net@.service | grep -q '^ExecStart=/usr/libexec/vipd/bingo-pool up %i\$'"
check "no key in the package (generated per host by postinst)" bash -c "! grep -qE 'auth.key|control.token' <<<'$contents'"
check "unit runs /usr/bin/vipd (Debian path, not /usr/local)" \
    bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./lib/systemd/system/vipd.service | grep -q '^ExecStart=/usr/bin/vipd '"
check "vipd-pg.service runs /usr/libexec/vipd/vipd-pg" \
    bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./lib/systemd/system/vipd-pg.service | grep -q '^ExecStart=/usr/libexec/vipd/vipd-pg '"
check "maintainer scripts pass sh -n" bash -c "
    for s in postinst prerm postrm; do dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./\$s | sh -n || exit 1; done"

if ! can_sandbox; then
    echo "skip - installing the package needs root, unshare and overlayfs"
    finish; exit $?
fi

out=$(in_sandbox bash -c "
    set -u
    if dpkg -s vipd >/dev/null 2>&1; then dpkg -P vipd >/dev/null; fi
    for u in vipd bingo; do userdel \$u >/dev/null 2>&1; groupdel \$u >/dev/null 2>&1; done
    rm -rf /etc/vipd /usr/bin/vipd /usr/bin/vipctl
    dpkg -i '$deb' >/tmp/dpkg.log 2>&1 && echo installed: yes || cat /tmp/dpkg.log
    echo status: \$(dpkg-query -W -f='\${Status}' vipd)
    echo users: \$(id -u vipd >/dev/null && echo vipd) \$(id -u bingo >/dev/null && echo bingo)
    echo etc: \$(stat -c '%a %U:%G' /etc/vipd)
    echo yaml: \$(stat -c '%a %U:%G' /etc/vipd/vipd.yaml)
    echo key: \$(stat -c '%a %U:%G' /etc/vipd/auth.key)
    echo token: \$(stat -c '%a %U:%G' /etc/vipd/control.token)
    echo bin: \$(stat -c '%a %U:%G' /usr/bin/vipd) \$(/usr/bin/vipd --version)
    echo enabled: \$(ls /etc/systemd/system/*.wants/ 2>/dev/null | grep -cE 'vipd|bingo')
    setpriv --reuid=vipd --regid=vipd --clear-groups /usr/bin/vipd check-config /etc/vipd/vipd.yaml >/dev/null 2>&1 && echo check-config-as-vipd: ok
    mkdir -p /opt/bingo && printf '#!/bin/sh\n' >/opt/bingo/bingo && chmod 755 /opt/bingo/bingo
    echo verify: \$(systemd-analyze verify vipd.service vipd-nginx-test.service vipd-pg.service bingo@1.service bingo-pool-net@1.service bingo.target bingo-blackhole.service 2>&1 | wc -l)
    key=\$(sha256sum </etc/vipd/auth.key)
    dpkg -i '$deb' >/dev/null 2>&1 && [ \"\$(sha256sum </etc/vipd/auth.key)\" = \"\$key\" ] && echo reinstall-keeps-key: yes
    echo '# local edit' >>/etc/vipd/vipd.yaml
    dpkg -r vipd >/dev/null 2>&1 && echo removed: yes
    echo after-remove: bin=\$(test -e /usr/bin/vipd && echo present || echo gone) unit=\$(test -e /lib/systemd/system/vipd.service && echo present || echo gone) conf=\$(grep -c 'local edit' /etc/vipd/vipd.yaml) key=\$(test -e /etc/vipd/auth.key && echo present)
    dpkg -P vipd >/dev/null 2>&1 && echo purged: yes
    echo after-purge: etc=\$(test -e /etc/vipd && echo present || echo gone) status=\$(dpkg-query -W -f='\${Status}' vipd 2>/dev/null || echo unknown)
    apt-get install -y -q --no-install-recommends '$deb' >/tmp/apt.log 2>&1 && echo apt-install: yes || tail -5 /tmp/apt.log
    apt-get purge -y -q vipd >/tmp/apt.log 2>&1 && test ! -e /usr/bin/vipd && test ! -e /etc/vipd && echo apt-purge: yes || tail -5 /tmp/apt.log
" 2>&1)

check "dpkg -i installs the package" grep -q "^installed: yes$" <<<"$out"
check "dpkg reports it installed" grep -q "^status: install ok installed$" <<<"$out"
check "postinst created the users vipd and bingo" grep -q "^users: vipd bingo$" <<<"$out"
check "/etc/vipd is 750 root:vipd" grep -q "^etc: 750 root:vipd$" <<<"$out"
check "/etc/vipd/vipd.yaml is 640 root:vipd" grep -q "^yaml: 640 root:vipd$" <<<"$out"
check "postinst generated auth.key 600 vipd:vipd" grep -q "^key: 600 vipd:vipd$" <<<"$out"
check "postinst generated control.token 600 vipd:vipd" grep -q "^token: 600 vipd:vipd$" <<<"$out"
check "/usr/bin/vipd 755 root:root and runs" grep -q "^bin: 755 root:root $version$" <<<"$out"
check "nothing enabled" grep -q "^enabled: 0$" <<<"$out"
check "vipd check-config passes as user vipd (reads its key)" grep -q "^check-config-as-vipd: ok$" <<<"$out"
check "systemd-analyze verify on the packaged units: clean" grep -q "^verify: 0$" <<<"$out"
check "reinstalling keeps the generated key" grep -q "^reinstall-keeps-key: yes$" <<<"$out"
check "dpkg -r removes it" grep -q "^removed: yes$" <<<"$out"
check "after dpkg -r: binaries and units gone, edited conffile and key kept" \
    grep -q "^after-remove: bin=gone unit=gone conf=1 key=present$" <<<"$out"
check "dpkg -P purges it" grep -q "^purged: yes$" <<<"$out"
check "after dpkg -P: /etc/vipd gone, package unknown to dpkg" \
    grep -qE "^after-purge: etc=gone status=(unknown|not-installed|)$" <<<"$out"
check "apt-get install ./vipd_*.deb works" grep -q "^apt-install: yes$" <<<"$out"
check "apt-get purge vipd removes it cleanly" grep -q "^apt-purge: yes$" <<<"$out"
[ "$failures" = 0 ] || echo "$out"

finish
