#!/usr/bin/env bash
# Where a pgscram serve login's CPU goes: `perf record` on the server during a
# `pgscram bench` load, then the inclusive shares of the login path's functions.
# Everything runs on 127.0.0.1 in a temporary directory and stops by itself.
#
# Usage: scripts/bench/profile.sh [MODE]   (MODE: keys (default) or password)
# Needs perf (Debian: linux-perf) and a release build (target/release/pgscram).
# Knobs: PROFILE_SECONDS=5, PROFILE_WORKERS=8, PROFILE_OUT=target/bench/perf.data
# With inferno on PATH (`cargo install inferno`) it also writes a flame graph beside the
# profile (perf.svg).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODE=${1:-keys}
SECONDS_=${PROFILE_SECONDS:-5}
WORKERS=${PROFILE_WORKERS:-8}
OUT=${PROFILE_OUT:-$ROOT/target/bench/perf.data}
PGSCRAM=$ROOT/target/release/pgscram
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$PGSCRAM" ] || { echo "build first: cargo build --release -p pgscram-cli" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

TMP=$(mktemp -d /tmp/pgscram-profile.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
SERVE_PID=
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# The password goes through the environment, never argv.
PGSCRAM_PASSWORD=$PASSWORD "$PGSCRAM" serve --port "$PORT" --data-dir "$TMP/serve" --no-tls \
    --no-unix-socket --superuser bench --max-connections 300 >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }
T0=$(ticks)
perf record -F 1999 -g --call-graph dwarf,16384 -p "$SERVE_PID" -o "$OUT" -- sleep "$SECONDS_" \
    >/dev/null 2>&1 &
PERF_PID=$!
RESULT=$(PGPASSWORD=$PASSWORD "$PGSCRAM" bench "host=127.0.0.1 port=$PORT user=bench dbname=postgres sslmode=disable" \
    --workers "$WORKERS" --duration "$SECONDS_" --mode "$MODE" --json)
T1=$(ticks)
wait "$PERF_PID" || true
LOGINS=$(grep -o '"logins":[0-9]*' <<<"$RESULT" | cut -d: -f2)
echo "logins: $LOGINS in ${SECONDS_}s; server CPU per login (under perf): $(( (T1 - T0) * 10000000 / LOGINS / 1000 )) µs"
echo "profile: $OUT"
echo
perf report -i "$OUT" --children --sort symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' |
    grep -E 'pgscram_(server|scram|embedded)::|__x64_sys_|do_syscall_64|spawn_blocking \(|on_event' |
    head -60 | cut -c1-150 || true  # head closes the pipe early: not a failure

if command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null; then
    SVG=${OUT%.data}.svg
    perf script -i "$OUT" 2>/dev/null | inferno-collapse-perf |
        inferno-flamegraph --minwidth 1 --title "pgscram serve: $MODE logins" >"$SVG"
    echo
    echo "flame graph: $SVG"
else
    echo
    echo "(for a flame graph as well: cargo install inferno)"
fi
