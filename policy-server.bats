#!/usr/bin/env bats
# The policy-server suite: the module in the policy-server of the host of
# record (scripts/hosts.sh), run as an operator runs it. The release path done
# locally (the annotated module pushed to the local registry with kwctl, signed
# in cosign's format, loaded by policy-server from registry:// with that
# signature required), AdmissionReviews over HTTP for the main scenarios, a
# registry that wants credentials, and faults. policy-server and the registries run on free
# loopback ports (scripts/policy-server.sh, scripts/registry.sh); no single
# wait is longer than 60 s. Run by `make policy-server-tests`; without that
# policy-server every test is skipped, except under CI=true.

bats_require_minimum_version 1.5.0
load tests/bats/helpers

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
FIXTURES_BIN="$TARGET_DIR/debug/fixtures"
POLICY="${POLICY:-annotated-policy.wasm}"
# The grant the README tells operators to give (policies.yml's hostCapabilities).
CAPABILITIES='["oci/v2/verify", "oci/v1/oci_manifest"]'

host_bin() { scripts/hosts.sh bin "$HOST_OF_RECORD" 2>/dev/null; }
have_policy_server() { [[ -x "$(host_bin)/policy-server" ]]; }

setup_file() {
    export RUST_BACKTRACE=0
    if ! have_policy_server; then
        host_missing "policy-server $HOST_OF_RECORD is not installed"
        return
    fi
    PATH="$(host_bin):$PATH"
    export PATH
    [[ -f "$POLICY" ]] || { echo "$POLICY is missing: run 'make policy-server-tests'" >&2; return 1; }
    export WORK
    WORK="$(mktemp -d)"
    testbed_up "$WORK"
    export TRUST="$WORK/fixtures/trust-config.json"

    # The release path, locally: push, sign the pushed digest, require the signature.
    local version published
    version="$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
    export ARTIFACT="$REGISTRY/policies/signed-images-policy:v$version"
    published="$(scripts/publish.sh push "$POLICY" "$ARTIFACT" --sources-path "$WORK/sources.yaml" 2>/dev/null)"
    "$FIXTURES_BIN" sign-artifact "$REGISTRY" policies/signed-images-policy "${published#*@}" "$WORK/artifact.pub"
    export PUBLISHED="$published"
    verification_config "$WORK/artifact.pub" >"$WORK/verification.yml"

    # The policy-server of most tests: the published module, its signature required.
    mkdir -p "$WORK/main"
    policy signed-images "registry://$ARTIFACT" "$(settings_for "$REGISTRY/*")" >"$WORK/main/policies.yml"
    export PS
    PS="$(start_in "$WORK/main" --verification-path "$WORK/verification.yml")"
}

teardown_file() {
    [[ -n "${WORK:-}" ]] || return 0
    local dir
    for dir in "$WORK"/*/; do
        scripts/policy-server.sh stop "$dir" 2>/dev/null || true
        scripts/registry.sh stop "$dir" 2>/dev/null || true
        scripts/cluster.sh stop "$dir" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

setup() {
    export RUST_BACKTRACE=0
    have_policy_server || skip "policy-server $HOST_OF_RECORD is not installed: 'make setup' installs it"
}

# ---- policy-server, its policies and settings -------------------------------------

# verification_config PUBLIC_KEY: policy-server's --verification-path file
# requiring a signature by the key.
verification_config() {
    jq -n --rawfile key "$1" '{apiVersion: "v1", allOf: [{kind: "pubKey", key: $key}]}'
}

# policy ID MODULE SETTINGS [CAPABILITIES]: a policies.yml (JSON is YAML)
# with one policy, allowed to mutate, granted CAPABILITIES (default: the
# README's grant).
policy() {
    jq -n --arg id "$1" --arg wasm "$2" --argjson settings "$3" --argjson capabilities "${4:-$CAPABILITIES}" \
        '{($id): {"module": $wasm, allowedToMutate: true, hostCapabilities: $capabilities, settings: $settings}}'
}

# settings_for PATTERN [KEY]: images of PATTERN need the fixtures' key (a).
settings_for() {
    jq -nc --arg pattern "$1" --rawfile key "$(jq -r ".keys[\"${2:-a}\"]" "$WORK/fixtures/fixtures.json")" \
        '{verification: {keys: [{name: "a", publicKey: $key}], images: [{namePattern: $pattern, keys: [{name: "a"}]}]}}'
}

# start_in DIR [OPTION...]: policy-server serving DIR/policies.yml with the
# fixtures' trust config and DIR/sources.yml (the suite's, unless DIR has one);
# prints its address.
start_in() {
    [[ -f "$1/sources.yml" ]] || cp "$WORK/sources.yaml" "$1/sources.yml"
    scripts/policy-server.sh start "$1" --sigstore-trust-config "$TRUST" "${@:2}"
}

# start_fails DIR NEEDLE [OPTION...]: policy-server refuses to start, saying NEEDLE.
start_fails() {
    run start_in "$1" "${@:3}"
    [[ "$status" -ne 0 ]] || { echo "policy-server started" >&2; return 1; }
    [[ "$output" == *"$2"* ]] || { printf 'expected %s in:\n%s\n' "$2" "$output" >&2; return 1; }
}

# review POLICY REQUEST [ADDRESS]: the request as an AdmissionReview to
# policy-server; sets $response (its AdmissionResponse), $request and $code
# (the HTTP status, 000 when none came within REVIEW_TIMEOUT, default 30 s).
review() {
    # shellcheck disable=SC2034 # read by mutated (scripts/testbed.sh)
    request="$2"
    jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: .}' <<<"$2" >"$BATS_TEST_TMPDIR/review.json"
    post "$1" "$BATS_TEST_TMPDIR/review.json" "${3:-$PS}"
}

