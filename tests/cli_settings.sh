#!/usr/bin/env bash
# tests/cli_settings.sh — the settings file from the command line (build-tree
# seer, the bundled demo CLIP and sample photos):
#   - seer ingest --config FILE ingests the file's photos roots into its db
#     with its model; an option on the command line overrides the file (--db);
#   - a bad file stops seer ingest and seer serve with exit 2 and FILE:LINE;
#   - watch = on: seer ingest keeps running after its first pass (a photo
#     added meanwhile is ingested: inotify, or the walk every watch-interval
#     seconds) and stops cleanly (exit 0) on SIGTERM; --no-watch overrides it
#     with one pass.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:?}
fail=0
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir "$tmp/photos"
cp "$src"/samples/cifar10/horse/000[1-3].jpg "$tmp/photos/"
count() { # the number of images in store $1
    "$seer" search --db "$1" --json --k 1000 "a photo" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['results']))"
}

cat >"$tmp/a.conf" <<EOC
db = $tmp/db
model = $src/models/demo/clip
photos = $tmp/photos
EOC
"$seer" ingest --quiet --config "$tmp/a.conf"
check ingest_from_settings test $? -eq 0
check settings_db_filled test "$(count "$tmp/db")" = 3
"$seer" ingest --quiet --config "$tmp/a.conf" --db "$tmp/db2" "$src/samples/cifar10/horse/0004.jpg"
check option_overrides test $? -eq 0 -a "$(count "$tmp/db2")" = 1 -a "$(count "$tmp/db")" = 3

printf 'db = %s\nstore = /x\n' "$tmp/db" >"$tmp/bad.conf"
"$seer" ingest --config "$tmp/bad.conf" >/dev/null 2>"$tmp/err"
check bad_key_rc test $? -eq 2
check bad_key_msg grep -q "bad.conf:2: unknown key 'store'" "$tmp/err"
printf 'listen = everywhere\n' >"$tmp/bad.conf"
"$seer" serve --config "$tmp/bad.conf" >/dev/null 2>"$tmp/err"
check bad_listen_rc test $? -eq 2
check bad_listen_msg grep -q "bad.conf:1: listen = 'everywhere': expected PORT or IPV4:PORT" "$tmp/err"
"$seer" serve --config "$tmp/missing.conf" >/dev/null 2>"$tmp/err"
check missing_config_rc test $? -eq 2
check missing_config_msg grep -q "missing.conf" "$tmp/err"

# watch = on; --no-watch makes it one pass
printf 'watch = on\nwatch-interval = 10\n' >>"$tmp/a.conf"
timeout 60 "$seer" ingest --quiet --no-watch --config "$tmp/a.conf"
check no_watch_one_pass test $? -eq 0
"$seer" ingest --config "$tmp/a.conf" >"$tmp/watch.out" 2>"$tmp/watch.err" &
pid=$!
for _ in $(seq 1 300); do grep -q "full walk every 10 s" "$tmp/watch.out" && break; sleep 0.1; done
check watch_first_walk grep -q "full walk every 10 s" "$tmp/watch.out"
cp "$src/samples/cifar10/horse/0005.jpg" "$tmp/photos/"
for _ in $(seq 1 300); do grep -q "added 1," "$tmp/watch.out" && break; sleep 0.1; done
check watch_second_walk_adds grep -q "added 1," "$tmp/watch.out"
kill -TERM "$pid"
wait "$pid"
check watch_stops_cleanly test $? -eq 0
pid=
check watch_store_has_it test "$(count "$tmp/db")" = 4
[ "$fail" = 0 ] || { cat "$tmp/watch.out" "$tmp/watch.err"; }
echo "$fail failed"
[ "$fail" = 0 ]
