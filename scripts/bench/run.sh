#!/usr/bin/env bash
# Login benchmarks, one run on one machine: pgscram serve vs PostgreSQL 15 vs PgBouncer
# (in front of that PostgreSQL), with `pgscram bench` (password and cached-key SCRAM)
# and `pgbench -C`; server CPU per login from /proc; memory per idle connection;
# PBKDF2; login latency through `pgscram proxy` vs direct. Everything runs on
# 127.0.0.1, in a temporary directory, and stops by itself.
#
# Usage: scripts/bench/run.sh            (see docs/BENCHMARKS.md)
# Knobs (environment): BENCH_DURATION=10 (seconds per load run), BENCH_WORKERS=8,
#   BENCH_IDLE=100 (idle connections for the memory test; serve is also measured with
#   BENCH_IDLE_MANY=1000, for the cost of each further connection), BENCH_PROXY_COUNT=300,
#   BENCH_PSQL_TIMES=50 (psql runs per server for psql's own login time),
#   BENCH_OUT=target/bench (where BENCHMARKS-<date>.md/.png and raw JSON go),
#   BENCH_SKIP_BUILD=1 (use the existing target/release/pgscram), BENCH_QUICK=1 (short
#   PBKDF2 benchmark).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench"
DURATION=${BENCH_DURATION:-10}
WORKERS=${BENCH_WORKERS:-8}
IDLE=${BENCH_IDLE:-100}
IDLE_MANY=${BENCH_IDLE_MANY:-1000}
PROXY_COUNT=${BENCH_PROXY_COUNT:-300}
PSQL_TIMES=${BENCH_PSQL_TIMES:-50}
OUT=${BENCH_OUT:-$ROOT/target/bench}
DATE=$(date -u +%Y-%m-%d)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

say() { printf '\n== %s\n' "$*" >&2; }