# post POLICY FILE [ADDRESS]: like review, for a body written as is.
post() {
    local out
    out="$(curl -s -m "${REVIEW_TIMEOUT:-30}" -H 'Content-Type: application/json' --data-binary @"$2" -w '\n%{http_code}' \
        "http://${3:-$PS}/validate/$1" || true)"
    code="${out##*$'\n'}"
    response="$(jq -c '.response // {}' <<<"${out%$'\n'*}" 2>/dev/null || echo '{}')"
}

# ---- published, pulled, verified ------------------------------------------------------

@test "published: kwctl pushed the module, it is signed, and kwctl verify checks the signature policy-server will" {
    scripts/publish.sh verify "$PUBLISHED" --sources-path "$WORK/sources.yaml" --sigstore-trust-config "$TRUST" \
        --verification-key "$WORK/artifact.pub" 2>/dev/null
    run scripts/publish.sh verify "$PUBLISHED" --sources-path "$WORK/sources.yaml" --sigstore-trust-config "$TRUST" \
        --verification-key "$(jq -r '.keys.b' "$WORK/fixtures/fixtures.json")"
    [[ "$status" -ne 0 ]]
}

@test "pulled: policy-server loads the module from registry:// with its signature required, and serves it" {
    review signed-images "$(pod "$(image signed-a)")"
    assert_equal "$code" 200
    allowed
    assert_equal "$(annotation status)" verified
}

