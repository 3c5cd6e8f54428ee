# shellcheck shell=bash
# Sourced by the scripts that start a background server and record it in
# DIR/pid and DIR/address (registry.sh, policy-server.sh).

# await_address DIR PID WHAT LOG SECONDS PROBE [ARG...]: records PID in
# DIR/pid, then runs `PROBE ARG... PID` every 0.1 s until it prints the
# server's address (it prints nothing until the server is ready), records
# that in DIR/address and prints it. Gives up, showing the end of LOG, when
# the process exits or SECONDS pass.
await_address() {
    local dir="$1" pid="$2" what="$3" log="$4" seconds="$5" i address
    shift 5
    echo "$pid" >"$dir/pid"
    for ((i = 0; i < seconds * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$what exited during start-up; log:" >&2
            tail -n 20 "$log" >&2
            rm -f "$dir/pid"
            exit 1
        fi
        address="$("$@" "$pid" || true)"
        if [[ -n "$address" ]]; then
            echo "$address" >"$dir/address"
            echo "$address"
            return 0
        fi
        sleep 0.1
    done
    echo "$what was not ready within ${seconds}s; log:" >&2
    tail -n 20 "$log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    exit 1
}

# stop_recorded DIR: end the process DIR/pid names (TERM, then KILL after 5 s)
# and forget it.
stop_recorded() {
    local dir="$1" pid i
    [[ -f "$dir/pid" ]] || return 0
    pid="$(cat "$dir/pid")"
    if kill "$pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid" "$dir/address"
}
