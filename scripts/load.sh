#!/usr/bin/env bash
# Load, side by side: one policy-server (the host of record, see
# scripts/hosts.sh) serving this policy and
# Kubewarden's verify-image-signatures (the peer) on the same rules, against
# the local registry, with wrk as the load generator on loopback.
#
#   scripts/load.sh        (make load builds the module and fixtures first)
#
# For each case and 1, 4 and 16 concurrent clients, LOAD_RUNS runs (default
# 5) of LOAD_SECONDS seconds (default 5) each per module, the modules taking
# turns; prints the median of the runs' throughput and p50/p99 latency, and
# ours / peer. Then the cold case: a fresh policy-server per run, one client,
# the first request's latency.
# LOAD_CLIENTS sets the concurrencies. The peer comes from outside the project
# (scripts/peer.sh: PEER_WASM, or where `kwctl pull` stores it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${LOAD_RUNS:-5}" seconds="${LOAD_SECONDS:-5}" clients_list="${LOAD_CLIENTS:-1 4 16}"
peer="$(scripts/peer.sh path)" || { echo "######## make load needs the peer" >&2; exit 1; }
ours="annotated-policy.wasm"
[[ -f "$ours" ]] || { echo "$ours is missing: run 'make load'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed: run 'make setup'" >&2; exit 1; }
# shellcheck source=scripts/testbed.sh
. scripts/testbed.sh

work="$(mktemp -d)"
cleanup() {
    scripts/policy-server.sh stop "$work/server" >/dev/null 2>&1 || true
    testbed_down "$work"
    rm -rf "$work"
}
trap cleanup EXIT
testbed_up "$work"

# ---- the policies: the same rules in each module's words ---------------------
policies() {
    jq -n --arg ours "file://$PWD/$ours" --arg peer "file://$(cd "$(dirname "$peer")" && pwd)/$(basename "$peer")" \
        --arg pattern "$REGISTRY/*" --rawfile key "$(key a)" '{
        ours: {"module": $ours, allowedToMutate: true, hostCapabilities: ["oci/v2/verify", "oci/v1/oci_manifest"],
            settings: {verification: {keys: [{name: "a", publicKey: $key}], images: [{namePattern: $pattern, keys: [{name: "a"}]}]}}},
        peer: {"module": $peer, allowedToMutate: true, hostCapabilities: ["oci/v2/verify"],
            settings: {signatures: [{image: $pattern, pubKeys: [$key]}], modifyImagesWithDigest: true}}}'
}
mkdir -p "$work/server"
policies >"$work/server/policies.yml"
cp "$work/sources.yaml" "$work/server/sources.yml"
start_server() {
    scripts/policy-server.sh start "$work/server" --sigstore-trust-config "$work/fixtures/trust-config.json"
}

# ---- the requests, as AdmissionReviews ----------------------------------------
review() { jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: .}'; }
pod "$(image signed-a)" | review >"$work/pod.json"
fleet=()
for i in $(seq 0 49); do fleet+=("$(image "fleet-$((i % 5 + 1))")"); done
workload deployment "${fleet[@]}" | review >"$work/deployment-50.json"
same=()
for i in $(seq 0 49); do same+=("$(image signed-a)"); done
workload deployment "${same[@]}" | review >"$work/deployment-50-one.json"
pod "$(image unsigned)" | review >"$work/denied.json"
distinct=()
for i in $(seq 1 10); do distinct+=("$(image "fleet-$i")"); done
workload deployment "${distinct[@]}" | review >"$work/deployment-10.json"

# decision ADDRESS POLICY BODY: what the policy answers.
decision() {
    curl -s -m 30 -H 'Content-Type: application/json' --data-binary @"$3" "http://$1/validate/$2" |
        jq -r 'if .response.allowed then "admitted" else "denied" end'
}

# ---- measuring ----------------------------------------------------------------------
# to_ms "1.23ms": milliseconds.
to_ms() {
    awk -v t="$1" 'BEGIN { n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; printf "%.2f", n * f }'
}

