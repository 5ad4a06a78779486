#!/usr/bin/env bash
# tests/cli_package.sh — the Debian package end to end, on this machine:
#   - tools/package.sh builds build/seer_<version>_<arch>.deb, whose Depends
#     were computed (dpkg-shlibdeps: libc6, liblmdb0, ...);
#   - `apt-get install ./build/seer_*.deb` installs it (apt resolves the
#     dependencies); `seer --version` prints the version and the commit;
#   - what it installs: the man pages (one per command), the bash completion
#     (completes a command and a flag), the units seer.service and
#     seer-ingest.service (systemd-analyze verify, when it can run here),
#     /etc/seer/seer.conf (root:seer 0640, parses), the seer user;
#   - the installed seer ingests the installed samples with the installed demo
#     model (through a settings file: db, model, photos), answers a search
#     with horses for "a photo of a horse", serves it over HTTP from
#     `seer serve --config`, and the installed demo chat model finds its
#     vision tower in share/seer by itself;
#   - `apt-get purge seer` removes it all: files, user, /etc/seer, and any
#     package apt pulled in for it.
# Leaves the machine as it found it. Needs root and apt: skips (77) without.
# Refuses to run (fails) where seer is already installed or a user seer
# exists, rather than replace them.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
src=${SEER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (installs a package)"; exit 77; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then echo "SKIP: no apt/dpkg"; exit 77; fi
if dpkg-query -W -f='${Status}' seer 2>/dev/null | grep -q "installed"; then
    echo "FAIL: a seer package is already installed; this test would replace it"; exit 1
fi
if getent passwd seer >/dev/null || getent group seer >/dev/null; then
    echo "FAIL: a user or group 'seer' exists; this test's purge would remove it"; exit 1
fi
for p in /etc/seer /var/lib/seer /usr/share/seer; do
    if [ -e "$p" ]; then echo "FAIL: $p exists without the package; this test would remove it"; exit 1; fi
done
fail=0
apt_q() { DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=600 "$@"; }
tmp=$(mktemp -d)
pid=
pkgs() { dpkg-query -W -f='${Package}:${Architecture} ${Status}\n' | grep ' installed$' | cut -d' ' -f1 | sort; }
before=$(pkgs)
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    if dpkg-query -W -f='${Status}' seer 2>/dev/null | grep -q "installed"; then apt_q purge seer >/dev/null; fi
    # anything apt pulled in for seer goes too
    local extra
    extra=$(comm -13 <(echo "$before") <(pkgs))
    [ -n "$extra" ] && apt_q purge $extra >/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$src/tools/package.sh" >"$tmp/package.log" 2>&1
check package_builds test $? -eq 0 || { tail -20 "$tmp/package.log"; exit 1; }
deb=$(ls "$src"/build/seer_*.deb 2>/dev/null | head -1)
check deb_exists test -f "$deb"
depends=$(dpkg-deb --field "$deb" Depends)
echo "     Depends: $depends"
check depends_computed bash -c "grep -q 'libc6 (>=' <<<'$depends' && grep -q liblmdb0 <<<'$depends' && grep -q adduser <<<'$depends'"

apt_q install "$deb" >"$tmp/install.log" 2>&1
check apt_install test $? -eq 0 || cat "$tmp/install.log"
seer=/usr/bin/seer
"$seer" --version >"$tmp/version" 2>&1
check version_rc test $? -eq 0
cat "$tmp/version" | sed 's/^/     /'
check version_text bash -c "grep -q '^seer [0-9][0-9.]*$' '$tmp/version' && grep -q '^commit: [0-9a-f]' '$tmp/version' && grep -q '^simd: ' '$tmp/version'"

# what the package holds
check files_installed test -f /usr/share/seer/models/demo/clip/model.safetensors -a -f /usr/share/seer/models/demo/moe-llava/config.json \
    -a -d /usr/share/seer/samples/cifar10/horse -a -f /usr/lib/systemd/system/seer.service \
    -a -f /usr/lib/systemd/system/seer-ingest.service -a -f /etc/seer/seer.conf
n_cmds=$("$seer" --help | sed -n '/^commands:/,/^$/p' | grep -c '^  [a-z]')
n_man=$(ls /usr/share/man/man1/seer-*.1.gz 2>/dev/null | wc -l)
check man_page_per_command test "$n_cmds" -gt 0 -a "$n_man" = "$n_cmds" -a -f /usr/share/man/man1/seer.1.gz
check man_has_help_text bash -c "zcat /usr/share/man/man1/seer-serve.1.gz | grep -q 'settings read before these options'"
check completion bash -c '
source /usr/share/bash-completion/completions/seer
COMP_WORDS=(seer ing); COMP_CWORD=1; _seer; [ "${COMPREPLY[*]}" = ingest ] || exit 1
COMP_WORDS=(seer serve --chat-m); COMP_CWORD=2; _seer; [ "${COMPREPLY[*]}" = --chat-model ] || exit 1'
check conf_permissions test "$(stat -c '%U:%G %a' /etc/seer/seer.conf)" = "root:seer 640"
check user_created bash -c "getent passwd seer >/dev/null"
"$seer" ingest --config /etc/seer/seer.conf >/dev/null 2>"$tmp/conf.err"
check shipped_conf_parses bash -c "[ $? = 2 ] && grep -q -- 'give at least one PATH' '$tmp/conf.err'"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /usr/lib/systemd/system/seer.service /usr/lib/systemd/system/seer-ingest.service >"$tmp/verify" 2>&1
    check unit_verifies test $? -eq 0 -a ! -s "$tmp/verify" || cat "$tmp/verify"
else
    echo "note: systemd-analyze is missing; the unit is not verified"
fi

# the installed seer on the installed data, through a settings file
cat >"$tmp/seer.conf" <<EOC
# test settings
db = $tmp/db
model = /usr/share/seer/models/demo/clip
photos = /usr/share/seer/samples/cifar10
listen = 127.0.0.1:0
EOC
(cd "$tmp" && "$seer" ingest --quiet --config "$tmp/seer.conf")
check ingest_samples test $? -eq 0
"$seer" search --db "$tmp/db" --json --k 10 "a photo of a horse" >"$tmp/search.json"
check search_rc test $? -eq 0
check search_horses python3 -c "
import json, os
r = json.load(open('$tmp/search.json'))['results']
n = sum(os.path.basename(os.path.dirname(x['path'])) == 'horse' for x in r)
print('     horses in the top 10:', n)
assert len(r) == 10 and n >= 5, r"

"$seer" serve --config "$tmp/seer.conf" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
url=$(server_url "$pid" "$tmp/serve.out")
check serve_from_settings test -n "$url" || cat "$tmp/serve.err"
if [ -n "$url" ]; then
    check http_search python3 -c "
import json, os, urllib.request, urllib.parse
r = json.load(urllib.request.urlopen('${url%/}/api/search?q=' + urllib.parse.quote('a photo of a horse') + '&k=10', timeout=60))['results']
n = sum(os.path.basename(os.path.dirname(x['path'])) == 'horse' for x in r)
assert n >= 5, r"
fi
kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=

# the demo chat model's tower (models/demo/clip) is found in share/seer
(cd "$tmp" && HOME=$tmp timeout 300 "$seer" chat --model /usr/share/seer/models/demo/moe-llava \
    --image /usr/share/seer/samples/cifar10/horse/0001.jpg --prompt "What is in this picture?" >"$tmp/chat.txt" 2>"$tmp/chat.err")
check chat_finds_tower test $? -eq 0 || cat "$tmp/chat.err"

# removal
apt_q purge seer >"$tmp/purge.log" 2>&1
check purge test $? -eq 0 || cat "$tmp/purge.log"
check removed bash -c "! dpkg-query -W -f='\${Status}' seer 2>/dev/null | grep -q installed && [ ! -e /usr/bin/seer ] && [ ! -e /usr/share/seer ] \
    && [ ! -e /etc/seer ] && [ ! -e /var/lib/seer ] && [ ! -e /usr/lib/systemd/system/seer.service ] && [ ! -e /usr/lib/systemd/system/seer-ingest.service ] && ! getent passwd seer >/dev/null \
    && ! getent group seer >/dev/null"
cleanup; trap - EXIT
check packages_as_before test "$before" = "$(pkgs)"
echo "$fail failed"
[ "$fail" = 0 ]
