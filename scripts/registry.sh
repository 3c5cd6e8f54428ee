#!/usr/bin/env bash
# Throw-away local OCI registry (CNCF distribution) for development and tests.
#
#   scripts/registry.sh start DIR   start on a free 127.0.0.1 port, print
#                                   127.0.0.1:PORT and write it to DIR/address;
#                                   also writes DIR/pid, DIR/config.yml,
#                                   DIR/registry.log and DIR/storage
#
# The registry binds port 0 and the port it got is read from its log, so two
# registries started at once never race for a port.
#   scripts/registry.sh stop DIR    stop the registry started in DIR
#
# REGISTRY_BIN overrides the registry binary (default /usr/bin/docker-registry).
set -euo pipefail

REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

running() {
    local dir="$1"
    [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

start() {
    local dir="$1"
    mkdir -p "$dir/storage"
    dir="$(cd "$dir" && pwd)"
    if running "$dir"; then
        echo "a registry is already running from $dir at $(cat "$dir/address" 2>/dev/null)" >&2
        exit 1
    fi
    [[ -x "$REGISTRY_BIN" ]] || { echo "$REGISTRY_BIN not found (apt-get install docker-registry)" >&2; exit 1; }

    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: signed-images-local-registry
EOF
    rm -f "$dir/address" "$dir/pid"
    nohup "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/pid"

    local i address=""
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the registry exited during startup; log:" >&2
            tail -n 20 "$dir/registry.log" >&2
            rm -f "$dir/pid"
            exit 1
        fi
        if [[ -z "$address" ]]; then
            address="$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$dir/registry.log" | head -n 1 | cut -d' ' -f3 || true)"
        fi
        if [[ -n "$address" && "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$address/v2/" || true)" == "200" ]]; then
            echo "$address" >"$dir/address"
            echo "$address"
            return 0
        fi
        sleep 0.1
    done
    echo "the registry did not answer on /v2/ within 10s; log:" >&2
    tail -n 20 "$dir/registry.log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    exit 1
}

stop() {
    local dir="$1"
    if [[ ! -f "$dir/pid" ]]; then
        echo "no registry pid file in $dir" >&2
        return 0
    fi
    local pid i
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

[[ $# -eq 2 ]] || usage
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
*) usage ;;
esac
