#!/usr/bin/env bash
# tools/fuzz.sh — build the libFuzzer targets (tests/fuzz) and run them.
#
#   tools/fuzz.sh                 every target for 20 s (what tools/test.sh runs, shorter)
#   tools/fuzz.sh 600             a campaign: 10 minutes per target
#   tools/fuzz.sh 60 fuzz_pickle  chosen targets only
#
# Builds build-fuzz/ with clang (-DSEER_FUZZ=ON). First replays every
# committed crash input, tests/fuzz/regressions/<target>/*, which must all pass
# now; then fuzzes each target for SECONDS, starting from the committed seeds
# (tests/fuzz/corpus/<target>/) plus what earlier runs found
# (build-fuzz/corpus/<target>/, not committed). A crash, leak, UB report,
# timeout (> 10 s for one input) or an input that takes over 2 GB is written
# to build-fuzz/artifacts/<target>/ and fails the script; minimise it
# (FUZZER -minimize_crash=1 -runs=10000 FILE), fix the parser, and commit the
# input under tests/fuzz/regressions/<target>/. Environment: SEER_FUZZ_JOBS
# (default 2) parallel build jobs; SEER_FUZZ_SEED=N fixes libFuzzer's seed
# and starts from the committed seeds only, so a run explores the same inputs
# each time it is given the same time (tools/test.sh uses it: CI fails on a
# regression or on what that fixed walk finds, never on chance).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
secs=${1:-20}
shift || true
case "$secs" in ''|*[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2;; esac
command -v clang >/dev/null || { echo "tools/fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 1; }

cmake -S . -B build-fuzz -DSEER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j"${SEER_FUZZ_JOBS:-2}" --target seer_fuzz

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fail=()
for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz/$t
  [ -x "$bin" ] || { echo "tools/fuzz.sh: no target $t" >&2; exit 2; }
  reg=(tests/fuzz/regressions/"$t"/*)
  if [ -e "${reg[0]}" ]; then
    echo "== $t: replaying ${#reg[@]} regression input(s)"
    if ! "$bin" -rss_limit_mb=2048 -timeout=10 "${reg[@]}" > "build-fuzz/$t.replay.log" 2>&1; then
      tail -40 "build-fuzz/$t.replay.log"; fail+=("$t (regressions)"); continue
    fi
  fi
  echo "== $t: fuzzing for $secs s${SEER_FUZZ_SEED:+ (seed $SEER_FUZZ_SEED)}"
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t"
  seed=() corpus=("build-fuzz/corpus/$t")
  if [ -n "${SEER_FUZZ_SEED:-}" ]; then
    corpus=("$(mktemp -d)")          # new inputs go there; the walk starts from the committed seeds alone
    seed=(-seed="$SEER_FUZZ_SEED")
  fi
  if ! "$bin" -max_total_time="$secs" "${seed[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/artifacts/$t/" "${corpus[@]}" "tests/fuzz/corpus/$t" \
        > "build-fuzz/$t.log" 2>&1; then
    tail -60 "build-fuzz/$t.log"; fail+=("$t"); continue
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "build-fuzz/$t.log" | tr '\n' ' '; echo
  if [ -n "${SEER_FUZZ_SEED:-}" ]; then rm -rf "${corpus[0]}"; fi
done
if [ ${#fail[@]} -gt 0 ]; then
  echo "tools/fuzz.sh: FAILED: ${fail[*]} (inputs in build-fuzz/artifacts/, logs in build-fuzz/*.log)" >&2
  exit 1
fi
echo "tools/fuzz.sh: ${#targets[@]} target(s) ran ${secs} s each without a finding"
