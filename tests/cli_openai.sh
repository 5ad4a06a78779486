#!/usr/bin/env bash
# tests/cli_openai.sh — seer serve's OpenAI-compatible API (/v1/) through the
# official OpenAI JavaScript SDK (tests/openai/, pinned in its
# package-lock.json; tools/test.sh runs npm ci there), against a server with
# the bundled demo models (models/demo/clip for search and embeddings,
# models/demo/moe-llava for chat, its tower found beside it without
# --models-root) and a token. tests/openai/openai.test.mjs checks:
#   - models.list / retrieve; chat non-streamed and streamed with a data:
#     image and with seer:image/ID, greedy answers equal to `seer chat --json`
#     on the same image and question; usage; a system message; a follow-up;
#     stop strings; the sampling options, num_beams; a text-only chat;
#   - embeddings (base64, which the SDK asks for, and float; a data: image as
#     the extension) equal to `seer embed`;
#   - bad requests (unknown model, two images, remote URL, bad base64, not an
#     image, unknown content part, empty messages, unknown stored image,
#     context overflow, n=2, wrong token, ...) each get an OpenAI-shaped error
#     with its status, and the server keeps answering.
# This script adds: the Host and Origin rules hold for /v1/ (curl), the raw
# stream ends with `data: [DONE]`, and `seer chat` without an image says so.
# Skips (77) without curl, node or tests/openai/node_modules; nothing from ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
clip=$src/models/demo/clip
llava=$src/models/demo/moe-llava
command -v curl >/dev/null || { echo "SKIP: curl is missing"; exit 77; }
command -v node >/dev/null || { echo "SKIP: node is missing"; exit 77; }
if [ ! -d "$src/tests/openai/node_modules/openai" ]; then
    echo "SKIP: tests/openai/node_modules is missing (run: cd tests/openai && npm ci)"; exit 77
fi
fail=0 total=0
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

img=$src/tests/data/vlm/image.png
mkdir -p "$tmp/photos"
cp "$img" "$tmp/photos/picture.png"
"$seer" ingest --db "$tmp/db" --model "$clip" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }

# ---------------------------------------------------------------- what the CLI says
q="What is in the picture?"
max=24
# run from elsewhere: the tower is found beside the checkpoint, not through the working directory
(cd "$tmp" && "$seer" chat --model "$llava" --image "$img" --prompt "$q" --json --temperature 0 --max-tokens $max \
    >"$tmp/cli.json" 2>"$tmp/cli.err")
check cli_chat_finds_demo_tower test -s "$tmp/cli.json"
(cd "$tmp" && "$seer" chat --model "$llava" --prompt "Hello" --max-tokens 4 >"$tmp/noimg.out" 2>"$tmp/noimg.err")
check cli_chat_says_no_image grep -qi "no image" "$tmp/noimg.err"
texts=("a red square" "a photo of a dog on a beach" "ein Haus")
targs=()
for t in "${texts[@]}"; do targs+=(--text "$t"); done
"$seer" embed --model "$clip" "${targs[@]}" --image "$img" >"$tmp/embed.jsonl" || { echo "FAIL seer embed"; exit 1; }
id=$("$seer" search --db "$tmp/db" --json --k 1 "a picture" | python3 -c 'import json, sys; print(json.load(sys.stdin)["results"][0]["id"])')
[ -n "$id" ] || { echo "FAIL seer search gave no id"; exit 1; }
python3 - "$tmp" "$img" "$q" "$max" "$id" "${texts[@]}" <<'PY' || { echo "FAIL expect.json"; exit 1; }
import base64, json, sys
tmp, img, q, mx, iid, texts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
cli = json.load(open(tmp + '/cli.json'))
byin = {r['input']: r['embedding'] for r in map(json.loads, open(tmp + '/embed.jsonl'))}
json.dump({'chat_id': 'moe-llava', 'clip_id': 'clip', 'image_b64': base64.b64encode(open(img, 'rb').read()).decode(),
           'image_id': iid, 'question': q, 'max_tokens': mx, 'cli_answer': cli['text'], 'cli_tokens': len(cli['ids']),
           'texts': texts, 'embeddings': [byin[t] for t in texts], 'image_embedding': byin[img]},
          open(tmp + '/expect.json', 'w'))
PY

# ---------------------------------------------------------------- the server
token=openai-test-token
SEER_TOKEN=$token "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 --chat-model "$llava" \
    --chat-workers 1 >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
url=${url%/}
echo "server at $url"
auth=(-H "Authorization: Bearer $token")

node "$src/tests/openai/openai.test.mjs" "$url" "$token" "$tmp/expect.json"; rc=$?
check sdk_checks test $rc -eq 0

# ---------------------------------------------------------------- raw HTTP: the same rules as /api/
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check v1_needs_token test "$(code "$url/v1/models")" = 401
check v1_foreign_host test "$(code "${auth[@]}" -H 'Host: evil.example' "$url/v1/models")" = 403
body='{"model":"clip","input":"a cat"}'
check v1_cross_origin test "$(code "${auth[@]}" -H 'Origin: http://evil.example' -H 'Content-Type: application/json' \
    -d "$body" "$url/v1/embeddings")" = 403
check v1_cross_site test "$(code "${auth[@]}" -H 'Sec-Fetch-Site: cross-site' -H 'Content-Type: application/json' \
    -d "$body" "$url/v1/embeddings")" = 403
check v1_not_json test "$(code "${auth[@]}" -H 'Content-Type: text/plain' -d "$body" "$url/v1/embeddings")" = 415
check v1_unknown_path test "$(code "${auth[@]}" "$url/v1/completions")" = 404
check v1_error_shape bash -c "curl -s ${auth[*]@Q} '$url/v1/nothing' | python3 -c 'import json,sys; e=json.load(sys.stdin)[\"error\"]; assert e[\"type\"]==\"invalid_request_error\" and e[\"message\"]'"
printf '{"model":"moe-llava","temperature":0,"max_tokens":4,"stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$tmp/s.json"
curl -sN "${auth[@]}" -H 'Content-Type: application/json' -d @"$tmp/s.json" "$url/v1/chat/completions" >"$tmp/stream.txt"
check stream_ends_with_done bash -c "tail -c 16 '$tmp/stream.txt' | grep -q 'data: \[DONE\]'"
check stream_is_sse grep -q '^data: {"id":"chatcmpl-' "$tmp/stream.txt"
deep=$(python3 -c 'print("{\"model\":\"clip\",\"input\":" + "["*200 + "]"*200 + "}")')
check v1_json_depth test "$(code "${auth[@]}" -H 'Content-Type: application/json' -d "$deep" "$url/v1/embeddings")" = 400
check still_serving test "$(code "${auth[@]}" "$url/v1/models")" = 200

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check sigterm_exit_0 test $rc -eq 0
echo "$((total - fail))/$total passed"
[ $fail -eq 0 ]
