#!/usr/bin/env bash
# tests/cli_serve.sh — `seer serve` against a running server: a store of the
# bundled samples/ (312 pictures) made with the demo CLIP, the server on a
# free loopback port, then every endpoint and every kind of bad request over
# HTTP with curl (JSON checked with python3). The server must answer each bad
# request with its 4xx and a JSON {"error"}, keep serving, pick up an ingest
# made while it runs, refuse a full image queue with 503 + Retry-After, and
# exit 0 on SIGTERM. Needs curl; nothing from ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0 total=0
command -v curl >/dev/null || { echo "SKIP: curl is missing (tools/setup.sh installs it)"; exit 77; }
model=$src/models/demo/clip
photos=$src/samples
n0=$(find "$photos" -name '*.jpg' | wc -l)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$photos" || { echo "FAIL ingest"; exit 1; }

# start_server NAME ARGS... : start seer serve on port 0, wait for its URL line
start_server() {
    local name=$1; shift
    "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
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

start_server main --max-upload 1M --reload 1 || exit 1
url=$main_url
echo "server at $url"

# req NAME STATUS CURL-ARGS... : the status must match; a 4xx/5xx body must be
# JSON {"error": non-empty string}; the body is left in $tmp/body
req() {
    local name=$1 want=$2; shift 2
    local got
    got=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@")
    if [ "$got" != "$want" ]; then
        total=$((total + 1)); fail=$((fail + 1))
        echo "FAIL $name: status $got, expected $want: $(head -c 300 "$tmp/body")"
        return 1
    fi
    if [ "$want" -ge 400 ]; then
        check "$name" python3 -c "
import json,sys
o=json.load(open('$tmp/body'))
assert isinstance(o.get('error'),str) and o['error'], o
assert open('$tmp/headers').read().lower().count('content-type: application/json'), 'not JSON'"
    else
        total=$((total + 1)); echo "ok   $name"
    fi
}
json_check() { # json_check NAME PYTHON (o = the parsed $tmp/body)
    check "$1" python3 -c "
import json
o=json.load(open('$tmp/body'))
$2"
}

# ---------------------------------------------------------------- the good paths
req health 200 "$url/api/health"
json_check health_body "assert o['status']=='ok' and o['images']==$n0, o"

req search_text 200 "$url/api/search?q=a%20dog%20on%20a%20couch&k=15"
json_check search_15_desc "
import os
r=o['results']
assert o['query']=='a dog on a couch' and isinstance(o['took_ms'],float), o
assert len(r)==15, len(r)
s=[x['score'] for x in r]
assert s==sorted(s,reverse=True), s
assert len({x['id'] for x in r})==15
for x in r:
    assert {'id','score','z','path','width','height','format','taken','taken_source','camera','thumbnail_url','image_url'} <= set(x) <= {'id','score','z','path','width','height','format','taken','taken_source','camera','gps','thumbnail_url','image_url'}, x
    assert x['thumbnail_url']=='/api/images/%d/thumbnail'%x['id'] and x['image_url']=='/api/images/%d'%x['id']
    assert x['path'].startswith(os.path.realpath('$photos')+'/') and x['width']>0 and x['height']>0"
cp "$tmp/body" "$tmp/search.json"
id1=$(python3 -c "import json; print(json.load(open('$tmp/search.json'))['results'][0]['id'])")
path1=$(python3 -c "import json; print(json.load(open('$tmp/search.json'))['results'][0]['path'])")

# the same query from the CLI gives the same ranking
"$seer" search --db "$tmp/db" --json "a dog on a couch" >"$tmp/cli.json"
check search_matches_cli python3 -c "
import json
a=[x['id'] for x in json.load(open('$tmp/search.json'))['results']]
b=[x['id'] for x in json.load(open('$tmp/cli.json'))['results']]
assert a==b, (a,b)"

req search_default_k 200 "$url/api/search?q=pizza"
json_check default_k_15 "assert len(o['results'])==15"
req search_k1 200 "$url/api/search?q=pizza&k=1"
json_check k1 "assert len(o['results'])==1"
req search_k100 200 "$url/api/search?q=pizza&k=100"
json_check k100 "assert len(o['results'])==100"
req search_json_post 200 -X POST -H 'Content-Type: application/json' -d '{"q": "a dog on a couch", "k": 15}' "$url/api/search"
json_check json_post_same "
a=[x['id'] for x in o['results']]
b=[x['id'] for x in json.load(open('$tmp/search.json'))['results']]
assert a==b"
req search_unicode 200 "$url/api/search?q=caf%C3%A9%20%E2%98%95%20%E7%8C%AB&k=3"
json_check unicode_echo "assert o['query']=='café ☕ 猫', o['query']"

req search_image_raw 200 -X POST -H 'Content-Type: image/jpeg' --data-binary "@$path1" "$url/api/search?k=5"
json_check image_raw_self_first "
r=o['results']
assert o['query'] is None and o['image']['format']=='jpeg', o
assert len(r)==5 and r[0]['id']==$id1 and r[0]['score']>0.999, r[0]
s=[x['score'] for x in r]; assert s==sorted(s,reverse=True)"
req search_image_multipart 200 -F "image=@$path1;type=image/jpeg" -F "note=x" "$url/api/search?k=3"
json_check image_multipart_self_first "assert o['results'][0]['id']==$id1, o['results'][0]"

req image_original 200 "$url/api/images/$id1"
check image_bytes cmp -s "$tmp/body" "$path1"
check image_ctype grep -qi '^content-type: image/jpeg' "$tmp/headers"
check image_nosniff grep -qi '^x-content-type-options: nosniff' "$tmp/headers"
req thumbnail 200 "$url/api/images/$id1/thumbnail"
check thumb_jpeg python3 -c "assert open('$tmp/body','rb').read(3)==b'\xff\xd8\xff'"
check thumb_cache grep -qi '^cache-control: .*max-age' "$tmp/headers"
check thumb_ctype grep -qi '^content-type: image/jpeg' "$tmp/headers"

req stats 200 "$url/api/stats"
json_check stats_body "
assert o['images']==$n0 and o['index']['size']==$n0 and o['index']['kind']=='flat', o
assert o['counters']['text_searches']>=5 and o['counters']['image_searches']>=2, o['counters']"

req page 200 "$url/"
check page_html grep -q '<ul id="results"' "$tmp/body"
check page_chat_honest grep -q 'chat: not available' "$tmp/body"
check page_csp grep -qi '^content-security-policy:' "$tmp/headers"
req page_js 200 "$url/app.js"
check page_js_ctype grep -qi '^content-type: text/javascript' "$tmp/headers"
req page_css 200 "$url/style.css"

# ---------------------------------------------------------------- bad requests
req missing_q          400 "$url/api/search"
req missing_q_k        400 "$url/api/search?k=5"
req empty_q            400 "$url/api/search?q="
req blank_q            400 "$url/api/search?q=%20%20%09"
req k_zero             400 "$url/api/search?q=dog&k=0"
req k_negative         400 "$url/api/search?q=dog&k=-3"
req k_huge             400 "$url/api/search?q=dog&k=101"
req k_overflow         400 "$url/api/search?q=dog&k=99999999999999999999999"
req k_not_number       400 "$url/api/search?q=dog&k=ten"
req k_empty            400 "$url/api/search?q=dog&k="
req q_too_long         400 "$url/api/search?q=$(head -c 1001 /dev/zero | tr '\0' a)"
req q_not_utf8         400 "$url/api/search?q=%FF%FEdog"
req q_nul              400 -X POST -H 'Content-Type: application/json' -d '{"q": "a\u0000b"}' "$url/api/search"
req json_malformed     400 -X POST -H 'Content-Type: application/json' -d '{"q": "dog"' "$url/api/search"
req json_garbage       400 -X POST -H 'Content-Type: application/json' -d 'not json at all' "$url/api/search"
req json_not_object    400 -X POST -H 'Content-Type: application/json' -d '["dog"]' "$url/api/search"
req json_q_not_string  400 -X POST -H 'Content-Type: application/json' -d '{"q": 5}' "$url/api/search"
req json_k_bad         400 -X POST -H 'Content-Type: application/json' -d '{"q": "dog", "k": 0}' "$url/api/search"
req json_k_float       400 -X POST -H 'Content-Type: application/json' -d '{"q": "dog", "k": 2.5}' "$url/api/search"
req json_dup_keys      400 -X POST -H 'Content-Type: application/json' -d '{"q": "dog", "q": "cat"}' "$url/api/search"
# 2040 nested arrays: the JSON parser recurses deeper than civetweb's thread stacks allow
python3 -c "print('{\"q\": ' + '[' * 2040 + ']' * 2040 + '}')" >"$tmp/deep.json"
req json_deep_nesting  400 -X POST -H 'Content-Type: application/json' --data-binary "@$tmp/deep.json" "$url/api/search"
head -c 100000 /dev/urandom >"$tmp/noise.bin"
req upload_not_image   400 -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$tmp/noise.bin" "$url/api/search"
req upload_text        400 -X POST -H 'Content-Type: text/plain' --data-binary 'hello, not an image' "$url/api/search"
req upload_multipart_text 400 -F "image=@$tmp/noise.bin;filename=x.jpg" "$url/api/search"
req upload_empty       400 -X POST -H 'Content-Type: image/jpeg' --data-binary '' "$url/api/search"
head -c 2000 "$photos/larger/horse-and-ship-test0101-512x256.jpg" >"$tmp/truncated.jpg" # a larger JPEG cut short
req upload_truncated   400 -X POST -H 'Content-Type: image/jpeg' --data-binary "@$tmp/truncated.jpg" "$url/api/search"
head -c $((1024 * 1024 + 1)) /dev/urandom >"$tmp/big.bin"
req upload_too_large   413 -X POST -H 'Content-Type: image/jpeg' --data-binary "@$tmp/big.bin" "$url/api/search"
req upload_too_large_multipart 413 -F "image=@$tmp/big.bin" -F "pad=@$tmp/big.bin" "$url/api/search"
req upload_too_large_chunked 413 -X POST -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary "@$tmp/big.bin" "$url/api/search"
python3 - "$tmp/bomb.png" <<'EOF'
import struct, sys, zlib
# a PNG header claiming 60000 x 60000 pixels (3.6 Gpx): refused before decoding
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
ihdr = struct.pack('>IIBBBBB', 60000, 60000, 8, 2, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 100)) + chunk(b'IEND', b''))
EOF
req upload_bomb        413 -X POST -H 'Content-Type: image/png' --data-binary "@$tmp/bomb.png" "$url/api/search"
req multipart_no_boundary 400 -X POST -H 'Content-Type: multipart/form-data' --data-binary 'xx' "$url/api/search"
req multipart_broken   400 -X POST -H 'Content-Type: multipart/form-data; boundary=abc' --data-binary $'--abc\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nno end' "$url/api/search"
req search_put         405 -X PUT --data-binary x "$url/api/search"
check search_put_allow grep -qi '^allow: GET, POST' "$tmp/headers"

