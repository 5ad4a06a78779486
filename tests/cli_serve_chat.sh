#!/usr/bin/env bash
# tests/cli_serve_chat.sh — `seer serve --chat-model` (the server side of chat):
# a store of three pictures (tests/data/vlm/image.png and two generated PNGs,
# embedded with the demo CLIP of models/demo), the tiny MoE-LLaVA fixture
# tests/data/vlm/stablelm-clip as the chat model, one chat worker and no
# waiting line. Checked over HTTP (curl, python3):
#   - POST /api/chat streams server-sent events start, token..., done; the
#     tokens add up to done.text; done carries the router counts and timing;
#   - the greedy answer equals `seer chat --json --temperature 0` for the same
#     image and question, by stored id and by multipart upload;
#   - a follow-up (the conversation sent back) reuses the cached image and
#     the KV cache (only its new text runs, by the router counts);
#   - bad input → its 4xx with a JSON error: unknown image id (404), empty,
#     malformed, too long (turns, bytes) message lists, out-of-range sampling
#     options (400); a second answer while one runs → 503 + Retry-After;
#   - POST /api/chat/{rid}/stop ends a running answer (done.stop "cancelled");
#   - a client that disconnects mid-stream: the worker stops, and with
#     --chat-workers 1 --chat-queue 0 the next request is served (not 503);
#   - feedback: POST /api/feedback, GET /api/feedback, seer feedback --export;
#   - a chat model whose vision tower is missing: seer serve exits 1 naming
#     the paths it looked in; SIGTERM → exit 0.
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

# ---------------------------------------------------------------- a tower that is nowhere
timeout -s KILL 60 "$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --chat-model "$d/stablelm-clip" \
    --models-root "$tmp/nowhere" >"$tmp/notower.out" 2>"$tmp/notower.err"; rc=$?
check tower_missing_exit test $rc -eq 1
check tower_missing_names_paths grep -q "$tmp/nowhere/clip-vit-tiny-patch14-42" "$tmp/notower.err"
check tower_missing_no_url bash -c "! grep -q http:// '$tmp/notower.out'"

# ---------------------------------------------------------------- the server
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 "${chat_args[@]}" --chat-workers 1 --chat-queue 0 \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
url=${url%/}
echo "server at $url"

q="What is in the picture?"
"$seer" chat --model "$d/stablelm-clip" --vision-tower "$d/towers/clip-vit-tiny-patch14-42" --image "$d/image.png" \
    --prompt "$q" --json --temperature 0 --max-tokens 8 >"$tmp/cli.json" 2>"$tmp/cli.err"
check cli_chat_ran test -s "$tmp/cli.json"

python3 - "$url" "$tmp" "$q" "$d/image.png" <<'EOF'
import http.client, json, socket, sys, threading, time, urllib.parse, urllib.request, uuid
url, tmp, q, image = sys.argv[1:5]
u = urllib.parse.urlparse(url)
host, port = u.hostname, u.port
fails = 0
def check(name, cond, detail=''):
    global fails
    print(('ok   ' if cond else 'FAIL ') + name + ('' if cond else ': ' + str(detail)[:400]))
    if not cond: fails += 1

def request(method, path, body=None, ctype='application/json', headers=None):
    c = http.client.HTTPConnection(host, port, timeout=60)
    h = dict(headers or {})
    if body is not None:
        if isinstance(body, (dict, list)): body = json.dumps(body).encode()
        h['Content-Type'] = ctype
    c.request(method, path, body=body, headers=h)
    return c, c.getresponse()

def get_json(path):
    c, r = request('GET', path)
    b = r.read(); c.close()
    return r.status, json.loads(b)

def events(resp, until=None):
    """Parse SSE from resp: a list of (event, data)."""
    out, ev, data = [], None, []
    while True:
        line = resp.readline()          # de-chunked by http.client
        if not line: break
        line = line.decode().rstrip('\n')
        if line.startswith('event: '): ev = line[7:]
        elif line.startswith('data: '): data.append(line[6:])
        elif line == '' and ev:
            out.append((ev, json.loads('\n'.join(data))))
            if until and until(out): return out
            if ev in ('done', 'error'):       # the last event; the chunked body ends after it
                check_end(resp)
                return out
            ev, data = None, []
    return out

ends = []
def check_end(resp):
    ends.append(resp.read() == b'')     # nothing after the last event, terminating chunk seen

def chat(payload):
    c, r = request('POST', '/api/chat', payload)
    if r.status != 200:
        b = r.read(); c.close()
        return r.status, json.loads(b), r
    ev = events(r); c.close()
    return 200, ev, r

