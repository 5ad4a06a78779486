#!/usr/bin/env bash
# tests/cli_hostile.sh — `seer serve` against hostile requests, each on a
# server of its own on a free loopback port (the repository's demo CLIP and
# MoE-LLaVA models, a store of samples/ plus a 10000x10000 PNG and a 64 MB
# JPEG). Every check is one of the hardening guarantees of docs/api.md
# ("Security model"):
#   - JSON nested 200 deep (search body, chat body, chat multipart payload)
#     → 400 naming the depth limit, and the server keeps answering;
#   - a Host that is not loopback, an IP or an --allow-host name → 403 (DNS
#     rebinding); an allowed one is served;
#   - a POST from another Origin, or with Sec-Fetch-Site: cross-site → 403;
#     the same origin, and a client without Origin, are served;
#   - four clients trickling a body one byte a second on a 4-thread server do
#     not keep /api/health from answering (the whole request is bounded);
#   - a 10000x10000 PNG upload (100 Mpx) → 413 from its header, without the
#     memory a decode would take; four parallel downloads of a 64 MB image
#     stream (peak RSS grows by far less than the file);
#   - feedback: a record over 64 KiB → 413; past --max-feedback → 507;
#     GET /api/feedback?limit=1 gives the newest record and the total.
# Needs curl and python3; skips (77) without them.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
command -v curl >/dev/null || { echo "SKIP: curl is missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
fail=0 total=0
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

# the store: samples/, a huge-canvas PNG (tiny file) and a 64 MB JPEG (a
# real picture followed by junk, which decoders ignore)
mkdir -p "$tmp/photos"
cp "$src/samples/cifar10/cat/0000.jpg" "$tmp/photos/cat.jpg"
cp "$src/samples/cifar10/dog/0000.jpg" "$tmp/photos/dog.jpg"
python3 - "$tmp" "$src" <<'EOF'
import struct, sys, zlib
tmp, src = sys.argv[1], sys.argv[2]
def png(w, h):
    raw = zlib.compress(b"".join(b"\0" + bytes(w * 3) for _ in range(h)), 9)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
open(tmp + "/huge.png", "wb").write(png(10000, 10000))
jpg = open(src + "/samples/cifar10/frog/0000.jpg", "rb").read()
open(tmp + "/photos/big.jpg", "wb").write(jpg + bytes(64 << 20))
EOF
"$seer" ingest --db "$tmp/db" --model "$src/models/demo/clip" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }
big_id=""

# start_server NAME ARGS... : seer serve on port 0; sets NAME_url, NAME_pid
start_server() {
    local name=$1; shift
    "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    local pid=$!
    pids+=("$pid")
    eval "${name}_pid=$pid"
    for _ in $(seq 1 300); do
        if grep -q 'http://' "$tmp/$name.out" 2>/dev/null; then
            local u; u=$(grep -o "http://[^ ]*" "$tmp/$name.out" | head -1)
            eval "${name}_url=${u%/}"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $name did not start:"; cat "$tmp/$name.err"
    return 1
}
# status URL CURL-ARGS... : the HTTP status (000 when no answer), body in $tmp/body
status() { local u=$1; shift; curl -s -m 20 -o "$tmp/body" -w '%{http_code}' "$@" "$u"; }
is() { [ "$1" = "$2" ] || { echo "  got $1, want $2: $(head -c 300 "$tmp/body" 2>/dev/null)"; return 1; }; }
body_has() { grep -q -- "$1" "$tmp/body" || { echo "  body lacks '$1': $(head -c 300 "$tmp/body")"; return 1; }; }
alive() { is "$(status "$1/api/health")" 200; }
peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

start_server main --chat-model "$src/models/demo/moe-llava" --models-root "$src" || exit 1
u=$main_url
echo "server at $u"

