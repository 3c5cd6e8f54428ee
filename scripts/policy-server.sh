#!/usr/bin/env bash
# A Kubewarden policy-server (1.35, the host of record) on free loopback
# ports, for the policy-server suite and `make load`.
#
#   scripts/policy-server.sh start DIR [OPTION...]
#       serves DIR/policies.yml (plain HTTP, no cluster), with DIR/sources.yml
#       as its sources when it exists and the other options given (e.g.
#       --sigstore-trust-config FILE, --workers N, --verification-path FILE);
#       waits until it is ready, prints 127.0.0.1:PORT (the API) and writes it
#       to DIR/address; DIR/policy-server.log holds its log. When it exits
#       during start-up (a policy refused, say), prints the log's last lines
#       and exits 1.
#   scripts/policy-server.sh stop DIR
#
# Both ports are chosen by the kernel (port 0) and read back with ss.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/pidfile.sh
. "$here/pidfile.sh"

usage() {
    echo "usage: $0 start DIR [OPTION...] | stop DIR" >&2
    exit 2
}

start() {
    local dir="$1"
    shift
    dir="$(cd "$dir" && pwd)"
    local bin
    bin="$("$here/hosts.sh" bin 1.35)/policy-server"
    [[ -x "$bin" ]] || { echo "$bin not found: run 'make setup'" >&2; exit 1; }
    local sources=()
    [[ -f "$dir/sources.yml" ]] && sources=(--sources-path "$dir/sources.yml")
    mkdir -p "$dir/downloads" "$dir/sigstore"
    rm -f "$dir/address" "$dir/pid"
    RUST_BACKTRACE=0 nohup "$bin" --addr 127.0.0.1 --port 0 --readiness-probe-port 0 \
        --policies "$dir/policies.yml" --policies-download-dir "$dir/downloads" --sigstore-cache-dir "$dir/sigstore" \
        --ignore-kubernetes-connection-failure --log-level warn --log-no-color "${sources[@]}" "$@" \
        >"$dir/policy-server.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/pid"
    local i port api=""
    # Module compilation takes a few seconds; a download from a registry more.
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "policy-server exited during start-up; log:" >&2
            tail -n 20 "$dir/policy-server.log" >&2
            rm -f "$dir/pid"
            exit 1
        fi
        for port in $(ss -ltnpH 2>/dev/null | grep "pid=$pid," | grep -o '127\.0\.0\.1:[0-9]*' | cut -d: -f2); do
            # The readiness port answers /readiness; the other is the API.
            if [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readiness" || true)" == 200 ]]; then
                api="$(ss -ltnpH | grep "pid=$pid," | grep -o '127\.0\.0\.1:[0-9]*' | cut -d: -f2 | grep -vx "$port" || true)"
            fi
        done
        if [[ -n "$api" ]]; then
            echo "127.0.0.1:$api" >"$dir/address"
            echo "127.0.0.1:$api"
            return 0
        fi
        sleep 0.1
    done
    echo "policy-server was not ready within 60s; log:" >&2
    tail -n 20 "$dir/policy-server.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
}

case "${1:-}" in
start) [[ $# -ge 2 ]] || usage; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || usage; stop_recorded "$2" ;;
*) usage ;;
esac
