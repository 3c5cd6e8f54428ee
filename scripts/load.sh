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
# LOAD_CLIENTS sets the concurrencies, LOAD_CASES picks cases by request name
# (e.g. "pod unmatched"; default: all). The peer comes from outside the project
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
# Every policy of a case, ours and the peer's, in one policy-server. Ours is
# granted what it calls; the peer, oci/v2/verify.
policies() {
    local ours_module peer_module
    ours_module="file://$PWD/$ours"
    peer_module="file://$(cd "$(dirname "$peer")" && pwd)/$(basename "$peer")"
    jq -n --arg ours "$ours_module" --arg peer "$peer_module" --arg pattern "$REGISTRY/*" \
        --arg glob "$REGISTRY/**" --rawfile a "$(key a)" --rawfile b "$(key b)" \
        --argjson gha "$(jq .keyless.github "$FIXTURES")" '
        def ours($settings): {module: $ours, allowedToMutate: true,
            hostCapabilities: ["oci/v2/verify", "oci/v1/oci_manifest", "oci/v1/manifest_digest"],
            settings: $settings};
        def peer($settings): {module: $peer, allowedToMutate: true, hostCapabilities: ["oci/v2/verify"],
            settings: ($settings + {modifyImagesWithDigest: true})};
        def scst($keys; $names): {verification: {keys: $keys,
            images: [{namePattern: $pattern, keys: [$names[] | {name: .}]}]}, allowUnmatchedImages: true};
        {
            "ours-a": ours(scst([{name: "a", publicKey: $a}]; ["a"])),
            "peer-a": peer({signatures: [{image: $pattern, pubKeys: [$a]}]}),
            # A key rotation: the old key first, the image signed by the new one.
            "ours-ab": ours(scst([{name: "a", publicKey: $a}, {name: "b", publicKey: $b}]; ["a", "b"])),
            # The peer has no any-of: its user names the key that signs.
            "peer-b": peer({signatures: [{image: $pattern, pubKeys: [$b]}]}),
            "ours-gha": ours(scst([{name: "gha", githubActions: {owner: $gha.owner, repo: $gha.repo}}]; ["gha"])),
            "peer-gha": peer({signatures: [{image: $pattern, githubActions: {owner: $gha.owner, repo: $gha.repo}}]}),
            "ours-pc": ours({clusterImagePolicies: [{apiVersion: "policy.sigstore.dev/v1beta1",
                kind: "ClusterImagePolicy", metadata: {name: "load"},
                spec: {images: [{glob: $glob}], authorities: [{key: {data: $a}}]}}], noMatchPolicy: "allow"})
        }'
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
pod nginx:1.25 | review >"$work/unmatched.json"
# A key rotation, each signature logged as cosign logs it by default.
pod "$(image logged-a)" | review >"$work/first-key.json"
pod "$(image logged-b)" | review >"$work/second-key.json"
pod "$(image keyless-github)" | review >"$work/keyless.json"
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

# label|ours' policy|the peer's policy|request
cases=(
    "one signed image, a Pod|ours-a|peer-a|pod"
    "an image no rule names (no host call), a Pod|ours-a|peer-a|unmatched"
    "signed by the first of two keys, a Pod|ours-ab|peer-a|first-key"
    "signed by the second of two keys, a Pod|ours-ab|peer-b|second-key"
    "50 containers over 5 signed images, a Deployment|ours-a|peer-a|deployment-50"
    "50 containers running one signed image, a Deployment|ours-a|peer-a|deployment-50-one"
    "one keyless image (GitHub Actions), a Pod|ours-gha|peer-gha|keyless"
    "one signed image, a policy-controller policy (ours), a Pod|ours-pc|peer-a|pod"
    "an unsigned image, denied, a Pod|ours-a|peer-a|denied"
)

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
for case in "${cases[@]}"; do
    IFS='|' read -r label ours_policy peer_policy request <<<"$case"
    [[ -z "${LOAD_CASES:-}" || " $LOAD_CASES " == *" $request "* ]] || continue
    body="$work/$request.json"
    decisions="$(decision "$address" "$ours_policy" "$body"), $(decision "$address" "$peer_policy" "$body")"
    for clients in $clients_list; do
        # The modules take turns, run by run, so that drift on the machine
        # falls on both alike.
        declare -A rates=() p50s=() p99s=() results=()
        for ((run = 0; run < runs; run++)); do
            for module in "$ours_policy" "$peer_policy"; do
                read -r rate p50 p99 <<<"$(load "$address" "$module" "$body" "$clients")"
                rates[$module]+="$rate " p50s[$module]+="$p50 " p99s[$module]+="$p99 "
            done
        done
        for module in "$ours_policy" "$peer_policy"; do
            results[$module]="$(tr ' ' '\n' <<<"${rates[$module]}" | grep . | median)"
            results[$module]+=" $(tr ' ' '\n' <<<"${p50s[$module]}" | grep . | median)"
            results[$module]+=" $(tr ' ' '\n' <<<"${p99s[$module]}" | grep . | median)"
        done
        read -r our_rate our_p50 our_p99 <<<"${results[$ours_policy]}"
        read -r peer_rate peer_p50 peer_p99 <<<"${results[$peer_policy]}"
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
        times[$module]+="$(first "$address" "$module-a" "$work/deployment-10.json") "
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
