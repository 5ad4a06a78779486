#!/usr/bin/env bash
# cmake/man_pages.sh SEER OUTDIR — the man pages, made by help2man from the
# binary's own --help text (seer --help and seer <command> --help), so that a
# man page cannot say something --help does not: seer.1 and seer-<command>.1
# for each command `seer --help` lists, gzipped as Debian wants them.
set -euo pipefail
seer=$1 out=$2
mkdir -p "$out"
rm -f "$out"/*.1.gz
version=$("$seer" --version | head -n 1)
# "  ingest       embed photo trees ..." lines between "commands:" and the next blank line
commands=$("$seer" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z-]*\) \{2,\}\(.*\)$/\1\t\2/p')
[ -n "$commands" ] || { echo "man_pages.sh: no commands in '$seer --help'" >&2; exit 1; }
see_also="seer(1)"
while IFS=$'\t' read -r cmd summary; do see_also+=", seer-$cmd(1)"; done <<<"$commands"
extra=$(mktemp)
trap 'rm -f "$extra"' EXIT
printf '[SEE ALSO]\n%s\n\nThe settings file /etc/seer/seer.conf and the service: /usr/share/doc/seer or docs/install.md in the source.\n' \
    "$see_also" >"$extra"
gen() { # NAME-SUFFIX HELP-OPTION DESCRIPTION
    help2man --no-info --no-discard-stderr --section=1 --include="$extra" --version-string="$version" \
        --help-option="$2" --name="$3" --output="$out/$1.1" "$seer"
    # help2man names the page after the binary: a command's page is seer-<command>
    local upper
    upper=$(tr a-z A-Z <<<"$1")
    sed -i -e "s/^\.TH SEER /.TH $upper /" -e "/^\.SH NAME/{n;s/^seer /$1 /}" "$out/$1.1"
    gzip -9n -f "$out/$1.1"
}
gen seer --help "image search and retrieval with visual question answering"
while IFS=$'\t' read -r cmd summary; do
    gen "seer-$cmd" "$cmd --help" "$summary"
done <<<"$commands"
