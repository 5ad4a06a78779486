#!/usr/bin/env bash
# cmake/completion.sh SEER OUT — bash completion for seer, from the binary's
# own --help text: the commands `seer --help` lists, and for each command the
# --flags its `seer <command> --help` shows. Flags whose help names a
# DIR, FILE or PATH complete file names after them.
set -euo pipefail
seer=$1 out=$2
commands=$("$seer" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z-]*\) \{2,\}.*$/\1/p')
[ -n "$commands" ] || { echo "completion.sh: no commands in '$seer --help'" >&2; exit 1; }
global=$("$seer" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ')
{
    echo "# bash completion for seer — generated from seer --help by cmake/completion.sh"
    echo "_seer() {"
    echo '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i'
    echo '    for ((i = 1; i < COMP_CWORD; i++)); do'
    echo '        case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac'
    echo '    done'
    echo '    local flags= files='
    echo '    case $cmd in'
    echo "        '') flags='$global'"
    echo "            [[ \$cur == -* ]] || { COMPREPLY=(\$(compgen -W '$(echo $commands)' -- \"\$cur\")); return; } ;;"
    for c in $commands; do
        help=$("$seer" "$c" --help 2>&1 || true)
        flags=$(grep -o -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u | tr '\n' ' ')
        # "  --model DIR   ..." : flags taking a file or directory
        files=$(sed -n 's/^ *\(--[a-z][a-z0-9-]*\) \(DIR\|FILE\|PATH\)\b.*/\1/p' <<<"$help" | sort -u | tr '\n' ' ')
        echo "        $c) flags='$flags' files='$files' ;;"
    done
    echo '    esac'
    echo '    if [[ " $files " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames; return; fi'
    echo '    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); return; fi'
    echo '    COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames'
    echo "}"
    echo "complete -F _seer seer"
} >"$out"
bash -n "$out"
