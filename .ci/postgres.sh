#!/usr/bin/env bash
# Starts a local PostgreSQL for the storage tests and prints its URL as the last line of stdout:
#
#   export TESSERA_TEST_POSTGRES_URL=$(.ci/postgres.sh | tail -n1)
#   cargo test -p tessera-store
#
# Debian/Ubuntu only (apt, pg_ctlcluster). Installs PostgreSQL when it is missing, starts the
# first cluster (creating one if there is none), and makes sure the role `tessera` (password
# `tessera`, CREATEDB, so each test can create its own database) and the database `tessera`
# exist. Safe to run again: every step checks before it acts. Progress goes to stderr.
set -euo pipefail

ROLE=tessera
PASSWORD=tessera
DATABASE=tessera

log() { printf '[postgres.sh] %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when we are not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs a command as the postgres superuser, from a directory it can read.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -u postgres -- "$@")
    fi
}

installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 \
        && command -v pg_lsclusters >/dev/null 2>&1 \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! installed; then
    log "PostgreSQL is not installed; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
fi

# The first existing cluster, else a new `main` cluster for the newest installed version.
read -r VERSION CLUSTER PORT STATUS < <(pg_lsclusters -h | awk 'NR == 1 { print $1, $2, $3, $4 }') || true
if [ -z "${VERSION:-}" ]; then
    VERSION=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
    CLUSTER=main
    log "no cluster found; creating cluster $VERSION/$CLUSTER"
    as_root pg_createcluster "$VERSION" "$CLUSTER" >&2
    read -r PORT STATUS < <(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { print $3, $4 }')
fi

case "$STATUS" in
    online*)
        log "cluster $VERSION/$CLUSTER is already running on port $PORT"
        ;;
    *)
        log "starting cluster $VERSION/$CLUSTER on port $PORT"
        if ! as_root pg_ctlcluster "$VERSION" "$CLUSTER" start >&2; then
            # Lost a race with another start, or pg_ctlcluster is unusable here: try the service.
            as_root service postgresql start >&2 || true
        fi
        ;;
esac

for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
        break
    fi
    sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$PORT"; then
    log "PostgreSQL did not accept connections on 127.0.0.1:$PORT; see /var/log/postgresql/postgresql-$VERSION-$CLUSTER.log"
    exit 1
fi

psql_admin() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"
}

log "ensuring role $ROLE (LOGIN, CREATEDB) and database $DATABASE"
psql_admin <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    ELSE
        ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    END IF;
END
\$\$;
SQL
if [ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
# Prove the URL works with password authentication over TCP, as the tests will use it.
PGPASSWORD=$PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DATABASE" \
    -tAc 'SELECT 1' >/dev/null
log "ready"
echo "$URL"
