#!/usr/bin/env bash
# tests/cli_serve_prepare.sh — POST /api/chat/prepare and the server's
# prepared-image cache (--chat-cache-mb): a store of three pictures, the tiny
# MoE-LLaVA fixture tests/data/vlm/stablelm-clip, two chat workers. Checked
# over HTTP (python3):
#   - prepare by stored id → 202 {prepare_id, image_id, state}; the image is
#     ready in /api/stats (chat.prepared: images 1, tower_runs 1); the
#     question then reports image_cached and answers what `seer chat --json
#     --temperature 0` answers (prepared = unprepared);
#   - a question sent right after its prepare (on the other worker) waits for
#     it: the tower runs once for that image (tower_runs counts it);
#   - prepare by multipart upload → 202; the same picture uploaded with the
#     question then uses it (no new tower run);
#   - bad input: unknown id 404, no image 400, both 400, bad id 400, GET 405,
#     text/plain 415; /stop of an unknown id 404;
#   - --chat-cache-mb 0: nothing kept, answers still right;
#   - chat-cache-mb in the settings file; SIGTERM → exit 0.
# Skips (77) without curl; nothing from ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
clip=$src/models/demo/clip
command -v curl >/dev/null || { echo "SKIP: curl is missing"; exit 77; }
d=$src/tests/data/vlm
chat_args=(--chat-model "$d/stablelm-clip" --vision-tower "$d/towers/clip-vit-tiny-patch14-42")
fail=0 total=0
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/photos"
cp "$d/image.png" "$tmp/photos/picture.png"
python3 - "$tmp/photos" <<'EOF'
import struct, sys, zlib
def png(path, w, h, rgb):
    raw = b''.join(b'\0' + bytes(rgb) * w for _ in range(h))
    ch = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + ch(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                           + ch(b'IDAT', zlib.compress(raw)) + ch(b'IEND', b''))
png(sys.argv[1] + '/red.png', 64, 48, (200, 30, 30))
png(sys.argv[1] + '/blue.png', 40, 40, (30, 30, 200))
EOF
"$seer" ingest --db "$tmp/db" --model "$clip" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }

q="What is in the picture?"
"$seer" chat --model "$d/stablelm-clip" --vision-tower "$d/towers/clip-vit-tiny-patch14-42" --image "$d/image.png" \
    --prompt "$q" --json --temperature 0 --max-tokens 8 >"$tmp/cli.json" 2>"$tmp/cli.err"
check cli_chat_ran test -s "$tmp/cli.json"

start() {   # start ARGS...: the server, url in $url
    "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 "$@" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    url=$(server_url "$pid" "$tmp/out")
    [ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
    url=${url%/}
}
stop() {
    kill -TERM "$pid"; wait "$pid"; local rc=$?
    pid=
    check "sigterm_exit_0_$1" test $rc -eq 0
}

cat >"$tmp/client.py" <<'EOF'
import http.client, json, sys, time, urllib.parse, uuid
url, tmp, q, image, mode = sys.argv[1:6]
u = urllib.parse.urlparse(url)
fails = 0
def check(name, cond, detail=''):
    global fails
    print(('ok   ' if cond else 'FAIL ') + name + ('' if cond else ': ' + str(detail)[:400]))
    if not cond: fails += 1
def request(method, path, body=None, ctype='application/json'):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    h = {}
    if body is not None:
        if isinstance(body, (dict, list)): body = json.dumps(body).encode()
        h['Content-Type'] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    b = r.read(); c.close()
    return r.status, b
def js(method, path, body=None, ctype='application/json'):
    st, b = request(method, path, body, ctype)
    try: return st, json.loads(b)
    except Exception: return st, b
def sse(b):
    out, ev = [], None
    for line in b.decode().split('\n'):
        if line.startswith('event: '): ev = line[7:]
        elif line.startswith('data: '): out.append((ev, json.loads(line[6:])))
    return out
def chat(payload, ctype='application/json'):
    st, b = request('POST', '/api/chat', payload, ctype)
    ev = sse(b) if st == 200 else []
    return st, dict(ev).get('done'), b
def multipart(fields):
    bd = uuid.uuid4().hex
    out = b''
    for name, (fname, data, ct) in fields.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"%s\r\nContent-Type: %s\r\n\r\n'
                % (bd, name, '; filename="%s"' % fname if fname else '', ct)).encode() + data + b'\r\n'
    return out + ('--%s--\r\n' % bd).encode(), 'multipart/form-data; boundary=' + bd
