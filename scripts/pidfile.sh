# shellcheck shell=bash
# Sourced by the scripts that start a background server and record it in
# DIR/pid and DIR/address (registry.sh, policy-server.sh).

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
