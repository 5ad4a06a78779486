#!/usr/bin/env bash
# tests/cli_chat.sh — seer chat (one-shot, --json) and seer logits --image on
# the tiny MoE-LLaVA fixtures of tests/data/vlm (made by
# tests/reference/moe_llava_vlm_ref.py): the greedy answer and the prompt ids
# against reference.json, router counts of the three token kinds, the tower
# found through --models-root, and a tower that cannot be found. Needs no
# ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0
py=python3
command -v "$py" >/dev/null || py=/usr/bin/python3
d=$src/tests/data/vlm
q="What is in the picture?"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0

for fx in stablelm-clip phi-siglip; do
    tower=$d/towers/$("$py" -c "import json;print(json.load(open('$d/$fx/reference.json'))['tower'])")
    "$seer" chat --model "$d/$fx" --vision-tower "$tower" --image "$d/image.png" --prompt "$q" --json \
        --temperature 0 --max-tokens 8 >"$tmp/chat.json" 2>"$tmp/err"; rc=$?
    check "${fx}_chat_rc" test $rc -eq 0; n=$((n + 1))
    check "${fx}_chat_json" "$py" -c "
import json
o = json.load(open('$tmp/chat.json'))
ref = json.load(open('$d/$fx/reference.json'))
assert o['text'] and o['text'] == ref['greedy_text'], (o['text'], ref['greedy_text'])
assert o['ids'] == ref['greedy'], (o['ids'], ref['greedy'])
r = o['router']
n_img = ref['n_img']
for kind in ('text', 'image', 'generated'):
    assert kind in r and len(r[kind]) == len(r['layers'])
for l in range(len(r['layers'])):
    assert sum(r['image'][l]) == 2 * n_img
    assert sum(r['text'][l]) == 2 * (len(ref['prompt_ids']) - 1)
    assert sum(r['generated'][l]) == 2 * (len(o['ids']) - 1)
"; n=$((n + 1))
    "$seer" logits --model "$d/$fx" --models-root "$d/towers" --image "$d/image.png" --prompt "$q" \
        >"$tmp/logits.json" 2>"$tmp/err"; rc=$?
    check "${fx}_logits_rc" test $rc -eq 0; n=$((n + 1))
    check "${fx}_logits_json" "$py" -c "
import json
o = json.load(open('$tmp/logits.json'))
ref = json.load(open('$d/$fx/reference.json'))
assert -200 in o['ids'] and o['ids'] == ref['prompt_ids']
a, b = o['logits'], ref['logits']
assert len(a) == len(b)
m = max(abs(x) for x in b)
assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-3 * m
"; n=$((n + 1))
done

# --kv f16: the KV cache in IEEE half gives the reference's greedy answer and
# logits within 2e-3 of the largest (test_lm: the bound); a bad value is a
# usage error (exit 2)
fx=stablelm-clip
tower=$d/towers/$("$py" -c "import json;print(json.load(open('$d/$fx/reference.json'))['tower'])")
"$seer" chat --model "$d/$fx" --vision-tower "$tower" --image "$d/image.png" --prompt "$q" --json \
    --temperature 0 --max-tokens 8 --kv f16 >"$tmp/chat.json" 2>"$tmp/err"; rc=$?
check kv_f16_chat_rc test $rc -eq 0; n=$((n + 1))
check kv_f16_chat_greedy "$py" -c "
import json
o = json.load(open('$tmp/chat.json'))
assert o['ids'] == json.load(open('$d/$fx/reference.json'))['greedy']
"; n=$((n + 1))
"$seer" logits --model "$d/$fx" --models-root "$d/towers" --image "$d/image.png" --prompt "$q" --kv f16 \
    >"$tmp/logits.json" 2>"$tmp/err"; rc=$?
check kv_f16_logits_rc test $rc -eq 0; n=$((n + 1))
check kv_f16_logits_json "$py" -c "
import json
a, b = json.load(open('$tmp/logits.json'))['logits'], json.load(open('$d/$fx/reference.json'))['logits']
m = max(abs(x) for x in b)
assert max(abs(x - y) for x, y in zip(a, b)) <= 2e-3 * m
"; n=$((n + 1))
"$seer" chat --model "$d/$fx" --image "$d/image.png" --prompt "$q" --kv f8 >/dev/null 2>"$tmp/err"; rc=$?
check kv_bad_rc test $rc -eq 2; n=$((n + 1))
check kv_bad_msg grep -q -- "--kv: expected f16 or f32" "$tmp/err"; n=$((n + 1))

# a tower that is nowhere: exit 1, the message names where it looked
"$seer" chat --model "$d/stablelm-clip" --models-root "$tmp" --image "$d/image.png" --prompt "$q" \
    >/dev/null 2>"$tmp/err"; rc=$?
check tower_missing_rc test $rc -eq 1; n=$((n + 1))
check tower_missing_msg grep -q "$tmp/clip-vit-tiny-patch14-42" "$tmp/err"; n=$((n + 1))

echo "$((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
