#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a few seconds each (CI smoke run; the
# whole script stays under three minutes once built). Fails on the first crash, leak
# or timeout, leaving the reproducer in fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh            # FUZZ_SECONDS seconds per target (default 10)
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh startup_packet conninfo   # longer, chosen targets
#
# cargo-fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-10}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cargo fuzz build -O

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    echo "fuzz-smoke: $target for ${seconds}s" >&2
    # corpus/ (ignored by git) collects what the fuzzer finds; seeds/ (tracked) holds
    # hand-made starting inputs and is only read.
    dirs=("corpus/$target")
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    if ! cargo fuzz run -O "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz-smoke: $target FAILED (reproducer in fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
    summary+=("$(printf '%-24s %12s execs  %s' "$target" "$runs" "$cov")")
    rm -f "$log"
done

echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a crash" >&2
printf '%s\n' "${summary[@]}"
