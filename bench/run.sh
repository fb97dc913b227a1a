#!/usr/bin/env bash
# Tessera vs node-oidc-provider, one command, loopback only. See docs/benchmarks.md.
#
#   bash bench/run.sh            full run (~15 s per figure, Tessera then the peer), writes
#                                the results block of docs/benchmarks.md
#   bash bench/run.sh --smoke    1 s per figure, Tessera only, prints the table, writes nothing;
#                                exits non-zero if a figure saw a non-2xx answer or no request
#   --duration SECONDS           seconds per figure (default 15, smoke 1)
#   --no-scale                   skip the store scale benchmark (1,000,000 API keys vs 1,000:
#                                ~2 min in the full run, ~6 min more when TESSERA_TEST_POSTGRES_URL
#                                is set; a few seconds in --smoke)
#
# The server (Tessera, then the peer — never both at once) is pinned to CPU 0 and the load
# generator (oha) to CPU 1. Every load is bounded by time (-z) or count (-n). Network use is
# limited to package registries (crates.io for oha, npm for oidc-provider, apt for taskset).
set -euo pipefail

OHA_VERSION=1.16.0
CONNECTIONS=32
PASSWORD_CONNECTIONS=4 # the password grant is argon2-bound: a few connections saturate it
ARGON2_SAMPLES=40      # sequential password grants timed for the argon2 ceiling, before and again after the concurrent load
SERVER_CPU=0
LOAD_CPU=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$ROOT/docs/benchmarks.md"
SMOKE=0
SCALE=1
DURATION=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --duration) DURATION="$2"; shift ;;
    --no-scale) SCALE=0 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "$DURATION" ]]; then
  if [[ $SMOKE == 1 ]]; then DURATION=1; else DURATION=15; fi
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")
RESULTS="$WORK/results.tsv" # key <TAB> value, rendered at the end
: >"$RESULTS"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

put() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- prerequisites
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required"; }
if ! command -v taskset >/dev/null 2>&1; then
  log "installing util-linux (taskset)"
  if [[ $(id -u) == 0 ]]; then SUDO=""; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq util-linux >/dev/null
fi
for tool in taskset curl python3 cargo; do need "$tool"; done
[[ $(nproc --all) -ge 2 ]] || die "two CPUs are needed (server on CPU $SERVER_CPU, load on CPU $LOAD_CPU)"

OHA_INSTALL_SECS="already installed"
if ! command -v oha >/dev/null 2>&1 || [[ $(oha --version 2>/dev/null) != *" $OHA_VERSION"* ]]; then
  log "installing oha $OHA_VERSION from crates.io"
  t0=$(date +%s)
  cargo install oha --locked --version "$OHA_VERSION" >&2
  OHA_INSTALL_SECS="$(($(date +%s) - t0)) s"
fi
need oha
export PATH="$HOME/.cargo/bin:$PATH"

log "building tessera-server (release)"
(cd "$ROOT" && cargo build --release -p tessera-server >&2)
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera"
[[ -x "$TESSERA" ]] || die "no binary at $TESSERA"

