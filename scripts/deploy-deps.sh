#!/usr/bin/env bash
# Tools that check the deployment files (Tests/deploy): Ansible and
# ansible-lint from PyPI ("ansible" bundles the collections the playbook uses:
# ansible.posix, community.general, community.postgresql), and mtail and
# promtool (package prometheus) from Debian. Idempotent; quiet when present.
set -euo pipefail

if ! command -v ansible-playbook >/dev/null || ! command -v ansible-lint >/dev/null ||
   ! ansible-galaxy collection list community.postgresql 2>/dev/null | grep -q community.postgresql; then
    echo "deploy-deps: installing ansible and ansible-lint from PyPI (a few minutes the first time)"
    python3 -m pip install -q --root-user-action=ignore ansible ansible-lint
    hash -r
fi

missing=()
command -v mtail >/dev/null || missing+=(mtail)
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    echo "deploy-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Only their tools are needed here; do not leave the daemons running.
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus mtail >/dev/null 2>&1 || true
    fi
fi
