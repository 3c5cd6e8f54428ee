#!/usr/bin/env bash
# This policy and Kubewarden's verify-image-signatures (the peer) side by side
# in one run, in kwctl bench, on the same requests against the same local
# registry. kwctl bench reuses one module instance for every evaluation, so
# these figures leave out what a fresh instance costs; policy-server builds one
# per request, and the per-request figures of record come from it
# (scripts/load.sh, `make load`; see docs/performance.md).
#
#   scripts/bench.sh        (make bench builds the module and fixtures first)
#
# Prints, for each case, the median over BENCH_RUNS runs (default 3) of kwctl
# bench's mean time per evaluation for both modules and their ratio. A kwctl
# bench run warms up BENCH_WARM_UP seconds (default 1) and measures
# BENCH_MEASURE seconds (default 2). The peer comes from outside the project
# (scripts/peer.sh: PEER_WASM, or where `kwctl pull` stores it).
# BENCH_CASES picks cases by letter (e.g. "a i"; default: all).
# The host is the host of record's kwctl; KUBEWARDEN_HOST=VERSION runs the
# same cases in another release's, e.g. the minimum's (scripts/hosts.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/hosts.sh bin "${KUBEWARDEN_HOST:-$(scripts/hosts.sh record)}"):$PATH"
export PATH RUST_BACKTRACE=0
runs="${BENCH_RUNS:-3}" warm_up="${BENCH_WARM_UP:-1}" measure="${BENCH_MEASURE:-2}"
ours="annotated-policy.wasm"
peer="$(scripts/peer.sh path)" || { echo "######## make bench needs the peer" >&2; exit 1; }
[[ -f "$ours" ]] || { echo "$ours is missing: run 'make bench'" >&2; exit 1; }

# shellcheck source=scripts/testbed.sh
. scripts/testbed.sh
work="$(mktemp -d)"
cleanup() {
    testbed_down "$work"
    scripts/registry.sh stop "$work/outage" >/dev/null 2>&1 || true
    scripts/cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
testbed_up "$work"
registry="$REGISTRY" fixtures="$FIXTURES"

# ---- requests ----------------------------------------------------------------
pod "$(image signed-a)" >"$work/signed.json"
pod nginx:1.25 >"$work/unmatched.json"
pod "$(image signed-b)" >"$work/second-key-unlogged.json"
# Signed and logged as cosign does by default: the Rekor entry names the key.
pod "$(image logged-b)" >"$work/second-key.json"
pod "$(image logged-a)" >"$work/first-key.json"
# A kubelet's status write: ours compares the policy's annotations only; the
# peer (not registered for status) reads it like any Pod with an image no rule names.
jq -c '.operation = "UPDATE" | .subResource = "status"
    | .object.metadata.annotations["image-policy.signing/status"] = "verified"
    | .oldObject = .object | .object.status = {phase: "Running"}' "$work/unmatched.json" >"$work/status.json"
fleet=()
for i in $(seq 0 49); do fleet+=("$(image "fleet-$((i % 5 + 1))")"); done
workload deployment "${fleet[@]}" >"$work/fleet.json"

# ---- settings: the same rules in each module's words -------------------------
# ours_settings KEY...: every image of the registry needs one of the keys.
ours_settings() {
    jq -n --rawfile a "$(key a)" --rawfile b "$(key b)" --arg pattern "$registry/*" '{
        verification: {keys: [{name: "a", publicKey: $a}, {name: "b", publicKey: $b}],
        images: [{namePattern: $pattern, keys: [$ARGS.positional[] | {name: .}]}]},
        allowUnmatchedImages: true}' --args "$@"
}
# peer_settings KEY...: every image of the registry needs ALL the keys (the
# peer has no any-of; a peer user names the key that signs).
peer_settings() {
    jq -n --arg pattern "$registry/*" '{signatures: [{image: $pattern,
        pubKeys: [$ARGS.positional[] | $keys[.]]}], modifyImagesWithDigest: true}' \
        --argjson keys "$(jq -n --rawfile a "$(key a)" --rawfile b "$(key b)" '{a: $a, b: $b}')" --args "$@"
}
# A GitHub Actions identity, in each module's words.
jq -n --arg p "$registry/*" --argjson id "$(jq .keyless.github "$fixtures")" '{verification: {keys: [{name: "gha",
    githubActions: {owner: $id.owner, repo: $id.repo}}], images: [{namePattern: $p, keys: [{name: "gha"}]}]},
    allowUnmatchedImages: true}' >"$work/ours-gha.json"