# ---------------------------------------------------------------- helpers
# wait_ready URL PID: polls URL until it answers 200; prints ms since $SPAWN_MS.
wait_ready() {
  local url=$1 pid=$2 deadline=$(($(now_ms) + 30000))
  while :; do
    if curl -fs -o /dev/null --max-time 1 "$url"; then
      echo $(($(now_ms) - SPAWN_MS))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "server exited before it was ready (see $WORK/*.log)"
    [[ $(now_ms) -lt $deadline ]] || die "not ready after 30 s: $url"
    sleep 0.002
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system time of the server
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Peak RSS under load: a sampler polls /proc every 200 ms into $WORK/peak.<pid>.
start_sampler() {
  local pid=$1 out="$WORK/peak.$1"
  echo 0 >"$out"
  (
    peak=0
    while kill -0 "$pid" 2>/dev/null; do
      r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      # Written aside and renamed: stop_sampler may kill this loop at any point, and a
      # truncated-but-unwritten file would read as an empty figure.
      if [[ -n "$r" && "$r" -gt "$peak" ]]; then peak=$r; echo "$peak" >"$out.new" && mv -f "$out.new" "$out"; fi
      sleep 0.2
    done
  ) &
  SAMPLER=$!
  PIDS+=("$SAMPLER")
}
stop_sampler() { kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; }

stop_server() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# load NAME [oha args...]: one bounded oha run on CPU 1, summarised into $RESULTS as
# NAME.rps / NAME.p50 / NAME.p99 (ms) / NAME.requests / NAME.non2xx / NAME.errors.
load() {
  local name=$1
  shift
  local out="$WORK/oha.$name.json"
  local cpu0
  cpu0=$(cpu_ticks "$LOAD_TARGET_PID")
  start_sampler "$LOAD_TARGET_PID"
  taskset -c "$LOAD_CPU" oha --no-tui --output-format json --wait-ongoing-requests-after-deadline \
    "$@" >"$out" 2>"$WORK/oha.$name.err" || die "oha failed for $name: $(cat "$WORK/oha.$name.err")"
  stop_sampler
  put "$name.rss_peak_kib" "$(cat "$WORK/peak.$LOAD_TARGET_PID")"
  put "$name.cpu_ms" "$((($(cpu_ticks "$LOAD_TARGET_PID") - cpu0) * 1000 / $(getconf CLK_TCK)))"
  python3 - "$name" "$out" >>"$RESULTS" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
codes = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
total = sum(codes.values())
non2xx = sum(v for k, v in codes.items() if not 200 <= k < 300)
errors = sum((d.get("errorDistribution") or {}).values())
pct = d.get("latencyPercentiles") or {}
ms = lambda v: "" if v is None else "%.2f" % (v * 1000)
s = d["summary"]
for k, v in [("rps", "%.1f" % (s.get("requestsPerSec") or 0)), ("mean", ms(s.get("average"))),
             ("p50", ms(pct.get("p50"))), ("p99", ms(pct.get("p99"))), ("requests", total),
             ("non2xx", non2xx), ("errors", errors),
             ("codes", " ".join("%d×%d" % (v, k) for k, v in sorted(codes.items())))]:
    print("%s.%s\t%s" % (name, k, v))
PY
  log "$name: $(awk -F'\t' -v n="$name" '$1 ~ "^"n"\\.(rps|p50|p99|codes)$" {printf "%s=%s  ", substr($1, length(n) + 2), $2}' "$RESULTS")"
}

form() { echo "Content-Type: application/x-www-form-urlencoded"; }

# ---------------------------------------------------------------- Tessera
ADMIN_PASSWORD="bench-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
USER_PASSWORD="bench-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
TPORT=$(free_port)
TURL="http://127.0.0.1:$TPORT"
export TESSERA_LISTEN="127.0.0.1:$TPORT"
export TESSERA_PUBLIC_URL="$TURL"
export TESSERA_DATABASE_URL="sqlite://$WORK/tessera.db"
export TESSERA_KEYS_DIR="$WORK/keys"
export TESSERA_ADMIN_PASSWORD="$ADMIN_PASSWORD"
export TESSERA_LOG_LEVEL=warn
REALM="$TURL/realms/default"
TOKEN_URL="$REALM/protocol/openid-connect/token"

start_tessera() {
  SPAWN_MS=$(now_ms)
  taskset -c "$SERVER_CPU" "$TESSERA" serve >>"$WORK/tessera.log" 2>&1 &
  TPID=$!
  PIDS+=("$TPID")
}

put meta.loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
log "Tessera: first start (empty database, no keys)"
start_tessera
put tessera.ready_fresh_ms "$(wait_ready "$TURL/health/ready" "$TPID")"
stop_server "$TPID"

log "Tessera: provisioning the bench client and user with the CLI"
CLIENT_OUT=$("$TESSERA" client create bench --scope jobs:read 2>&1) || die "client create: $CLIENT_OUT"
CLIENT_SECRET=$(sed -n 's/^Client secret.*: //p' <<<"$CLIENT_OUT")
[[ -n "$CLIENT_SECRET" ]] || die "no secret in: $CLIENT_OUT"
printf '%s\n' "$USER_PASSWORD" | "$TESSERA" user create benchuser --password-stdin >/dev/null

log "Tessera: second start (migrated database, existing keys)"
start_tessera
put tessera.ready_ms "$(wait_ready "$TURL/health/ready" "$TPID")"
sleep 2
put tessera.rss_idle_kib "$(rss_kib "$TPID")"
put tessera.threads "$(awk '/^Threads:/ {print $2}' "/proc/$TPID/status")"

password_token() { # USER PASSWORD -> access token (portal client, password grant)
  curl -fsS "$TOKEN_URL" -d grant_type=password -d client_id=portal \
    --data-urlencode "username=$1" --data-urlencode "password=$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
cc_token() { # URL [extra form] -> client_credentials access token
  curl -fsS -u "bench:$CLIENT_SECRET" "$1" -d "grant_type=client_credentials&scope=jobs:read${2:-}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
ADMIN_TOKEN=$(password_token admin "$ADMIN_PASSWORD")
API_KEY=$(curl -fsS "$TURL/api/v1/apikeys" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"name": "bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')

CC_BODY="grant_type=client_credentials&scope=jobs:read"
PW_BODY="grant_type=password&client_id=portal&username=benchuser&password=$USER_PASSWORD"
Z=(-z "${DURATION}s" -c "$CONNECTIONS")

LOAD_TARGET_PID=$TPID
load tessera.cc "${Z[@]}" -m POST -a "bench:$CLIENT_SECRET" -H "$(form)" -d "$CC_BODY" "$TOKEN_URL"
load tessera.jwks "${Z[@]}" "$REALM/protocol/openid-connect/certs"
load tessera.discovery "${Z[@]}" "$REALM/.well-known/openid-configuration"
AT=$(cc_token "$TOKEN_URL")
load tessera.introspect "${Z[@]}" -m POST -a "bench:$CLIENT_SECRET" -H "$(form)" -d "token=$AT" \
  "$REALM/protocol/openid-connect/token/introspect"
USER_AT=$(password_token benchuser "$USER_PASSWORD")
load tessera.auth_jwt "${Z[@]}" -H "Authorization: Bearer $USER_AT" "$TURL/v1/auth/test"
load tessera.auth_key "${Z[@]}" -H "Authorization: Bearer $API_KEY" "$TURL/v1/auth/test"
load tessera.argon2 -n "$ARGON2_SAMPLES" -c 1 -m POST -H "$(form)" -d "$PW_BODY" "$TOKEN_URL"
load tessera.password -z "${DURATION}s" -c "$PASSWORD_CONNECTIONS" -m POST -H "$(form)" -d "$PW_BODY" "$TOKEN_URL"
# Again after it: this VM's speed drifts over minutes, so the ceiling brackets the figure in time.
load tessera.argon2_after -n "$ARGON2_SAMPLES" -c 1 -m POST -H "$(form)" -d "$PW_BODY" "$TOKEN_URL"
put tessera.rss_peak_kib "$(awk -F'\t' '$1 ~ /^tessera\..*\.rss_peak_kib$/ && $2 > m {m = $2} END {print m}' "$RESULTS")"
put tessera.server_cpus "$(taskset -c "$SERVER_CPU" nproc)"
stop_server "$TPID"

# ---------------------------------------------------------------- the peer
PEER_DIR="$ROOT/bench/peer"
if [[ $SMOKE == 0 ]]; then
  need node
  need npm
  log "peer: installing oidc-provider (npm ci)"
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  PPORT=$(free_port)
  PURL="http://127.0.0.1:$PPORT"
  PEER_SECRET="peer-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  log "peer: starting node-oidc-provider"
  SPAWN_MS=$(now_ms)
  (cd "$PEER_DIR" && PORT=$PPORT BENCH_CLIENT_SECRET=$PEER_SECRET NODE_ENV=production \
    exec taskset -c "$SERVER_CPU" node server.mjs) >>"$WORK/peer.log" 2>&1 &
  PPID_=$!
  PIDS+=("$PPID_")
  put peer.ready_ms "$(wait_ready "$PURL/.well-known/openid-configuration" "$PPID_")"
  sleep 2
  put peer.rss_idle_kib "$(rss_kib "$PPID_")"
  CLIENT_SECRET=$PEER_SECRET
  LOAD_TARGET_PID=$PPID_
  load peer.cc "${Z[@]}" -m POST -a "bench:$PEER_SECRET" -H "$(form)" -d "$CC_BODY" "$PURL/token"
  load peer.jwks "${Z[@]}" "$PURL/jwks"
  load peer.discovery "${Z[@]}" "$PURL/.well-known/openid-configuration"
  # oidc-provider cannot introspect JWT access tokens: introspect an opaque one (server.mjs).
  AT=$(cc_token "$PURL/token" "&resource=urn:tessera:opaque")
  load peer.introspect "${Z[@]}" -m POST -a "bench:$PEER_SECRET" -H "$(form)" -d "token=$AT" \
    "$PURL/token/introspection"
  put peer.rss_peak_kib "$(awk -F'\t' '$1 ~ /^peer\..*\.rss_peak_kib$/ && $2 > m {m = $2} END {print m}' "$RESULTS")"
  stop_server "$PPID_"
  put peer.version "$(cd "$PEER_DIR" && node -p 'require("oidc-provider/package.json").version')"
  put node.version "$(node --version)"
fi

# ---------------------------------------------------------------- scale (the store alone)
# crates/store/benches/scale.rs: API-key lookup and list paging with 1,000,000 keys and
# 100,000 users vs 1,000 keys, on SQLite (and PostgreSQL when TESSERA_TEST_POSTGRES_URL is
# set), no server running, pinned to the server's CPU. It fails on a query plan that scans
# or sorts api_keys or misses the list scope's index. --smoke loads 2,000 keys and times 200
# calls per figure (a few seconds); TESSERA_SCALE_* variables override either.
SCALE_REPORT="$WORK/scale.md"
SCALE_CMD="cargo bench -p tessera-store --bench scale"
if [[ $SCALE == 1 ]]; then
  if [[ $SMOKE == 1 ]]; then
    export TESSERA_SCALE_KEYS="${TESSERA_SCALE_KEYS:-2000}"
    export TESSERA_SCALE_ITERATIONS="${TESSERA_SCALE_ITERATIONS:-200}"
  fi
  log "scale: building the store benchmark"
  (cd "$ROOT" && $SCALE_CMD --no-run >&2)
  log "scale: ${TESSERA_SCALE_KEYS:-1000000} API keys vs ${TESSERA_SCALE_BASELINE:-1000}, on CPU $SERVER_CPU"
  put meta.scale_loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
  t0=$(now_ms)
  if ! (cd "$ROOT" && TESSERA_SCALE_REPORT="$SCALE_REPORT" taskset -c "$SERVER_CPU" $SCALE_CMD \
    >"$WORK/scale.log" 2>&1); then
    cat "$WORK/scale.log" >&2
    die "scale benchmark failed (output above)"
  fi
  log "scale: done in $((($(now_ms) - t0) / 1000)) s"
fi

# ---------------------------------------------------------------- report
put meta.date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put meta.rev "$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)')"
put meta.nproc "$(nproc --all)"
put meta.cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
put meta.kernel "$(uname -r)"
put meta.oha "$(oha --version | awk '{print $2}')"
put meta.oha_install "$OHA_INSTALL_SECS"
put meta.rustc "$(rustc --version | awk '{print $2}')"
put meta.duration "$DURATION"
put meta.workers "${TESSERA_WORKERS:-default}"

TABLE="$WORK/table.md"
set +e
python3 - "$RESULTS" "$SMOKE" "$CONNECTIONS" "$PASSWORD_CONNECTIONS" "$ARGON2_SAMPLES" >"$TABLE" <<'PY'
import sys
path, smoke, conns, pconns, samples = sys.argv[1], sys.argv[2] == "1", *sys.argv[3:]
r = {}
for line in open(path):
    k, _, v = line.rstrip("\n").partition("\t")
    r[k] = v
f = lambda k: float(r[k]) if r.get(k) not in (None, "") else None
def num(v, d=0):
    return "—" if v is None else f"{v:,.{d}f}"
def load_cell(side, fig):
    rps = f(f"{side}.{fig}.rps")
    if rps is None:
        return "—"
    return f"{num(rps)} req/s (p50 {r[side + '.' + fig + '.p50']} / p99 {r[side + '.' + fig + '.p99']} ms)"
rows, failures = [], []
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b
def verdict(ok):
    return "—" if ok is None else ("yes" if ok else "**no**")
def row(name, t, p, rat, target, ok):
    rows.append(f"| {name} | {t} | {p} | {'—' if rat is None else f'{rat:.2f}×'} | {target} | {verdict(ok)} |")

for fig, label, factor in [("cc", f"client_credentials tokens/s, {conns} conns", 4),
                           ("jwks", "JWKS req/s", 3), ("discovery", "discovery req/s", 3),
                           ("introspect", "introspection req/s", None)]:
    t, p = f(f"tessera.{fig}.rps"), f(f"peer.{fig}.rps")
    rat = ratio(t, p)
    target = f"≥ {factor}× peer" if factor else "—"
    ok = None if factor is None or rat is None else rat >= factor
    if fig == "cc":
        p99 = f("tessera.cc.p99")
        target += ", p99 ≤ 5 ms"
        if ok is not None or p99 is not None:
            ok = (ok if ok is not None else True) and p99 is not None and p99 <= 5
    row(label, load_cell("tessera", fig), load_cell("peer", fig), rat, target, ok)
for fig, label in [("auth_jwt", "`/v1/auth/test` with a JWT, req/s"),
                   ("auth_key", "`/v1/auth/test` with an API key, req/s")]:
    t = f(f"tessera.{fig}.rps")
    row(label, load_cell("tessera", fig), "—", None, "≥ 20,000", None if t is None else t >= 20000)
cores = f("tessera.server_cpus") or 1
walls = [w for w in (f("tessera.argon2.mean"), f("tessera.argon2_after.mean")) if w is not None]
wall_ms = sum(walls) / len(walls) if walls else None
cpus = [c for c in (f("tessera.argon2.cpu_ms"), f("tessera.argon2_after.cpu_ms")) if c]
hash_ms = sum(cpus) / (float(samples) * len(cpus)) if cpus else wall_ms
ceiling = cores / (hash_ms / 1000) if hash_ms else None
pw = f("tessera.password.rps")
row(f"argon2 ceiling: server cores ({cores:.0f}) ÷ hash time ({num(hash_ms, 1)} ms: server CPU time per grant over "
    f"{samples} sequential grants just before and {samples} just after the concurrent load, whose mean latency was {num(wall_ms, 1)} ms)",
    f"{num(ceiling, 1)} grants/s", "—", None, "—", None)
row(f"password grant tokens/s, {pconns} conns", load_cell("tessera", "password"), "—", None,
    "≥ 90 % of the ceiling", None if pw is None or ceiling is None else pw >= 0.9 * ceiling)
if pw is not None and ceiling:
    rows[-1] = rows[-1].replace(" | — | — |", f" | — | {pw / ceiling:.0%} of ceiling |", 1)
for key, label, limit in [("rss_idle_kib", "RSS idle, MiB", 25), ("rss_peak_kib", "RSS peak under load, MiB", 80)]:
    t, p = f(f"tessera.{key}"), f(f"peer.{key}")
    row(label, num(t and t / 1024, 1), num(p and p / 1024, 1), ratio(t, p), f"≤ {limit}",
        None if t is None else t / 1024 <= limit)
t = f("tessera.ready_fresh_ms")
row("start to ready, first start (creates the database, keys, realm), ms", num(t), "—", None, "≤ 200",
    None if t is None else t <= 200)
t, p = f("tessera.ready_ms"), f("peer.ready_ms")
row("start to ready, migrated database, ms", num(t), num(p), ratio(t, p), "≤ 200", None if t is None else t <= 200)

for k in sorted(r):
    if k.endswith(".requests") and r[k] in ("", "0"):
        failures.append(f"{k[:-9]}: no request completed")
    if k.endswith(".non2xx") and r[k] not in ("", "0"):
        failures.append(f"{k[:-7]}: non-2xx answers ({r[k[:-7] + '.codes']})")

print("| figure | Tessera | peer | ratio | target | met? |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
print()
print(f"Status codes per figure (count×status): " + "; ".join(
    f"{k[:-6]} {r[k]}" for k in sorted(r) if k.endswith(".codes")) + ".")
print("Peak RSS per figure, MiB: " + "; ".join(
    f"{k[:-13]} {float(r[k]) / 1024:.1f}" for k in sorted(r) if k.endswith(".rss_peak_kib") and k.count(".") == 2) + ".")
oe = [f"{k[:-7]} {r[k]}" for k in sorted(r) if k.endswith(".errors") and r[k] not in ("", "0")]
if oe:
    print(f"Client-side errors (oha): " + "; ".join(oe) + ".")
if failures:
    print("\nFAILED: " + "; ".join(failures), file=sys.stderr)
    sys.exit(3)
PY
STATUS=$?
set -e

if [[ $SMOKE == 1 ]]; then
  cat "$TABLE"
  if [[ $SCALE == 1 ]]; then
    echo
    echo "Scale (smoke: $TESSERA_SCALE_KEYS keys, $TESSERA_SCALE_ITERATIONS calls per figure):"
    echo
    # The tables without the query plans (they are in the full run's block).
    awk '/^Query plans/ {skip = 1; next} skip && /^```/ {if (++fence == 2) {skip = 0; fence = 0}; next} !skip' \
      "$SCALE_REPORT" | cat -s
  fi
  [[ $STATUS == 0 ]] || die "smoke run failed (non-2xx answers or no requests)"
  log "smoke run passed"
  exit 0
fi

get() { awk -F'\t' -v k="$1" '$1 == k {v = $2} END {print v}' "$RESULTS"; }
BLOCK="$WORK/block.md"
{
  echo "<!-- results:start -->"
  echo "<!-- Generated by bench/run.sh; everything between the markers is replaced by the next run. -->"
  echo
  echo "### Results of $(get meta.date)"
  echo
  echo "- Machine: $(get meta.nproc) CPUs, $(get meta.cpu), Linux $(get meta.kernel); load average before the run: $(get meta.loadavg)."
  echo "- Versions: Tessera \`$(get meta.rev)\` (rustc $(get meta.rustc), release build, workers: $(get meta.workers)); oidc-provider $(get peer.version) on Node.js $(get node.version); oha $(get meta.oha)."
  echo "- Duration: $(get meta.duration) s per figure; servers on CPU $SERVER_CPU, oha on CPU $LOAD_CPU; Tessera first, then the peer."
  echo
  cat "$TABLE"
  echo
  echo "The exact commands (secrets, ports and the temporary directory vary per run):"
  echo
  echo '```sh'
  echo "taskset -c $SERVER_CPU target/release/tessera serve   # TESSERA_DATABASE_URL=sqlite://\$TMP/tessera.db TESSERA_KEYS_DIR=\$TMP/keys TESSERA_LOG_LEVEL=warn"
  echo "target/release/tessera client create bench --scope jobs:read"
  echo "target/release/tessera user create benchuser --password-stdin"
  echo "O='taskset -c $LOAD_CPU oha --no-tui --output-format json --wait-ongoing-requests-after-deadline'"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS -m POST -a bench:\$SECRET -H 'Content-Type: application/x-www-form-urlencoded' -d '$CC_BODY' \$ISSUER/protocol/openid-connect/token"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS \$ISSUER/protocol/openid-connect/certs"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS \$ISSUER/.well-known/openid-configuration"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS -m POST -a bench:\$SECRET -H 'Content-Type: application/x-www-form-urlencoded' -d \"token=\$CC_ACCESS_TOKEN\" \$ISSUER/protocol/openid-connect/token/introspect"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS -H \"Authorization: Bearer \$USER_ACCESS_TOKEN\" \$BASE/v1/auth/test"
  echo "\$O -z ${DURATION}s -c $CONNECTIONS -H \"Authorization: Bearer \$API_KEY\" \$BASE/v1/auth/test"
  echo "\$O -n $ARGON2_SAMPLES -c 1 -m POST -H 'Content-Type: application/x-www-form-urlencoded' -d 'grant_type=password&client_id=portal&username=benchuser&password=…' \$ISSUER/protocol/openid-connect/token"
  echo "\$O -z ${DURATION}s -c $PASSWORD_CONNECTIONS (same password grant)"
  echo "\$O -n $ARGON2_SAMPLES -c 1 (same password grant, again: the ceiling averages both sequential runs)"
  echo "# the peer: (cd bench/peer && npm ci && taskset -c $SERVER_CPU node server.mjs), then the first four loads against"
  echo "# \$PEER/token, \$PEER/jwks, \$PEER/.well-known/openid-configuration, \$PEER/token/introspection"
  echo '```'
  echo "<!-- results:end -->"
} >"$BLOCK"

if [[ ! -f "$DOC" ]]; then
  printf '# Benchmarks\n\nRun `bash bench/run.sh`.\n\n<!-- results:start -->\n<!-- results:end -->\n' >"$DOC"
fi
python3 - "$DOC" "$BLOCK" <<'PY'
import re, sys
doc, block = sys.argv[1], sys.argv[2]
text, new = open(doc).read(), open(block).read().rstrip("\n")
pattern = re.compile(r"^<!-- results:start -->$.*?^<!-- results:end -->$", re.S | re.M)
text = pattern.sub(lambda _: new, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + new + "\n"
open(doc, "w").write(text)
PY
if [[ $SCALE == 1 ]]; then
  SCALE_BLOCK="$WORK/scale-block.md"
  {
    echo "<!-- scale:start -->"
    echo "<!-- Generated by bench/run.sh from crates/store/benches/scale.rs; everything between the markers is replaced by the next run. -->"
    echo
    echo "### Scale results of $(get meta.date)"
    echo
    echo "- Machine: $(get meta.nproc) CPUs, $(get meta.cpu), Linux $(get meta.kernel); load average before the scale run: $(get meta.scale_loadavg). Tessera \`$(get meta.rev)\`, rustc $(get meta.rustc), bench profile (= release)."
    SCALE_ENV=$(env | grep '^TESSERA_SCALE_' | grep -v '^TESSERA_SCALE_REPORT=' | sort | tr '\n' ' ' || true)
    echo "- Command: \`${SCALE_ENV}taskset -c $SERVER_CPU $SCALE_CMD\`${TESSERA_TEST_POSTGRES_URL:+, with \`TESSERA_TEST_POSTGRES_URL\` set}."
    echo
    cat "$SCALE_REPORT"
    echo "<!-- scale:end -->"
  } >"$SCALE_BLOCK"
  # Its own marked block, after the results one (appended to the page when missing).
  python3 - "$DOC" "$SCALE_BLOCK" <<'PY'
import re, sys
doc, block = sys.argv[1], sys.argv[2]
text, new = open(doc).read(), open(block).read().rstrip("\n")
pattern = re.compile(r"^<!-- scale:start -->$.*?^<!-- scale:end -->$", re.S | re.M)
text = pattern.sub(lambda _: new, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + new + "\n"
open(doc, "w").write(text)
PY
fi
cat "$TABLE"
log "results written to ${DOC#"$ROOT"/}"
[[ $STATUS == 0 ]] || die "some figures saw non-2xx answers or no requests"
