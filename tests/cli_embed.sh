#!/usr/bin/env bash
# tests/cli_embed.sh — the first CLI commands: help/version, seer embed (JSON
# lines, a failed input reported while the others print), seer tokenize,
# seer similarity, with the demo CLIP (models/demo/clip) against
# tests/data/clip/golden.json; with ../shared present, also its fixture model.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
fail=0
passed() { echo "$(( $1 - fail )) passed, $fail failed"; }

check help        bash -c "'$seer' --help | grep -q 'usage: seer'"
check version     bash -c "'$seer' --version | grep -Eq '^seer [0-9]+\.[0-9]+'"
check cmd_help    bash -c "'$seer' embed --help | grep -q -- '--model'"
check bad_command bash -c "! '$seer' frobnicate 2>/dev/null"
check no_model    bash -c "'$seer' embed --text x 2>&1 >/dev/null | grep -q -- '--model'"

src=${SEER_SOURCE:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=5

# model_checks SET MODEL IMAGE GOLDEN FILE DIM: the image's golden entry has
# "file" == FILE; DIM is the embedding size
model_checks() {
local set=$1 model=$2 img=$3 golden=$4 file=$5 dim=$6
"$seer" embed --model "$model" --image "$img" --text "a photo of a cat" >"$tmp/out" 2>"$tmp/err"; rc=$?
check ${set}_embed_rc      test $rc -eq 0
check ${set}_embed_lines   test "$(wc -l <"$tmp/out")" -eq 2
check ${set}_embed_json    python3 -c "
import json,sys,math
rows=[json.loads(l) for l in open('$tmp/out')]
assert rows[0]['input']=='$img' and rows[1]['input']=='a photo of a cat'
for r in rows:
    e=r['embedding']; assert len(e)==$dim; assert abs(math.sqrt(sum(x*x for x in e))-1)<1e-5
g=json.load(open('$golden'))
ref=[i for i in g['images'] if i['file']=='$file'][0]['embedding']
assert max(abs(a-b) for a,b in zip(rows[0]['embedding'],ref))<1e-4
ref=[t for t in g['texts'] if t['text']=='a photo of a cat'][0]['embedding']
assert max(abs(a-b) for a,b in zip(rows[1]['embedding'],ref))<1e-4
"
printf 'not an image' >"$tmp/bad.jpg"
"$seer" embed --model "$model" --image "$tmp/bad.jpg" --image "$img" >"$tmp/out" 2>"$tmp/err"; rc=$?
check ${set}_failed_input_rc     test $rc -ne 0
check ${set}_failed_input_others test "$(wc -l <"$tmp/out")" -eq 1
check ${set}_failed_input_named  grep -q "bad.jpg" "$tmp/err"

check ${set}_tokenize bash -c "'$seer' tokenize --model '$model' 'a photo of a cat' | grep -q '{\"ids\": \[49406, 320, 1125, 539, 320, 2368, 49407\]}'"

"$seer" similarity --model "$model" --image "$img" --text "a cat" --text "a dog" >"$tmp/sim"; rc=$?
check ${set}_similarity python3 -c "
import json; o=json.load(open('$tmp/sim'))
assert len(o['logits_per_image'])==1 and len(o['logits_per_image'][0])==2
assert abs(sum(o['probs'][0])-1)<1e-6
"
n=$((n + 9))
}

# the demo CLIP against tests/data/clip/golden.json (tests/reference/clip_ref.py)
model_checks demo "$src/models/demo/clip" "$src/tests/data/clip/inputs/rgb_61x45.png" \
    "$src/tests/data/clip/golden.json" tests/data/clip/inputs/rgb_61x45.png 64

shared=${SEER_SHARED:-}
if [ -n "$shared" ] && [ -d "$shared/fixtures/clip" ]; then
    m=$shared/fixtures/clip/clip-tiny-b32
    model_checks shared "$m" "$shared/fixtures/clip/inputs/chelsea.png" "$m/golden.json" chelsea.png 32
else
    echo "note: ../shared is absent; its fixture model is not checked"
fi
passed $n
[ $fail -eq 0 ]
