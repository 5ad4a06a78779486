#!/usr/bin/env bash
# tools/test.sh — the test command: set up, build, run every test.
#
# 1. tools/setup.sh (Debian packages, the FAISS C API) without its build step;
# 2. a Release build in build/ and the whole ctest suite;
# 3. an AddressSanitizer + UBSan build in build-asan/: the unit tests and the
#    server integration tests (cli_serve*, cli_browser*) again;
# 4. a build without SIMD flags (SEER_SIMD=OFF) in build-nosimd/, so the
#    scalar fallbacks of the AVX2/F16C/FMA code run, and the unit tests again;
# 5. the libFuzzer targets (clang, build-fuzz/): crash inputs replayed, each
#    target fuzzed for a bounded time (tools/fuzz.sh).
# Every test runs on the repository's own data (tests/data, samples/,
# models/demo/); ../shared, when present, adds cross-checks. Idempotent;
# reuses the build directories.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)

SEER_SKIP_BUILD=1 tools/setup.sh

# ---------------------------------------------------------------- browser test
# tests/cli_browser.sh drives Debian's chromium with playwright-core (pinned in
# tests/browser/package-lock.json). Without them it skips; a failed install
# here only warns, so the rest of the suite still runs.
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]} for the browser test"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" ||
    echo "test.sh: could not install ${need[*]}; the browser test will skip"
fi
if command -v npm >/dev/null; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || echo "test.sh: npm ci failed; the browser test will skip"
fi
# tests/cli_openai.sh: the official OpenAI JavaScript SDK (pinned in tests/openai/package-lock.json)
if command -v npm >/dev/null; then
  (cd tests/openai && npm ci --no-audit --no-fund --loglevel=error) || echo "test.sh: npm ci failed; the OpenAI SDK test will skip"
fi

echo "== release build + all tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

echo "== sanitizer build (address, undefined) + unit and server tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSEER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   LSAN_OPTIONS=suppressions="$root/tests/lsan.supp" &&
 ctest --output-on-failure -j1 -L unit && ctest --output-on-failure -j1 -R '^cli_(serve|browser|openai)')

echo "== SIMD-off build (scalar fallbacks) + unit tests"
cmake -S . -B build-nosimd -DCMAKE_BUILD_TYPE=Release -DSEER_SIMD=OFF >/dev/null
cmake --build build-nosimd -j"$jobs"
(cd build-nosimd && ctest --output-on-failure -j1 -L unit)

# ---------------------------------------------------------------- fuzzing
# The libFuzzer targets (tests/fuzz) built with clang: the committed crash
# inputs replayed, then each target fuzzed briefly (tools/fuzz.sh; a campaign
# is `tools/fuzz.sh 600`).
echo "== fuzz targets (replay regressions, 12 s each)"
if ! command -v clang >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev ||
    { echo "test.sh: could not install clang for the fuzz targets" >&2; exit 1; }
fi
SEER_FUZZ_SEED=1 tools/fuzz.sh 12
