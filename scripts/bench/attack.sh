#!/usr/bin/env bash
# Logins under attack: `pgscram bench --attack` against pgscram serve and against a
# PostgreSQL 15, both with their default limits, both on 127.0.0.1 in a temporary
# directory; first without an attack (`--attack none`) for a baseline. The attack comes from 127.0.0.2; legitimate logins (another role, right
# password) come from 127.0.0.1 and, for the abandoned-guess flood, from 127.0.0.2 too.
# Prints a Markdown table and writes it, with the raw JSON lines, under ATTACK_OUT.
# Everything stops by itself; both servers are stopped on exit.
#
# Usage: scripts/bench/attack.sh          (see docs/BENCHMARKS.md, "Under attack")
# Knobs (environment): ATTACK_DURATION=10 (seconds per attack), ATTACK_WORKERS=2
#   (legitimate workers per source address), ATTACK_MODE=keys (or password),
#   ATTACK_OUT=target/bench, ATTACK_SKIP_BUILD=1 (use the existing release binary),
#   PGBIN=/usr/lib/postgresql/15/bin, CARGO_TARGET_DIR (where the release binary is).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench"
DURATION=${ATTACK_DURATION:-10}
WORKERS=${ATTACK_WORKERS:-2}
MODE=${ATTACK_MODE:-keys}
OUT=${ATTACK_OUT:-$ROOT/target/bench}
DATE=$(date -u +%Y-%m-%d)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

say() { printf '\n== %s\n' "$*" >&2; }

[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 not found in $PGBIN (set PGBIN)" >&2; exit 1; }
if [ -z "${ATTACK_SKIP_BUILD:-}" ]; then
    say "building pgscram (release)"
    (cd "$ROOT" && cargo build --release -p pgscram-cli)
fi
PGSCRAM="$TARGET_DIR/release/pgscram"
mkdir -p "$OUT"
RESULTS="$OUT/attack-$DATE.jsonl"
: >"$RESULTS"

TMP=$(mktemp -d /tmp/pgscram-attack.XXXXXX)
chmod 755 "$TMP"
AS_PG=()
if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    AS_PG=(runuser -u postgres --)
    chown postgres "$TMP"
fi
SERVE_PID=
cleanup() {
    set +e
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    [ -f "$TMP/pg/data/postmaster.pid" ] &&
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port() { python3 "$HERE/measure.py" free-port; }
secret() { od -An -N18 -tx1 /dev/urandom | tr -d ' \n'; }
PASSWORD=$(secret)    # the legitimate role's, bench
VICTIM_PW=$(secret)   # the attacked role's, victim: never sent by the attack
SUPER_PW=$(secret)
PG_PORT=$(port)
SERVE_PORT=$(port)

say "PostgreSQL 15 on 127.0.0.1:$PG_PORT (default limits: max_connections 100)"
"${AS_PG[@]}" mkdir -p "$TMP/pg/sock"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$TMP/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C >/dev/null
"${AS_PG[@]}" tee "$TMP/pg/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.0/8 scram-sha-256
EOF
"${AS_PG[@]}" tee -a "$TMP/pg/data/postgresql.conf" >/dev/null <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP/pg/sock'
password_encryption = 'scram-sha-256'
fsync = off
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 start >/dev/null
# The passwords go through stdin, never argv.
"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TMP/pg/sock" -p "$PG_PORT" -U postgres \
    -d postgres -f - <<EOF
CREATE ROLE bench LOGIN PASSWORD '$PASSWORD';
CREATE ROLE victim LOGIN PASSWORD '$VICTIM_PW';
EOF

say "pgscram serve on 127.0.0.1:$SERVE_PORT (default limits)"
mkdir -p "$TMP/serve"
printf 'host all all 127.0.0.0/8 scram-sha-256\n' >"$TMP/serve/pg_hba.conf"
PGSCRAM_PASSWORD=$SUPER_PW "$PGSCRAM" serve --port "$SERVE_PORT" --data-dir "$TMP/serve" \
    --no-tls --no-unix-socket >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
python3 "$HERE/measure.py" wait-port "$SERVE_PORT"
PGPASSWORD=$SUPER_PW "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -f - \
    "host=127.0.0.1 port=$SERVE_PORT user=postgres dbname=postgres sslmode=disable" <<EOF
CREATE ROLE bench LOGIN PASSWORD '$PASSWORD';
CREATE ROLE victim LOGIN PASSWORD '$VICTIM_PW';
EOF

conn() { echo "host=127.0.0.1 port=$1 user=bench dbname=postgres sslmode=disable connect_timeout=10"; }
export PGPASSWORD=$PASSWORD
for attack in none abandoned-guesses stalled-startups silent-tcp; do
    for t in "pgscram serve|$SERVE_PORT" "PostgreSQL 15|$PG_PORT"; do
        IFS='|' read -r name p <<<"$t"
        say "$attack against $name (${DURATION}s, $MODE logins, $WORKERS workers per source)"
        # Exit status 1 means some legitimate login failed: that is a result, not an error.
        line=$("$PGSCRAM" bench "$(conn "$p")" --attack "$attack" --attack-role victim \
            --source 127.0.0.2 --mode "$MODE" --workers "$WORKERS" --duration "$DURATION" \
            --json) || true
        printf '%s\n' "$line" >&2
        python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["server"]=sys.argv[2]; print(json.dumps(d))' \
            "$line" "$name" >>"$RESULTS"
        # Let the server let go of the attack's connections before the next run.
        sleep 3
    done
done

{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "kernel: $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "postgresql: $("$PGBIN/postgres" --version)"
    echo "pgscram: $("$PGSCRAM" --version) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo "each attack ${DURATION}s; legitimate logins: --mode $MODE, $WORKERS workers per source, one login per 100 ms each"
    echo
    python3 - "$RESULTS" <<'EOF'
import json, sys
ms = lambda us: "-" if us is None else f"{us / 1000:.1f}"
print("| attack | server | legitimate logins from | ok | failed | p50 ms | p99 ms | max ms | attack: connections / refused / cut by server |")
print("|---|---|---|---:|---:|---:|---:|---:|---|")
for line in open(sys.argv[1]):
    d = json.loads(line)
    s = d["attack_stats"]
    attack = d["attack"]
    if attack == "none":
        attack = "none (baseline)"
    if attack == "abandoned-guesses":
        attack += f" ({s['guesses']} wrong proofs in {d['attack_seconds']:.1f}s)"
    for l in d["legitimate"]:
        who = l["source"] + (" (attacker's)" if l["source"] == d["source"] else "")
        lat = l["latency_us"]
        print(f"| {attack} | {d['server']} | {who} | {l['logins']} | {l['failures']} | "
              f"{ms(lat['p50'])} | {ms(lat['p99'])} | {ms(lat['max'])} | "
              f"{s['connections']} / {s['refused']} / {s['closed']} |")
        for k in l["error_kinds"]:
            print(f"|  |  | ↳ {k['count']} × {k['message'].splitlines()[0][:90]} |  |  |  |  |  |  |")
EOF
} | tee "$OUT/attack-$DATE.md"
say "wrote $OUT/attack-$DATE.md and $RESULTS"