jq -n --arg p "$registry/*" --argjson id "$(jq .keyless.github "$fixtures")" '{signatures: [{image: $p,
    githubActions: {owner: $id.owner, repo: $id.repo}}], modifyImagesWithDigest: true}' >"$work/peer-gha.json"
# The same rules as a policy-controller ClusterImagePolicy: key a, and the
# GitHub Actions identity as regular expressions (ours reads the certificates
# of the .sig manifest, then asks the host exactly).
policy_controller() {
    jq -n --arg glob "$registry/**" --argjson authority "$1" '{clusterImagePolicies: [{
        apiVersion: "policy.sigstore.dev/v1beta1", kind: "ClusterImagePolicy", metadata: {name: "bench"},
        spec: {images: [{glob: $glob}], authorities: [$authority]}}], noMatchPolicy: "allow"}'
}
policy_controller "$(jq -n --rawfile a "$(key a)" '{key: {data: $a}}')" >"$work/ours-pc-a.json"
policy_controller "$(jq .keyless.github "$fixtures" | jq '{keyless: {identities: [{issuer: .issuer,
    subjectRegExp: ("^https://github.com/" + .owner + "/" + .repo + "/")}]}}')" >"$work/ours-pc-regexp.json"
pod "$(image keyless-github)" >"$work/keyless.json"
ours_settings a >"$work/ours-a.json"
ours_settings a b >"$work/ours-ab.json"
peer_settings a >"$work/peer-a.json"
peer_settings b >"$work/peer-b.json"
peer_settings a b >"$work/peer-ab.json"

kwctl_args=(--sigstore-trust-config "$work/fixtures/trust-config.json" --sources-path "$work/sources.yaml")

# ---- a registry outage ----------------------------------------------------------
# A ReplicaSet admitted while its registry answered, kept in a local read-only
# API server (scripts/cluster.sh, which kwctl reads through KUBECONFIG), then
# the registry stopped: its Pod fails to reach the registry in both modules;
# ours then reads the ReplicaSet once and admits the Pod on its sealed record,
# the peer denies it.
outage="$(scripts/registry.sh start "$work/outage")"
"${FIXTURES_BIN:-${CARGO_TARGET_DIR:-target}/debug/fixtures}" --registry "$outage" --out "$work/outage-fixtures" 2>/dev/null
printf -- '- "%s"\n' "$outage" >>"$work/sources.yaml"
outage_key="$(jq -r .keys.a "$work/outage-fixtures/fixtures.json")"
jq -n --rawfile a "$outage_key" --arg p "$outage/*" '{verification: {keys: [{name: "a", publicKey: $a}],
    images: [{namePattern: $p, keys: [{name: "a"}]}]}, outageFallback: {recordKey: "a-random-record-key-of-at-least-32-characters"}}' \
    >"$work/ours-outage.json"
jq -n --rawfile a "$outage_key" --arg p "$outage/*" '{signatures: [{image: $p, pubKeys: [$a]}], modifyImagesWithDigest: true}' \
    >"$work/peer-outage.json"
