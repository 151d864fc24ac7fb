#!/bin/sh
# make-selfsigned-cert.sh [DIR] [CN]
#
# Creates DIR/bingo.key and DIR/bingo.crt, a self-signed certificate for CN
# (also its subjectAltName) valid for 825 days, for nginx's HTTPS listener.
# Defaults: DIR=/etc/nginx/vipd/tls, CN=bingo.example.com.
#
# Idempotent: when both files exist nothing is touched (a real certificate put
# there by the operator is never overwritten). When only one of the two exists
# it stops with an error rather than guess which one to trust.
set -eu

dir=${1:-/etc/nginx/vipd/tls}
cn=${2:-bingo.example.com}
crt=$dir/bingo.crt
key=$dir/bingo.key

if [ -e "$crt" ] && [ -e "$key" ]; then
    echo "make-selfsigned-cert: $crt and $key exist, leaving them alone"
    exit 0
fi
if [ -e "$crt" ] || [ -e "$key" ]; then
    echo "make-selfsigned-cert: only one of $crt / $key exists; remove it or supply the other" >&2
    exit 1
fi

mkdir -p "$dir"
# Generate into temporary names in the same directory, then rename: nginx
# never sees a half-written pair, and a failed run leaves nothing behind.
tmpkey=$(mktemp "$dir/.bingo.key.XXXXXX")
tmpcrt=$(mktemp "$dir/.bingo.crt.XXXXXX")
trap 'rm -f "$tmpkey" "$tmpcrt"' EXIT

# mktemp creates both 0600; the key stays that way (the nginx master reads it
# as root), the certificate is public.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
    -subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" \
    -keyout "$tmpkey" -out "$tmpcrt" 2>/dev/null
chmod 0644 "$tmpcrt"
mv "$tmpkey" "$key"
mv "$tmpcrt" "$crt"
trap - EXIT
echo "make-selfsigned-cert: created $crt and $key for CN=$cn"
