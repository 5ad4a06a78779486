#!/usr/bin/env bash
# tests/cli_eval_okvqa.sh — seer eval vqa on OK-VQA, the benchmark the second
# seed reports: its own question and annotation files (tests/data/eval/okvqa,
# the layout of OpenEnded_mscoco_val2014_questions.json and
# mscoco_val2014_annotations.json) asked through the BLIP-2 → adaptor →
# LLaMA-2 chat model of tests/data/llama, then scored by hand-made
# predictions (--rescore) whose VQA soft accuracy is known:
#   q10 "Dog."  vs 4 dog / 6 puppy   → 1      (punctuation and case normalised)
#   q20 "red"   vs 2 red / 8 blue    → (2·1/3 + 8·2/3)/10 = 0.6
#   q30 "two"   vs 10 × "2"          → 1      (number words → digits)
#   q40 "a cat" vs 10 × "dog"        → 0
#   mean 0.65.
set -u
. "$(dirname "$0")/lib.sh"
src=${SEER_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
seer=${SEER_BIN:-$src/build/seer}
d=$src/tests/data/eval/okvqa
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/val2014"
cp "$src/samples/larger/$(ls "$src/samples/larger" | grep -m1 '\.jpg$')" "$tmp/val2014/COCO_val2014_000000000001.jpg"
cp "$src/samples/larger/$(ls "$src/samples/larger" | grep '\.jpg$' | sed -n 2p)" "$tmp/val2014/COCO_val2014_000000000002.jpg"

# asked: every question through the adaptor chat model, in OK-VQA's files as they are
"$seer" eval vqa --model "$src/tests/data/llama/chat.json" --questions "$d/OpenEnded_mscoco_val2014_questions.json" \
    --answers "$d/mscoco_val2014_annotations.json" --images "$tmp/val2014" --preds "$tmp/asked.jsonl" --json \
    >"$tmp/asked.out" 2>"$tmp/asked.err"
check asked_rc test $? -eq 0
check asked_all python3 -c "
import json; o = json.load(open('$tmp/asked.out'))
assert o['asked'] == 4 and o['vqa']['n'] == 4 and 0 <= o['vqa']['accuracy'] <= 1, o
lines = [json.loads(l) for l in open('$tmp/asked.jsonl')]
assert sorted(str(l['question_id']) for l in lines) == ['10', '20', '30', '40'], lines"

# scored: known answers, the official soft accuracy
cat >"$tmp/preds.jsonl" <<'J'
{"question_id": 10, "text": "Dog."}
{"question_id": 20, "text": "red"}
{"question_id": 30, "text": "two"}
{"question_id": 40, "text": "a cat"}
J
"$seer" eval vqa --questions "$d/OpenEnded_mscoco_val2014_questions.json" --answers "$d/mscoco_val2014_annotations.json" \
    --preds "$tmp/preds.jsonl" --rescore --json >"$tmp/scored.out" 2>"$tmp/scored.err"
check scored_rc test $? -eq 0
check soft_accuracy python3 -c "
import json; o = json.load(open('$tmp/scored.out'))
assert o['vqa']['n'] == 4 and abs(o['vqa']['accuracy'] - 0.65) < 1e-6, o"
[ "$fail" -eq 0 ] || { cat "$tmp/asked.err" "$tmp/scored.err" >&2; echo "$fail of $total failed"; exit 1; }
echo "all $total passed"