scripts/cluster.sh start "$work/cluster" >/dev/null
export KUBECONFIG="$work/cluster/kubeconfig"
request="$(workload replicaset "$outage/signed-a:v1")"
response="$(kwctl run "${kwctl_args[@]}" --settings-path "$work/ours-outage.json" --request-path <(echo "$request") "$ours" 2>/dev/null | tail -n 1)"
mkdir -p "$work/cluster/objects/apis/apps/v1/namespaces/default/replicasets"
mutated | jq -c '.metadata.uid = "uid-replicaset"' >"$work/cluster/objects/apis/apps/v1/namespaces/default/replicasets/demo.json"
pod "$outage/signed-a:v1" | jq -c '.object.metadata |= (del(.name) | .generateName = "demo-" | .ownerReferences =
    [{apiVersion: "apps/v1", kind: "ReplicaSet", name: "demo", uid: "uid-replicaset", controller: true}])' >"$work/outage-child.json"
scripts/registry.sh stop "$work/outage"

# ---- measuring ----------------------------------------------------------------
# to_us "12.34µs": microseconds.
to_us() {
    awk -v t="$1" 'BEGIN { n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        f = (u == "ns") ? 0.001 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 1; printf "%.1f", n * f }'
}

# bench MODULE SETTINGS REQUEST: "SETTINGS_US VALIDATE_US", kwctl bench's mean
# time per evaluation of validate_settings and of validate.
bench() {
    kwctl bench "${kwctl_args[@]}" "${case_args[@]}" --warm-up-time "$warm_up" --measurement-time "$measure" \
        --settings-path "$2" --request-path "$3" "$1" 2>"$work/bench.log" >"$work/bench.out" \
        || { cat "$work/bench.log" >&2; exit 1; }
    # "\telapsed\t[min mean max]:\t[MIN MEAN MAX] (...)", once for validate_settings, once for validate.
    local means
    means="$(sed 's/\x1b\[[0-9;]*m//g' "$work/bench.out" | grep -o 'max\]:[[:space:]]*\[[^]]*\]' |
        awk '{ print $3 }')"
    [[ "$(wc -l <<<"$means")" == 2 ]] || { echo "unexpected kwctl bench output:" >&2; cat "$work/bench.out" >&2; exit 1; }
    echo "$(to_us "$(sed -n 1p <<<"$means")") $(to_us "$(sed -n 2p <<<"$means")")"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# decision MODULE SETTINGS REQUEST: what the module answers, so that both
# modules are seen to decide the same before they are timed.
decision() {
    kwctl run "${kwctl_args[@]}" "${case_args[@]}" --settings-path "$2" --request-path "$3" "$1" 2>/dev/null |
        tail -n 1 | jq -r 'if .allowed then "admitted" else "denied" end'
}

# label|ours' settings|peer's settings|request|what is timed (column of bench's answer: 1 validate_settings, 2 validate)[|kwctl option]
cases=(
    "(a) Pod, one signed image|ours-a|peer-a|signed|2"
    "(b) Pod, image matching no rule (no host call)|ours-a|peer-a|unmatched|2"
    # A key rotation: ours lists the old key first; the peer names the one that signed.
    "(c) Pod, signed by the second of two keys|ours-ab|peer-b|second-key|2"
    "(m) Pod, signed by the first of two keys|ours-ab|peer-a|first-key|2"
    # Not logged: nothing names the key, and the first is asked in vain.
    "(n) Pod, signed by the second of two keys, not logged|ours-ab|peer-b|second-key-unlogged|2"
    "(d) Deployment, 50 containers over 5 signed images|ours-a|peer-a|fleet|2"
    "(e) validate_settings, a policy with two keys|ours-ab|peer-ab|signed|1"
    "(f) pods/status UPDATE (ours: the annotation guard)|ours-a|peer-a|status|2"
    # The same settings file for both: ours reads verify-image-signatures' settings.
    "(g) Pod, one signed image, the peer's settings file for both|peer-a|peer-a|signed|2"
    "(h) Deployment, 50 containers, the peer's settings file for both|peer-a|peer-a|fleet|2"
    # Ours checks the host's keyless answer (the .sig manifest, a certificate
    # question); the peer takes it as it comes.
    "(i) Pod, one keyless image (GitHub Actions key)|ours-gha|peer-gha|keyless|2"
    # Ours: the failed verification, one owner read (the host caches it 5 s), the record checked.
    "(j) a ReplicaSet's Pod, its registry stopped (ours: the owner's record)|ours-outage|peer-outage|outage-child|2|--allow-context-aware"
    # Ours reads a policy-controller ClusterImagePolicy; the peer its own settings.
    "(k) Pod, one signed image, a policy-controller policy (key)|ours-pc-a|peer-a|signed|2"
    # Ours: the digest, the .sig manifest, the exact question, the certificate check.
    "(l) Pod, one keyless image, a policy-controller identity as regular expressions|ours-pc-regexp|peer-gha|keyless|2"
)