# ---- deep JSON (on a small civetweb stack it used to end the process)
python3 -c 'print("{\"q\": " + "[" * 200 + "]" * 200 + "}")' >"$tmp/deep.json"
check deep_json_search_400 is "$(status "$u/api/search" -H 'Content-Type: application/json' --data-binary @"$tmp/deep.json")" 400
check deep_json_message body_has "nested deeper than 64"
python3 -c 'print("{\"image_id\": 1, \"messages\": " + "[" * 300 + "]" * 300 + "}")' >"$tmp/deepchat.json"
check deep_json_chat_400 is "$(status "$u/api/chat" -H 'Content-Type: application/json' --data-binary @"$tmp/deepchat.json")" 400
check deep_json_multipart_400 is "$(status "$u/api/chat" -F "payload=<$tmp/deepchat.json;type=application/json" \
    -F "image=@$src/samples/cifar10/cat/0000.jpg;type=image/jpeg")" 400
check deep_json_feedback_400 is "$(status "$u/api/feedback" -H 'Content-Type: application/json' --data-binary @"$tmp/deepchat.json")" 400
check alive_after_deep_json alive "$u"

# ---- browse / filter / like / duplicates parameters: 400 naming the parameter
for bad in "images?limit=99999999999999999999" "images?offset=1e3" "images?sort=%00" "images?after=9999-99-99" \
           "images?folder=$(printf 'a%.0s' $(seq 1 600))" "images?camera=$(printf 'c%.0s' $(seq 1 200))" \
           "search?q=cat&before=2024-02-29x" "search?q=cat&offset=4096" "search?like=18446744073709551616" \
           "search?like=1&q=cat" "duplicates?threshold=nan" "duplicates?threshold=1e999"; do
    check "filter_400 ${bad:0:40}" is "$(status "$u/api/$bad")" 400
done
check filter_400_names_it body_has "threshold"
check alive_after_bad_filters alive "$u"