# the stored id of the committed picture
st, s = get_json('/api/search?q=picture&k=3')
pid = None
for x in s['results']:
    if x['path'].endswith('/picture.png'): pid = x['id']
check('search_finds_picture', pid is not None, s)
st, h = get_json('/api/health')
check('health_chat_true', st == 200 and h['chat'] is True, h)
st, o = get_json('/api/stats')
check('stats_chat', o['chat']['workers'] == 1 and o['chat']['max_waiting'] == 0 and 'stablelm-clip' in o['chat']['model'], o.get('chat'))

# ---------------------------------------------------------------- stream + greedy = seer chat
cli = json.load(open(tmp + '/cli.json'))
msgs = [{'role': 'user', 'content': q}]
status, ev, r = chat({'image_id': pid, 'messages': msgs, 'temperature': 0, 'max_tokens': 8})
check('chat_200', status == 200, ev)
check('chat_content_type', r.getheader('Content-Type', '').startswith('text/event-stream'), r.getheader('Content-Type'))
names = [e for e, _ in ev]
check('events_order', names and names[0] == 'start' and names[-1] == 'done' and set(names[1:-1]) == {'token'}, names)
done = ev[-1][1] if ev else {}
toks = ''.join(d['text'] for e, d in ev if e == 'token')
check('tokens_add_up', toks == done.get('text'), (toks, done.get('text')))
check('greedy_equals_cli', done.get('text') == cli['text'], (done.get('text'), cli['text']))
check('start_has_request_id', len(ev[0][1].get('request_id', '')) == 16 and ev[0][1]['request_id'] == done.get('request_id'), ev[0])
rt = done.get('router', {})
check('router_counts_equal_cli', all(rt.get(k) == cli['router'][k] for k in ('layers', 'text', 'image', 'generated')), (rt, cli['router']))
check('router_load', len(rt['load']['image']) == len(rt['layers']) and abs(sum(rt['load']['image'][0]) - 1) < 1e-5, rt.get('load'))
t = done.get('timing', {})
check('timing', t.get('tokens') == 8 and t['ttft_ms'] > 0 and t['tokens_per_s'] > 0 and done['stop'] == 'length', t)
first_answer = done['text']

# follow-up: the conversation sent back; the image's features are cached
msgs2 = msgs + [{'role': 'assistant', 'content': first_answer}, {'role': 'user', 'content': 'And the colours?'}]
status, ev, r = chat({'image_id': pid, 'messages': msgs2, 'temperature': 0, 'max_tokens': 8})
done2 = ev[-1][1] if status == 200 else {}
check('follow_up', status == 200 and ev[-1][0] == 'done' and done2['timing']['image_cached'] is True, ev[-1:] if status == 200 else ev)
# the KV cache was reused: only the new text ran (router text counts: 2 per position per layer)
ran1, ran2 = sum(done['router']['text'][0]) // 2, sum(done2['router']['text'][0]) // 2 if done2 else -1
check('follow_up_reuses_kv_cache', 0 < ran2 < ran1 / 2, (ran1, ran2))
# regenerate = the same conversation without the last answer: greedy gives the same text
status, ev, r = chat({'image_id': pid, 'messages': msgs, 'temperature': 0, 'max_tokens': 8})
check('regenerate_same_greedy', status == 200 and ev[-1][1]['text'] == first_answer, ev[-1:])
# sampling and beams are accepted
status, ev, r = chat({'image_id': pid, 'messages': msgs, 'temperature': 0.7, 'top_p': 0.9, 'max_tokens': 5, 'seed': 3})
check('sampling', status == 200 and ev[-1][0] == 'done', ev[-1:])
status, ev, r = chat({'image_id': str(pid), 'messages': msgs, 'num_beams': 2, 'max_tokens': 5})
check('beams', status == 200 and ev[-1][0] == 'done', ev[-1:])

# upload: multipart image + payload; same greedy answer as by id
b = uuid.uuid4().hex
body = (f'--{b}\r\nContent-Disposition: form-data; name="payload"\r\nContent-Type: application/json\r\n\r\n'
        + json.dumps({'messages': msgs, 'temperature': 0, 'max_tokens': 8})).encode() \
    + f'\r\n--{b}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n'.encode() \
    + open(image, 'rb').read() + f'\r\n--{b}--\r\n'.encode()
c, r = request('POST', '/api/chat', body, 'multipart/form-data; boundary=' + b)
ev = events(r) if r.status == 200 else []
c.close()
check('upload_greedy_equals_cli', r.status == 200 and ev[-1][1]['text'] == cli['text'], ev[-1:])

