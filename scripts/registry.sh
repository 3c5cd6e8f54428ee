#!/usr/bin/env bash
# Throw-away local OCI registry (CNCF distribution) for development and tests.
#
#   scripts/registry.sh start DIR [HTPASSWD]
#                                   start on a free 127.0.0.1 port, print
#                                   127.0.0.1:PORT and write it to DIR/address;
#                                   also writes DIR/pid, DIR/config.yml,
#                                   DIR/registry.log and DIR/storage; with
#                                   HTPASSWD (an htpasswd file, bcrypt), every
#                                   request needs those credentials
#
# The registry binds port 0 and the port it got is read from its log, so two
# registries started at once never race for a port.
#   scripts/registry.sh start-fault DIR FAULT
#                                   a registry that misbehaves (the fixtures
#                                   tool's serve-fault: status:CODE:BYTES,
#                                   garbage or silent), likewise on a free port
#   scripts/registry.sh stop DIR    stop the registry started in DIR
#   scripts/registry.sh restart DIR start the registry of DIR again, on the
#                                   address it had and with what it held (a
#                                   registry outage that ends)
#
# REGISTRY_BIN overrides the registry binary (default /usr/bin/docker-registry),
# FIXTURES_BIN the fixtures tool (default target/debug/fixtures).
set -euo pipefail
# shellcheck source=scripts/pidfile.sh
. "$(dirname "$0")/pidfile.sh"

REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"
# A relative CARGO_TARGET_DIR is the repository's, as make and cargo read it there.
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$(cd "$(dirname "$0")/.." && pwd)/$target_dir"
FIXTURES_BIN="${FIXTURES_BIN:-$target_dir/debug/fixtures}"

usage() {
    echo "usage: $0 start DIR [HTPASSWD] | start-fault DIR FAULT | stop DIR | restart DIR" >&2
    exit 2
}

running() {
    local dir="$1"
    [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

start() {
    local dir="$1" htpasswd="${2:-}" address="${3:-127.0.0.1:0}"
    prepare "$dir"
    dir="$(cd "$dir" && pwd)"
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
  addr: $address
  secret: signed-images-local-registry
EOF
    if [[ -n "$htpasswd" ]]; then
        printf 'auth:\n  htpasswd:\n    realm: signed-images-local-registry\n    path: %s\n' \
            "$(cd "$(dirname "$htpasswd")" && pwd)/$(basename "$htpasswd")" >>"$dir/config.yml"
    fi
    nohup "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
    wait_for_address "$dir" $! "${htpasswd:+auth}"
}

start_fault() {
    local dir="$1" fault="$2"
    prepare "$dir"
    dir="$(cd "$dir" && pwd)"
    [[ -x "$FIXTURES_BIN" ]] || { echo "$FIXTURES_BIN not found (cargo build -p signed-images-fixtures)" >&2; exit 1; }
    nohup "$FIXTURES_BIN" serve-fault "$fault" >"$dir/registry.log" 2>&1 </dev/null &
    wait_for_address "$dir" $! none
}

prepare() {
    local dir="$1"
    mkdir -p "$dir/storage"
    if running "$dir"; then
        echo "a registry is already running from $dir at $(cat "$dir/address" 2>/dev/null)" >&2
        exit 1
    fi
    rm -f "$dir/address" "$dir/pid"
}

# wait_for_address DIR PID [CHECK]: waits until the server PID started from
# DIR has written the port it got to its log; with CHECK http (the default) or
# auth, also until /v2/ answers (200, or 401 for a registry that wants
# credentials); none: no check.
wait_for_address() {
    await_address "$1" "$2" "the registry" "$1/registry.log" 10 address_when_ready "$1" "${3:-http}"
}

# address_when_ready DIR CHECK PID: the registry's address once it is ready.
address_when_ready() {
    local dir="$1" check="$2" address want=200
    [[ "$check" == auth ]] && want=401
    address="$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$dir/registry.log" | head -n 1 | cut -d' ' -f3 || true)"
    [[ -n "$address" ]] || return 0
    if [[ "$check" == none ]] ||
        [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$address/v2/" || true)" == "$want" ]]; then
        echo "$address"
    fi
}

stop() {
    if [[ ! -f "$1/pid" ]]; then
        echo "no registry pid file in $1" >&2
    fi
    # Kept for restart: the address, and whether it wanted credentials.
    [[ -f "$1/address" ]] && cp "$1/address" "$1/last-address"
    stop_recorded "$1"
}

restart() {
    local dir="$1" htpasswd=""
    [[ -f "$dir/last-address" ]] || { echo "no registry was stopped in $dir" >&2; exit 1; }
    htpasswd="$(sed -n 's/^    path: //p' "$dir/config.yml")"
    start "$dir" "$htpasswd" "$(cat "$dir/last-address")"
}

case "${1:-}:$#" in
start:2 | start:3) start "${@:2}" ;;
start-fault:3) start_fault "$2" "$3" ;;
stop:2) stop "$2" ;;
restart:2) restart "$2" ;;
*) usage ;;
esac