req unknown_id         404 "$url/api/images/99999999"
req unknown_id_thumb   404 "$url/api/images/99999999/thumbnail"
req id_zero            400 "$url/api/images/0"
req id_negative        400 "$url/api/images/-1"
req id_not_number      400 "$url/api/images/abc"
req id_overflow        400 "$url/api/images/184467440737095516160"
req id_hex             400 "$url/api/images/0x10"
req id_empty           400 "$url/api/images/"
req id_bad_suffix      404 "$url/api/images/$id1/original"
req traversal_dotdot   400 --path-as-is "$url/api/images/../../../../etc/passwd"
req traversal_in_id    400 --path-as-is "$url/api/images/1/../../etc/passwd"
req traversal_encoded  400 --path-as-is "$url/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd"
req traversal_encoded2 400 --path-as-is "$url/api/images/..%2f..%2fetc%2fpasswd"
req traversal_backslash 400 --path-as-is "$url/api/images/..%5c..%5cetc%5cpasswd"
req traversal_page     404 --path-as-is "$url/../../../etc/passwd"
req traversal_page_enc 404 --path-as-is "$url/%2e%2e/%2e%2e/etc/passwd"
check traversal_no_leak bash -c "! grep -q 'root:' '$tmp/body'"
req unknown_endpoint   404 "$url/api/nope"
req unknown_page       404 "$url/index.php"
req images_post        405 -X POST --data-binary x "$url/api/images/$id1"
req health_post        405 -X POST "$url/api/health"