# ---------------------------------------------------------------- bad input
def bad(name, want, payload, ctype='application/json', method='POST', path='/api/chat'):
    c, r = request(method, path, payload, ctype)
    raw = r.read(); c.close()
    try: o = json.loads(raw)
    except Exception: o = {}
    check('bad_' + name, r.status == want and isinstance(o.get('error'), str) and o['error'], (r.status, raw[:300]))
    return o
u1 = [{'role': 'user', 'content': 'hi'}]
o = bad('unknown_image', 404, {'image_id': 987654, 'messages': u1})
check('unknown_image_says_id', '987654' in o.get('error', ''), o)
bad('image_id_text', 400, {'image_id': 'abc', 'messages': u1})
bad('image_id_zero', 400, {'image_id': 0, 'messages': u1})
bad('no_image', 400, {'messages': u1})
bad('no_messages', 400, {'image_id': pid})
bad('empty_messages', 400, {'image_id': pid, 'messages': []})
bad('messages_not_array', 400, {'image_id': pid, 'messages': 'hi'})
bad('ends_with_assistant', 400, {'image_id': pid, 'messages': u1 + [{'role': 'assistant', 'content': 'x'}]})
bad('starts_with_assistant', 400, {'image_id': pid, 'messages': [{'role': 'assistant', 'content': 'x'}] + u1})
bad('role_system', 400, {'image_id': pid, 'messages': [{'role': 'system', 'content': 'x'}]})
bad('content_number', 400, {'image_id': pid, 'messages': [{'role': 'user', 'content': 5}]})
bad('content_blank', 400, {'image_id': pid, 'messages': [{'role': 'user', 'content': '  '}]})
bad('content_nul', 400, {'image_id': pid, 'messages': [{'role': 'user', 'content': 'a\u0000b'}]})
many = [{'role': 'user' if i % 2 == 0 else 'assistant', 'content': 'x'} for i in range(65)]
bad('too_many_turns', 400, {'image_id': pid, 'messages': many})
bad('too_much_text', 400, {'image_id': pid, 'messages': [{'role': 'user', 'content': 'x' * 33000}]})
bad('body_too_large', 413, {'image_id': pid, 'messages': [{'role': 'user', 'content': 'x' * 300000}]})
bad('temperature_high', 400, {'image_id': pid, 'messages': u1, 'temperature': 2.5})
bad('temperature_negative', 400, {'image_id': pid, 'messages': u1, 'temperature': -0.1})
bad('top_p_zero', 400, {'image_id': pid, 'messages': u1, 'top_p': 0})
bad('top_p_high', 400, {'image_id': pid, 'messages': u1, 'top_p': 1.5})
bad('beams_5', 400, {'image_id': pid, 'messages': u1, 'num_beams': 5})
bad('max_tokens_0', 400, {'image_id': pid, 'messages': u1, 'max_tokens': 0})
bad('max_tokens_2000', 400, {'image_id': pid, 'messages': u1, 'max_tokens': 2000})
bad('max_tokens_float', 400, {'image_id': pid, 'messages': u1, 'max_tokens': 2.5})
bad('malformed_json', 400, b'{"image_id": 1, "messages": [')
bad('not_object', 400, [1, 2])
bad('text_plain', 415, b'hello', 'text/plain')
bad('get_chat', 405, None, method='GET')
bad('stop_unknown', 404, None, path='/api/chat/0123456789abcdef/stop')
bad('stop_get', 405, None, method='GET', path='/api/chat/0123456789abcdef/stop')
body = (f'--{b}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
        + json.dumps({'image_id': pid, 'messages': u1})).encode() \
    + f'\r\n--{b}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n\r\n'.encode() \
    + open(image, 'rb').read() + f'\r\n--{b}--\r\n'.encode()
bad('id_and_upload', 400, body, 'multipart/form-data; boundary=' + b)
body = (f'--{b}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n' + json.dumps({'messages': u1})).encode() \
    + f'\r\n--{b}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n\r\nnot an image\r\n--{b}--\r\n'.encode()
c, r = request('POST', '/api/chat', body, 'multipart/form-data; boundary=' + b)
ev = events(r) if r.status == 200 else []
c.close()
check('upload_not_image_error_event', r.status == 200 and ev[-1][0] == 'error' and 'image' in ev[-1][1]['error'], ev)

