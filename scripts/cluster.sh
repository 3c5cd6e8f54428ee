#!/usr/bin/env bash
# A read-only Kubernetes API server on a free loopback port, for the
# context-aware calls of policy-server in the tests (the fixtures tool's
# serve-cluster: GET /a/b/c answers DIR/objects/a/b/c.json, anything else 404).
#
#   scripts/cluster.sh start DIR    start it, print 127.0.0.1:PORT and write
#                                   DIR/address and DIR/kubeconfig (plain
#                                   HTTP, no credentials); it serves the
#                                   discovery documents of apps/v1 and
#                                   batch/v1, and what the tests put under
#                                   DIR/objects
#   scripts/cluster.sh stop DIR     stop it
#
# FIXTURES_BIN overrides the fixtures tool (default target/debug/fixtures).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/pidfile.sh
. "$here/pidfile.sh"
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$here/../$target_dir"
FIXTURES_BIN="${FIXTURES_BIN:-$target_dir/debug/fixtures}"

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

# discovery GROUP_VERSION KIND:PLURAL...: an APIResourceList of namespaced kinds.
discovery() {
    local group_version="$1"
    shift
    jq -n --arg gv "$group_version" '{kind: "APIResourceList", apiVersion: "v1", groupVersion: $gv,
        resources: [$ARGS.positional[] | split(":") | {name: .[1], singularName: (.[0] | ascii_downcase),
        namespaced: true, kind: .[0], verbs: ["get", "list", "watch"]}]}' --args "$@"
}

start() {
    local dir="$1"
    mkdir -p "$dir/objects/apis/apps" "$dir/objects/apis/batch" "$dir/objects/api"
    dir="$(cd "$dir" && pwd)"
    [[ -x "$FIXTURES_BIN" ]] || { echo "$FIXTURES_BIN not found (cargo build -p signed-images-fixtures)" >&2; exit 1; }
    echo '{"major": "1", "minor": "33", "gitVersion": "v1.33.0"}' >"$dir/objects/version.json"
    discovery apps/v1 ReplicaSet:replicasets Deployment:deployments StatefulSet:statefulsets \
        DaemonSet:daemonsets >"$dir/objects/apis/apps/v1.json"
    discovery batch/v1 Job:jobs CronJob:cronjobs >"$dir/objects/apis/batch/v1.json"
    discovery v1 Pod:pods ReplicationController:replicationcontrollers >"$dir/objects/api/v1.json"
    rm -f "$dir/address" "$dir/pid"
    nohup "$FIXTURES_BIN" serve-cluster "$dir/objects" >"$dir/cluster.log" 2>&1 </dev/null &
    await_address "$dir" $! "the cluster" "$dir/cluster.log" 10 address_when_listening "$dir"
    cat >"$dir/kubeconfig" <<EOC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "http://$(cat "$dir/address")"}
users:
- name: test
  user: {}
contexts:
- name: test
  context: {cluster: test, user: test, namespace: default}
current-context: test
EOC
}

# address_when_listening DIR PID: the address the server printed, once it has.
address_when_listening() {
    grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$1/cluster.log" | head -n 1 | cut -d' ' -f3 || true
}

case "${1:-}:$#" in
start:2) start "$2" ;;
stop:2) stop_recorded "$2" ;;
*) usage ;;
esac
