#!/usr/bin/env bash
# tests/cli_list.sh — browse, filters, paging, like=, z and near-duplicates
# from the command line (seer list, seer search, seer dupes) and the REST API
# (/api/images, /api/search, /api/duplicates) over a store of the 12 larger
# bundled samples spread over two folders with file dates (no EXIF: the date
# taken is the mtime) plus a resized, recompressed copy of one of them
# (tests/data/browse/horse-half.jpg): every id exactly once across pages,
# dates inclusive, folder absolute and relative to the ingested root, format,
# search filters applied before ranking, offset pages, like= excluding
# itself, the copy grouped with its original and nothing else, and bad
# parameters refused with a message (exit 2 / HTTP 400).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
seer=${SEER_BIN:?}
src=${SEER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export TZ=UTC
fail=0 total=0
model=$src/models/demo/clip
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/photos/2023/a" "$tmp/photos/2024/trip"
i=0
for f in "$src"/samples/larger/*.jpg; do
    if [ $((i % 2)) -eq 0 ]; then d=2023/a; day=2023-05-$(printf %02d $((i + 1))); else d=2024/trip; day=2024-02-$(printf %02d $((i + 1))); fi
    cp "$f" "$tmp/photos/$d/"
    touch -d "${day}T12:00:00Z" "$tmp/photos/$d/$(basename "$f")"
    i=$((i + 1))
done
cp "$src/tests/data/browse/horse-half.jpg" "$tmp/photos/2024/trip/"
touch -d "2024-02-28T12:00:00Z" "$tmp/photos/2024/trip/horse-half.jpg"
"$seer" ingest --db "$tmp/db" --model "$model" --quiet "$tmp/photos" || { echo "FAIL ingest"; exit 1; }
db=$tmp/db

# ---------------------------------------------------------------- seer list
"$seer" list --db "$db" --json --limit 1000 >"$tmp/all.json"
check list_rc test $? -eq 0
check list_all python3 -c "
import json
o=json.load(open('$tmp/all.json'))
assert o['total']==13 and len(o['images'])==13, o['total']
assert all(x['format']=='jpeg' and x['width']>0 for x in o['images'])"
n() { "$seer" list --db "$db" --json --limit 1000 "$@" | python3 -c "import json,sys; print(json.load(sys.stdin)['total'])"; }
# The dates (from the mtimes) and the ingested roots are recorded by seer
# ingest from the library branch's ingest commit on; until it is merged the
# date and relative-folder checks cannot run (tests/test_browse.c covers the
# same rules with metadata injected through store_commit).
meta=$(python3 -c "
import json
print(int(all(x['taken_source']=='mtime' for x in json.load(open('$tmp/all.json'))['images'])))")
if [ "$meta" = 1 ]; then
check list_dates_desc python3 -c "
import json
t=[x['taken'] for x in json.load(open('$tmp/all.json'))['images']]
assert t==sorted(t, reverse=True), t"
for order in asc desc; do
    for sort in taken added path; do
        : >"$tmp/pages"
        for off in 0 5 10 15; do
            "$seer" list --db "$db" --json --sort $sort --order $order --limit 5 --offset $off >>"$tmp/pages"
        done
        check pages_${sort}_$order python3 -c "
import json
ids=[x['id'] for l in open('$tmp/pages') for x in json.loads(l)['images']]
every=sorted(x['id'] for x in json.load(open('$tmp/all.json'))['images'])
assert sorted(ids)==every and len(ids)==len(set(ids)), ids"
    done
done
check after_inclusive test "$(n --after 2024-02-02)" -eq 7
check before_inclusive test "$(n --before 2023-05-01)" -eq 1
check between test "$(n --after 2023-05-01 --before 2023-05-11)" -eq 6
check folder_relative test "$(n --folder 2024/trip)" -eq 7
check folder_relative_slash test "$(n --folder 2023/)" -eq 6
else
    echo "SKIP dates and relative folders: this ingest records no dates or roots yet"
fi
check folder_absolute test "$(n --folder "$tmp/photos/2023/a")" -eq 6
check folder_component test "$(n --folder "$tmp/photos/2023/a/x")" -eq 0
check folder_prefix_not_component test "$(n --folder "$tmp/photos/202")" -eq 0
check format test "$(n --format JPEG)" -eq 13
check format_none test "$(n --format heic)" -eq 0
"$seer" list --db "$db" >"$tmp/lines" 2>"$tmp/err"
check list_lines bash -c "test \$(wc -l <'$tmp/lines') -eq 13 && grep -q '13 of 13 images' '$tmp/err'"
"$seer" list --db "$db" --after 2024-02-30 2>"$tmp/err" >/dev/null
check bad_date_rc test $? -eq 2
check bad_date_msg grep -q "after must be a date YYYY-MM-DD that exists" "$tmp/err"
"$seer" list --db "$db" --sort size 2>"$tmp/err" >/dev/null
check bad_sort bash -c "test $? -eq 2 && grep -q 'sort must be taken, added or path' '$tmp/err'"

# ---------------------------------------------------------------- seer search
"$seer" search --db "$db" --json --k 20 --folder "$tmp/photos/2024/trip" "a photo of a horse" >"$tmp/s.json"
check search_folder python3 -c "
import json
r=json.load(open('$tmp/s.json'))['results']
assert len(r)==7 and all('/2024/trip/' in x['path'] for x in r), r"
"$seer" search --db "$db" --json --k 13 "a photo of a horse" >"$tmp/full.json"
: >"$tmp/spages"
for off in 0 4 8 12; do "$seer" search --db "$db" --json --k 4 --offset $off "a photo of a horse" >>"$tmp/spages"; done
check search_pages python3 -c "
import json
full=[x['id'] for x in json.load(open('$tmp/full.json'))['results']]
pages=[x['id'] for l in open('$tmp/spages') for x in json.loads(l)['results']]
assert pages==full, (pages, full)"
copy=$(python3 -c "
import json
print(next(x['id'] for x in json.load(open('$tmp/all.json'))['images'] if x['path'].endswith('horse-half.jpg')))")
orig=$(python3 -c "
import json
print(next(x['id'] for x in json.load(open('$tmp/all.json'))['images'] if x['path'].endswith('horse-test0100-256px.jpg')))")
"$seer" search --db "$db" --json --k 12 --like "$orig" >"$tmp/like.json"
check like_copy_first python3 -c "
import json
o=json.load(open('$tmp/like.json')); r=o['results']
assert o['like']==$orig and len(r)==12 and r[0]['id']==$copy and all(x['id']!=$orig for x in r), r[:2]
assert r[0]['z']==max(x['z'] for x in r)"
"$seer" search --db "$db" --like 99999 2>"$tmp/err" >/dev/null
check like_missing bash -c "test $? -eq 1 && grep -q 'no stored image with id 99999' '$tmp/err'"

# ---------------------------------------------------------------- seer dupes
"$seer" dupes --db "$db" --json >"$tmp/d.json"
check dupes_group python3 -c "
import json
g=json.load(open('$tmp/d.json'))['groups']
assert len(g)==1 and sorted(x['id'] for x in g[0]['images'])==sorted([$orig, $copy]), g"
"$seer" dupes --db "$db" --threshold 1.5 2>"$tmp/err" >/dev/null
check dupes_bad_threshold test $? -eq 2

# ---------------------------------------------------------------- REST
"$seer" serve --db "$db" --listen 127.0.0.1:0 --reload 0 >"$tmp/out" 2>"$tmp/serr" &
pid=$!
url=$(server_url "$pid" "$tmp/out")
[ -n "$url" ] || { echo "FAIL server did not start"; cat "$tmp/serr"; exit 1; }
url=${url%/}
get() { curl -s -o "$tmp/body" -w '%{http_code}' "$url$1"; }
check api_images bash -c "test \$(curl -s -o '$tmp/b1' -w '%{http_code}' '$url/api/images?limit=5&offset=5&sort=path&order=asc&folder=$tmp/photos/2023') = 200"
check api_images_body python3 -c "
import json
o=json.load(open('$tmp/b1'))
assert o['total']==6 and len(o['images'])==1 and o['offset']==5, o
x=o['images'][0]; assert set(['id','path','taken','camera','format','width','height']) <= set(x), x"
check api_search_filter bash -c "test \$(curl -s -o '$tmp/b2' -w '%{http_code}' '$url/api/search?q=horse&k=20&folder=$tmp/photos/2024&format=jpeg') = 200 && python3 -c \"
import json
o=json.load(open('$tmp/b2')); r=o['results']
assert len(r)==7 and o['matches']==7 and all('/2024/' in x['path'] and 'z' in x for x in r), o\""
check api_like bash -c "test \$(curl -s -o '$tmp/b3' -w '%{http_code}' '$url/api/search?like=$orig&k=1') = 200 && grep -q '\"id\":$copy' '$tmp/b3'"
check api_meta bash -c "test \$(curl -s -o '$tmp/b4' -w '%{http_code}' '$url/api/images/$copy/meta') = 200 && grep -q 'horse-half.jpg' '$tmp/b4'"
check api_dupes bash -c "test \$(curl -s -o '$tmp/b5' -w '%{http_code}' '$url/api/duplicates') = 200 && grep -q '\"id\":$copy' '$tmp/b5'"
for bad in "images?sort=size" "images?order=up" "images?limit=0" "images?limit=1001" "images?offset=-1" \
           "images?after=2024-02-30" "images?before=2024-1-1" "images?after=2024-03-01&before=2024-01-01" \
           "images?folder=" "images?format=jp%2Fg" "search?q=x&offset=5000" "search?q=x&like=3" "search?like=abc" \
           "search?like=0" "search?q=x&camera=" "duplicates?threshold=0" "duplicates?threshold=abc"; do
    code=$(get "/api/$bad")
    check "api_400 $bad" bash -c "test $code = 400 && grep -q '\"error\"' '$tmp/body'"
done
check api_like_404 test "$(get '/api/search?like=99999')" = 404
kill -TERM "$pid"; wait "$pid"; rc=$?
pid=
check server_exit test $rc -eq 0

echo "$((total - fail)) passed, $fail failed"
[ $fail -eq 0 ]
