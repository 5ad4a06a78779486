#!/usr/bin/env bash
# tests/cli_ingest_library.sh — `seer ingest` on a real-looking photo library,
# as a user runs it: a generated folder of every format seer reads
# (tests/data/formats: HEIC, AVIF, WebP, TIFF, DNG, GIF, BMP, PNG, JPEG with
# EXIF, a JPEG without extension and one named .png), a resized near-copy, a
# byte copy, hidden files and bad files (truncated, empty, text named .jpg,
# garbage named .heic, a script). Checks:
#   - --report: one JSON line per file seen with its status and reason, the
#     summary's counts add up to it, failed/skipped files named once on stderr
#     with their reason (and not with --quiet);
#   - a touched file is unchanged, not embedded again;
#   - on an existing store no --model is needed; -v works after the command;
#   - a store written before schema 2 (tests/data/store_v1) takes an ingest;
#   - --watch: a file created, modified, renamed, deleted and a folder moved
#     in are in the store within a generous deadline, and a running server
#     (--reload 1) sees them; SIGTERM stops it with exit 0.
# The metadata values stored per format are checked in tests/test_ingest.c
# (library_statuses_and_metadata). Needs python3 and curl; nothing from
# ../shared.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0 total=0
command -v curl >/dev/null || { echo "SKIP: curl is missing (tools/setup.sh installs it)"; exit 77; }
model=$src/models/demo/clip
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

lib=$tmp/library
mkdir -p "$lib/.cache" "$lib/trip"
cp "$src"/tests/data/formats/* "$lib/"
mv "$lib"/heic.heic "$lib"/dng.dng "$lib/trip/"
cp "$src/tests/data/library/near_copy.jpg" "$lib/trip/"
cp "$lib/exif.jpg" "$lib/trip/exif-copy.jpg"
cp "$lib/plain.jpg" "$lib/.cache/"
cp "$lib/plain.jpg" "$lib/.hidden.jpg"

# report_field FILE NAME FIELD: status or reason of the last report line
# whose path ends in /NAME ("absent" when none; reason "null" when none). The
# lines are jansson's compact form, {"path":..,"status":..,"reason":..}; their
# validity as JSON is checked once with python3 below.
report_field() {
    local line
    line=$(grep -F "/$2\",\"status\"" "$1" | tail -1)
    [ -n "$line" ] || { echo absent; return; }
    case $3 in
    status) echo "$line" | sed 's/.*"status":"\([a-z]*\)".*/\1/' ;;
    reason) echo "$line" | sed -e 's/.*"reason"://' -e 's/}$//' -e 's/^"\(.*\)"$/\1/' ;;
    esac
}

# summary FILE KEY: the number after KEY in the "ingest done" line
summary() { grep -o "$2 [0-9]*" "$1" | head -1 | awk '{print $2}'; }

"$seer" ingest --db "$tmp/db" --model "$model" --report "$tmp/r1.jsonl" "$lib" >"$tmp/i1.out" 2>"$tmp/i1.err"
check first_ingest_ok test $? -eq 0
check report_one_line_per_file test "$(wc -l <"$tmp/r1.jsonl")" -eq 26
check report_valid_json python3 -c "
import json, sys
rows = [json.loads(l) for l in open('$tmp/r1.jsonl')]
assert all(set(r) == {'path', 'status', 'reason'} for r in rows)
assert all((r['reason'] is None) == (r['status'] not in ('failed', 'skipped')) for r in rows)
assert len({r['path'] for r in rows}) == len(rows)
assert not any('/.' in r['path'] for r in rows)
"
for f in avif.avif webp.webp webp_orient6.webp tiff.tif tiff_orient6.tif trip/heic.heic trip/dng.dng bmp.bmp gif.gif src.png trip/near_copy.jpg; do
    check "added_${f//[\/.]/_}" test "$(report_field "$tmp/r1.jsonl" "$f" status)" = added
