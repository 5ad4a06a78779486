#!/bin/bash
# tools/bench_llamacpp.sh — seer and llama.cpp side by side on the same dense
# StableLM-2-1.6B geometry and the same random weights, interleaved rounds.
#
#   tools/bench_llamacpp.sh LLAMA_BUILD_DIR [ROUNDS]      (ROUNDS default 2)
#
# LLAMA_BUILD_DIR is a CMake build of llama.cpp with the llama-bench and
# llama-quantize targets (built from source for this comparison only; seer
# does not use it). Steps:
#   1. `seer bench lm --geometry stablelm2-1.6b-dense` writes the random BF16
#      checkpoint once into $DIR (default /tmp/seer-bench-lm/stablelm2-1.6b-dense);
#   2. tools/bench_gguf.py writes it as $DIR/bf16.gguf (llama.cpp's gguf-py),
#      llama-quantize makes $DIR/q8_0.gguf from it;
#   3. each round runs, one after another, llama-bench (-p 512 -n 64, one
#      repetition) and seer bench lm for BF16 and then for Q8 (llama.cpp
#      Q8_0; seer quantises the BF16 weights to its Q8 at load), all with
#      $THREADS threads (default 2). llama-bench times its 64 generated
#      tokens on an empty context, so seer's decode figure is taken the same
#      way (--prompt 1 --decode 64) and its prefill from --prompt 512
#      --decode 0.
# The machine is shared: interleaving puts both engines under the same load;
# each seer line also carries its ratio to the limits measured just before.
# Environment: SEER_BIN (default build/seer), DIR, THREADS; AVX2=1 adds seer
# runs capped at its AVX2 paths (SEER_ISA=avx2: BF16 widened to float32 and
# OpenBLAS, Q8 by vpmaddubsw), what an AVX2-only CPU runs.
set -euo pipefail
B=${1:?usage: tools/bench_llamacpp.sh LLAMA_BUILD_DIR [ROUNDS]}
R=${2:-2}
SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$B/CMakeCache.txt")
SEER=${SEER_BIN:-build/seer}
DIR=${DIR:-/tmp/seer-bench-lm/stablelm2-1.6b-dense}
T=${THREADS:-2}
export OMP_NUM_THREADS=$T
PY=/usr/bin/python3

"$SEER" bench lm --geometry stablelm2-1.6b-dense --dir "$DIR" --prompt 4 --decode 1 --runs 1 >/dev/null
[ -s "$DIR/bf16.gguf" ] || $PY "$(dirname "$0")/bench_gguf.py" "$DIR" "$SRC" "$DIR/bf16.gguf"
[ -s "$DIR/q8_0.gguf" ] || "$B/bin/llama-quantize" "$DIR/bf16.gguf" "$DIR/q8_0.gguf" Q8_0 >/dev/null 2>&1

llama() { # $1 gguf, $2 label: prints "llama.cpp LABEL prefill X decode Y"
    "$B/bin/llama-bench" -m "$1" -p 512 -n 64 -t "$T" -r 1 -o jsonl 2>/dev/null |
        $PY -c '
import json, sys
f = {}
for line in sys.stdin:
    j = json.loads(line)
    f["prefill" if j["n_prompt"] else "decode"] = j["avg_ts"]
print("llama.cpp %-5s prefill 512: %7.2f tokens/s   decode 64: %6.2f tokens/s" % (sys.argv[1], f["prefill"], f["decode"]))
' "$2"
}
seer() { # $1 quant (none|q8), $2 label
    local p d
    p=$(env ${ISA:+SEER_ISA=$ISA} "$SEER" bench lm --geometry stablelm2-1.6b-dense --dir "$DIR" --prompt 512 --decode 0 --runs 1 --quant "$1" |
        sed -n 's/^run 1: \(prefill[^|]*\)|.*/\1/p')
    d=$(env ${ISA:+SEER_ISA=$ISA} "$SEER" bench lm --geometry stablelm2-1.6b-dense --dir "$DIR" --prompt 1 --decode 64 --runs 1 --quant "$1" |
        sed -n 's/^run 1: [^|]*| //p')
    echo "seer      $2 $p| $d"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $T threads, load $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for r in $(seq "$R"); do
    echo "## round $r"
    llama "$DIR/bf16.gguf" bf16
    seer none bf16
    [ "${AVX2:-0}" = 1 ] && ISA=avx2 seer none "bf16 (avx2)"
    llama "$DIR/q8_0.gguf" q8
    seer q8 q8
    [ "${AVX2:-0}" = 1 ] && ISA=avx2 seer q8 "q8 (avx2)"
done
