#!/usr/bin/env bash
# Installs what the Python client tests (tests/python/*.py, run by
# crates/server/tests/api/python_clients.rs) need: a virtualenv at tests/python/.venv holding
# exactly tests/python/requirements.txt. Safe to run again: it does nothing while the venv works
# and was built from the current requirements (a hash of them is kept in the venv). Quiet
# unless it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=tests/python/.venv
requirements=tests/python/requirements.txt
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null \
    && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Any Python 3.10+ with venv and ensurepip; Debian's python3-venv otherwise.
python="${PYTHON:-python3}"
usable() {
    command -v "$1" >/dev/null 2>&1 && "$1" -c \
        'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null
}
if ! usable "$python"; then
    echo "[python.sh] installing python3 and python3-venv (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 python3-venv >/dev/null
    python=/usr/bin/python3
fi

echo "[python.sh] installing $requirements into $venv"
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$requirements"
echo "$want" >"$stamp"
