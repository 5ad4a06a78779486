#!/usr/bin/env bash
# tests/cli_demo.sh — the main command's pipeline (tools/demo.sh) end to end
# with the bundled demo models (models/demo/, docs/demo-model.md) on the
# committed sample photos (samples/): everything it reads is in the
# repository, nothing from ../shared.
#   - seer ingest of samples/cifar10 (300 held-out CIFAR-10 test images) with
#     models/demo/clip;
#   - seer search --json "a photo of a horse" --k 10: at least MIN_HORSES
#     horses (below the measured held-out precision@10, docs/demo-model.md);
#   - seer chat with models/demo/moe-llava, "What is in this picture?" at
#     temperature 0 on a held-out horse: the answer says "horse"; the tower
#     is found through --models-root (mm_image_tower "models/demo/clip");
#   - when this build's seer serve has --chat-model: the server started the
#     way tools/demo.sh starts it prints its URL, GET /api/search finds
#     horses, POST /api/chat answers with "horse".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
MIN_HORSES=6
HORSE=$src/samples/cifar10/horse/0001.jpg
clip=$src/models/demo/clip
chat=$src/models/demo/moe-llava
fail=0
py=python3
command -v "$py" >/dev/null || py=/usr/bin/python3
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$seer" ingest --quiet --db "$tmp/db" --model "$clip" "$src/samples/cifar10"
check ingest test $? -eq 0
check ingest_count "$py" -c "
import json, subprocess, sys
o = subprocess.run(['$seer', 'search', '--db', '$tmp/db', '--json', '--k', '1000', 'a photo'], capture_output=True, text=True, check=True)
assert len(json.loads(o.stdout)['results']) == 300"

"$seer" search --db "$tmp/db" --json --k 10 "a photo of a horse" >"$tmp/search.json"
check search_rc test $? -eq 0
check search_horses "$py" -c "
import json, os
r = json.load(open('$tmp/search.json'))['results']
n = sum(os.path.basename(os.path.dirname(x['path'])) == 'horse' for x in r)
print('     horses in the top 10:', n, '(at least $MIN_HORSES)')
assert len(r) == 10 and n >= $MIN_HORSES"

"$seer" chat --model "$chat" --models-root "$src" --image "$HORSE" --prompt "What is in this picture?" \
    --temperature 0 --json >"$tmp/chat.json"
check chat_rc test $? -eq 0
check chat_says_horse "$py" -c "
import json
t = json.load(open('$tmp/chat.json'))['text']
print('     answer:', repr(t))
assert 'horse' in t.lower()"
"$seer" chat --model "$chat" --models-root "$src/models/demo" --image "$HORSE" --prompt "What is in this picture?" \
    --temperature 0 >"$tmp/again.txt"
check chat_tower_by_basename grep -qi horse "$tmp/again.txt"

if "$seer" serve --help 2>&1 | grep -q -- '--chat-model'; then
    "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --chat-model "$chat" --models-root "$src" \
        >"$tmp/serve.out" 2>"$tmp/serve.err" &
    pid=$!
    url=$(server_url "$pid" "$tmp/serve.out")
    check serve_prints_url test -n "$url"
    if [ -n "$url" ]; then
        check http_search_and_chat "$py" - "${url%/}" <<'EOF'
import http.client, json, os, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
def request(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {}
    if body is not None:
        body = json.dumps(body).encode()
        h['Content-Type'] = 'application/json'
    c.request(method, path, body=body, headers=h)
    return c, c.getresponse()
c, r = request('GET', '/api/search?q=' + urllib.parse.quote('a photo of a horse') + '&k=10')
res = json.loads(r.read())['results']
c.close()
horses = [x for x in res if os.path.basename(os.path.dirname(x['path'])) == 'horse']
print('     http search: %d horses in the top 10' % len(horses))
assert len(horses) >= 6, res
c, r = request('POST', '/api/chat', {'image_id': horses[0]['id'], 'temperature': 0, 'max_tokens': 32,
                                     'messages': [{'role': 'user', 'content': 'What is in this picture?'}]})
assert r.status == 200, (r.status, r.read())
done = None
ev = None
for line in r.fp:
    line = line.decode().rstrip('\n')
    if line.startswith('event: '):
        ev = line[7:]
    elif line.startswith('data: ') and ev == 'done':
        done = json.loads(line[6:])
c.close()
print('     http chat:', repr(done and done.get('text')))
assert done and 'horse' in done['text'].lower()
EOF
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
else
    echo "skip serve: this build of seer serve has no --chat-model"
fi

[ "$fail" -eq 0 ] && echo "all passed" || echo "$fail failed"
exit $((fail > 0))
