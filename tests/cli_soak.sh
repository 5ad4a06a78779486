#!/usr/bin/env bash
# tests/cli_soak.sh — one `seer serve` (demo CLIP model, a store of samples/,
# loopback, a free port) under 16 connections of mixed valid and hostile
# requests for SEER_SOAK_S seconds (default 60), while `seer ingest` adds
# samples/ to the same store beside it. Afterwards:
#   - the server still answers /api/health and a search;
#   - its peak RSS (VmHWM) stayed under SOAK_RSS_MB (300 MB; it starts near 60);
#   - the ingest finished, `seer info --verify` passes, and every image file
#     of samples/ is in the store (counts match: nothing lost).
# The hostile mix: deep JSON, a foreign Host, a cross-site POST, garbage
# bodies, a 100-Mpx PNG, a body that lies about its length, a client that
# stops mid-body, bad ids and '..' paths. Loopback only; needs curl, python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
dur=${SEER_SOAK_S:-60}
rss_limit_mb=${SOAK_RSS_MB:-300}
command -v curl >/dev/null || { echo "SKIP: curl is missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
fail=0 total=0
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

model=$src/models/demo/clip
# the server starts on a store of the cat pictures; the ingest adds the rest
mkdir -p "$tmp/first"
cp -r "$src/samples/cifar10/cat" "$tmp/first/"
"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$tmp/first" || { echo "FAIL first ingest"; exit 1; }
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --threads 8 --reload 1 --request-timeout 5 \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
spid=$!
pids+=("$spid")
url=$(server_url "$spid" "$tmp/serve.out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/serve.err"; exit 1; }
url=${url%/}
port=${url##*:}
echo "server at $url (pid $spid), soaking for ${dur}s"

python3 - "$tmp" <<'EOF'
import struct, sys, zlib
t = sys.argv[1]
raw = zlib.compress(b"".join(b"\0" + bytes(30000) for _ in range(10000)), 9)
c = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
open(t + "/huge.png", "wb").write(b"\x89PNG\r\n\x1a\n" + c(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 2, 0, 0, 0)) + c(b"IDAT", raw) + c(b"IEND", b""))
open(t + "/deep.json", "w").write('{"q": ' + "[" * 5000 + "]" * 5000 + "}")
open(t + "/garbage.bin", "wb").write(bytes(range(256)) * 64)
EOF
# raw HTTP for what curl will not send: a short body, a client gone mid-body
cat >"$tmp/raw.py" <<'EOF'
import socket, sys
port, kind = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if kind == "short":
    s.sendall(b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 5000000\r\n\r\n" + b"\xff\xd8" * 1000)
    s.shutdown(socket.SHUT_WR)
else:
    s.sendall(b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"q\"")
try:
    s.recv(4096)
except OSError:
    pass
s.close()
EOF

# one connection's loop: valid and hostile requests, round robin
client() {
    local n=$1 i=0 end=$(( $(date +%s) + dur ))
    local jpg=$src/samples/cifar10/dog/000$((n % 10)).jpg
    while [ "$(date +%s)" -lt "$end" ]; do
        case $(( (i + n) % 14 )) in
        0) curl -s -m 10 -o /dev/null "$url/api/search?q=a+photo+of+a+cat&k=5" ;;
        1) curl -s -m 10 -o /dev/null -F "file=@$jpg" "$url/api/search?k=3" ;;
        2) curl -s -m 10 -o /dev/null -H 'Content-Type: application/json' --data-binary @"$tmp/deep.json" "$url/api/search" ;;
        3) curl -s -m 10 -o /dev/null -H 'Host: rebind.attacker.example' "$url/api/stats" ;;
        4) curl -s -m 10 -o /dev/null -H 'Origin: http://evil.example' -H 'Content-Type: text/plain' --data-binary @"$jpg" "$url/api/search" ;;
        5) curl -s -m 10 -o /dev/null -H 'Content-Type: image/png' --data-binary @"$tmp/huge.png" "$url/api/search" ;;
        6) curl -s -m 10 -o /dev/null -H 'Content-Type: application/octet-stream' --data-binary @"$tmp/garbage.bin" "$url/api/search" ;;
        7) python3 "$tmp/raw.py" "$port" short ;;
        8) timeout 8 python3 "$tmp/raw.py" "$port" stall ;;
        9) curl -s -m 10 -o /dev/null "$url/api/images/1" ;;
        10) curl -s -m 10 -o /dev/null "$url/api/images/..%2f..%2fetc%2fpasswd" "$url/api/images/99999999999999999999999" ;;
        11) curl -s -m 10 -o /dev/null "$url/api/images/2/thumbnail" "$url/" ;;
        12) curl -s -m 10 -o /dev/null -H 'Content-Type: application/json' -d '{"q": "dog", "k": 1000000}' "$url/api/search" ;;
        13) curl -s -m 10 -o /dev/null "$url/api/health" ;;
        esac
        i=$((i + 1))
    done
    echo "$i" >"$tmp/client$n.count"
}

t_start=$(date +%s)
cl=()
for n in $(seq 1 16); do client "$n" & cl+=($!); done
sleep 2
"$seer" ingest --db "$tmp/db" --model "$model" --wait --quiet "$src/samples" >"$tmp/ingest.out" 2>&1 &
ipid=$!
pids+=("$ipid")
wait "$ipid"
irc=$?
wait "${cl[@]}"
echo "  soak: $(( $(date +%s) - t_start ))s, $(cat "$tmp"/client*.count | paste -sd+ | bc) requests"

check ingest_finished test "$irc" -eq 0
check server_alive kill -0 "$spid"
check health_answers test "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$url/api/health")" = 200
check search_answers test "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$url/api/search?q=frog&k=3")" = 200
peak=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
echo "  server peak RSS: $((peak / 1024)) MB (bound ${rss_limit_mb} MB)"
check rss_bounded test "$((peak / 1024))" -lt "$rss_limit_mb"
kill -TERM "$spid"
wait "$spid"
check server_exit_0 test $? -eq 0

check store_verifies "$seer" info --db "$tmp/db" --verify >"$tmp/verify.out"
exts='.*\.\(jpg\|jpeg\|jpe\|jfif\|png\|bmp\|gif\|tga\|ppm\|pgm\|pnm\)$'
want=$(find "$src/samples" -type f -iregex "$exts" -not -path '*/.*' | wc -l)
ncat=$(find "$tmp/first" -type f | wc -l)
paths=$("$seer" info --db "$tmp/db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"])')
echo "  image files: $want in samples/ + $ncat copies; stored paths: $paths"
check every_image_stored test "$paths" -eq $((want + ncat))
echo "$((total - fail))/$total passed"
[ "$fail" -eq 0 ]