echo "kwctl $(kwctl --version | head -n 1 | awk '{ print $NF }') (one module instance reused), registry $registry;" \
    "median of $runs runs of kwctl bench's mean (warm-up ${warm_up}s, measurement ${measure}s)"
echo "ours: $ours ($(stat -c %s "$ours") bytes); peer: $peer ($(stat -c %s "$peer") bytes)"
echo
echo "| request | ours | peer | ours / peer | decision (ours, peer) |"
echo "|---|---|---|---|---|"
for case in "${cases[@]}"; do
    IFS='|' read -r label ours_settings peer_settings request column option <<<"$case"
    case_args=(${option:+"$option"})
    letter="${label:1:1}"
    [[ -z "${BENCH_CASES:-}" || " $BENCH_CASES " == *" $letter "* ]] || continue
    ours_settings="$work/$ours_settings.json" peer_settings="$work/$peer_settings.json" request="$work/$request.json"
    ours_times=() peer_times=()
    for ((run = 0; run < runs; run++)); do
        ours_times+=("$(bench "$ours" "$ours_settings" "$request" | cut -d' ' -f"$column")")
        peer_times+=("$(bench "$peer" "$peer_settings" "$request" | cut -d' ' -f"$column")")
    done
    ours_us="$(printf '%s\n' "${ours_times[@]}" | median)"
    peer_us="$(printf '%s\n' "${peer_times[@]}" | median)"
    if [[ "$column" == 1 ]]; then
        decisions="valid, valid"
    else
        decisions="$(decision "$ours" "$ours_settings" "$request"), $(decision "$peer" "$peer_settings" "$request")"
    fi
    printf '| %s | %s µs | %s µs | %.2f | %s |\n' "$label" "$ours_us" "$peer_us" \
        "$(awk -v a="$ours_us" -v b="$peer_us" 'BEGIN { print a / b }')" "$decisions"
done

# ---- cold verifications ---------------------------------------------------------
# kwctl run starts with an empty verification cache, like a policy-server that
# has not seen the images yet: the wall time of one evaluation with N distinct
# signed images, less the time with one that no rule names (no host call), is
# what N cold verifications cost.
cold=(signed-a signed-ab annotated multiarch fleet-1 fleet-2 fleet-3 fleet-4 fleet-5)
wall_ms() {
    local start end
    start=$(date +%s%N)
    kwctl run "${kwctl_args[@]}" --settings-path "$work/ours-a.json" --request-path "$1" "$ours" >/dev/null 2>&1
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
pod nginx:1.25 >"$work/none.json"
cold_images=()
for name in "${cold[@]}"; do cold_images+=("$(image "$name")"); done
pod "${cold_images[@]}" >"$work/cold.json"
none_ms=() cold_ms=()
for ((run = 0; run < runs; run++)); do
    none_ms+=("$(wall_ms "$work/none.json")")
    cold_ms+=("$(wall_ms "$work/cold.json")")
done
none="$(printf '%s\n' "${none_ms[@]}" | median)" all="$(printf '%s\n' "${cold_ms[@]}" | median)"
echo
echo "Cold: kwctl run of a Pod with ${#cold[@]} distinct signed images, host cache empty (median of $runs):" \
    "$all ms, against $none ms with no image:" \
    "$(awk -v a="$all" -v n="$none" -v c="${#cold[@]}" 'BEGIN { printf "%.1f", (a - n) / c }') ms per cold verification on the local registry."
