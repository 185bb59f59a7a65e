#!/usr/bin/env bash
# compare.sh — llamac against upstream llama.cpp on the same files and threads, the two engines alternating
# (llamac, then llama.cpp, round after round, so a slow spell of the machine hits both), then a markdown table of
# the medians and their ratio (bench/compare_parse.py).
#
#   bench/compare.sh [options] LLAMA_CPP_BIN MODEL.gguf [MODEL.gguf ...]
#
#   LLAMA_CPP_BIN  llama.cpp's build/bin directory (with llama-bench and llama-batched-bench), e.g. the one
#                  ../shared/peers/build-llama-cpp.sh builds; the environment variable LLAMA_CPP_BIN is used
#                  when the first argument is a model file
#   -t N           threads for both engines (default 2)
#   -r N           timed runs per test in each round (default 3)
#   --rounds N     alternations (default 3)
#   -p N -n N      prompt and generation lengths (default 512 and 128)
#   --depth N      the depth of the deep decode test (default 4096; 0 = skip it)
#   --parallel N   sequences decoding together in the batched test (default 8; 1 = skip it)
#   --kv TYPE      KV cache type for both engines, f16 or f32 (default f16, llama.cpp's default)
#   --bw-mib N     llamac's bandwidth probe buffer in MiB (default 1024; 0 = no probe, no "% of probe")
#   --out DIR      where the raw outputs and samples.tsv go (default: a new directory under /tmp)
#
# Tests (per file): ppP, tgN, tgN @ dD (llama-bench -d D), tgN xS (S sequences, one token each per decode:
# llama-batched-bench -npp 0 -ntg N -npl S, its S_TG aggregate). Each engine uses its own default for how
# weights are held (llamac: a private huge-page copy; llama.cpp: mmap). The machine must be quiet: anything else
# running steals cores and memory bandwidth from both engines.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
py=/usr/bin/python3
llamac=${LLAMAC:-$src/build/llamac}
threads=2 reps=3 rounds=3 pp=512 tg=128 depth=4096 parallel=8 kv=f16 out="" bw_mib=1024

die() { echo "compare.sh: $*" >&2; exit 1; }
num() { [[ $2 =~ ^[0-9]+$ ]] || die "option $1: '$2' is not a non-negative integer"; }
while [ $# -gt 0 ]; do
    case $1 in
    -t | -r | --rounds | -p | -n | --depth | --parallel | --kv | --out | --bw-mib)
        [ $# -ge 2 ] || die "option $1 needs a value"
        case $1 in
        -t) num "$1" "$2"; threads=$2 ;;
        -r) num "$1" "$2"; reps=$2 ;;
        --rounds) num "$1" "$2"; rounds=$2 ;;
        -p) num "$1" "$2"; pp=$2 ;;
        -n) num "$1" "$2"; tg=$2 ;;
        --depth) num "$1" "$2"; depth=$2 ;;
        --parallel) num "$1" "$2"; parallel=$2 ;;
        --kv) [[ $2 == f16 || $2 == f32 ]] || die "option --kv: '$2' is not f16 or f32"; kv=$2 ;;
        --out) out=$2 ;;
        --bw-mib) num "$1" "$2"; bw_mib=$2 ;;
        esac
        shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) break ;;
    esac
done
if [ "$threads" -lt 1 ] || [ "$reps" -lt 1 ] || [ "$rounds" -lt 1 ]; then
    die "-t, -r and --rounds must be at least 1"
fi
[ "$tg" -ge 1 ] || die "-n must be at least 1"
if [ $# -gt 0 ] && [ -d "$1" ]; then
    bin=$1
    shift
else
    bin=${LLAMA_CPP_BIN:-}
fi
[ -n "$bin" ] || die "no llama.cpp bin directory (first argument, or LLAMA_CPP_BIN); see ../shared/peers/build-llama-cpp.sh"
[ $# -ge 1 ] || die "no model files given"
[ -x "$llamac" ] || die "no llamac binary at $llamac (build it, or set LLAMAC)"
for t in llama-bench llama-batched-bench; do
    [ -x "$bin/$t" ] || die "no $t in $bin"
done
for m in "$@"; do
    [ -f "$m" ] || die "no model file '$m'"
done
out=${out:-$(mktemp -d /tmp/llamac-compare.XXXXXX)}
mkdir -p "$out"
samples=$out/samples.tsv
: >"$samples"

# run NAME KIND MODEL CMD...: runs one engine's command, keeps its output, appends its samples; a failure is
# reported and leaves that test out of the table
run() {
    local name=$1 kind=$2 model=$3
    shift 3
    local log=$out/$name.out
    echo "compare.sh: $name" >&2
    if ! "$@" >"$log" 2>"$log.err"; then
        echo "compare.sh: $name failed (see $log.err):" >&2
        tail -n 3 "$log.err" >&2
        return 0
    fi
    [ "$kind" = batched ] && cat "$log.err" >>"$log" # its log lines may go to either stream
    local engine=llamac
    [ "$kind" = llamac ] || engine=llama.cpp
    "$py" "$here/compare_parse.py" extract "$engine" "$kind" "$model" "$log" >>"$samples" ||
        echo "compare.sh: $name: could not read its output (see $log)" >&2
}

for round in $(seq 1 "$rounds"); do
    for m in "$@"; do
        b=$(basename "$m" .gguf)
        common=(-m "$m" -t "$threads" -r "$reps")
        run "$b-r$round-llamac" llamac "$m" "$llamac" bench "${common[@]}" -p "$pp" -n "$tg" --kv "$kv" --bw-mib "$bw_mib" --json
        run "$b-r$round-llama-bench" bench "$m" "$bin/llama-bench" "${common[@]}" -p "$pp" -n "$tg" \
            -ctk "$kv" -ctv "$kv" -o json
        if [ "$depth" -gt 0 ]; then
            run "$b-r$round-llamac-depth" llamac "$m" "$llamac" bench "${common[@]}" -p 0 -n "$tg" -d "$depth" \
                --kv "$kv" --bw-mib "$bw_mib" --json
            run "$b-r$round-llama-bench-depth" bench "$m" "$bin/llama-bench" "${common[@]}" -p 0 -n "$tg" \
                -d "$depth" -ctk "$kv" -ctv "$kv" -o json
        fi
        if [ "$parallel" -gt 1 ]; then
            run "$b-r$round-llamac-parallel" llamac "$m" "$llamac" bench "${common[@]}" -p 0 -n "$tg" \
                --parallel "$parallel" --kv "$kv" --bw-mib "$bw_mib" --json
            # one measurement per call: -r calls per round, like the other tests' -r runs
            for i in $(seq 1 "$reps"); do
                run "$b-r$round-batched-$i" batched "$m" "$bin/llama-batched-bench" -m "$m" -t "$threads" \
                    -c $((parallel * (tg + 256))) -b 2048 -ub 512 -npp 0 -ntg "$tg" -npl "$parallel" \
                    -ctk "$kv" -ctv "$kv" --output-format jsonl
            done
        fi
    done
done

table=$out/table.md
{
    echo "llamac vs llama.cpp: $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$src" describe --always --dirty 2>/dev/null || echo '?'),"
    echo "$threads threads, KV $kv, $rounds rounds x $reps runs, llama.cpp from $bin"
    echo
    "$py" "$here/compare_parse.py" table "$samples"
} | tee "$table"
echo "compare.sh: raw outputs and samples in $out" >&2
