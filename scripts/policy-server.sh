#!/usr/bin/env bash
# A Kubewarden policy-server (the host of record's, see scripts/hosts.sh) on
# free loopback ports, for the policy-server suite and `make load`.
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
    bin="$("$here/hosts.sh" bin "$("$here/hosts.sh" record)")/policy-server"
    [[ -x "$bin" ]] || { echo "$bin not found: run 'make setup'" >&2; exit 1; }
    local sources=()
    [[ -f "$dir/sources.yml" ]] && sources=(--sources-path "$dir/sources.yml")
    mkdir -p "$dir/downloads" "$dir/sigstore"
    rm -f "$dir/address" "$dir/pid"
    RUST_BACKTRACE=0 nohup "$bin" --addr 127.0.0.1 --port 0 --readiness-probe-port 0 \
        --policies "$dir/policies.yml" --policies-download-dir "$dir/downloads" --sigstore-cache-dir "$dir/sigstore" \
        --ignore-kubernetes-connection-failure --log-level warn --log-no-color "${sources[@]}" "$@" \
        >"$dir/policy-server.log" 2>&1 </dev/null &
    # Module compilation takes a few seconds; a download from a registry more.
    await_address "$dir" $! policy-server "$dir/policy-server.log" 60 api_when_ready
}

# api_when_ready PID: the API address of policy-server PID once its readiness
# port (the other of its two listening ports) answers /readiness.
api_when_ready() {
    local ports port
    ports="$(ss -ltnpH 2>/dev/null | grep "pid=$1," | grep -o '127\.0\.0\.1:[0-9]*' | cut -d: -f2 || true)"
    for port in $ports; do
        if [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readiness" || true)" == 200 ]]; then
            grep -vx "$port" <<<"$ports" | sed 's/^/127.0.0.1:/' || true
            return 0
        fi
    done
}

case "${1:-}" in
start) [[ $# -ge 2 ]] || usage; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || usage; stop_recorded "$2" ;;
*) usage ;;
esac
