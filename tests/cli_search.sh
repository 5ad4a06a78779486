#!/usr/bin/env bash
# tests/cli_search.sh — `seer search` over a store of 30 of the bundled sample
# photos (samples/cifar10, three of each of the ten classes) made with the
# bundled demo CLIP (models/demo/clip): by text (lines "rank score z path" and
# --json agree), by example
# image (a stored photo finds itself first, score 1, scores descending), the
# same top hits with every --index kind, and the usage and input errors with
# their exit statuses and messages; `seer info` shows the family; a store
# made with the tiny BLIP-2 of tests/data (4 vectors per image): info, text
# search, --rerank itm (the same hits re-ordered, each with its ITM
# probability), an image finds itself, CLIP refused on it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
fail=0 total=0
model=$src/models/demo/clip
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/photos"
for c in "$src"/samples/cifar10/*/; do
    for f in $(ls -d "$c"*.jpg | head -3); do cp "$f" "$tmp/photos/$(basename "$c")_$(basename "$f")"; done
done
"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }
photo=$(ls -d "$tmp"/photos/*.jpg | sed -n 3p)

"$seer" search --db "$tmp/db" --k 5 "a dog on a couch" >"$tmp/lines"
check text_rc test $? -eq 0
check text_lines python3 -c "
import re
rows=[l.rstrip('\n') for l in open('$tmp/lines')]
assert len(rows)==5, rows
s=[]
for i,r in enumerate(rows):
    m=re.fullmatch(r' ?(\d+)  (-?\d\.\d{4})  +(-?\d+\.\d\d)  (/.*\.jpg)', r); assert m, r
    assert int(m.group(1))==i+1; s.append(float(m.group(2)))
assert s==sorted(s, reverse=True), s"

"$seer" search --db "$tmp/db" --json --k 5 "a dog on a couch" >"$tmp/text.json"
check text_json python3 -c "
import json
o=json.load(open('$tmp/text.json'))
assert list(o)==['query','took_ms','offset','matches','scanned','strong','results'] and o['query']=='a dog on a couch' and o['took_ms']>=0, o
lines=[l.split()[3] for l in open('$tmp/lines')]
assert [r['path'] for r in o['results']]==lines
assert all(list(r)[:2]==['id','path'] and list(r)[-2:]==['score','z'] for r in o['results'])"

"$seer" search --db "$tmp/db" --json --k 24 --image "$photo" >"$tmp/img.json"
check image_rc test $? -eq 0
check image_finds_itself python3 -c "
import json,os
o=json.load(open('$tmp/img.json'))
r=o['results']
assert o['query']=='$photo' and len(r)==24, o
assert r[0]['path']==os.path.realpath('$photo') and abs(r[0]['score']-1)<1e-4, r[0]
assert [x['score'] for x in r]==sorted([x['score'] for x in r], reverse=True)"
"$seer" search --db "$tmp/db" --k 3 --image "$photo" >"$tmp/img.lines"
check image_lines bash -c "head -1 '$tmp/img.lines' | grep -q '^ 1  1.0000  '"

for kind in auto flat hnsw; do
    "$seer" search --db "$tmp/db" --json --k 3 --index $kind --image "$photo" >"$tmp/$kind.json"
    check index_$kind python3 -c "
import json
a=json.load(open('$tmp/$kind.json'))['results']; b=json.load(open('$tmp/img.json'))['results'][:3]
assert [x['id'] for x in a]==[x['id'] for x in b], (a,b)"
done

# errors: usage (2) and bad input (1), each with a message
printf 'not an image' >"$tmp/bad.jpg"
"$seer" search --db "$tmp/db" --image "$tmp/bad.jpg" >/dev/null 2>"$tmp/err"
check bad_image_rc test $? -eq 1
check bad_image_msg grep -q "bad.jpg: not a recognised image" "$tmp/err"
"$seer" search --db "$tmp/db" --image "$tmp/missing.jpg" >/dev/null 2>"$tmp/err"
check missing_image_rc test $? -eq 1
check missing_image_msg grep -q "missing.jpg" "$tmp/err"
"$seer" search --db "$tmp/db" --image "$photo" dog >/dev/null 2>"$tmp/err"
check image_and_text_rc test $? -eq 2
check image_and_text_msg grep -q "not both" "$tmp/err"
"$seer" search --db "$tmp/db" --index exact dog >/dev/null 2>"$tmp/err"
check bad_index_rc test $? -eq 2
check bad_index_msg grep -q "expected auto, flat or hnsw, got 'exact'" "$tmp/err"
"$seer" search --db "$tmp/db" >/dev/null 2>"$tmp/err"
check no_text_rc test $? -eq 2
"$seer" search --db "$tmp/nodb" dog >/dev/null 2>"$tmp/err"
check no_db_rc test $? -eq 1
"$seer" search --help >"$tmp/help"
check help bash -c "test \$? -eq 0 && grep -q -- '--image FILE' '$tmp/help'"

# --rerank itm needs BLIP-2: refused on this CLIP store, bad values are usage errors
"$seer" search --db "$tmp/db" --rerank itm dog >/dev/null 2>"$tmp/err"
check rerank_clip_rc bash -c "test $? -eq 1 && grep -q 'needs a BLIP-2 model' '$tmp/err'"
"$seer" search --db "$tmp/db" --rerank bogus dog >/dev/null 2>"$tmp/err"
check rerank_bad_rc bash -c "test $? -eq 2 && grep -q 'expected itm' '$tmp/err'"
"$seer" info --db "$tmp/db" >"$tmp/info"
check info_clip grep -q '^family      clip, 1 vector per image' "$tmp/info"

# a BLIP-2 store (the tiny checkpoint of tests/data: 4 vectors per image)
blip2=$src/tests/data/blip2-tiny
"$seer" ingest --db "$tmp/b2" --model "$blip2" --quiet "$tmp/photos"
check blip2_ingest test $? -eq 0
"$seer" info --db "$tmp/b2" --json >"$tmp/b2info"
check blip2_info python3 -c "
import json; o = json.load(open('$tmp/b2info'))
assert o['family'] == 'blip2' and o['vectors_per_image'] == 4 and o['images'] == 30, o"
"$seer" search --db "$tmp/b2" --k 5 --json "a photo of a horse" >"$tmp/b2plain"
check blip2_search test $? -eq 0
"$seer" search --db "$tmp/b2" --k 5 --json --rerank itm "a photo of a horse" >"$tmp/b2itm"
check blip2_rerank python3 -c "
import json; p = json.load(open('$tmp/b2plain'))['results']; r = json.load(open('$tmp/b2itm'))['results']
assert len(r) == 5 and sorted(h['id'] for h in r) == sorted(h['id'] for h in p), (p, r)
assert all(0 <= h['itm'] <= 1 for h in r) and all('itm' not in h for h in p)
assert all(r[i]['score'] >= r[i + 1]['score'] for i in range(4)), r"
"$seer" search --db "$tmp/b2" --k 3 --json --image "$photo" >"$tmp/b2img"
check blip2_image_finds_itself python3 -c "
import json; r = json.load(open('$tmp/b2img'))['results']
assert r[0]['path'].endswith('$(basename "$photo")') and abs(r[0]['score'] - 1) < 1e-5, r"
"$seer" search --db "$tmp/b2" --model "$model" dog >/dev/null 2>"$tmp/err"
check blip2_store_refuses_clip bash -c "test $? -eq 1 && grep -q 'blip2' '$tmp/err'"

echo "$((total - fail)) passed, $fail failed"
[ $fail -eq 0 ]