# load ADDRESS POLICY BODY CLIENTS: "REQ_PER_S P50_MS P99_MS" of one wrk run.
load() {
    local threads=$(($4 < 2 ? $4 : 2)) out
    out="$(WRK_BODY="$3" wrk -t "$threads" -c "$4" -d "${seconds}s" --latency -s scripts/wrk-post.lua \
        "http://$1/validate/$2")"
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "policy-server answered errors during the run:" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" \
        "$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

address="$(start_server)"
echo "policy-server $("$(scripts/hosts.sh bin "$(scripts/hosts.sh record)")/policy-server" --version 2>/dev/null | head -n 1 | awk '{ print $NF }')," \
    "$(nproc) CPUs (workers: one per CPU), registry $REGISTRY; wrk ${seconds}s per run, median of $runs runs"
echo "ours: $ours ($(stat -c %s "$ours") bytes); peer: $peer"
echo
echo "| request | clients | ours req/s | peer req/s | ours / peer | p50 ours, peer | p99 ours, peer | decision (ours, peer) |"
echo "|---|---|---|---|---|---|---|---|"
for case in "one signed image, a Pod|pod" "50 containers over 5 signed images, a Deployment|deployment-50" \
    "50 containers running one signed image, a Deployment|deployment-50-one" \
    "an unsigned image, denied, a Pod|denied"; do
    label="${case%|*}" body="$work/${case#*|}.json"
    decisions="$(decision "$address" ours "$body"), $(decision "$address" peer "$body")"
    for clients in $clients_list; do
        # The modules take turns, run by run, so that drift on the machine
        # falls on both alike.
        declare -A rates=() p50s=() p99s=() results=()
        for ((run = 0; run < runs; run++)); do
            for module in ours peer; do
                read -r rate p50 p99 <<<"$(load "$address" "$module" "$body" "$clients")"
                rates[$module]+="$rate " p50s[$module]+="$p50 " p99s[$module]+="$p99 "
            done
        done
        for module in ours peer; do
            results[$module]="$(tr ' ' '\n' <<<"${rates[$module]}" | grep . | median)"
            results[$module]+=" $(tr ' ' '\n' <<<"${p50s[$module]}" | grep . | median)"
            results[$module]+=" $(tr ' ' '\n' <<<"${p99s[$module]}" | grep . | median)"
        done
        read -r our_rate our_p50 our_p99 <<<"${results[ours]}"
        read -r peer_rate peer_p50 peer_p99 <<<"${results[peer]}"
        printf '| %s | %s | %.0f | %.0f | %.2f | %s, %s ms | %s, %s ms | %s |\n' "$label" "$clients" "$our_rate" "$peer_rate" \
            "$(awk -v a="$our_rate" -v b="$peer_rate" 'BEGIN { print a / b }')" "$our_p50" "$peer_p50" "$our_p99" "$peer_p99" "$decisions"
    done
done
scripts/policy-server.sh stop "$work/server"

# ---- cold: a fresh policy-server, its first request ---------------------------------
# first ADDRESS POLICY BODY: the first request's latency, in milliseconds.
first() {
    curl -s -m 30 -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' --data-binary @"$3" \
        "http://$1/validate/$2" | awk '{ printf "%.1f", $1 * 1000 }'
}
declare -A cold=() times=()
for ((run = 0; run < runs; run++)); do
    for module in ours peer; do
        address="$(start_server)"
        times[$module]+="$(first "$address" "$module" "$work/deployment-10.json") "
        scripts/policy-server.sh stop "$work/server"
    done
done
for module in ours peer; do
    cold[$module]="$(tr ' ' '\n' <<<"${times[$module]}" | grep . | median)"
done
echo
echo "Cold: a fresh policy-server's first request, a Deployment with 10 distinct signed images, one client" \
    "(median of $runs): ours ${cold[ours]} ms, peer ${cold[peer]} ms," \
    "ours / peer $(awk -v a="${cold[ours]}" -v b="${cold[peer]}" 'BEGIN { printf "%.2f", a / b }')."