# --- what the run needs ------------------------------------------------------------
install_debs() {
    # Debian packages start their services on install unless policy-rc.d says no; the
    # benchmark starts its own instances, so keep the system ones off.
    local added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    if [ -n "$added_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}

need=()
[ -x "$PGBIN/initdb" ] || need+=(postgresql-15)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "install ${need[*]} first (needs root)" >&2; exit 1; }
    say "installing ${need[*]}"
    install_debs "${need[@]}"
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

PY=python3
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    VENV="$ROOT/target/bench-venv"
    if ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        say "installing matplotlib into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q matplotlib
    fi
    PY="$VENV/bin/python"
fi

mkdir -p "$OUT"
RESULTS="$OUT/results-$DATE.jsonl"
: >"$RESULTS"

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    say "building pgscram (release)"
    (cd "$ROOT" && cargo build --release -p pgscram-cli)
fi
PGSCRAM="$ROOT/target/release/pgscram"

say "PBKDF2 benchmark"
(cd "$ROOT" && cargo bench -p pgscram-scram --bench pbkdf2 ${BENCH_QUICK:+-- --quick}) |
    tee "$OUT/pbkdf2-$DATE.txt"

# --- servers -----------------------------------------------------------------------
TMP=$(mktemp -d /tmp/pgscram-bench.XXXXXX)
AS_PG=()
if [ "$(id -u)" = 0 ]; then
    AS_PG=(runuser -u postgres --)
    chown postgres "$TMP"
fi
SERVE_PID= PROXY_PID= BOUNCER_PID=
cleanup() {
    set +e
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    [ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID" 2>/dev/null
    [ -f "$TMP/pg/data/postmaster.pid" ] &&
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port() { "$PY" "$HERE/measure.py" free-port; }
PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
# One certificate for all three servers (ECDSA P-256, what serve generates by default), so
# the TLS runs compare the servers, not their keys.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -keyout "$TMP/server.key" -out "$TMP/server.crt" 2>/dev/null
chmod 600 "$TMP/server.key"
[ ${#AS_PG[@]} -gt 0 ] && chown postgres "$TMP/server.key" "$TMP/server.crt"
export PGPASSWORD=$PASSWORD
PG_PORT=$(port)
SERVE_PORT=$(port)
BOUNCER_PORT=$(port)
PROXY_PORT=$(port)

say "PostgreSQL 15 on 127.0.0.1:$PG_PORT"
"${AS_PG[@]}" mkdir -p "$TMP/pg/sock"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$TMP/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C >/dev/null
"${AS_PG[@]}" tee -a "$TMP/pg/data/postgresql.conf" >/dev/null <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP/pg/sock'
max_connections = $((IDLE + 100))
password_encryption = 'scram-sha-256'
fsync = off
ssl = on
ssl_cert_file = '$TMP/server.crt'
ssl_key_file = '$TMP/server.key'
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 start >/dev/null
PG_PID=$(head -1 "$TMP/pg/data/postmaster.pid")
psql_pg() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TMP/pg/sock" -p "$PG_PORT" -U postgres -d postgres "$@"; }
# The password goes through stdin, never argv.
psql_pg -f - <<EOF
CREATE ROLE bench LOGIN PASSWORD '$PASSWORD';
EOF
VERIFIER=$(psql_pg -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
printf '"bench" "%s"\n' "$VERIFIER" >"$TMP/userlist.txt"
chmod 600 "$TMP/userlist.txt"
[ ${#AS_PG[@]} -gt 0 ] && chown postgres "$TMP/userlist.txt"

say "PgBouncer on 127.0.0.1:$BOUNCER_PORT in front of it"
cat >"$TMP/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
pool_mode = session
max_client_conn = $((IDLE + 200))
default_pool_size = 20
logfile = $TMP/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
log_connections = 0
log_disconnections = 0
client_tls_sslmode = allow
client_tls_cert_file = $TMP/server.crt
client_tls_key_file = $TMP/server.key
EOF
[ ${#AS_PG[@]} -gt 0 ] && chown postgres "$TMP/pgbouncer.ini"
"${AS_PG[@]}" "$PGBOUNCER" -d -q "$TMP/pgbouncer.ini"
"$PY" "$HERE/measure.py" wait-port "$BOUNCER_PORT"
BOUNCER_PID=$(cat "$TMP/pgbouncer.pid")

start_serve() {
    say "pgscram serve on 127.0.0.1:$SERVE_PORT"
    # A session of its own, as PgBouncer (-d) and PostgreSQL (pg_ctl) get: with the
    # kernel's autogroup scheduling, sessions share the CPU fairly first.
    PGSCRAM_PASSWORD=$PASSWORD setsid "$PGSCRAM" serve --port "$SERVE_PORT" --data-dir "$TMP/serve" \
        --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --no-unix-socket --superuser bench --max-connections $((IDLE_MANY + 200)) \
        >>"$TMP/serve.log" 2>&1 &
    SERVE_PID=$!
    "$PY" "$HERE/measure.py" wait-port "$SERVE_PORT"
}
start_serve

HAVE_PROXY=
if "$PGSCRAM" help | grep -q '^  proxy '; then
    HAVE_PROXY=1
    say "pgscram proxy on 127.0.0.1:$PROXY_PORT in front of PostgreSQL"
    setsid "$PGSCRAM" proxy --upstream "host=127.0.0.1 port=$PG_PORT sslmode=disable" \
        --auth-file "$TMP/userlist.txt" --listen "127.0.0.1:$PROXY_PORT" \
        --data-dir "$TMP/proxy" --no-tls --no-unix-socket \
        --max-connections $((IDLE + 200)) >"$TMP/proxy.log" 2>&1 &
    PROXY_PID=$!
    "$PY" "$HERE/measure.py" wait-port "$PROXY_PORT"
fi

conn() { echo "host=127.0.0.1 port=$1 user=bench dbname=postgres sslmode=disable connect_timeout=10"; }
measure() { "$PY" "$HERE/measure.py" "$@"; }

# target label, port, server pids
TARGETS=(
    "pgscram|$SERVE_PORT|$SERVE_PID"
    "postgres|$PG_PORT|$PG_PID"
    "pgbouncer|$BOUNCER_PORT|$BOUNCER_PID $PG_PID"
)
pid_args() { local p; for p in $1; do printf -- '--pid %s ' "$p"; done; }

# --- logins per second, CPU per login ----------------------------------------------
# Anything else running on the machine skews the rates: the report shows this.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for mode in password keys; do
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name p pids <<<"$t"
        say "pgscram bench --mode $mode against $name ($WORKERS workers, ${DURATION}s)"
        # shellcheck disable=SC2046
        measure load --out "$RESULTS" --label "$name/$mode" $(pid_args "$pids") -- \
            "$PGSCRAM" bench "$(conn "$p")" --workers "$WORKERS" --duration "$DURATION" \
            --mode "$mode" --json
    done
done

# The same with TLS: sslmode=require (no channel binding), then channel_binding=require
# (SCRAM-SHA-256-PLUS; PgBouncer 1.18 has no PLUS, so it has no such row).
tls_conn() { echo "$(conn "$1") sslmode=require ${2:+channel_binding=require}" | sed 's/sslmode=disable //'; }
for t in "${TARGETS[@]}"; do
    IFS='|' read -r name p pids <<<"$t"
    for plus in "" plus; do
        [ "$name" = pgbouncer ] && [ -n "$plus" ] && continue
        say "pgscram bench --mode keys, TLS${plus:+ with channel binding}, against $name"
        # shellcheck disable=SC2046
        measure load --out "$RESULTS" --label "$name/keys-tls${plus:+-plus}" $(pid_args "$pids") -- \
            "$PGSCRAM" bench "$(tls_conn "$p" "$plus")" --workers "$WORKERS" \
            --duration "$DURATION" --mode keys --json
    done
done

printf 'SELECT 1;\n' >"$TMP/select1.sql"
for t in "${TARGETS[@]}"; do
    IFS='|' read -r name p pids <<<"$t"
    say "pgbench -C against $name ($WORKERS clients, ${DURATION}s)"
    # shellcheck disable=SC2046
    measure pgbench --out "$RESULTS" --label "$name/pgbench-C" $(pid_args "$pids") -- \
        "$PGBIN/pgbench" -n -C -c "$WORKERS" -j 2 -T "$DURATION" -f "$TMP/select1.sql" "$(conn "$p")"
done

# psql's own login time: a whole psql process (start, connect, SCRAM with libpq's PBKDF2,
# SELECT 1, exit), one after another, as a user at a terminal sees it. Each run is
# bounded by `timeout` as well as connect_timeout.
for t in "${TARGETS[@]}"; do
    IFS='|' read -r name p pids <<<"$t"
    say "psql -c 'SELECT 1' against $name, $PSQL_TIMES times"
    # shellcheck disable=SC2046
    measure repeat --out "$RESULTS" --label "$name/psql" --times "$PSQL_TIMES" $(pid_args "$pids") -- \
        timeout 10 "$PGBIN/psql" -X -q -At -c 'SELECT 1' "$(conn "$p")"
done

# --- memory per idle connection ----------------------------------------------------
# serve starts afresh first: after the load runs its allocator still holds memory it
# hands back to the kernel over time (mimalloc purges freed pages lazily), which would
# show as a negative cost per connection.
kill "$SERVE_PID" && wait "$SERVE_PID" 2>/dev/null || true
start_serve
TARGETS[0]="pgscram|$SERVE_PORT|$SERVE_PID"
for t in "${TARGETS[@]}"; do
    IFS='|' read -r name p pids <<<"$t"
    say "$IDLE idle connections to $name"
    # shellcheck disable=SC2046
    measure memory --out "$RESULTS" --label "$name/idle" --idle "$IDLE" \
        --scratch "$TMP/hold.out" $(pid_args "$pids") -- \
        "$PGSCRAM" bench "$(conn "$p")" --hold "$IDLE" --duration 4 --mode keys --json
done

# serve again, fresh, with many more: the slope between the two is what each further
# connection costs, without the allocator's one-off start-up (its per-thread pages).
kill "$SERVE_PID" && wait "$SERVE_PID" 2>/dev/null || true
start_serve
say "$IDLE_MANY idle connections to pgscram"
measure memory --out "$RESULTS" --label "pgscram/idle-many" --idle "$IDLE_MANY" \
    --scratch "$TMP/hold.out" --pid "$SERVE_PID" -- \
    "$PGSCRAM" bench "$(conn "$SERVE_PORT")" --hold "$IDLE_MANY" --duration 6 --mode keys --json

# --- proxy: one login at a time, through the proxy and direct -----------------------
if [ -n "$HAVE_PROXY" ]; then
    for mode in keys password; do
        for t in "proxy|$PROXY_PORT|$PROXY_PID $PG_PID" "postgres|$PG_PORT|$PG_PID"; do
            IFS='|' read -r name p pids <<<"$t"
            say "sequential logins ($mode) to $name: $PROXY_COUNT"
            # shellcheck disable=SC2046
            measure load --out "$RESULTS" --label "latency/$name/$mode" $(pid_args "$pids") -- \
                "$PGSCRAM" bench "$(conn "$p")" --workers 1 --count "$PROXY_COUNT" \
                --mode "$mode" --json
        done
    done
fi

# --- the report ------------------------------------------------------------------
{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "cores: $(nproc)"
    echo "sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
    echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "postgresql: $("$PGBIN/postgres" --version)"
    echo "pgbouncer: $("$PGBOUNCER" --version | head -1)"
    echo "pgscram: $("$PGSCRAM" --version) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo "workers: $WORKERS, duration: ${DURATION}s, idle: $IDLE"
    echo "load average before the load runs: $LOAD_BEFORE (1, 5, 15 min)"
} >"$OUT/machine-$DATE.txt"

"$PY" "$HERE/report.py" --results "$RESULTS" --pbkdf2 "$OUT/pbkdf2-$DATE.txt" \
    --machine "$OUT/machine-$DATE.txt" --markdown "$OUT/BENCHMARKS-$DATE.md" \
    --chart "$OUT/BENCHMARKS-$DATE.png"
say "wrote $OUT/BENCHMARKS-$DATE.md and $OUT/BENCHMARKS-$DATE.png"
