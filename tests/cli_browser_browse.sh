#!/usr/bin/env bash
# tests/cli_browser_browse.sh — the page's library views in headless Debian
# chromium, driven by playwright-core (tests/browser, `npm ci` there): browse,
# filter, load more, open by URL, Back, find similar, duplicates
# (tests/browser/browse.test.js). Builds a store of the bundled samples/ with
# the demo CLIP and starts seer serve on a free loopback port; screenshots
# go to $PWD/artifacts/ (browse.png, opened.png, dupes.png). Skips (77) when
# chromium or node_modules are missing.
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
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
artifacts=$PWD/artifacts
mkdir -p "$artifacts"
cp -r "$src/samples" "$tmp/photos"
"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
CHROMIUM=$chromium node "$src/tests/browser/browse.test.js" "$url" "$artifacts" "$tmp/photos/larger"
rc=$?
kill -TERM "$pid"; wait "$pid"; src_rc=$?
pid=
[ $src_rc -eq 0 ] || { echo "FAIL server exit status $src_rc"; rc=1; }
echo "screenshots: $artifacts/browse.png $artifacts/opened.png $artifacts/dupes.png"
exit $rc
