#!/usr/bin/env bash
# tools/bench_server.sh — load test of seer serve: wrk on loopback, 16
# connections for 30 s against GET /api/search.
#
#   tools/bench_server.sh [SEER_BIN]     (default: build/seer)
#   PHOTOS=DIR MODEL=DIR tools/bench_server.sh
#
# The store is the photos under $PHOTOS (default: the bundled samples/),
# ingested with the CLIP model $MODEL (default: the bundled models/demo/clip)
# into $SEER_BENCH_DIR (default build-bench/, reused when it holds as many
# images as $PHOTOS). docs/benchmarks.md's figures used the 10,000 CIFAR-10
# test JPEGs (32x32, distinct content) and a tiny random-weight CLIP. The queries vary per request (a Lua
# script cycles through 40 texts). wrk, the server and the model share this
# machine's cores. Not part of the test suite (too slow); results go to
# docs/benchmarks.md by hand.
#
# Environment: SEER_BENCH_DIR, DURATION (30s), CONNECTIONS (16), THREADS (2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seer=${1:-$root/build/seer}
photos=${PHOTOS:-$root/samples}
dir=${SEER_BENCH_DIR:-$root/build-bench}
model=${MODEL:-$root/models/demo/clip}
duration=${DURATION:-30s}
conns=${CONNECTIONS:-16}
threads=${THREADS:-2}

command -v wrk >/dev/null || { echo "bench_server: installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
[ -x "$seer" ] || { echo "bench_server: no seer binary at $seer (build first)" >&2; exit 1; }
[ -d "$photos" ] || { echo "bench_server: no photo folder $photos" >&2; exit 1; }
mkdir -p "$dir"

want=$(find "$photos" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
n=$( ("$seer" info --db "$dir/db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"])') 2>/dev/null || echo 0)
if [ "$n" != "$want" ]; then
    echo "== ingest $want images of $photos into $dir/db"
    /usr/bin/time -f "ingest: %e s" "$seer" ingest --db "$dir/db" --model "$model" --quiet "$photos"
fi
"$seer" info --db "$dir/db"

cat >"$dir/queries.lua" <<'LUA'
-- vary the query per request: 40 texts, in turn
local q = {"a photo of a cat", "a photo of a dog", "a red car", "a truck on a road", "a ship at sea",
  "an airplane in the sky", "a horse in a field", "a frog", "a deer in the woods", "a small bird",
  "a white cat", "a black dog", "a blue sports car", "a fire truck", "a sailing boat", "a jet airliner",
  "a brown horse", "a green frog", "a deer with antlers", "a bird on a branch", "cat", "dog", "car",
  "truck", "ship", "airplane", "horse", "frog", "deer", "bird", "a blurry photo", "a bright day",
  "at night", "close-up of an animal", "a vehicle", "something flying", "water", "grass", "snow", "sunset"}
local i = 0
local function enc(s) return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end)) end
request = function()
  i = i + 1
  return wrk.format("GET", "/api/search?k=15&q=" .. enc(q[(i % #q) + 1]))
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d (connect %d, read %d, write %d, timeout %d, status %d)\n",
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
LUA

"$seer" serve --db "$dir/db" --listen 127.0.0.1:0 --reload 0 >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
url=
for _ in $(seq 1 300); do
    url=$(grep -o 'http://[^ ]*' "$dir/serve.out" 2>/dev/null | head -1) && [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { cat "$dir/serve.err"; exit 1; }
url=${url%/}
curl -sf "$url/api/search?q=warm%20up&k=15" >/dev/null
echo "== wrk -t$threads -c$conns -d$duration --latency -s queries.lua $url/api/search ($(nproc) cores, shared by wrk and the server)"
wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$dir/queries.lua" "$url/api/search"
echo "== server counters after the run"
curl -s "$url/api/stats" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(json.dumps({"counters": o["counters"], "queues": o["queues"]}))'
