#!/bin/sh
# enable-http3.sh [TARGET] [SOURCE]
#
# bingo.conf always includes TARGET (default /etc/nginx/vipd/bingo-http3.conf)
# inside its server block. This script makes that file either
#   - a copy of SOURCE (default: bingo-http3.conf.inc next to this script),
#     i.e. "listen 443 quic reuseport;" + Alt-Svc, when the installed nginx can
#     do HTTP/3: version >= 1.25.0 and built --with-http_v3_module; or
#   - an empty include (a comment only) otherwise -- e.g. Debian 12's nginx
#     1.22, which does not know the "quic" listen parameter, so the include
#     would make `nginx -t` fail.
# It copies rather than links so /etc does not depend on where this repository
# is checked out. Run it again after upgrading nginx; then `nginx -t` and reload.
# Set NGINX=/path/to/nginx to check another binary. Always exits 0 unless it
# cannot write TARGET; prints what it did.
set -eu

target=${1:-/etc/nginx/vipd/bingo-http3.conf}
source=${2:-$(dirname "$0")/bingo-http3.conf.inc}
nginx=${NGINX:-nginx}

info=$("$nginx" -V 2>&1)
version=$(printf '%s\n' "$info" | sed -n 's|^nginx version: [^/]*/\([0-9][0-9.]*\).*|\1|p')

# True when dotted version $1 >= $2 (numeric comparison per component).
version_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, x, "."); nb = split(b, y, ".")
        for (i = 1; i <= (na > nb ? na : nb); i++) {
            if (x[i] + 0 > y[i] + 0) exit 0
            if (x[i] + 0 < y[i] + 0) exit 1
        }
        exit 0
    }'
}

mkdir -p "$(dirname "$target")"
tmp=$(mktemp "$target.XXXXXX")
trap 'rm -f "$tmp"' EXIT

if [ -n "$version" ] && version_ge "$version" 1.25.0 &&
   printf '%s\n' "$info" | grep -q -- '--with-http_v3_module'; then
    cp "$source" "$tmp"
    msg="HTTP/3 enabled (nginx $version has http_v3)"
else
    printf '# HTTP/3 not enabled: nginx %s lacks it (needs >= 1.25 with http_v3_module).\n# Written by enable-http3.sh; rerun it after upgrading nginx.\n' \
        "${version:-unknown}" >"$tmp"
    msg="HTTP/3 not supported by nginx ${version:-unknown}: wrote an empty include"
fi
chmod 0644 "$tmp"
mv "$tmp" "$target"   # atomic replace
trap - EXIT
echo "enable-http3: $msg -> $target"
