#!/bin/sh
# fuzz.sh — builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) and runs each for SECONDS seconds.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 600 s each, every tests/fuzz/fuzz_*.c
#   FUZZ_RUNS=N scripts/fuzz.sh ...             also stop a target after N executions (whichever comes first)
#
# The build goes to $FUZZ_BUILD (default build-fuzz). Each target starts from its seeds in
# tests/fuzz/corpus/<target>/ (or corpus/<target without the fuzz_ prefix>/) plus what earlier runs found (kept in $FUZZ_BUILD/corpus/<target>/, never written
# back to the repository); its log is $FUZZ_BUILD/fuzz-logs/<target>.log and a crashing input is saved as
# $FUZZ_BUILD/fuzz-logs/<target>-crash-*. Prints executions per target; exits 1 if any target found something.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
[ $# -gt 0 ] && shift
B=${FUZZ_BUILD:-build-fuzz}
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found (scripts/install-deps.sh test installs it)" >&2
    exit 1
fi
cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DLLAMAC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" --target fuzz -j"${JOBS:-2}" >/dev/null
targets="$*"
if [ -z "$targets" ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f##*/}
        targets="$targets ${n%.c}"
    done
fi
mkdir -p "$B/fuzz-logs"
failed=""
printf '%-20s %12s %10s  %s\n' target executions exec/s result
for t in $targets; do
    corpus="$B/corpus/$t"
    mkdir -p "$corpus"
    log="$B/fuzz-logs/$t.log"
    seeds=""
    [ -d "tests/fuzz/corpus/${t#fuzz_}" ] && seeds="tests/fuzz/corpus/${t#fuzz_}"
    [ -d "tests/fuzz/corpus/$t" ] && seeds="tests/fuzz/corpus/$t"
    if [ -n "$seeds" ]; then set -- "$corpus" "$seeds"; else set -- "$corpus"; fi
    # detect_leaks: every allocation of an input is freed; -rss_limit_mb bounds memory per input
    runs_opt=""
    [ -n "${FUZZ_RUNS:-}" ] && runs_opt="-runs=$FUZZ_RUNS"
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$B/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 $runs_opt \
        -artifact_prefix="$B/fuzz-logs/$t-" "$@" >"$log" 2>&1; then
        result=ok
    else
        result="FOUND SOMETHING (see $log)"
        failed="$failed $t"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    printf '%-20s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$result"
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed" >&2
    exit 1
fi
