#!/usr/bin/env bash
# tests/cli_blip2.sh — seer tokenize / embed / similarity (--itm) with a
# BLIP-2 directory: output shapes and values against the golden of
# tests/data/blip2-tiny (tests/reference/blip2_ref.py); with ../shared
# present, also against its fixtures/blip2 golden (the upstream code).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# blip2_checks SET MODEL INPUTS GOLDEN IMG1 IMG2: IMG1/IMG2 are golden "file"
# names (PNG, decoded exactly), found under INPUTS
blip2_checks() {
local set=$1 model=$2 inputs=$3 golden=$4 i1=$5 i2=$6
local t1 t2
t1=$(python3 -c "import json;print(json.load(open('$golden'))['texts'][0]['text'])")
t2=$(python3 -c "import json;print(json.load(open('$golden'))['texts'][1]['text'])")

# tokenize: a few golden tokenizer strings (test_blip2 runs them all),
# untruncated ids exact; the texts truncated to 35 by default
check ${set}_tokenize python3 - "$seer" "$model" "$golden" <<'EOF'
import json, subprocess, sys
seer, model, golden = sys.argv[1:]
g = json.load(open(golden))
for c in [c for c in g["tokenizer"] if not c["text"].isascii()][:4]:
    out = subprocess.run([seer, "tokenize", "--model", model, "--context", "4096", c["text"]],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["ids"] == c["ids"], (c["text"], out)
for t in g["texts"]:
    out = subprocess.run([seer, "tokenize", "--model", model, t["text"]], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["ids"] == t["ids"], (t["text"], out)
EOF

"$seer" embed --model "$model" --image "$inputs/$i1" --text "$t1" >"$tmp/out" 2>"$tmp/err"; rc=$?
check ${set}_embed_rc test $rc -eq 0
check ${set}_embed python3 - "$tmp/out" "$golden" "$i1" <<'EOF'
import json, math, sys
out, golden, file = sys.argv[1:]
rows = [json.loads(l) for l in open(out)]
g = json.load(open(golden))
ref = [i for i in g["images"] if i["file"] == file][0]["image_feats"]
img = rows[0]["embedding"]
assert len(img) == len(ref) and all(len(v) == len(ref[0]) for v in img)
for v, r in zip(img, ref):
    assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
    assert max(abs(a - b) for a, b in zip(v, r)) < 1e-5
txt = rows[1]["embedding"]
assert max(abs(a - b) for a, b in zip(txt, g["texts"][0]["text_feat"])) < 1e-5
EOF

"$seer" similarity --json --itm --model "$model" --image "$inputs/$i1" --image "$inputs/$i2" \
    --text "$t1" --text "$t2" >"$tmp/sim" 2>"$tmp/err"; rc=$?
check ${set}_similarity_rc test $rc -eq 0
check ${set}_similarity python3 - "$tmp/sim" "$golden" "$i1" "$i2" <<'EOF'
import json, sys
sim, golden, f1, f2 = sys.argv[1:]
s = json.load(open(sim))
g = json.load(open(golden))
idx = [[i["file"] for i in g["images"]].index(f) for f in (f1, f2)]
assert len(s["scores"]) == 2 and len(s["scores"][0]) == 2 and len(s["itm"]) == 2
for a, i in enumerate(idx):
    for t in range(2):
        assert abs(s["scores"][a][t] - g["itc"][i][t]) < 1e-5, (a, t)
        assert abs(s["itm"][a][t] - g["itm_prob"][i][t]) < 1e-5, (a, t)
EOF
}

blip2_checks repo "$src/tests/data/blip2-tiny" "$src" "$src/tests/data/blip2-tiny/golden.json" \
    tests/data/clip/inputs/rgb_61x45.png tests/data/clip/inputs/palette_45x47.png

# errors: --itm with a CLIP model; a BLIP-2 store cannot be ingested yet
check itm_needs_blip2 bash -c "'$seer' similarity --itm --model '$src/models/demo/clip' \
    --image '$src/tests/data/clip/inputs/rgb_61x45.png' --text x 2>&1 >/dev/null | grep -q BLIP-2"
check no_text bash -c "! '$seer' embed --model '$src/tests/data/blip2-tiny' 2>/dev/null"

shared=${SEER_SHARED:-}
if [ -n "$shared" ] && [ -d "$shared/fixtures/blip2/blip2-tiny-itm" ]; then
    blip2_checks shared "$shared/fixtures/blip2/blip2-tiny-itm" "$shared/fixtures/clip/inputs" \
        "$shared/fixtures/blip2/blip2-tiny-itm/golden.json" CLIP.png chelsea.png
else
    echo "note: ../shared is absent; its cross-checks are not run"
fi
echo "$((total - fail)) passed, $fail failed"
[ $fail -eq 0 ]