def prepared():
    return js('GET', '/api/stats')[1]['chat']['prepared']
def wait_ready(n, what):
    for _ in range(600):
        p = prepared()
        if p['images'] >= n and p['preparing'] == 0: return p
        time.sleep(0.05)
    check(what, False, prepared())
    return prepared()

cli = json.load(open(tmp + '/cli.json'))
st, s = js('GET', '/api/search?q=picture&k=3')
ids = {x['path'].rsplit('/', 1)[1]: x['id'] for x in s['results']}
pic, red, blue = ids['picture.png'], ids['red.png'], ids['blue.png']
msgs = [{'role': 'user', 'content': q}]
greedy = {'messages': msgs, 'temperature': 0, 'max_tokens': 8}

if mode == 'main':
    p0 = prepared()
    check('stats_prepared', p0['images'] == 0 and p0['tower_runs'] == 0 and p0['budget_bytes'] == 8 << 20, p0)
    st, o = js('POST', '/api/chat/prepare', {'image_id': pic})
    check('prepare_202', st == 202 and len(o.get('prepare_id', '')) == 16 and o['image_id'] == pic
          and o['state'] == 'queued', (st, o))
    p = wait_ready(1, 'prepare_ready')
    check('prepare_one_tower_run', p['tower_runs'] == 1 and p['images'] == 1 and p['bytes'] > 0, p)
    st, done, b = chat(dict(greedy, image_id=pic))
    check('prepared_answer_200', st == 200 and done is not None, b[:300])
    if done:
        check('prepared_image_cached', done['timing']['image_cached'] is True, done['timing'])
        check('prepared_equals_cli', done['text'].strip() == cli['text'].strip(), (done['text'], cli['text']))
    check('question_no_new_tower_run', prepared()['tower_runs'] == 1, prepared())
    # a question right after its prepare: waits for it, one tower run
    st, o = js('POST', '/api/chat/prepare', {'image_id': red})
    check('prepare_red_202', st == 202, (st, o))
    st, done, b = chat(dict(greedy, image_id=red))
    check('racing_question_200', st == 200 and done is not None, b[:300])
    p = prepared()
    check('racing_one_tower_run', p['tower_runs'] == 2, p)
    # upload
    body, ct = multipart({'image': ('blue.png', open(tmp + '/photos/blue.png', 'rb').read(), 'image/png')})
    st, o = js('POST', '/api/chat/prepare', body, ct)
    check('prepare_upload_202', st == 202 and o['image_id'] is None, (st, o))
    wait_ready(3, 'prepare_upload_ready')
    body, ct = multipart({'image': ('blue.png', open(tmp + '/photos/blue.png', 'rb').read(), 'image/png'),
                          'payload': (None, json.dumps(greedy).encode(), 'application/json')})
    st, done, b = chat(body, ct)
    check('upload_question_cached', st == 200 and done and done['timing']['image_cached'] is True, b[:300])
    check('upload_no_new_tower_run', prepared()['tower_runs'] == 3, prepared())
    # the picture again after the others: still prepared (from a worker's session or the cache)
    st, done, b = chat(dict(greedy, image_id=pic))
    check('reopen_cached', st == 200 and done and done['timing']['image_cached'] is True
          and done['text'].strip() == cli['text'].strip(), b[:300])
    # bad input
    st, o = js('POST', '/api/chat/prepare', {'image_id': 999999})
    check('prepare_unknown_404', st == 404 and 'error' in o, (st, o))
    st, o = js('POST', '/api/chat/prepare', {})
    check('prepare_no_image_400', st == 400, (st, o))
    st, o = js('POST', '/api/chat/prepare', {'image_id': 'x1'})
    check('prepare_bad_id_400', st == 400, (st, o))
    st, o = js('POST', '/api/chat/prepare', b'{"image_id": 1', 'application/json')
    check('prepare_malformed_400', st == 400, (st, o))
    body, ct = multipart({'image': ('blue.png', open(tmp + '/photos/blue.png', 'rb').read(), 'image/png'),
                          'payload': (None, json.dumps({'image_id': pic}).encode(), 'application/json')})
    st, o = js('POST', '/api/chat/prepare', body, ct)
    check('prepare_both_400', st == 400, (st, o))
    st, o = js('GET', '/api/chat/prepare')
    check('prepare_get_405', st == 405, (st, o))
    st, o = js('POST', '/api/chat/prepare', b'image_id=1', 'text/plain')
    check('prepare_text_415', st == 415, (st, o))
    st, o = js('POST', '/api/chat/0123456789abcdef/stop', {})
    check('stop_unknown_404', st == 404, (st, o))
    st, o = js('POST', '/api/chat/prepare/0123456789abcdef/stop', {})
    check('prepare_stop_ended_200', st == 200 and o['stopping'] is False, (st, o))
    # stop a preparation: queued behind a long answer on both workers? simpler:
    # prepare the last picture and stop it at once; whether it was caught or had
    # finished, nothing is left half-made and the image still answers right
    st, o = js('POST', '/api/chat/prepare', {'image_id': blue})
    st2, o2 = js('POST', '/api/chat/prepare/%s/stop' % o['prepare_id'], {})
    check('prepare_stop_200', st == 202 and st2 == 200 and isinstance(o2.get('stopping'), bool), (st, o, st2, o2))
    for _ in range(600):
        if prepared()['preparing'] == 0: break
        time.sleep(0.05)
    check('prepare_stop_nothing_half', prepared()['preparing'] == 0, prepared())
