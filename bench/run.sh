#!/usr/bin/env bash
# run.sh — runs `llamac bench` with the "Speed" issue's settings (-p 512 -n 128 -t 2 -r 3) over every model
# bench/make_models.py wrote, then prints the markdown table of docs/PERFORMANCE.md (bench/report.py: ratios to
# llama.cpp, fraction of the memory bandwidth measured in the same run).
#
#   bench/run.sh [MODELS_DIR] [extra llamac bench options, e.g. -r 5 or -p 128 -n 32]
#
# MODELS_DIR defaults to bench/models; the binary is $LLAMAC or build/llamac. Later options override the
# defaults. The JSON lines and the table are kept in MODELS_DIR/results-<UTC time>.{jsonl,md}. A model llamac
# cannot run (e.g. a type without kernels yet) becomes an "error" row; the others still run.
# Run it on a quiet machine: everything else running steals cores and memory bandwidth from the figures.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
py=/usr/bin/python3
llamac=${LLAMAC:-$src/build/llamac}
dir=$here/models
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    dir=$1
    shift
fi
[ -x "$llamac" ] || { echo "run.sh: no llamac binary at $llamac (build it, or set LLAMAC)" >&2; exit 1; }
[ -d "$dir" ] || { echo "run.sh: no models directory $dir (run bench/make_models.py)" >&2; exit 1; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$dir/results-$stamp.jsonl
err=$(mktemp)
trap 'rm -f "$err"' EXIT
found=0
for shape in llama-3.2-1b llama-3.2-3b llama-3-8b; do
    for type in F16 Q8_0 Q4_0 Q4_K_M; do
        f=$dir/$shape-$type.gguf
        [ -f "$f" ] || continue
        found=1
        echo "run.sh: $(basename "$f")" >&2
        if ! "$llamac" bench -m "$f" -p 512 -n 128 -t 2 -r 3 "$@" --json >>"$out" 2>"$err"; then
            cat "$err" >&2
            "$py" -c 'import json, sys; print(json.dumps({"model": sys.argv[1], "error": open(sys.argv[2]).read().strip()}))' \
                "$f" "$err" >>"$out"
        fi
    done
done
[ $found = 1 ] || { echo "run.sh: no models in $dir (run bench/make_models.py)" >&2; exit 1; }
"$py" "$here/report.py" "$out" | tee "$dir/results-$stamp.md"
echo "run.sh: results in $out and $dir/results-$stamp.md" >&2
