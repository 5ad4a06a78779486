#!/usr/bin/env bash
# tests/cli_browser_chat.sh — the chat panel of the page in headless Debian
# chromium (tests/browser/chat.test.js, playwright-core): a store of three
# pictures (tests/data/vlm/image.png and two generated PNGs, the demo CLIP of
# models/demo), seer serve with the tiny MoE-LLaVA fixture as --chat-model.
# Screenshots in $PWD/artifacts/: chat.png, chat-drop.png, chat-phone.png. Skips (77) when
# chromium, node or tests/browser/node_modules are missing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
chromium=${CHROMIUM:-/usr/bin/chromium}
clip=$src/models/demo/clip
if [ ! -x "$chromium" ]; then echo "SKIP: no chromium at $chromium (apt-get install chromium)"; exit 77; fi
if ! command -v node >/dev/null; then echo "SKIP: node is missing"; exit 77; fi
if [ ! -d "$src/tests/browser/node_modules/playwright-core" ]; then
    echo "SKIP: tests/browser/node_modules is missing (run: cd tests/browser && npm ci)"; exit 77
fi
d=$src/tests/data/vlm
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
artifacts=$PWD/artifacts
mkdir -p "$artifacts" "$tmp/photos"
cp "$d/image.png" "$tmp/photos/picture.png"
python3 - "$tmp/photos" <<'PY'
import struct, sys, zlib
def png(path, w, h, rgb):
    raw = b''.join(b'\0' + bytes(rgb) * w for _ in range(h))
    ch = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + ch(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                           + ch(b'IDAT', zlib.compress(raw)) + ch(b'IEND', b''))
png(sys.argv[1] + '/red.png', 64, 48, (200, 30, 30))
png(sys.argv[1] + '/blue.png', 40, 40, (30, 30, 200))
PY
"$seer" ingest --db "$tmp/db" --model "$clip" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }
"$seer" serve --db "$tmp/db" --listen 127.0.0.1:0 --reload 0 --chat-model "$d/stablelm-clip" \
    --vision-tower "$d/towers/clip-vit-tiny-patch14-42" >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/err"; exit 1; }
CHROMIUM=$chromium node "$src/tests/browser/chat.test.js" "$url" "$artifacts" "a picture" picture.png "$d/image.png"
rc=$?
kill -TERM "$pid"; wait "$pid"; src_rc=$?
pid=
[ $src_rc -eq 0 ] || { echo "FAIL server exit status $src_rc"; cat "$tmp/err"; rc=1; }
echo "screenshots: $artifacts/chat.png $artifacts/chat-phone.png"
exit $rc