# ---------------------------------------------------------------- busy (503) and stop
long = {'image_id': pid, 'messages': msgs, 'temperature': 0, 'max_tokens': 1024}
# beam search over 1024 tokens: long enough to still run after the 503's grace wait
c, r = request('POST', '/api/chat', dict(long, num_beams=4))
ev = events(r, until=lambda e: len(e) >= 1)      # start: it is running
rid = ev[0][1]['request_id']
c2, r2 = request('POST', '/api/chat', {'image_id': pid, 'messages': u1, 'max_tokens': 2})
raw = r2.read(); c2.close()
check('busy_503', r2.status == 503 and r2.getheader('Retry-After') and 'busy' in json.loads(raw)['error'], (r2.status, raw))
c3, r3 = request('POST', '/api/chat/%s/stop' % rid)
o3 = json.loads(r3.read()); c3.close()
check('stop_200', r3.status == 200 and o3.get('stopping') is True, o3)
rest = events(r); c.close()
check('stop_ends_answer', rest and rest[-1][0] == 'done' and rest[-1][1]['stop'] == 'cancelled'
      and rest[-1][1]['timing']['total_ms'] > 0, rest[-1:])

# ---------------------------------------------------------------- client disconnects mid-stream
st, before = get_json('/api/stats')
s = socket.create_connection((host, port))
pl = json.dumps(long).encode()
s.sendall(b'POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(pl) + pl)
buf = b''
while buf.count(b'event: token') < 2: buf += s.recv(4096)
s.close()
# right away: the worker notices the failed write, stops and frees the slot
status, ev, r = chat({'image_id': pid, 'messages': u1, 'temperature': 0, 'max_tokens': 4})
check('after_disconnect_served', status == 200 and ev[-1][0] == 'done', (status, ev))
for _ in range(200):   # the worker returns just after its last write
    st, after = get_json('/api/stats')
    if after['chat']['running'] == 0: break
    time.sleep(0.01)
check('disconnect_counted', after['chat']['disconnects'] == before['chat']['disconnects'] + 1
      and after['chat']['cancelled'] >= before['chat']['cancelled'] + 1 and after['chat']['running'] == 0, after['chat'])

# ---------------------------------------------------------------- feedback
conv = msgs + [{'role': 'assistant', 'content': first_answer}]
c, r = request('POST', '/api/feedback', {'image_id': pid, 'messages': conv, 'vote': 'up', 'request_id': rid})
o = json.loads(r.read()); c.close()
check('feedback_201', r.status == 201 and o.get('ok') is True and o['time_ns'] > 0, (r.status, o))
c, r = request('POST', '/api/feedback', {'image_id': pid, 'messages': conv, 'vote': 'flag', 'comment': 'made up'})
r.read(); c.close()
st, fb = get_json('/api/feedback?limit=10')
f = fb['feedback']
check('feedback_list_newest_first', st == 200 and fb['total'] == 2 and [x['vote'] for x in f] == ['flag', 'up'], fb)
check('feedback_record', f[1]['messages'] == conv and f[1]['image_id'] == pid and 'stablelm-clip' in f[1]['model']
      and f[1]['time'].endswith('Z') and f[1]['request_id'] == rid and f[0]['comment'] == 'made up', f)
st, fb1 = get_json('/api/feedback?limit=1')
check('feedback_limit', len(fb1['feedback']) == 1 and fb1['feedback'][0]['vote'] == 'flag', fb1)
bad('feedback_vote', 400, {'image_id': pid, 'messages': conv, 'vote': 'meh'}, path='/api/feedback')
bad('feedback_no_answer', 400, {'image_id': pid, 'messages': u1, 'vote': 'up'}, path='/api/feedback')
bad('feedback_unknown_image', 404, {'image_id': 987654, 'messages': conv, 'vote': 'up'}, path='/api/feedback')
bad('feedback_comment_long', 400, {'image_id': pid, 'messages': conv, 'vote': 'up', 'comment': 'x' * 3000}, path='/api/feedback')
bad('feedback_limit_0', 400, None, method='GET', path='/api/feedback?limit=0')
bad('feedback_put', 405, None, method='PUT', path='/api/feedback')
check('sse_body_ends_after_last_event', ends and all(ends), ends)
st, h = get_json('/api/health')
check('still_healthy', st == 200 and h['status'] == 'ok', h)
json.dump({'n': 2}, open(tmp + '/fb.json', 'w'))
sys.exit(1 if fails else 0)
EOF
rc=$?
total=$((total + 1)); [ $rc -eq 0 ] || { fail=$((fail + 1)); echo "FAIL (python checks above)"; }

"$seer" feedback --db "$tmp/db" --export >"$tmp/export.jsonl" 2>"$tmp/export.err"
check feedback_export python3 -c "
import json
rows=[json.loads(l) for l in open('$tmp/export.jsonl')]
assert [r['vote'] for r in rows]==['up','flag'], rows
assert all(r['time_ns']>0 and 'stablelm-clip' in r['model'] for r in rows), rows"

kill -TERM "$pid"; wait "$pid"; rc=$?
pid=
check sigterm_exit0 test $rc -eq 0
echo "$((total - fail)) of $total passed"
[ $fail -eq 0 ]