@test "an unsigned artifact is refused when policy-server starts, with its message" {
    scripts/publish.sh push "$POLICY" "$REGISTRY/policies/unsigned:v1" --sources-path "$WORK/sources.yaml" >/dev/null 2>&1
    mkdir -p "$WORK/unsigned"
    policy signed-images "registry://$REGISTRY/policies/unsigned:v1" "$(settings_for "$REGISTRY/*")" >"$WORK/unsigned/policies.yml"
    start_fails "$WORK/unsigned" "Error: Policy 'signed-images' cannot be verified: no signatures found for image" \
        --verification-path "$WORK/verification.yml"
}

@test "an artifact signed by another key is refused when policy-server starts" {
    mkdir -p "$WORK/other-key"
    cp "$WORK/main/policies.yml" "$WORK/other-key/"
    verification_config "$(jq -r '.keys.b' "$WORK/fixtures/fixtures.json")" >"$WORK/other-key.yml"
    start_fails "$WORK/other-key" "Error: Policy 'signed-images' cannot be verified: Image verification failed: missing signatures" \
        --verification-path "$WORK/other-key.yml"
}

@test "settings the module refuses stop policy-server at start, the field named" {
    mkdir -p "$WORK/bad-settings"
    policy signed-images "registry://$ARTIFACT" '{"verification": {"keys": [{"name": "a", "publicKey": "junk"}]}}' \
        >"$WORK/bad-settings/policies.yml"
    start_fails "$WORK/bad-settings" "verification.keys[0] (a): publicKey: not a PEM"
}

# ---- served ------------------------------------------------------------------------

@test "served: every kind, signed admitted and stamped, unsigned denied" {
    local kind
    for kind in pod deployment replicaset statefulset daemonset job cronjob replicationcontroller; do
        review signed-images "$(request "$kind" "$(image signed-a)")"
        allowed
        assert_equal "$(annotation status)" verified
        assert_equal "$(verified_images)" \
            "$(jq -nc --arg i "$(image signed-a)" --arg d "$(digest signed-a)" '{($i): {digest: $d, key: "a"}}')"
        review signed-images "$(request "$kind" "$(image unsigned)")"
        denied
        assert_equal "$(field .status.code)" 403
        assert_equal "$(message)" "The image: $(image unsigned) is not signed. key a: no signatures found"
    done
}

@test "served: a Pod is pinned to the verified digest, a Deployment left as written; other fields kept" {
    review signed-images "$(request pod "$(image signed-a)")"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$(image signed-a)@$(digest signed-a)"
    assert_equal "$(mutated | jq -c '.spec.containers[0].futureContainerField')" '{"kept":true}'
    review signed-images "$(request deployment "$(image signed-a)")"
    allowed
    assert_equal "$(mutated | jq -r '.spec.template.spec.containers[0].image')" "$(image signed-a)"
}

@test "served: a status write that changes the policy's annotations is denied" {
    review signed-images "$(request pod "$(image unsigned)" | jq -c '.operation = "UPDATE" | .subResource = "status"
        | .oldObject = .object | .object.metadata.annotations["image-policy.signing/status"] = "verified"')"
    denied
    [[ "$(message)" == *"cannot be changed through the Pod status subresource"* ]]
}

@test "served: an unreadable request is a 400, from the module or from policy-server" {
    review signed-images "$(pod "$(image signed-a)" | jq -c 'del(.object.spec.containers[0].image)')"
    denied
    assert_equal "$(field .status.code)" 400
    [[ "$(message)" == "cannot read the admission request: "*"spec.containers[0].image"* ]]
    printf 'not json' >"$BATS_TEST_TMPDIR/garbage.json"
    post signed-images "$BATS_TEST_TMPDIR/garbage.json"
    assert_equal "$code" 400
}

@test "served: keyless, a genuine GitHub Actions signature admitted and a forgery denied" {
    mkdir -p "$WORK/keyless"
    policy keyless "file://$PWD/$POLICY" "$(jq -c --arg p "$REGISTRY/*" '{verification: {keys: [{name: "gha",
        githubActions: {owner: .keyless.github.owner, repo: .keyless.github.repo}}],
        images: [{namePattern: $p, keys: [{name: "gha"}]}]}}' "$WORK/fixtures/fixtures.json")" >"$WORK/keyless/policies.yml"
    local address
    address="$(start_in "$WORK/keyless")"
    review keyless "$(pod "$(image keyless-github)")" "$address"
    allowed
    review keyless "$(pod "$(image forged-github)")" "$address"
    denied
    [[ "$(message)" == *"signs none of them (copied from another signature?)" ]]
    scripts/policy-server.sh stop "$WORK/keyless"
}

@test "host capabilities: without the grant, verification fails closed with policy-server's message" {
    mkdir -p "$WORK/no-grant"
    policy signed-images "file://$PWD/$POLICY" "$(settings_for "$REGISTRY/*")" '[]' >"$WORK/no-grant/policies.yml"
    local address
    address="$(start_in "$WORK/no-grant")"
    review signed-images "$(pod "$(image signed-a)")" "$address"
    denied
    assert_equal "$(message)" "The image: $(image signed-a) is not signed. key a: Policy has not been granted access to \
the 'oci/v2/verify' host capability. The violation has been reported."
    scripts/policy-server.sh stop "$WORK/no-grant"
}

# ---- a registry that wants credentials -------------------------------------------

@test "a private registry: verified with the PolicyServer's credentials; without them denied, the refusal named" {
    htpasswd -Bbn robot s3cret >"$WORK/htpasswd"
    local private
    private="$(scripts/registry.sh start "$WORK/private" "$WORK/htpasswd")"
    "$FIXTURES_BIN" --registry "$private" --out "$WORK/private-fixtures" --auth robot:s3cret 2>/dev/null
    mkdir -p "$WORK/docker" "$WORK/with-credentials" "$WORK/without-credentials"
    jq -n --arg registry "$private" --arg auth "$(printf robot:s3cret | base64)" \
        '{auths: {($registry): {auth: $auth}}}' >"$WORK/docker/config.json"
    local dir settings image
    settings="$(jq -nc --arg p "$private/*" --rawfile key "$(jq -r .keys.a "$WORK/private-fixtures/fixtures.json")" \
        '{verification: {keys: [{name: "a", publicKey: $key}], images: [{namePattern: $p, keys: [{name: "a"}]}]}}')"
    image="$(jq -r '.images["signed-a"].ref' "$WORK/private-fixtures/fixtures.json")"
    for dir in with-credentials without-credentials; do
        policy signed-images "file://$PWD/$POLICY" "$settings" >"$WORK/$dir/policies.yml"
        printf 'insecure_sources:\n- "%s"\n' "$private" >"$WORK/$dir/sources.yml"
    done
    local address
    address="$(start_in "$WORK/with-credentials" --docker-config-json-path "$WORK/docker")"
    review signed-images "$(pod "$image")" "$address"
    allowed
    address="$(start_in "$WORK/without-credentials")"
    review signed-images "$(pod "$image")" "$address"
    denied
    assert_equal "$(message)" "The image: $image is not signed. key a: the registry refused: not authorized (401)"
}

# ---- faults: nothing is admitted that should not be --------------------------------

@test "faults: a registry stopped, or answering 500 or garbage: denied, the cause named" {
    local doomed failing garbage
    doomed="$(scripts/registry.sh start "$WORK/doomed")"
    "$FIXTURES_BIN" --registry "$doomed" --out "$WORK/doomed-fixtures" 2>/dev/null
    failing="$(scripts/registry.sh start-fault "$WORK/failing" status:500:64)"
    garbage="$(scripts/registry.sh start-fault "$WORK/garbage" garbage)"
    mkdir -p "$WORK/faults"
    printf 'insecure_sources:\n- "%s"\n- "%s"\n- "%s"\n' "$doomed" "$failing" "$garbage" >"$WORK/faults/sources.yml"
    policy signed-images "file://$PWD/$POLICY" "$(jq -nc --rawfile key "$(jq -r .keys.a "$WORK/doomed-fixtures/fixtures.json")" \
        '{verification: {keys: [{name: "a", publicKey: $key}], images: [{namePattern: "*", keys: [{name: "a"}]}]}}')" \
        >"$WORK/faults/policies.yml"
    local address
    address="$(start_in "$WORK/faults")"
    scripts/registry.sh stop "$WORK/doomed"
    review signed-images "$(pod "$doomed/signed-a:v1")" "$address"
    denied
    assert_equal "$(message)" "The image: $doomed/signed-a:v1 is not signed. key a: cannot reach the registry (connection failed)"
    review signed-images "$(pod "$failing/team/app:1")" "$address"
    denied
    assert_equal "$(message)" "The image: $failing/team/app:1 is not signed. key a: the registry answered HTTP 500"
    review signed-images "$(pod "$garbage/team/app:1")" "$address"
    denied
    [[ "$(message)" == "The image: $garbage/team/app:1 is not signed. key a: "?* ]]
}

@test "faults: a restarted policy-server (a cold cache) reads the signature from the registry again, and admits pinned" {
    mkdir -p "$WORK/restarted"
    cp "$WORK/main/policies.yml" "$WORK/restarted/"
    local address first signature_tag
    # The registry's access log names each read of the image's .sig tag.
    signature_tag="$(digest fleet-7 | sed 's/:/-/').sig"
    reads() { grep -c "manifests/$signature_tag" "$WORK/registry/registry.log" || true; }
    address="$(start_in "$WORK/restarted" --verification-path "$WORK/verification.yml")"
    review signed-images "$(pod "$(image fleet-7)")" "$address"
    allowed
    review signed-images "$(pod "$(image fleet-7)")" "$address"
    allowed
    local warm
    warm="$(reads)"
    scripts/policy-server.sh stop "$WORK/restarted"
    address="$(start_in "$WORK/restarted" --verification-path "$WORK/verification.yml")"
    first="$(date +%s%N)"
    review signed-images "$(pod "$(image fleet-7)")" "$address"
    allowed
    (($(reads) > warm)) || { echo "no read of $signature_tag after the restart ($warm before)" >&2; return 1; }
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$(image fleet-7)@$(digest fleet-7)"
    echo "# first request after the restart: $((($(date +%s%N) - first) / 1000000)) ms" >&3
    scripts/policy-server.sh stop "$WORK/restarted"
}

@test "faults: a signature deleted after a first verification still admits until the host's cache forgets it" {
    local revoked address digest since denied_after=""
    revoked="$(scripts/registry.sh start "$WORK/revoked")"
    "$FIXTURES_BIN" --registry "$revoked" --out "$WORK/revoked-fixtures" 2>/dev/null
    mkdir -p "$WORK/revocation"
    printf 'insecure_sources:\n- "%s"\n' "$revoked" >"$WORK/revocation/sources.yml"
    policy signed-images "file://$PWD/$POLICY" "$(jq -nc --arg p "$revoked/*" --rawfile key \
        "$(jq -r .keys.a "$WORK/revoked-fixtures/fixtures.json")" '{verification: {keys: [{name: "a", publicKey: $key}],
        images: [{namePattern: $p, keys: [{name: "a"}]}]}}')" >"$WORK/revocation/policies.yml"
    address="$(start_in "$WORK/revocation")"
    review signed-images "$(pod "$revoked/signed-a:v1")" "$address"
    allowed
    digest="$(jq -r '.images["signed-a"].digest' "$WORK/revoked-fixtures/fixtures.json")"
    delete_signature "$revoked" signed-a "$digest"
    since="$SECONDS"
    # Polled every 5 s, for at most 75 s: the cache keeps successes 60 s.
    while ((SECONDS - since < 75)); do
        review signed-images "$(pod "$revoked/signed-a:v1")" "$address"
        if [[ "$(field .allowed)" == false ]]; then
            denied_after=$((SECONDS - since))
            break
        fi
        sleep 5
    done
    [[ -n "$denied_after" ]] || { echo "still admitted 75 s after the signature was deleted" >&2; return 1; }
    echo "# the deleted signature stopped admitting after ${denied_after} s" >&3
    ((denied_after > 0)) || { echo "denied at once: the host did not cache the success" >&2; return 1; }
    scripts/policy-server.sh stop "$WORK/revocation"
}

# as_update OLD NEW: an UPDATE of OLD to NEW (objects as stored).
as_update() {
    workload "$(jq -r '.kind | ascii_downcase' <<<"$1")" x |
        jq -c --argjson old "$1" --argjson new "$2" '.operation = "UPDATE" | .oldObject = $old | .object = $new'
}

@test "outage: the registry stopped mid-test: unchanged updates pass, changed images are denied, a ReplicaSet's Pod rides out on its record" {
    local outage address image settings pod deployment replicaset stopped old_new old new respelled child
    outage="$(scripts/registry.sh start "$WORK/outage")"
    "$FIXTURES_BIN" --registry "$outage" --out "$WORK/outage-fixtures" 2>/dev/null
    scripts/cluster.sh start "$WORK/outage-cluster" >/dev/null
    mkdir -p "$WORK/outage-ps"
    printf 'insecure_sources:\n- "%s"\n' "$outage" >"$WORK/outage-ps/sources.yml"
    settings="$(jq -nc --arg p "$outage/*" --rawfile key "$(jq -r .keys.a "$WORK/outage-fixtures/fixtures.json")" \
        '{verification: {keys: [{name: "a", publicKey: $key}], images: [{namePattern: $p, keys: [{name: "a"}]}]},
        outageFallback: {recordKey: "a-random-record-key-of-at-least-32-characters"}}')"
    policy signed-images "file://$PWD/$POLICY" "$settings" '["oci/v2/verify", "oci/v1/oci_manifest", "kubernetes/get_resource"]' |
        jq '.["signed-images"].contextAwareResources = [{apiVersion: "apps/v1", kind: "ReplicaSet"}]' >"$WORK/outage-ps/policies.yml"
    address="$(KUBECONFIG="$WORK/outage-cluster/kubeconfig" start_in "$WORK/outage-ps")"
    image="$outage/fleet-4:v1"

    # Created while the registry answers; the ReplicaSet is then in the cluster.
    review signed-images "$(pod "$image")" "$address"
    allowed
    pod="$(mutated | jq -c '.metadata.uid = "uid-pod"')"
    review signed-images "$(workload deployment "$image")" "$address"
    allowed
    deployment="$(mutated | jq -c '.metadata.uid = "uid-deployment"')"
    review signed-images "$(workload replicaset "$image")" "$address"
    allowed
    replicaset="$(mutated | jq -c '.metadata.uid = "uid-replicaset"')"
    assert_equal "$(jq -r '.metadata.annotations["image-policy.signing/status"]' <<<"$replicaset")" verified
    mkdir -p "$WORK/outage-cluster/objects/apis/apps/v1/namespaces/default/replicasets"
    printf '%s' "$replicaset" >"$WORK/outage-cluster/objects/apis/apps/v1/namespaces/default/replicasets/demo.json"

    scripts/registry.sh stop "$WORK/outage"
    stopped="$SECONDS"
    # A finalizer removal, a label change, a replicas edit: nothing new runs.
    for old_new in "$pod|$(jq -c '.metadata.finalizers = []' <<<"$pod")" "$pod|$(jq -c '.metadata.labels.tier = "web"' <<<"$pod")" \
        "$deployment|$(jq -c '.spec.replicas = 0' <<<"$deployment")"; do
        IFS='|' read -r old new <<<"$old_new"
        review signed-images "$(as_update "$old" "$new")" "$address"
        allowed
        assert_equal "$(annotation status)" verified
    done
    # Another image is verified, and the registry cannot be reached.
    review signed-images "$(as_update "$pod" "$(jq -c --arg i "$outage/fleet-5:v1" '.spec.containers[0].image = $i' <<<"$pod")")" "$address"
    denied
    assert_equal "$(message)" "The image: $outage/fleet-5:v1 is not signed. key a: cannot reach the registry (connection failed)"

    # Once the host's cache of successes (60 s) has forgotten fleet-4:
    sleep $((61 - (SECONDS - stopped)))
    respelled="127.0.0.1:0${outage##*:}/fleet-4:v1"
    review signed-images "$(as_update "$pod" "$(jq -c --arg i "$respelled" '.spec.containers[0].image = $i' <<<"$pod")")" "$address"
    denied
    assert_equal "$(message)" "The image: $respelled is not signed. key a: cannot reach the registry (connection failed)"
    child="$(pod "$image" | jq -c '.object.metadata |= (del(.name) | .generateName = "demo-" | .ownerReferences =
        [{apiVersion: "apps/v1", kind: "ReplicaSet", name: "demo", uid: "uid-replicaset", controller: true}])')"
    review signed-images "$child" "$address"
    allowed
    assert_equal "$(annotation status)" owner-verified
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$image@$(jq -r '.images["fleet-4"].digest' "$WORK/outage-fixtures/fixtures.json")"
    [[ "$(field '.warnings[0]')" == "$image: its registry could not be reached"* ]]
    # Its owner gone from the cluster: denied as without the fallback.
    rm "$WORK/outage-cluster/objects/apis/apps/v1/namespaces/default/replicasets/demo.json"
    sleep 6 # the host caches cluster reads for 5 s
    review signed-images "$child" "$address"
    denied
    assert_equal "$(message)" "The image: $image is not signed. key a: cannot reach the registry (connection failed)"
    [[ "$(field '.warnings[0]')" == *"cannot read its owner ReplicaSet/demo"* ]]
    scripts/policy-server.sh stop "$WORK/outage-ps"
    scripts/cluster.sh stop "$WORK/outage-cluster"
}

# ---- a registry that never answers ------------------------------------------------

# silent_policy DIR [namedRegistriesOnly]: a policy whose `*` entry sends the
# host to any registry, the suite's and a silent one among them.
silent_policy() {
    mkdir -p "$1"
    printf 'insecure_sources:\n- "%s"\n- "%s"\n' "$REGISTRY" "$SILENT" >"$1/sources.yml"
    policy signed-images "file://$PWD/$POLICY" "$(settings_for "$REGISTRY/*" | jq -c --argjson named "${2:-false}" \
        '.verification.images += [.verification.images[0] | .namePattern = "*"] | .namedRegistriesOnly = $named')" \
        >"$1/policies.yml"
}

@test "a silent registry holds the request, its worker and every uncached verification, past the policy timeout" {
    export SILENT
    SILENT="$(scripts/registry.sh start-fault "$WORK/silent" silent)"
    silent_policy "$WORK/held"
    local address started
    address="$(start_in "$WORK/held" --workers 2 --policy-timeout 2)"
    pod "$SILENT/app:1" | jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: .}' >"$WORK/silent.json"
    curl -s -m 20 -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/silent.json" \
        "http://$address/validate/signed-images" &
    sleep 1
    # A signed image nobody asked about yet waits behind it (one worker is
    # still free): the host verifies one signature at a time.
    started="$SECONDS"
    REVIEW_TIMEOUT=5 review signed-images "$(pod "$(image fleet-8)")" "$address"
    assert_equal "$code" 000
    echo "# a cold verification beside the silent registry: no answer in $((SECONDS - started)) s" >&3
    wait
    scripts/policy-server.sh stop "$WORK/held"
}

@test "namedRegistriesOnly: two workers, four Pods naming a silent registry in flight, a signed Pod answered within 1 s" {
    export SILENT
    SILENT="$(cat "$WORK/silent/address" 2>/dev/null || scripts/registry.sh start-fault "$WORK/silent" silent)"
    silent_policy "$WORK/named" true
    local address i started elapsed_ms
    address="$(start_in "$WORK/named" --workers 2 --policy-timeout 2)"
    for i in 1 2 3 4; do
        pod "$SILENT/app$i:1" | jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: .}' \
            >"$WORK/silent-$i.json"
        curl -s -m 20 -o "$WORK/silent-$i.out" -H 'Content-Type: application/json' --data-binary @"$WORK/silent-$i.json" \
            "http://$address/validate/signed-images" &
    done
    sleep 0.5
    started="$(date +%s%N)"
    review signed-images "$(pod "$(image fleet-9)")" "$address"
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    allowed
    ((elapsed_ms < 1000)) || { echo "answered in $elapsed_ms ms" >&2; return 1; }
    echo "# a signed Pod beside four silent-registry Pods: answered in $elapsed_ms ms" >&3
    wait
    for i in 1 2 3 4; do
        # shellcheck disable=SC2034 # read by denied and message (tests/bats/helpers.bash)
        response="$(jq -c .response "$WORK/silent-$i.out")"
        denied
        [[ "$(message)" == *"(namedRegistriesOnly)." ]]
    done
    scripts/policy-server.sh stop "$WORK/named"
}
