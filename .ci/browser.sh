#!/usr/bin/env bash
# Installs what the browser end-to-end test (tests/browser/e2e.mjs, run by
# crates/server/tests/api/browser.rs) needs: Debian's Chromium at /usr/bin/chromium and
# playwright-core from tests/browser/package-lock.json. Playwright's own browser download is
# never used. Safe to run again: each step checks before it acts. Quiet unless it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
    echo "[browser.sh] installing chromium (apt)"
    apt_install chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "[browser.sh] installing nodejs and npm (apt)"
    apt_install nodejs npm
fi

if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/openid-client ]; then
    echo "[browser.sh] installing playwright-core (npm ci)"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
