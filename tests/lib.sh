# tests/lib.sh — helpers the shell tests source (not a test itself).
#
#   . "$(dirname "$0")/lib.sh"
#   check NAME COMMAND...        run COMMAND: "ok   NAME" or "FAIL NAME";
#                                counts $total and $fail
#   url=$(server_url PID FILE)   the http://... URL a starting `seer serve`
#                                (process PID) prints into FILE, waiting up
#                                to 30 s; empty when it exits or never says
fail=${fail:-0} total=${total:-0}

check() { # check NAME COMMAND...
    local name=$1; shift
    total=$((total + 1))
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}

server_url() { # server_url PID FILE
    local u=
    for _ in $(seq 1 300); do
        u=$(grep -o 'http://[^ ]*' "$2" 2>/dev/null | head -1)
        [ -n "$u" ] && break
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    echo "$u"
}