else:   # --chat-cache-mb 0
    st, o = js('POST', '/api/chat/prepare', {'image_id': pic})
    check('nocache_prepare_202', st == 202, (st, o))
    for _ in range(600):
        if prepared()['preparing'] == 0 and js('GET', '/api/stats')[1]['chat']['sessions_cached'] >= 1: break
        time.sleep(0.05)
    p = prepared()
    check('nocache_nothing_kept', p['images'] == 0 and p['bytes'] == 0 and p['budget_bytes'] == 0, p)
    st, done, b = chat(dict(greedy, image_id=pic))
    check('nocache_answer', st == 200 and done and done['text'].strip() == cli['text'].strip(), b[:300])
sys.exit(1 if fails else 0)
EOF

start "${chat_args[@]}" --chat-workers 2 --chat-queue 4 --chat-cache-mb 8
check prepare_main python3 "$tmp/client.py" "$url" "$tmp" "$q" "$d/image.png" main
stop main

# chat-cache-mb from the settings file
printf 'chat-model = %s\nvision-tower = %s\nchat-cache-mb = 0\n' "$d/stablelm-clip" \
    "$d/towers/clip-vit-tiny-patch14-42" >"$tmp/seer.conf"
start --config "$tmp/seer.conf"
check prepare_nocache python3 "$tmp/client.py" "$url" "$tmp" "$q" "$d/image.png" nocache
stop nocache
printf 'chat-model = %s\nchat-cache-mb = lots\n' "$d/stablelm-clip" >"$tmp/bad.conf"
timeout -s KILL 30 "$seer" serve --config "$tmp/bad.conf" --db "$tmp/db" --listen 127.0.0.1:0 >/dev/null 2>"$tmp/bad.err"
check settings_bad_value grep -q "chat-cache-mb" "$tmp/bad.err"

echo "$((total - fail))/$total checks passed"
[ $fail -eq 0 ]
