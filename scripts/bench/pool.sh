#!/usr/bin/env bash
# Transaction pooling beside PgBouncer, in one run on this machine: PostgreSQL 15, and
# in front of it PgBouncer and `pgscram proxy`, both in transaction mode with the same
# pool size. pgbench -S (select-only) through each, alternating, and the pooler's CPU
# per transaction (utime+stime from /proc, process accounting); then cached-key SCRAM
# logins (`pgscram bench --mode keys`, 8 workers) through each: a new client session
# per login, served from the pool, and the pooler's CPU per login.
#
#   scripts/bench/pool.sh                 # BENCH_DURATION=10 BENCH_ROUNDS=2 BENCH_POOL=10 BENCH_CLIENTS=16
#                                         # BENCH_PROXY_WORKERS (the proxy's --workers)
#
# Needs postgresql-15 and pgbouncer (Debian packages). Loopback only; every run is
# bounded by BENCH_DURATION seconds.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
POOL=${BENCH_POOL:-10}
CLIENTS=${BENCH_CLIENTS:-16}

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release -p pgscram-cli)
fi
PGSCRAM=${BENCH_PGSCRAM:-$ROOT/target/release/pgscram}

TMP=$(mktemp -d /tmp/pgscram-pool.XXXXXX)
AS_PG=()
if [ "$(id -u)" = 0 ]; then
    AS_PG=(runuser -u postgres --)
    chown postgres "$TMP"
fi
PROXY_PID= BOUNCER_PID=
cleanup() {
    set +e
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
    [ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID" 2>/dev/null
    [ -f "$TMP/pg/data/postmaster.pid" ] &&
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
export PGPASSWORD=$PASSWORD PGSSLMODE=disable
PG_PORT=$(free_port)
BOUNCER_PORT=$(free_port)
PROXY_PORT=$(free_port)

"${AS_PG[@]}" mkdir -p "$TMP/pg/sock"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$TMP/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C >/dev/null
"${AS_PG[@]}" tee -a "$TMP/pg/data/postgresql.conf" >/dev/null <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP/pg/sock'
fsync = off
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 start >/dev/null
psql_pg() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TMP/pg/sock" -p "$PG_PORT" -U postgres -d postgres "$@"; }
psql_pg -f - <<EOF
CREATE ROLE bench LOGIN PASSWORD '$PASSWORD';
GRANT CREATE ON SCHEMA public TO bench;
EOF
VERIFIER=$(psql_pg -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
printf '"bench" "%s"\n' "$VERIFIER" >"$TMP/userlist.txt"
chmod 600 "$TMP/userlist.txt"
[ ${#AS_PG[@]} -gt 0 ] && chown postgres "$TMP/userlist.txt"
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U bench postgres >/dev/null 2>&1

cat >"$TMP/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = 200
logfile = $TMP/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
[ ${#AS_PG[@]} -gt 0 ] && chown postgres "$TMP/pgbouncer.ini"
"${AS_PG[@]}" "$PGBOUNCER" -d -q "$TMP/pgbouncer.ini"
wait_port "$BOUNCER_PORT"
BOUNCER_PID=$(cat "$TMP/pgbouncer.pid")

# In a session of its own, as PgBouncer (-d) and PostgreSQL (pg_ctl) run: with the
# kernel's autogroup scheduling a server in this script's session would share one CPU
# share with pgbench. BENCH_PROXY_WORKERS sets --workers (default 1).
setsid "$PGSCRAM" proxy ${BENCH_PROXY_WORKERS:+--workers "$BENCH_PROXY_WORKERS"} \
    --upstream "host=127.0.0.1 port=$PG_PORT sslmode=disable" \
    --auth-file "$TMP/userlist.txt" --listen "127.0.0.1:$PROXY_PORT" \
    --data-dir "$TMP/proxy" --no-tls --no-unix-socket --max-connections 200 \
    --pool-mode transaction --default-pool-size "$POOL" >"$TMP/proxy.log" 2>&1 &
PROXY_PID=$!
wait_port "$PROXY_PORT"

HZ=$(getconf CLK_TCK)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "pgbench -S -c $CLIENTS -j 2 -T $DURATION, pool $POOL, transaction mode; $ROUNDS rounds, alternating"
printf '%-10s %-9s %5s %10s %14s\n' pooler mode round tps "cpu µs/tx"
for round in $(seq "$ROUNDS"); do
    for mode in extended prepared; do
        for target in "pgbouncer|$BOUNCER_PORT|$BOUNCER_PID" "pgscram|$PROXY_PORT|$PROXY_PID"; do
            IFS='|' read -r name port pid <<<"$target"
            before=$(cpu_ticks "$pid")
            out=$("$PGBIN/pgbench" -n -S -M "$mode" -c "$CLIENTS" -j 2 -T "$DURATION" \
                -h 127.0.0.1 -p "$port" -U bench postgres 2>&1 || true)
            after=$(cpu_ticks "$pid")
            tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
            done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
            failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
            if [ -z "$tps" ] || [ -z "$done_tx" ] || [ "$done_tx" = 0 ]; then
                printf '%-10s %-9s %5s %10s %14s  (%s)\n' "$name" "$mode" "$round" failed - \
                    "$(grep -m1 -i error <<<"$out" | cut -c1-70)"
                continue
            fi
            cpu=$(awk -v t="$((after - before))" -v hz="$HZ" -v n="$done_tx" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
            printf '%-10s %-9s %5s %10.0f %14s  failed=%s\n' "$name" "$mode" "$round" "$tps" "$cpu" "${failed:-0}"
        done
    done
done

echo
echo "pgscram bench --mode keys, 8 workers, ${DURATION}s: logins through each pooler (pooler CPU only)"
printf '%-10s %5s %10s %14s %8s\n' pooler round logins/s "cpu µs/login" errors
for round in $(seq "$ROUNDS"); do
    for target in "pgbouncer|$BOUNCER_PORT|$BOUNCER_PID" "pgscram|$PROXY_PORT|$PROXY_PID"; do
        IFS='|' read -r name port pid <<<"$target"
        before=$(cpu_ticks "$pid")
        json=$("$PGSCRAM" bench "host=127.0.0.1 port=$port user=bench dbname=postgres sslmode=disable" \
            --workers 8 --duration "$DURATION" --mode keys --json 2>/dev/null || true)
        after=$(cpu_ticks "$pid")
        read -r logins rate errors < <(python3 -c '
import json, sys
try:
    r = json.loads(sys.argv[1])
    print(r["logins"], r["rate"], r["errors"])
except Exception:
    print(0, 0, "-")' "$json")
        if [ "$logins" = 0 ]; then
            printf '%-10s %5s %10s\n' "$name" "$round" failed
            continue
        fi
        cpu=$(awk -v t="$((after - before))" -v hz="$HZ" -v n="$logins" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
        printf '%-10s %5s %10.0f %14s %8s\n' "$name" "$round" "$rate" "$cpu" "$errors"
    done
done