done
check byte_copy_duplicate test "$(report_field "$tmp/r1.jsonl" exif.jpg status)$(report_field "$tmp/r1.jsonl" exif-copy.jpg status)" != addedadded
n_dup=$(grep -c '"status":"duplicate"' "$tmp/r1.jsonl")
check duplicates_three test "$n_dup" -eq 3   # exif copy; plain.jpg = jpeg_noext = jpeg_named.png
check jpeg_noext_read test "$(report_field "$tmp/r1.jsonl" jpeg_noext status)" != skipped
check jpeg_named_png_read test "$(report_field "$tmp/r1.jsonl" jpeg_named.png status)" != skipped
check empty_skipped test "$(report_field "$tmp/r1.jsonl" bad_empty.jpg reason)" = "empty file"
check text_skipped test "$(report_field "$tmp/r1.jsonl" bad_text.jpg reason)" = "not an image: text"
check script_skipped test "$(report_field "$tmp/r1.jsonl" make.sh reason)" = "not an image: text"
check garbage_skipped grep -q '/bad_garbage.heic","status":"skipped","reason":"not an image' "$tmp/r1.jsonl"
for f in bad_truncated.jpg bad_truncated.heic bad_truncated.tif; do
    check "failed_$f" test "$(report_field "$tmp/r1.jsonl" "$f" status)" = failed
    check "named_once_$f" test "$(grep -c "/$f" "$tmp/i1.err")" -eq 1
done
check stderr_names_reason grep -q "seer: skipped $lib/bad_text.jpg: not an image: text" "$tmp/i1.err"
check summary_adds_up python3 -c "
import re
line = [l for l in open('$tmp/i1.out') if l.startswith('ingest done')][0]
n = int(re.search(r'done: (\d+) files', line).group(1))
parts = sum(int(re.search(k + r' (\d+)', line).group(1)) for k in ('added', 'updated', 'unchanged', 'duplicates', 'failed', 'skipped'))
assert n == parts == 26, line
"
check summary_counts test "$(summary "$tmp/i1.out" added)/$(summary "$tmp/i1.out" skipped)/$(summary "$tmp/i1.out" failed)" = 16/4/3

# touched, not changed: unchanged; no --model on an existing store; -v after the command
touch -d '2001-02-03 04:05:06' "$lib/webp.webp" "$lib/trip/heic.heic"
"$seer" ingest --db "$tmp/db" -v --quiet --report "$tmp/r2.jsonl" "$lib" >"$tmp/i2.out" 2>"$tmp/i2.err"
check reingest_no_model_ok test $? -eq 0
check verbose_after_command grep -q "the store's model" "$tmp/i2.err"
check quiet_no_file_lines test "$(grep -c 'seer: skipped\|seer: failed' "$tmp/i2.err")" -eq 0
check quiet_no_summary test ! -s "$tmp/i2.out"
check touched_unchanged test "$(report_field "$tmp/r2.jsonl" webp.webp status)$(report_field "$tmp/r2.jsonl" heic.heic status)" = unchangedunchanged
check nothing_new test "$(grep -c '"status":"\(added\|updated\|duplicate\)"' "$tmp/r2.jsonl")" -eq 0
"$seer" ingest --db "$tmp/nodb" "$lib" 2>"$tmp/i3.err"
check no_store_needs_model test $? -eq 2
check no_store_says_why grep -q "model DIR is required" "$tmp/i3.err"

# a store of the release before schema 2
mkdir "$tmp/v1"
cp "$src/tests/data/store_v1/data.mdb" "$tmp/v1/" && chmod u+w "$tmp/v1/data.mdb"
"$seer" search --db "$tmp/v1" --model "$model" --json "a photo" >"$tmp/v1.search" 2>"$tmp/v1.err"
check v1_readable test $? -eq 0
check v1_three_images test "$(python3 -c "import json; print(len(json.load(open('$tmp/v1.search'))['results']))")" = 3
"$seer" ingest --db "$tmp/v1" --model "$model" --quiet "$src/samples/larger/truck-test0100-256px.jpg"
check v1_ingest_ok test $? -eq 0
check v1_now_four test "$("$seer" search --db "$tmp/v1" --json "a photo" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['results']))")" = 4

