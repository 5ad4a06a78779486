#!/usr/bin/env bash
# tests/cli_browser.sh — the search page in headless Debian chromium, driven by
# playwright-core (tests/browser, `npm ci` there). Builds a store of the
# bundled samples/ with the demo CLIP, starts seer serve on a free loopback
# port and runs
# tests/browser/search.test.js; the screenshots are saved as test artifacts in
# $PWD/artifacts/ (the build directory under ctest): search.png, viewer.png,
# phone.png. Skips (77) when chromium or node_modules are missing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then echo "SKIP: no chromium at $chromium (apt-get install chromium)"; exit 77; fi
if ! command -v node >/dev/null; then echo "SKIP: node is missing"; exit 77; fi
if [ ! -d "$src/tests/browser/node_modules/playwright-core" ]; then
    echo "SKIP: tests/browser/node_modules is missing (run: cd tests/browser && npm ci)"; exit 77
fi
model=$src/models/demo/clip
photos=$src/samples
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
artifacts=$PWD/artifacts
mkdir -p "$artifacts"

"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$photos" || { echo "FAIL ingest"; exit 1; }
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
image=$photos/larger/horse-and-ship-test0101-512x256.jpg
CHROMIUM=$chromium node "$src/tests/browser/search.test.js" "$url" "$artifacts" "$image"
rc=$?
kill -TERM "$pid"; wait "$pid"; src_rc=$?
pid=
[ $src_rc -eq 0 ] || { echo "FAIL server exit status $src_rc"; rc=1; }
echo "screenshots: $artifacts/search.png $artifacts/viewer.png $artifacts/phone.png"
exit $rc
