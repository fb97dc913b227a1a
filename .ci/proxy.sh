#!/usr/bin/env bash
# Installs what the reverse-proxy tests (crates/server/tests/api/proxy.rs) need: Debian's nginx
# and HAProxy (each test starts its own instance from a temporary directory; the system
# services are not used) and the openssl command for their self-signed certificate. Safe to run again: each step
# checks before it acts. Quiet unless it installs.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    missing+=(nginx)
fi
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    missing+=(haproxy)
fi
if ! command -v openssl >/dev/null 2>&1; then
    missing+=(openssl)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "[proxy.sh] installing ${missing[*]} (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