# ---- Host (DNS rebinding)
check host_foreign_403 is "$(status "$u/api/health" -H 'Host: attacker.example:8080')" 403
check host_message_says_how body_has "--allow-host"
check host_foreign_page_403 is "$(status "$u/" -H 'Host: attacker.example')" 403
check host_localhost_200 is "$(status "$u/api/health" -H "Host: localhost:${u##*:}")" 200
check host_v6_loopback_200 is "$(status "$u/api/health" -H 'Host: [::1]:8080')" 200
check host_ip_200 is "$(status "$u/api/health" -H 'Host: 127.0.0.1')" 200

# ---- Origin (cross-site requests)
jpg=$src/samples/cifar10/cat/0000.jpg
check origin_foreign_raw_403 is "$(status "$u/api/search" -H 'Origin: http://attacker.example' \
    -H 'Content-Type: text/plain' --data-binary @"$jpg")" 403
check origin_foreign_multipart_403 is "$(status "$u/api/search" -H 'Origin: https://attacker.example' -F "file=@$jpg")" 403
check origin_null_403 is "$(status "$u/api/search" -H 'Origin: null' -H 'Content-Type: application/json' -d '{"q":"cat"}')" 403
check fetch_site_cross_403 is "$(status "$u/api/search" -H 'Sec-Fetch-Site: cross-site' \
    -H 'Content-Type: application/json' -d '{"q":"cat"}')" 403
check origin_same_200 is "$(status "$u/api/search?k=2" -H "Origin: $u" -H 'Sec-Fetch-Site: same-origin' \
    -H 'Content-Type: text/plain' --data-binary @"$jpg")" 200
check no_origin_200 is "$(status "$u/api/search?k=2" -F "file=@$jpg")" 200
check get_cross_site_200 is "$(status "$u/api/search?q=cat&k=1" -H 'Sec-Fetch-Site: cross-site')" 200

# ---- pixel budget: 100 Mpx in a ~100 KB PNG is refused from its header
before=$(peak_kb "$main_pid")
t0=$(date +%s%N)
check huge_png_413 is "$(status "$u/api/search" -H 'Content-Type: image/png' --data-binary @"$tmp/huge.png")" 413
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check huge_png_message body_has "pixel"
check huge_png_fast test "$ms" -lt 1000
after=$(peak_kb "$main_pid")
echo "  huge PNG: ${ms} ms, peak RSS ${before} -> ${after} KB"
check huge_png_no_decode_memory test $((after - before)) -lt 51200

# ---- streamed downloads: four at once of a 64 MB file
curl -s "$u/api/search?q=frog&k=10" >"$tmp/s.json"
big_id=$(python3 -c 'import json,sys; print(next(r["id"] for r in json.load(open(sys.argv[1]))["results"] if r["path"].endswith("big.jpg")))' "$tmp/s.json")
before=$(peak_kb "$main_pid")
dl=()
for i in 1 2 3 4; do curl -s -m 60 -o "$tmp/dl$i" "$u/api/images/$big_id" & dl+=($!); done
wait "${dl[@]}"
after=$(peak_kb "$main_pid")
echo "  4 x 64 MB downloads: peak RSS ${before} -> ${after} KB"
check image_download_complete cmp -s "$tmp/dl1" "$tmp/photos/big.jpg"
check image_download_all cmp -s "$tmp/dl4" "$tmp/photos/big.jpg"
check image_download_streamed test $((after - before)) -lt 65536

# ---- feedback limits
python3 - "$tmp" <<'EOF'
import json, sys
t = sys.argv[1]
# 30 KB of control characters: 180 KB once stored (each escaped as \u00XX)
big = {"image_id": 1, "messages": [{"role": "user", "content": "what is it?"},
       {"role": "assistant", "content": "\u0001" * 30000}], "vote": "up"}
open(t + "/fb_big.json", "w").write(json.dumps(big))
for i in range(3):
    open(t + "/fb%d.json" % i, "w").write(json.dumps({"image_id": 1, "messages": [
        {"role": "user", "content": "q%d" % i}, {"role": "assistant", "content": "a%d" % i}], "vote": "up"}))
EOF
check feedback_too_big_413 is "$(status "$u/api/feedback" -H 'Content-Type: application/json' --data-binary @"$tmp/fb_big.json")" 413
check alive_at_end alive "$u"
kill -TERM "$main_pid"; wait "$main_pid" 2>/dev/null

start_server fb --chat-model "$src/models/demo/moe-llava" --models-root "$src" --max-feedback 2 || exit 1
for i in 0 1; do
    check "feedback_${i}_201" is "$(status "$fb_url/api/feedback" -H 'Content-Type: application/json' --data-binary @"$tmp/fb$i.json")" 201
done
check feedback_full_507 is "$(status "$fb_url/api/feedback" -H 'Content-Type: application/json' --data-binary @"$tmp/fb2.json")" 507
check feedback_list_200 is "$(status "$fb_url/api/feedback?limit=1")" 200
check feedback_list_newest python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["total"]==2 and len(o["feedback"])==1 and o["feedback"][0]["messages"][0]["content"]=="q1", o' "$tmp/body"
kill -TERM "$fb_pid"; wait "$fb_pid" 2>/dev/null

# ---- --allow-host
start_server named --allow-host photos.lan || exit 1
check allow_host_200 is "$(status "$named_url/api/health" -H 'Host: photos.lan:8080')" 200
check allow_host_origin_200 is "$(status "$named_url/api/search" -H 'Host: photos.lan:8080' -H 'Origin: http://photos.lan:8080' \
    -H 'Content-Type: application/json' -d '{"q":"cat","k":1}')" 200
check other_host_still_403 is "$(status "$named_url/api/health" -H 'Host: photos.lan.attacker.example')" 403
kill -TERM "$named_pid"; wait "$named_pid" 2>/dev/null

# ---- slow clients: 4 trickling bodies on 4 threads, health must still answer
start_server slow --threads 4 --request-timeout 3 || exit 1
port=${slow_url##*:}
cat >"$tmp/slow.py" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
t0 = time.time()
try:
    while time.time() - t0 < 30:
        s.sendall(b" ")
        time.sleep(1)
except OSError:
    pass
EOF
sl=()
for i in 1 2 3 4; do timeout 35 python3 "$tmp/slow.py" "$port" & sl+=($!); done
sleep 1
t0=$(date +%s%N)
code=$(curl -s -m 15 -o "$tmp/body" -w '%{http_code}' "$slow_url/api/health")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  /api/health beside 4 slow clients: $code after ${ms} ms"
check slow_clients_health_answers is "$code" 200
check slow_clients_bounded test "$ms" -lt 8000
for p in "${sl[@]}"; do kill "$p" 2>/dev/null; done
wait "${sl[@]}" 2>/dev/null
kill -TERM "$slow_pid"; wait "$slow_pid" 2>/dev/null

echo "$((total - fail))/$total passed"
[ "$fail" -eq 0 ]
