#!/usr/bin/env bash
# Dependency checks with cargo-deny (deny.toml): licences, bans and sources always (they need
# Cargo.lock and the manifests of every crate in it, for every platform, which cargo fetches
# from crates.io), RustSec advisories when the advisory database can be had. CI reaches crates.io but not GitHub, where the database lives:
# there the advisory check says it was skipped, and everything else still fails the run.
# Also checks that the server binary does not link the `rsa` crate (RUSTSEC-2023-0071).
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
    echo "[deny.sh] installing cargo-deny $DENY_VERSION (crates.io)"
    cargo install --locked --quiet "cargo-deny@$DENY_VERSION"
fi

echo "[deny.sh] licences, bans, sources"
cargo deny check licenses bans sources

echo "[deny.sh] the server does not link rsa"
if cargo tree --offline -p tessera-server -e normal,build -i rsa 2>/dev/null | grep -q '^rsa '; then
    echo "[deny.sh] tessera-server links the rsa crate (RUSTSEC-2023-0071); sign RS256 with josekit" >&2
    exit 1
fi

if cargo deny fetch db >/dev/null 2>&1; then
    echo "[deny.sh] advisories (RustSec database fetched)"
    cargo deny --offline check advisories
else
    echo "[deny.sh] skipped: advisories — the RustSec advisory database (github.com/rustsec/advisory-db) cannot be fetched from here; run 'cargo deny check advisories' where GitHub is reachable"
fi