# ---------------------------------------------------------------- still serving
req still_serving 200 "$url/api/search?q=a%20dog%20on%20a%20couch&k=15"
json_check still_same_results "
a=[x['id'] for x in o['results']]
b=[x['id'] for x in json.load(open('$tmp/search.json'))['results']]
assert a==b"
check still_alive kill -0 "$main_pid"
req stats_errors 200 "$url/api/stats"
json_check stats_counts_4xx "assert o['counters']['errors_4xx']>=40 and o['counters']['errors_5xx']==0, o['counters']"

# ---------------------------------------------------------------- an ingest while serving
mkdir -p "$tmp/more"
cp "$src"/tests/data/clip/inputs/*.png "$src"/tests/data/vlm/image.png "$tmp/more/" # 5 new pictures
"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$tmp/more"
check ingest_while_serving_rc test $? -eq 0
n=0
for _ in $(seq 1 50); do
    n=$(curl -s "$url/api/health" | python3 -c "import json,sys; print(json.load(sys.stdin)['images'])")
    [ "$n" = $((n0 + 5)) ] && break
    sleep 0.2
done
check reload_picks_up_ingest test "$n" = $((n0 + 5))

# ---------------------------------------------------------------- stop
kill -TERM "$main_pid"
wait "$main_pid"
check sigterm_exit_0 test $? -eq 0
check sigterm_message grep -q 'SIGTERM received' "$tmp/main.err"

# ---------------------------------------------------------------- the image queue: 503 when full
start_server busy --image-slots 1 --image-queue 0 --reload 0 || exit 1
: >"$tmp/codes"
cpids=()
for i in $(seq 1 24); do
    curl -s -o "$tmp/busy.$i" -D "$tmp/busyh.$i" -w '%{http_code}\n' -X POST -H 'Content-Type: image/jpeg' \
        --data-binary "@$path1" "$busy_url/api/search" >>"$tmp/codes" &
    cpids+=($!)
done
wait "${cpids[@]}"
check queue_only_200_503 bash -c "! grep -qv -e '^200\$' -e '^503\$' '$tmp/codes'"
check queue_some_503 grep -q '^503$' "$tmp/codes"
check queue_some_200 grep -q '^200$' "$tmp/codes"
check queue_503_retry_after bash -c "grep -li '^retry-after: 1' '$tmp'/busyh.* | head -1 | grep -q ."
check queue_503_json bash -c "grep -l 'server busy' '$tmp'/busy.[0-9]* | head -1 | grep -q ."
req busy_recovers 200 "$busy_url/api/health"
kill -INT "$busy_pid"; wait "$busy_pid"
check sigint_exit_0 test $? -eq 0

# ---------------------------------------------------------------- token
start_server tok --token 's3cret-token' --reload 0 || exit 1
req token_missing      401 "$tok_url/api/search?q=dog"
check token_www_auth   grep -qi '^www-authenticate: bearer' "$tmp/headers"
req token_wrong        401 -H 'Authorization: Bearer s3cret-tokeX' "$tok_url/api/search?q=dog"
req token_prefix       401 -H 'Authorization: Bearer s3cret' "$tok_url/api/search?q=dog"
req token_longer       401 -H 'Authorization: Bearer s3cret-token2' "$tok_url/api/search?q=dog"
req token_basic        401 -H 'Authorization: Basic czNjcmV0LXRva2Vu' "$tok_url/api/health"
req token_ok           200 -H 'Authorization: Bearer s3cret-token' "$tok_url/api/search?q=dog"
req token_query        200 "$tok_url/api/images/$id1/thumbnail?access_token=s3cret-token"
req token_page_free    200 "$tok_url/"
kill -TERM "$tok_pid"; wait "$tok_pid"
check token_exit_0 test $? -eq 0

# exposing the API needs a token
"$seer" serve --db "$tmp/db" --listen 0.0.0.0:0 >/dev/null 2>"$tmp/exposed.err"
check exposed_refused test $? -eq 1
check exposed_message grep -q -- '--token' "$tmp/exposed.err"
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:99999 >/dev/null 2>&1
check bad_listen test $? -eq 1
"$seer" serve --db "$tmp/nonexistent" >/dev/null 2>&1
check missing_db test $? -eq 1
"$seer" serve >/dev/null 2>&1
check usage test $? -eq 2

echo "$((total - fail)) passed, $fail failed"
[ $fail -eq 0 ]