# --watch, with a server on the same store
w=$tmp/watched
mkdir -p "$w/a"
cp "$src/samples/larger/cat-test0100-256px.jpg" "$w/a/"
"$seer" ingest --db "$tmp/wdb" --model "$model" --watch --report "$tmp/w.jsonl" "$w" >"$tmp/w.out" 2>"$tmp/w.err" &
wpid=$!
pids+=("$wpid")
for _ in $(seq 1 600); do grep -q "watching" "$tmp/w.out" && break; sleep 0.1; done
check watch_started grep -q "watching 2 folders" "$tmp/w.out"
"$seer" serve --db "$tmp/wdb" --listen 127.0.0.1:0 --reload 1 --threads 4 >"$tmp/s.out" 2>"$tmp/s.err" &
spid=$!
pids+=("$spid")
url=$(server_url "$spid" "$tmp/s.out")
url=${url%/}
check server_up test -n "$url"
# the stored file names, sorted, space-separated (a fresh read of the store)
paths() {
    "$seer" search --db "$tmp/wdb" --json --k 100 "a photo" | grep -o '"path": *"[^"]*"' |
        sed 's/.*\///; s/"$//' | sort | tr '\n' ' ' | sed 's/ $//'
}
# the size of the index the server searches
served() { curl -s "$url/api/stats" | grep -o '"size": *[0-9]*' | grep -o '[0-9]*$'; }
# wait_for NAME EXPECTED COMMAND...: poll COMMAND's output until it is
# EXPECTED, for at most 60 s (a generous deadline, not a timing assert)
wait_for() {
    local name=$1 want=$2; shift 2
    local got= end=$(($(date +%s) + 60))
    while :; do
        got=$("$@" 2>/dev/null)
        [ "$got" = "$want" ] && break
        [ "$(date +%s)" -ge "$end" ] && break
        sleep 0.3
    done
    check "$name" test "$got" = "$want"
    [ "$got" = "$want" ] || echo "  $name: got '$got', want '$want'"
}
cp "$src/samples/larger/dog-test0100-256px.jpg" "$w/a/dog.jpg"
wait_for watch_create "cat-test0100-256px.jpg dog.jpg" paths
[ -n "$url" ] && wait_for server_sees_create 2 served
cp "$src/samples/larger/horse-test0100-256px.jpg" "$w/a/dog.jpg"      # modified: new content
wait_for watch_modify updated report_field "$tmp/w.jsonl" dog.jpg status
mv "$w/a/dog.jpg" "$w/a/horse.jpg"
wait_for watch_rename "cat-test0100-256px.jpg horse.jpg" paths
rm "$w/a/cat-test0100-256px.jpg"
wait_for watch_delete "horse.jpg" paths
[ -n "$url" ] && wait_for server_sees_delete 1 served
mkdir -p "$tmp/elsewhere/new"
cp "$src/samples/larger/ship-test0100-256px.jpg" "$src/samples/larger/truck-test0100-256px.jpg" "$tmp/elsewhere/new/"
mv "$tmp/elsewhere/new" "$w/new"
wait_for watch_folder_moved_in "horse.jpg ship-test0100-256px.jpg truck-test0100-256px.jpg" paths
cp "$src/samples/larger/bird-test0100-256px.jpg" "$w/new/"             # a folder added while watching is watched
wait_for watch_new_folder_watched "bird-test0100-256px.jpg horse.jpg ship-test0100-256px.jpg truck-test0100-256px.jpg" paths
printf 'notes\n' >"$w/new/notes.txt"
wait_for watch_reports_skipped "not an image: text" report_field "$tmp/w.jsonl" notes.txt reason
[ -n "$url" ] && wait_for server_sees_all 4 served
kill -TERM "$wpid"
wait "$wpid"
check watch_stops_cleanly test $? -eq 0
kill -TERM "$spid"
wait "$spid"
"$seer" ingest --db "$tmp/wdb" --quiet "$w"
check store_consistent_after_watch test "$(paths)" = "bird-test0100-256px.jpg horse.jpg ship-test0100-256px.jpg truck-test0100-256px.jpg"

[ "$fail" = 0 ] || { echo "--- ingest"; cat "$tmp/i1.out" "$tmp/i1.err"; echo "--- watch"; cat "$tmp/w.out" "$tmp/w.err" "$tmp/w.jsonl"; }
echo "$fail of $total failed"
[ "$fail" = 0 ]
