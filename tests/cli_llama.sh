#!/usr/bin/env bash
# tests/cli_llama.sh — the LLaMA-2 chat models from the command line, on the
# tiny chain of tests/data/llama (tests/reference/llama_vlm_ref.py): the
# adaptor config (blip2-tiny + llama-tiny + adaptor, safetensors and .pth)
# through seer logits --image (prompt ids with -200, last logits) and seer
# chat --json (greedy answer ids); seer generate / seer logits on the
# LLaMA-2 directory (BOS first, the reference's text-only prompt); a config
# whose adaptor does not fit. Needs no ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0
py=python3
command -v "$py" >/dev/null || py=/usr/bin/python3
d=$src/tests/data/llama
img=$src/tests/data/clip/inputs/rgb_61x45.png
q="What is in this image?"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0

for cfg in chat.json chat_pth.json; do
    "$seer" logits --model "$d/$cfg" --image "$img" --prompt "$q" >"$tmp/logits.json" 2>"$tmp/err"; rc=$?
    check "${cfg}_logits_rc" test $rc -eq 0; n=$((n + 1))
    check "${cfg}_logits_json" "$py" -c "
import json
o = json.load(open('$tmp/logits.json'))
ref = json.load(open('$d/golden.json'))['vlm']
assert o['ids'] == ref['ids'], (o['ids'], ref['ids'])
a, b = o['logits'], ref['last_logits']
assert len(a) == len(b)
assert max(abs(x - y) for x, y in zip(a, b)) <= 5e-5
"; n=$((n + 1))
    "$seer" chat --model "$d/$cfg" --image "$img" --prompt "$q" --json --temperature 0 --max-tokens 8 \
        >"$tmp/chat.json" 2>"$tmp/err"; rc=$?
    check "${cfg}_chat_rc" test $rc -eq 0; n=$((n + 1))
    check "${cfg}_chat_json" "$py" -c "
import json
o = json.load(open('$tmp/chat.json'))
ref = json.load(open('$d/golden.json'))['vlm']
assert o['ids'] == ref['greedy'], (o['ids'], ref['greedy'])
"; n=$((n + 1))
done

# text only: seer logits / generate on the LLaMA-2 directory, the template written out
p0=$("$py" -c "import json;print(json.load(open('$d/golden.json'))['prompts'][0]['question'])")
"$seer" logits --model "$d/llama-tiny" --prompt "[INST] $p0 [/INST]" >"$tmp/t.json" 2>"$tmp/err"; rc=$?
check text_logits_rc test $rc -eq 0; n=$((n + 1))
check text_logits_json "$py" -c "
import json
o = json.load(open('$tmp/t.json'))
ref = json.load(open('$d/golden.json'))['prompts'][0]
assert o['ids'] == ref['ids'], (o['ids'], ref['ids'])
assert max(abs(x - y) for x, y in zip(o['logits'], ref['last_logits'])) <= 2e-5
"; n=$((n + 1))
"$seer" generate --model "$d/llama-tiny" --prompt "[INST] $p0 [/INST]" --temperature 0 --max-tokens 8 --json \
    >"$tmp/g.json" 2>"$tmp/err"; rc=$?
check text_generate "$py" -c "
import json
assert json.load(open('$tmp/g.json'))['ids'] == json.load(open('$d/golden.json'))['prompts'][0]['greedy']
"; n=$((n + 1))
# seer chat on the directory: the template is built by seer (same ids, same answer)
"$seer" chat --model "$d/llama-tiny" --prompt "$p0" --json --temperature 0 --max-tokens 8 >"$tmp/c.json" 2>"$tmp/err"; rc=$?
check text_chat "$py" -c "
import json
assert json.load(open('$tmp/c.json'))['ids'] == json.load(open('$d/golden.json'))['prompts'][0]['greedy']
"; n=$((n + 1))

# an adaptor that does not fit the Q-Former: exit 1, the message says why
cat >"$tmp/bad.json" <<JSON
{"architecture": "blip2-linear-llama", "vision": "$src/tests/data/blip2-tiny",
 "language_model": "$d/llama-tiny", "adaptor": "$d/llama-tiny/model.safetensors"}
JSON
"$seer" chat --model "$tmp/bad.json" --image "$img" --prompt "$q" >/dev/null 2>"$tmp/err"; rc=$?
check bad_adaptor_rc test $rc -eq 1; n=$((n + 1))
check bad_adaptor_msg grep -q "no adaptor weights" "$tmp/err"; n=$((n + 1))

# the server: --chat-model takes the config; /api/chat streams the same greedy answer as seer chat
if command -v curl >/dev/null; then
    mkdir -p "$tmp/photos" && cp "$img" "$tmp/photos/picture.png"
    "$seer" ingest --db "$tmp/db" --model "$src/models/demo/clip" --quiet "$tmp/photos" >/dev/null 2>&1
    "$seer" chat --model "$d/chat.json" --image "$img" --prompt "$q" --json --temperature 0 --max-tokens 8 \
        >"$tmp/cli.json" 2>/dev/null
    "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 --chat-model "$d/chat.json" --chat-workers 1 \
        >"$tmp/out" 2>"$tmp/serr" &
    spid=$!
    url=$(server_url "$spid" "$tmp/out")
    check serve_started test -n "$url"; n=$((n + 1))
    check serve_chat "$py" - "${url%/}" "$tmp/cli.json" "$q" <<'PY'
import json, sys, urllib.request
url, cli, q = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
s = json.load(urllib.request.urlopen(url + '/api/search?q=picture&k=1'))
pid = s['results'][0]['id']
req = urllib.request.Request(url + '/api/chat', data=json.dumps({'image_id': pid, 'temperature': 0, 'max_tokens': 8,
                             'messages': [{'role': 'user', 'content': q}]}).encode(),
                             headers={'Content-Type': 'application/json'})
body = urllib.request.urlopen(req, timeout=120).read().decode()
done = None
for block in body.split('\n\n'):
    lines = block.split('\n')
    if lines and lines[0] == 'event: done':
        done = json.loads(''.join(l[6:] for l in lines[1:] if l.startswith('data: ')))
assert done is not None, body[-300:]
assert done['text'] == cli['text'], (done['text'], cli['text'])
PY
    n=$((n + 1))
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
fi

echo "$((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
