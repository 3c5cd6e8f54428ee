#!/usr/bin/env bats
# The end-to-end suite: the compiled, annotated module in kwctl (the Kubewarden
# host, same policy-evaluator as policy-server), against a local registry
# holding images signed in cosign's format. Offline: kwctl reads a local trust
# config instead of fetching Sigstore's, and reaches the registry over plain HTTP.
# Tests are grouped by concern; the comparison with verify-image-signatures
# is a suite of its own, peer.bats.
#
# Run by `make e2e-tests` (which builds annotated-policy.wasm and the fixtures
# tool first) once per host version: KUBEWARDEN_HOST (the host of record or
# the oldest release the metadata claims, see scripts/hosts.sh) names the
# kwctl that scripts/bats.sh put first on PATH (tests/bats/kwctl.bash).
# Without that kwctl every test is skipped with a message, except under
# CI=true, where a missing host fails the run.

bats_require_minimum_version 1.5.0
load tests/bats/helpers
load tests/bats/kwctl

NO_POLICY='clusterimagepolicies.signing.apps.tanzu.vmware.com "image-policy" not found. Image policy enforcement was not applied.'

setup_file() {
    kwctl_setup_file
    # The host is missing: every test skips.
    [[ -n "${WORK:-}" ]] || return 0
    # Every key of the fixtures, by name, for the settings below.
    local f="$WORK/fixtures/fixtures.json" certs="$WORK/fixtures"
    jq -n \
        --rawfile a "$(jq -r .keys.a "$f")" --rawfile b "$(jq -r .keys.b "$f")" \
        --rawfile rsa "$(jq -r .keys.rsa "$f")" --rawfile ed25519 "$(jq -r .keys.ed25519 "$f")" \
        --rawfile leaf "$certs/leaf.pem" --rawfile intermediate "$certs/intermediate.pem" --rawfile root "$certs/root.pem" '[
        {name: "a", publicKey: $a}, {name: "b", publicKey: $b},
        {name: "rsa", publicKey: $rsa}, {name: "ed25519", publicKey: $ed25519},
        {name: "ca", certificate: $leaf, certificateChain: [$intermediate, $root], requireRekorBundle: false},
        {name: "ca-with-rekor", certificate: $leaf, certificateChain: [$intermediate, $root]},
        {name: "keyless", keyless: {issuer: "https://token.actions.githubusercontent.com",
            subject: "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"}}
    ]' >"$WORK/keys.json"
    # The keyless identities of the fixtures' signatures, right and wrong.
    jq --argjson keys "$(cat "$WORK/keys.json")" --rawfile leaf "$certs/leaf.pem" --rawfile fulcio "$certs/fulcio-chain.pem" '
        .keyless.email as $e | .keyless.github as $g | $keys + [
        {name: "email", keyless: {issuer: $e.issuer, subject: $e.subject}},
        {name: "email-wrong-issuer", keyless: {issuer: "https://other.fixtures.test", subject: $e.subject}},
        {name: "email-wrong-subject", keyless: {issuer: $e.issuer, subject: "someone@fixtures.test"}},
        {name: "gha", githubActions: {owner: $g.owner, repo: $g.repo}},
        {name: "gha-owner", githubActions: {owner: $g.owner}},
        {name: "gha-wrong-owner", githubActions: {owner: "fixtures"}},
        {name: "gha-wrong-repo", githubActions: {owner: $g.owner, repo: "other"}},
        {name: "prefix", keyless: {issuer: $g.issuer, urlPrefix: "https://github.com/\($g.owner)"}},
        {name: "prefix-wrong", keyless: {issuer: $g.issuer, urlPrefix: "https://github.com/other-org/"}},
        {name: "ca-wrong-chain", certificate: $leaf, requireRekorBundle: false, certificateChain:
            [$fulcio | split("-----END CERTIFICATE-----\n")[] | select(length > 0) | . + "-----END CERTIFICATE-----\n"]}
    ]' "$f" >"$WORK/keys.json.new"
    mv "$WORK/keys.json.new" "$WORK/keys.json"
}

teardown_file() {
    [[ -z "${WORK:-}" ]] || scripts/registry.sh stop "$WORK/outage/registry" >/dev/null 2>&1 || true
    kwctl_teardown_file
}

setup() { kwctl_setup; }

# ---- fixtures, requests and settings ----------------------------------------

# Settings where every image of the local registry needs one of the named keys
# (namespace kube-system excluded).
settings() {
    jq -nc --slurpfile keys "$WORK/keys.json" --arg pattern "$REGISTRY/*" '{verification: {
        exclude: {resources: {namespaces: ["kube-system"]}}, keys: $keys[0],
        images: [{namePattern: $pattern, keys: [$ARGS.positional[] | {name: .}]}]}}' --args "$@"
}

# The fixtures' key a, as an entry of verification.keys.
key_a_json() { jq -c '.[0]' "$WORK/keys.json"; }

# ---- running kwctl -----------------------------------------------------------
# kwctl_run and evaluate (which records the host calls): tests/bats/kwctl.bash.

# evaluate_in_cluster SESSION REQUEST SETTINGS: the host's answers, the
# ClusterImagePolicy among them, replayed from SESSION.
evaluate_in_cluster() {
    kwctl_run "$2" "$3" --allow-context-aware --replay-host-capabilities-interactions "$1"
}

# validate_settings SETTINGS: kwctl loads the module with SETTINGS (and
# evaluates a request no rule names); sets $status and $stderr as kwctl leaves them.
validate_settings() {
    kwctl_run "$(pod nginx)" "$1" 2>/dev/null || true
}

# What the last evaluate asked the host: signature verifications, .sig
# manifests read, and every call, or those of one TYPE.
verify_calls() { grep -c '!Sigstore' "$BATS_TEST_TMPDIR/session.yml" || true; }
manifest_reads() { grep -c '!OciManifest' "$BATS_TEST_TMPDIR/session.yml" || true; }
host_calls() { grep -c "^    !${1:-}" "$BATS_TEST_TMPDIR/session.yml" || true; }

# ---- every kind, signed and unsigned -----------------------------------------

signed_is_admitted() {
    evaluate "$(request "$1" "$(image signed-a)")" "$(settings a)"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(verified_images)" \
        "$(jq -nc --arg i "$(image signed-a)" --arg d "$(digest signed-a)" '{($i): {digest: $d, key: "a"}}')"
}

unsigned_is_denied() {
    local unsigned
    unsigned="$(image unsigned)"
    evaluate "$(request "$1" "$unsigned")" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 403
    assert_equal "$(message)" "The image: $unsigned is not signed. key a: no signatures found"
    assert_equal "$(field '.patch // "none"')" none
}

@test "Pod: signed is admitted and stamped verified" { signed_is_admitted pod; }
@test "Pod: unsigned is denied with SCST-Sign's sentence and the host's reason" { unsigned_is_denied pod; }
@test "Deployment: signed is admitted and stamped verified" { signed_is_admitted deployment; }
@test "Deployment: unsigned is denied" { unsigned_is_denied deployment; }
@test "ReplicaSet: signed is admitted and stamped verified" { signed_is_admitted replicaset; }
@test "ReplicaSet: unsigned is denied" { unsigned_is_denied replicaset; }
@test "StatefulSet: signed is admitted and stamped verified" { signed_is_admitted statefulset; }
@test "StatefulSet: unsigned is denied" { unsigned_is_denied statefulset; }
@test "DaemonSet: signed is admitted and stamped verified" { signed_is_admitted daemonset; }
@test "DaemonSet: unsigned is denied" { unsigned_is_denied daemonset; }
@test "Job: signed is admitted and stamped verified" { signed_is_admitted job; }
@test "Job: unsigned is denied" { unsigned_is_denied job; }
@test "CronJob: signed is admitted and stamped verified" { signed_is_admitted cronjob; }
@test "CronJob: unsigned is denied" { unsigned_is_denied cronjob; }
@test "ReplicationController: signed is admitted and stamped verified" { signed_is_admitted replicationcontroller; }
@test "ReplicationController: unsigned is denied" { unsigned_is_denied replicationcontroller; }

# ---- every image field --------------------------------------------------------

unsigned_in_field_is_denied() {
    local req
    req="$(pod "$(image signed-a)" | jq -c --arg field "$1" --arg image "$(image unsigned)" \
        '.object.spec[$field] = [{name: "x", image: $image}]')"
    evaluate "$req" "$(settings a)"
    denied
    [[ "$(message)" == "The image: $(image unsigned) is not signed."* ]]
}

@test "an unsigned initContainer is denied" { unsigned_in_field_is_denied initContainers; }
@test "an unsigned ephemeralContainer is denied" { unsigned_in_field_is_denied ephemeralContainers; }

@test "an image volume is verified: unsigned denied, signed admitted" {
    local req
    req="$(pod "$(image signed-a)" | jq -c --arg image "$(image unsigned)" \
        '.object.spec.volumes = [{name: "v", image: {reference: $image}}]')"
    evaluate "$req" "$(settings a)"
    denied
    evaluate "$(jq -c --arg image "$(image signed-a)" '.object.spec.volumes[0].image.reference = $image' <<<"$req")" "$(settings a)"
    allowed
}

# ---- pods/ephemeralcontainers: containers added to a running Pod -------------

@test "pods/ephemeralcontainers: verified and pinned, no annotation written" {
    local req
    req="$(pod "$(image signed-a)" | jq -c --arg image "$(image unsigned)" '.operation = "UPDATE"
        | .subResource = "ephemeralcontainers" | .oldObject = .object
        | .object.spec.ephemeralContainers = [{name: "debug", image: $image}]')"
    evaluate "$req" "$(settings a)"
    denied
    evaluate "$(jq -c --arg image "$(image signed-b)" '.object.spec.ephemeralContainers[0].image = $image' <<<"$req")" \
        "$(settings a b)"
    allowed
    assert_equal "$(mutated | jq -r '.spec.ephemeralContainers[0].image')" "$(image signed-b)@$(digest signed-b)"
    assert_equal "$(annotation status)" ""
}

# A Pod stored as verified (signed-a), updated through pods/ephemeralcontainers.
ephemeral_update() {
    pod "$(image signed-a)" | jq -c --arg image "$1" '.operation = "UPDATE" | .subResource = "ephemeralcontainers"
        | .object.metadata.annotations["image-policy.signing/status"] = "verified" | .oldObject = .object
        | .object.spec.ephemeralContainers = [{name: "debug", image: $image}]'
}

@test "pods/ephemeralcontainers: an unmatched image cannot leave a verified record stale" {
    local settings
    for settings in "$(settings a | jq -c '.allowUnmatchedImages = true')" "$(peer_settings pubkey-a)"; do
        evaluate "$(ephemeral_update busybox:1.36)" "$settings"
        denied
        assert_equal "$(field .status.code)" 403
        assert_equal "$(message)" "The image: busybox:1.36 matches no image policy, and the Pod is recorded as verified: an \
ephemeral container cannot change that record (image-policy.signing/status), so only verified images can be added to it."
    done
    # A verified image may be added: pinned, and the record stays true.
    evaluate "$(ephemeral_update "$(image signed-b)")" "$(settings a b | jq -c '.allowUnmatchedImages = true')"
    allowed
    assert_equal "$(mutated | jq -r '.spec.ephemeralContainers[0].image')" "$(image signed-b)@$(digest signed-b)"
}

@test "pods/ephemeralcontainers: the stored record decides, not the one the request body carries" {
    local settings body
    settings="$(settings a | jq -c '.allowUnmatchedImages = true')"
    # The API server keeps the stored metadata: a body that drops the record
    # or relabels it changes nothing, so the unmatched image is denied.
    for body in 'del(.object.metadata.annotations["image-policy.signing/status"])' \
        '.object.metadata.annotations["image-policy.signing/status"] = "unmatched-allowed"'; do
        evaluate "$(ephemeral_update busybox:1.36 | jq -c "$body")" "$settings"
        denied
        [[ "$(message)" == "The image: busybox:1.36 matches no image policy, and the Pod is recorded as verified"* ]]
    done
}

@test "pods/ephemeralcontainers: 10,000 distinct unmatched images on a verified Pod are answered well inside the policy timeout" {
    local started elapsed
    ephemeral_update busybox:1.36 | jq -c '.object.spec.ephemeralContainers = [range(10000) |
        {name: "debug-\(.)", image: "registry.example.org/debugging/tool-\(.):1.0", imagePullPolicy: "IfNotPresent"}]' \
        >"$BATS_TEST_TMPDIR/big.json"
    [[ "$(stat -c %s "$BATS_TEST_TMPDIR/big.json")" -lt 3000000 ]] # under the API server's request limit
    started=$(date +%s%N)
    evaluate "$(cat "$BATS_TEST_TMPDIR/big.json")" "$(settings a | jq -c '.allowUnmatchedImages = true')"
    elapsed=$((($(date +%s%N) - started) / 1000000))
    denied
    [[ "$(message)" == *"... and 99"*" more images" ]]
    echo "# 10,000 images: ${elapsed} ms in kwctl (process start included)" >&3
    ((elapsed < 2000)) || { echo "took ${elapsed} ms, past policy-server's 2 s timeout" >&2; return 1; }
}

# ---- pinning ------------------------------------------------------------------

@test "pinDigests pods (default): a Pod is pinned to the digest the signature covers" {
    local pinned
    pinned="$(image signed-a)@$(digest signed-a)"
    evaluate "$(request pod "$(image signed-a)")" "$(settings a)"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$pinned"
    assert_equal "$(mutated | jq -r '.spec.initContainers[0].image')" "$pinned"
    # Fields the policy does not know survive the mutation.
    assert_equal "$(mutated | jq -c '[.futureTopLevelField, .spec.futurePodField, .spec.containers[0].futureContainerField]')" \
        '[{"kept":[1,2,3]},"kept as sent",{"kept":true}]'
}

@test "pinDigests pods (default): a Deployment is left as written" {
    evaluate "$(request deployment "$(image signed-a)")" "$(settings a)"
    allowed
    assert_equal "$(mutated | jq -r '.spec.template.spec.containers[0].image')" "$(image signed-a)"
}

@test "pinDigests all: a Deployment is pinned" {
    evaluate "$(request deployment "$(image signed-a)")" "$(settings a | jq -c '.pinDigests = "all"')"
    allowed
    assert_equal "$(mutated | jq -r '.spec.template.spec.containers[0].image')" "$(image signed-a)@$(digest signed-a)"
}

@test "pinDigests never: a Pod is stamped but not pinned" {
    evaluate "$(request pod "$(image signed-a)")" "$(settings a | jq -c '.pinDigests = "never"')"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$(image signed-a)"
    assert_equal "$(annotation status)" verified
}

@test "a multi-architecture index is pinned to the index digest it was signed over" {
    evaluate "$(pod "$(image multiarch)")" "$(settings a)"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$(image multiarch)@$(digest multiarch)"
}

@test "a tag with another image's digest is denied; with its own digest it is admitted and kept" {
    evaluate "$(pod "$(image signed-a)@$(digest signed-b)")" "$(settings a)"
    denied
    local pinned
    pinned="$(image signed-a)@$(digest signed-a)"
    evaluate "$(pod "$pinned")" "$(settings a)"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$pinned"
}

# ---- annotations --------------------------------------------------------------

@test "a forged status does not admit an unsigned image" {
    evaluate "$(request deployment "$(image unsigned)" |
        jq -c '.object.metadata.annotations["image-policy.signing/status"] = "verified"')" "$(settings a)"
    denied
}

@test "forged status and verified-images are overwritten with what happened" {
    local forged
    forged="$(request deployment "$(image signed-a)" | jq -c '.object.metadata.annotations += {
        "image-policy.signing/status": "no-policy", "image-policy.signing/verified-images": "{\"evil\": {}}"}')"
    evaluate "$forged" "$(settings a)"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(verified_images | jq -r 'keys[0]')" "$(image signed-a)"
    evaluate "$(jq -c '.namespace = "kube-system" | .object.metadata.annotations["image-policy.signing/status"] = "verified"' \
        <<<"$forged")" "$(settings a)"
    allowed
    assert_equal "$(annotation status)" excluded
}

@test "pods/status: a write that changes the policy's annotations is denied, without a host call" {
    local req
    req="$(request pod "$(image unsigned)" | jq -c '.operation = "UPDATE" | .subResource = "status"
        | .object.metadata.annotations["image-policy.signing/status"] = "unmatched-allowed"
        | .oldObject = .object | .object.status = {phase: "Running"}')"
    evaluate "$req" "$(settings a)"
    allowed
    assert_equal "$(field '.patch // "none"')" none
    evaluate "$(jq -c '.object.metadata.annotations["image-policy.signing/status"] = "verified"' <<<"$req")" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 403
    assert_equal "$(message)" "The annotations under image-policy.signing/ record this policy's verification and \
cannot be changed through the Pod status subresource (changed: image-policy.signing/status)."
    assert_equal "$(verify_calls)" 0
}

@test "deployments/status: removing the policy's annotations is denied" {
    evaluate "$(request deployment "$(image unsigned)" | jq -c '.operation = "UPDATE" | .subResource = "status"
        | .oldObject = (.object | .metadata.annotations["image-policy.signing/status"] = "verified")')" "$(settings a)"
    denied
    [[ "$(message)" == *"(changed: image-policy.signing/status)." ]]
}

# ---- one image, one answer, whatever the spelling --------------------------------
# A registry host in another case, a port with leading zeros, Docker Hub's
# other names: matched by the same patterns, and the host asked about the
# registry the runtime pulls from, in one spelling.

@test "a respelled registry host is the same registry: same patterns, same host question" {
    local upper="LOCALHOST:${REGISTRY##*:}" spelled
    spelled="LocalHost:${REGISTRY##*:}/$(image signed-a | cut -d/ -f2-)"
    local rules
    rules="$(settings a | jq -c --arg p "$upper/*" '.verification.images[0].namePattern = $p | .allowUnmatchedImages = true')"
    evaluate "$(pod "$spelled")" "$rules"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(grep -o "image: .*" "$BATS_TEST_TMPDIR/session.yml")" \
        "image: $LOCALHOST_REGISTRY/$(image signed-a | cut -d/ -f2-)"
    # Unsigned under the same respelling is checked, not let through as unmatched.
    spelled="LocalHost:${REGISTRY##*:}/$(image unsigned | cut -d/ -f2-)"
    evaluate "$(pod "$spelled")" "$rules"
    denied
    [[ "$(message)" == "The image: $spelled is not signed."* ]]
}

# The local registry's port written with a leading zero: the same registry.
zero_port() { echo "127.0.0.1:0${REGISTRY##*:}/${1#*/}"; }

@test "a port with a leading zero is the same port: matched, verified, asked in one spelling" {
    local signatures
    signatures="$(peer_settings pubkey-a)"
    evaluate "$(pod "$(zero_port "$(image unsigned)")")" "$signatures"
    denied
    assert_equal "$(message)" "The image: $(zero_port "$(image unsigned)") is not signed. key signatures[0].pubKeys[0]: no signatures found"
    evaluate "$(pod "$(zero_port "$(image signed-a)")")" "$signatures"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(grep -o "image: .*" "$BATS_TEST_TMPDIR/session.yml")" "image: $(image signed-a)"
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$(zero_port "$(image signed-a)")@$(digest signed-a)"
    # A catch-all entry trusting key b does not take over the strict entry's images.
    evaluate "$(pod "$(zero_port "$(image signed-b)")")" "$(peer_settings two-entries | jq -c --rawfile b "$(jq -r .keys.b "$WORK/fixtures/fixtures.json")" \
        '.signatures[1] = {image: "*", pubKeys: [$b]}')"
    denied
}

# pubkey_session IMAGE KEY RESPONSE: a recorded host interaction answering
# the public-key question about IMAGE with RESPONSE (a YAML mapping), so
# that a registry name outside the loopback is never looked up.
pubkey_session() {
    jq -n --arg image "$1" --rawfile key "$(jq -r ".keys[\"$2\"]" "$WORK/fixtures/fixtures.json")" --argjson response "$3" \
        '[{type: "Exchange", request: ("!SigstorePubKeyVerify\n" + ({image: $image, pub_keys: [$key], annotations: null} | tojson)),
        response: $response}]' | yq -y .
}

no_signatures() { jq -nc --arg m "no signatures found for image: $1 " '{type: "Error", message: $m}'; }
signed_as() { jq -nc --arg d "$1" '{type: "Success", payload: ({is_trusted: true, digest: $d} | tojson)}'; }

@test "a port with a leading zero escapes no pattern (recorded host interactions)" {
    local image settings hub
    for image in registry.example.org:0443/myproject/evil:1.0 REGISTRY.EXAMPLE.ORG:00443/myproject/evil:1.0; do
        pubkey_session registry.example.org/myproject/evil:1.0 a "$(no_signatures registry.example.org/myproject/evil:1.0)" \
            >"$BATS_TEST_TMPDIR/replay.yml"
        settings="$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern:
            "registry.example.org/myproject/*", keys: [{name: "a"}]}]}, allowUnmatchedImages: true}')"
        kwctl_run "$(pod "$image")" "$settings" --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
        denied
        assert_equal "$(message)" "The image: $image is not signed. key a: no signatures found"
    done
    hub="$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "docker.io/library/*",
        keys: [{name: "a"}]}]}, allowUnmatchedImages: true}')"
    pubkey_session docker.io/library/nginx:1.25 a "$(no_signatures docker.io/library/nginx:1.25)" >"$BATS_TEST_TMPDIR/replay.yml"
    kwctl_run "$(pod registry-1.docker.io:0443/library/nginx:1.25)" "$hub" --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
    denied
}

@test "the host is asked about the registry the runtime pulls from, never Docker Hub's namesake" {
    local settings written digest=sha256:1111111111111111111111111111111111111111111111111111111111111111
    settings="$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "myreg:443/*",
        keys: [{name: "a"}]}]}, pinDigests: "never"}')"
    for written in myreg:443/app:1 MYREG/app:1; do
        # The recorded question is myreg:443/app:1; asking myreg/app:1 (Docker Hub's) would be a replay error.
        pubkey_session myreg:443/app:1 a "$(signed_as "$digest")" >"$BATS_TEST_TMPDIR/replay.yml"
        kwctl_run "$(pod "$written")" "$settings" --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
        allowed
        assert_equal "$(verified_images)" "$(jq -nc --arg i "$written" --arg d "$digest" '{($i): {digest: $d, key: "a"}}')"
    done
}

@test "Docker Hub's fourth name: registry.hub.docker.com (any case, :443 or not) is docker.io, matched and asked as such" {
    local hub image
    hub="$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "docker.io/library/*",
        keys: [{name: "a"}]}]}, allowUnmatchedImages: true}')"
    for image in registry.hub.docker.com/library/nginx:1.25 Registry.Hub.Docker.COM:443/nginx:1.25; do
        pubkey_session docker.io/library/nginx:1.25 a "$(no_signatures docker.io/library/nginx:1.25)" >"$BATS_TEST_TMPDIR/replay.yml"
        kwctl_run "$(pod "$image")" "$hub" --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
        denied
        assert_equal "$(message)" "The image: $image is not signed. key a: no signatures found"
    done
    # verify-image-signatures' settings, which admit what no entry names.
    pubkey_session docker.io/library/nginx:1.25 a "$(no_signatures docker.io/library/nginx:1.25)" >"$BATS_TEST_TMPDIR/replay.yml"
    kwctl_run "$(pod registry.hub.docker.com/library/nginx:1.25)" "$(jq -nc --rawfile k "$(jq -r .keys.a "$WORK/fixtures/fixtures.json")" \
        '{signatures: [{image: "docker.io/library/*", pubKeys: [$k]}]}')" --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
    denied
}

# ---- public keys and certificates --------------------------------------------

@test "any-of: the second key verifies after the first fails, two host calls" {
    evaluate "$(pod "$(image signed-a)")" "$(settings b a)"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" a
    assert_equal "$(verify_calls)" 2
}

@test "any-of: the first key that verifies ends the search, one host call" {
    evaluate "$(pod "$(image signed-ab)")" "$(settings b a)"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" b
    assert_equal "$(verify_calls)" 1
}

@test "any-of: a key whose signature was logged is asked first, the key listed before it not at all" {
    # A key rotation: b listed first, the image signed by a and logged (as
    # cosign logs by default): the Rekor entry names a, so only a is asked.
    evaluate "$(pod "$(image logged-a)")" "$(settings b a)"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" a
    assert_equal "$(verify_calls)" 1
    assert_equal "$(container_image)" "$(image logged-a)@$(digest logged-a)"
    # The two reads that told it: the digest and the signatures, once each.
    assert_equal "$(grep -c '^  request: |' "$BATS_TEST_TMPDIR/session.yml")" 3
    # Logged by the key listed first: asked first, as written.
    evaluate "$(pod "$(image logged-b)")" "$(settings b a)"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" b
    assert_equal "$(verify_calls)" 1
}

@test "any-of: a key the entry does not name does not verify" {
    evaluate "$(pod "$(image signed-b)")" "$(settings a)"
    denied
}

@test "threshold: an entry needs N of its keys, stops asking at N, and says how many verified" {
    local both one
    both="$(settings a b | jq -c '.verification.images[0].threshold = 2')"
    evaluate "$(pod "$(image signed-ab)")" "$both"
    allowed
    assert_equal "$(verify_calls)" 2
    assert_equal "$(verified_images | jq -r '.[].key')" "a, b"
    evaluate "$(pod "$(image signed-a)")" "$both"
    denied
    [[ "$(message)" == *"1 of the 2 keys that the entry for \"$REGISTRY/*\" needs verified it (a); key b: "* ]] ||
        { message >&2; return 1; }
    # Two of three, the first two fail: the third is not asked.
    one="$(settings rsa ed25519 a | jq -c '.verification.images[0].threshold = 2')"
    evaluate "$(pod "$(image signed-a)")" "$one"
    denied
    assert_equal "$(verify_calls)" 2
    [[ "$(message)" == *"0 of the 2 keys"*"not asked: a"* ]] || { message >&2; return 1; }
}

@test "RSA, Ed25519 and certificate-with-chain signatures verify" {
    local pair name key
    for pair in rsa-signed:rsa ed25519-signed:ed25519 cert-signed:ca; do
        name="${pair%:*}" key="${pair#*:}"
        evaluate "$(pod "$(image "$name")")" "$(settings "$key")"
        allowed
        assert_equal "$(verified_images | jq -r '.[].digest')" "$(digest "$name")"
    done
}

@test "a certificate that requires a Rekor bundle refuses a signature without one" {
    evaluate "$(pod "$(image cert-signed)")" "$(settings ca-with-rekor)"
    denied
}

@test "a certificate does not verify a signature made by another key" {
    evaluate "$(pod "$(image signed-a)")" "$(settings ca)"
    denied
}

@test "certificate keys: admitted with their chain, denied with another CA's chain" {
    evaluate "$(pod "$(image cert-signed)")" "$(settings ca)"
    allowed
    evaluate "$(pod "$(image cert-signed)")" "$(settings ca-wrong-chain)"
    denied
}

@test "required signature annotations: present admitted, missing or different denied" {
    evaluate "$(pod "$(image annotated)")" "$(settings a | jq -c '.verification.images[0].annotations = {env: "prod"}')"
    allowed
    evaluate "$(pod "$(image signed-a)")" "$(settings a | jq -c '.verification.images[0].annotations = {env: "prod"}')"
    denied
    evaluate "$(pod "$(image annotated)")" "$(settings a | jq -c '.verification.images[0].annotations = {env: "staging"}')"
    denied
}

@test "required annotations come from a signed layer: keyless and certificate signatures with a layer appended are denied" {
    local prod='.verification.images[0].annotations = {env: "prod"}' key name forged
    for key in email ca; do
        name=keyless-annotated forged=forged-annotation
        [[ "$key" == ca ]] && name=cert-annotated forged=cert-forged-annotation
        # Signed with the annotation by the identity (the certificate's key): admitted.
        evaluate "$(pod "$(image "$name")")" "$(settings "$key" | jq -c "$prod")"
        allowed
        # Signed without it, and a layer carrying it appended with a signature nobody made.
        evaluate "$(pod "$(image "$forged")")" "$(settings "$key" | jq -c "$prod")"
        denied
        if [[ "$key" == email ]]; then
            assert_equal "$(message)" "The image: $(image "$forged") is not signed. key email: a signature claiming this identity is not the one its Rekor entry logged (its payload or signature was replaced), so the required annotations cannot be trusted"
        else
            assert_equal "$(message)" "The image: $(image "$forged") is not signed. key ca: no signature made with the certificate's key carries the required annotations (a layer that names them is not signed by it)"
        fi
        # The genuine layer alone still verifies where no annotation is required.
        evaluate "$(pod "$(image "$forged")")" "$(settings "$key")"
        allowed
    done
}

@test "a tampered payload and a signature for another digest are refused" {
    local name
    for name in tampered wrong-digest; do
        evaluate "$(pod "$(image "$name")")" "$(settings a)"
        denied
        [[ "$(message)" == "The image: $(image "$name") is not signed."* ]]
    done
}

# ---- keyless -----------------------------------------------------------------

@test "keyless: an image with no keyless signature is denied, with the host's reason" {
    evaluate "$(pod "$(image signed-a)")" "$(settings keyless)"
    denied
    [[ "$(message)" == "The image: $(image signed-a) is not signed. key keyless: "?* ]]
}

@test "keyless: genuine email, GitHub Actions and prefix signatures are admitted, stamped with the key that verified" {
    local pair name key
    for pair in keyless-email:email keyless-github:gha keyless-github:gha-owner keyless-github:prefix; do
        name="${pair%:*}" key="${pair#*:}"
        evaluate "$(pod "$(image "$name")")" "$(settings "$key")"
        allowed
        assert_equal "$(verified_images)" \
            "$(jq -nc --arg i "$(image "$name")" --arg d "$(digest "$name")" --arg k "$key" '{($i): {digest: $d, key: $k}}')"
        # The keyless question, the .sig manifest, the certificate question.
        assert_equal "$(verify_calls) $(manifest_reads)" "2 1"
    done
}

@test "keyless: a wrong issuer, subject, owner, repository or prefix is denied" {
    local pair name key
    for pair in keyless-email:email-wrong-issuer keyless-email:email-wrong-subject keyless-github:gha-wrong-owner \
        keyless-github:gha-wrong-repo keyless-github:prefix-wrong keyless-email:gha; do
        name="${pair%:*}" key="${pair#*:}"
        evaluate "$(pod "$(image "$name")")" "$(settings "$key")"
        denied
        [[ "$(message)" == "The image: $(image "$name") is not signed. key $key: no signature satisfies this key" ]] ||
            { echo "$pair: $(message)" >&2; return 1; }
    done
}

@test "keyless: a prefix names a directory: https://github.com/fixtures-org does not cover fixtures-org-evil" {
    local key
    for key in prefix gha-owner; do
        evaluate "$(pod "$(image keyless-github-evil)")" "$(settings "$key")"
        denied
    done
}

@test "keyless: the negative controls are denied (validity, CA, log key, no bundle)" {
    local name
    for name in keyless-expired keyless-not-yet keyless-other-ca keyless-other-log keyless-no-bundle; do
        evaluate "$(pod "$(image "$name")")" "$(settings email)"
        denied
        [[ "$(message)" == "The image: $(image "$name") is not signed. key email: "?* ]] || { message >&2; return 1; }
    done
}

@test "keyless: forgeries from a copied certificate and bundle are denied, the image and the reason named" {
    local pair name key
    for pair in forged-garbage:email forged-empty:email forged-other-sig:email forged-own-sig:email \
        forged-paired:email forged-github:gha; do
        name="${pair%:*}" key="${pair#*:}"
        evaluate "$(pod "$(image "$name")")" "$(settings "$key")"
        denied
        [[ "$(message)" == "The image: $(image "$name") is not signed. key $key: its signatures carry a certificate for "*" that signs none of them (copied from another signature?)" ]] ||
            { echo "$pair: $(message)" >&2; return 1; }
    done
}

@test "keyless: a Pod running a genuine keyless image beside a forged one is denied, naming the forged one" {
    evaluate "$(pod "$(image keyless-email)" "$(image forged-garbage)")" "$(settings email)"
    denied
    assert_equal "$(message | grep -c 'is not signed')" 1
    [[ "$(message)" == "The image: $(image forged-garbage) is not signed."* ]]
}

# ---- cosign 3 bundles, which this host does not read ----------------------------

# bundle_note NAME: what the denial adds for a cosign 3 bundle at NAME's fallback tag.
bundle_note() {
    local digest
    digest="$(digest "$1")"
    echo "it carries a cosign 3 signature bundle (tag ${digest/:/-}), which this host cannot verify: Kubewarden 1.36 \
and later verify keyless bundles (with acceptKeylessBundles), no host verifies key-signed ones; sign with cosign's \
--new-bundle-format=false as well"
}

@test "bundles: an image signed only with a cosign 3 bundle is denied, naming the bundle and the way out" {
    local name key
    for pair in bundle-keyless:email bundle-key:a; do
        name="${pair%%:*}" key="${pair##*:}"
        evaluate "$(pod "$(image "$name")")" "$(settings "$key")"
        denied
        assert_equal "$(field .status.code)" 403
        assert_equal "$(message)" "The image: $(image "$name") is not signed. key $key: no signatures found; $(bundle_note "$name")"
    done
    # bundle-key's index is cosign's own, which says nothing of its entries:
    # the referrer it lists was read too (the question, the digest, the tag, one referrer).
    assert_equal "$(grep -c '^  request: |' "$BATS_TEST_TMPDIR/session.yml")" 4
}

@test "bundles: an image with a .sig signature and a bundle is decided on the .sig" {
    evaluate "$(pod "$(image bundle-and-sig)")" "$(settings a)"
    allowed
    assert_equal "$(container_image)" "$(image bundle-and-sig)@$(digest bundle-and-sig)"
    evaluate "$(pod "$(image bundle-and-sig)")" "$(settings b)"
    denied
    assert_equal "$(message)" "The image: $(image bundle-and-sig) is not signed. key b: no signature satisfies this key"
}

@test "bundles: a forged fallback tag (no index, thousands of entries, other artifacts) is named or ignored, never a pass" {
    local tag plain
    for case in "bundle-index-not-index|it is not an image index" \
        "bundle-index-huge|its index lists 5000 manifests, more than the 64 the policy reads" "bundle-index-other-types|"; do
        IFS='|' read -r name why <<<"$case"
        tag="$(digest "$name")" plain="The image: $(image "$name") is not signed. key a: no signatures found"
        evaluate "$(pod "$(image "$name")")" "$(settings a)"
        denied
        if [[ -n "$why" ]]; then
            assert_equal "$(message)" "$plain; its tag ${tag/:/-} is no cosign 3 bundle index ($why)"
        else
            assert_equal "$(message)" "$plain"
        fi
    done
}

# ---- bounded work, bounded answers -------------------------------------------
# Host calls per request, verifications per request, and the size of a denial.

@test "one host call per distinct image, however many containers run it" {
    local req
    req="$(request deployment "$(image signed-a)" | jq -c '.object.spec.template.spec.containers =
        [range(10) as $i | .object.spec.template.spec.containers[0] | .name = "c\($i)"]')"
    evaluate "$req" "$(settings a)"
    allowed
    assert_equal "$(verify_calls)" 1
}

@test "maxVerificationsPerRequest: past the limit the request is denied and nothing more is asked" {
    evaluate "$(pod "$(image signed-a)" "$(image fleet-1)" "$(image fleet-2)")" \
        "$(settings a | jq -c '.maxVerificationsPerRequest = 2')"
    denied
    assert_equal "$(message)" "The image: $(image fleet-2) was not verified: the request needs more than 2 \
signature verifications, the most the policy makes for one request (maxVerificationsPerRequest)."
    assert_equal "$(verify_calls)" 2
}

@test "a denial stays short: host errors condensed, megabyte error bodies cut, the message bounded" {
    local fault images=() i ran
    fault="$(scripts/registry.sh start-fault "$BATS_TEST_TMPDIR/fault" "status:500:1048576")"
    printf 'insecure_sources:\n- "%s"\n' "$fault" >"$BATS_TEST_TMPDIR/sources.yaml"
    for i in $(seq 1 50); do images+=("$fault/team/app$i:1"); done
    ran=0
    SOURCES="$BATS_TEST_TMPDIR/sources.yaml" kwctl_run "$(pod "${images[@]}")" "$(jq -nc --argjson k "$(key_a_json)" \
        --arg p "$fault/*" '{verification: {keys: [$k], images: [{namePattern: $p, keys: [{name: "a"}]}]}}')" || ran=$?
    scripts/registry.sh stop "$BATS_TEST_TMPDIR/fault"
    ((ran == 0))
    denied
    local bytes
    bytes="$(message | wc -c)"
    ((bytes <= 4096)) || { echo "a denial of $bytes bytes" >&2; return 1; }
    assert_equal "$(message | head -n 1)" "The image: $fault/team/app1:1 is not signed. key a: the registry answered HTTP 500"
    [[ "$(message | tail -n 1)" =~ ^\.\.\.\ and\ [0-9]+\ more\ images$ ]] || { message >&2; return 1; }
}

# ---- what no key decides ------------------------------------------------------

@test "an excluded namespace is admitted without a host call, with SCST-Sign's audit note, unrecorded" {
    evaluate "$(pod "$(image unsigned)" | jq -c '.namespace = "kube-system"')" "$(settings a)"
    allowed
    unchanged
    assert_equal "$(field '.auditAnnotations["image-policy"]')" "kube-system is excluded. The ImagePolicy will not be applied."
    assert_equal "$(verify_calls)" 0
}

@test "an unmatched image is denied with SCST-Sign's message" {
    evaluate "$(pod nginx:1.25)" "$(settings a)"
    denied
    assert_equal "$(message)" "Could not verify against any image policies for container image: nginx:1.25."
}

@test "allowUnmatchedImages: an unmatched image is admitted with SCST-Sign's warning" {
    evaluate "$(pod nginx:1.25 "$(image signed-a)")" "$(settings a | jq -c '.allowUnmatchedImages = true')"
    allowed
    assert_equal "$(annotation status)" unmatched-allowed
    assert_equal "$(field '.warnings | join("|")')" \
        "nginx:1.25 did not match any image policies. Container will be created as AllowUnmatchedImages flag is true."
}

@test "no rules: admitted with SCST-Sign's warning, unrecorded; a record the object carries is replaced" {
    evaluate "$(pod "$(image unsigned)")" '{}'
    allowed
    assert_equal "$(field '.warnings | join("|")')" "$NO_POLICY"
    unchanged
    evaluate "$(pod "$(image unsigned)" | jq -c '.object.metadata.annotations["image-policy.signing/status"] = "verified"')" '{}'
    allowed
    assert_equal "$(annotation status)" no-policy
}

# ---- warn: admitted on a warning ---------------------------------------------

@test "warn: SCST-Sign's rules only warn in a listed namespace (verified images still pinned), and deny elsewhere" {
    local rules unsigned
    rules="$(settings a | jq -c '.warn = {namespaces: ["dev"]}')"
    unsigned="$(image unsigned)"
    evaluate "$(pod "$(image signed-a)" "$unsigned" | jq -c '.namespace = "dev"')" "$rules"
    allowed
    assert_equal "$(annotation status)" admitted-on-warning
    assert_equal "$(field '.warnings | join("|")')" \
        "Admitted on a warning (mode: warn): The image: $unsigned is not signed. key a: no signatures found"
    assert_equal "$(mutated | jq -c '[.spec.containers[].image]')" \
        "$(jq -nc --arg a "$(image signed-a)@$(digest signed-a)" --arg u "$unsigned" '[$a, $u]')"
    assert_equal "$(verified_images | jq -r 'keys | join(" ")')" "$(image signed-a)"
    evaluate "$(pod "$unsigned")" "$rules"
    denied
    assert_equal "$(message)" "The image: $unsigned is not signed. key a: no signatures found"
}

# ---- bad input ----------------------------------------------------------------

@test "unreadable requests are denied with 400 and the field named" {
    evaluate "$(pod "$(image signed-a)" | jq -c 'del(.object.spec.containers[0].image)')" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 400
    [[ "$(message)" == "cannot read the admission request: "*"spec.containers[0].image"* ]]
    evaluate "$(pod "$(image signed-a)" | jq -c '.object.spec.containers = "nginx"')" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 400
    [[ "$(message)" == "cannot read the admission request: "*"spec.containers"* ]]
}

@test "a pod spec without containers is an unreadable request (400), not a verified one" {
    evaluate "$(pod "$(image signed-a)" | jq -c '.object.spec = {}')" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 400
    assert_equal "$(message)" "cannot read the admission request: spec.containers is missing: a pod spec runs at least one container"
    # A Deployment's object sent as a Pod.
    evaluate "$(request deployment "$(image signed-a)" | jq -c '.kind = {group: "", version: "v1", kind: "Pod"}')" "$(settings a)"
    denied
    assert_equal "$(field .status.code)" 400
}

@test "an image reference that does not parse is denied and named" {
    evaluate "$(pod "Not A Reference")" "$(settings a)"
    denied
    [[ "$(message)" == "The image: Not A Reference cannot be verified: invalid image reference"* ]]
}

# ---- policy-controller's ClusterImagePolicy ----------------------------------------
# sigstore policy-controller's resources as the third settings shape
# (clusterImagePolicies, pasted as kubectl prints them), or read from the
# cluster. Every policy whose globs match an image must pass, each through
# any one of its authorities.

# cip NAME GLOB AUTHORITY [SPEC]: a ClusterImagePolicy named NAME with one
# glob and one authority (JSON), SPEC (JSON) merged into its spec.
cip() {
    jq -nc --arg name "$1" --arg glob "$2" --argjson authority "$3" --argjson spec "${4:-null}" '{
        apiVersion: "policy.sigstore.dev/v1beta1", kind: "ClusterImagePolicy", metadata: {name: $name},
        spec: ({images: [{glob: $glob}], authorities: [$authority]} + ($spec // {}))}'
}

# pc_settings CIP...: settings holding these ClusterImagePolicies.
pc_settings() { jq -nc '{clusterImagePolicies: [$ARGS.positional[] | fromjson]}' --args "$@"; }

# An authority trusting the fixtures' key NAME, or the keyless IDENTITY... (JSON).
key_authority() { jq -nc --rawfile k "$(key "$1")" '{key: {data: $k}}'; }
keyless_authority() { jq -nc '{keyless: {identities: [$ARGS.positional[] | fromjson]}}' --args "$@"; }
# The fixtures' keyless identity NAME (email or github) as policy-controller writes it.
identity() { jq -c --arg n "$1" '.keyless[$n] | {issuer, subject}' "$FIXTURES"; }

# The first container's image as the API server would store it.
container_image() { mutated | jq -r '.spec.containers[0].image'; }

# admitted_unpinned IMAGE STATUS: the last Pod of IMAGE was admitted with
# STATUS, no image recorded as verified and its image left as written.
admitted_unpinned() {
    allowed
    assert_equal "$(annotation status)" "$2"
    assert_equal "$(verified_images)" '{}'
    assert_equal "$(container_image)" "$1"
}

@test "policy-controller: key.data admits a signed image, pinned; an unsigned one is denied by name" {
    local policy signed unsigned
    # As kubectl prints it: server-set metadata and the status are read past.
    policy="$(cip release "$REGISTRY/**" "$(key_authority a | jq -c '.name = "team-key"')" | jq -c '.metadata += {uid: "0b4c",
        resourceVersion: "42", generation: 1, annotations: {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}
        | .status = {conditions: [{type: "Ready", status: "True"}]}')"
    signed="$(image signed-a)" unsigned="$(image unsigned)"
    evaluate "$(pod "$signed")" "$(pc_settings "$policy")"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(verified_images)" "$(jq -nc --arg i "$signed" --arg d "$(digest signed-a)" '{($i): {digest: $d, key: "release/team-key"}}')"
    assert_equal "$(container_image)" "$signed@$(digest signed-a)"
    evaluate "$(pod "$unsigned")" "$(pc_settings "$policy")"
    denied
    assert_equal "$(field .status.code)" 403
    assert_equal "$(message)" "The image: $unsigned is not signed. key release/team-key: no signatures found"
}

@test "policy-controller: a keyless identity written exactly admits its signature, not another identity's" {
    local policy
    # The public-good Fulcio written out is the default: the host's trust root stands for it.
    policy="$(cip keyless "$REGISTRY/**" "$(keyless_authority "$(identity email)" | jq -c '.keyless.url = "https://fulcio.sigstore.dev"')")"
    evaluate "$(pod "$(image keyless-email)")" "$(pc_settings "$policy")"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" keyless/authority-0
    assert_equal "$(container_image)" "$(image keyless-email)@$(digest keyless-email)"
    evaluate "$(pod "$(image keyless-github)")" "$(pc_settings "$policy")"
    denied
    assert_equal "$(message)" "The image: $(image keyless-github) is not signed. key keyless/authority-0: no signature satisfies this key"
}

@test "policy-controller: issuerRegExp and subjectRegExp admit the identities they match (unanchored, as cosign)" {
    local regexps pair name
    regexps="$(pc_settings "$(cip regexp "$REGISTRY/**" "$(keyless_authority '{"issuerRegExp": "fixtures\\.test", "subjectRegExp": "^signer@"}' \
        '{"issuer": "https://token.actions.githubusercontent.com", "subjectRegExp": "^https://github\\.com/fixtures-org/"}')")")"
    for pair in keyless-email:regexp/authority-0[0] keyless-github:regexp/authority-0[1]; do
        name="${pair%%:*}"
        evaluate "$(pod "$(image "$name")")" "$regexps"
        allowed
        assert_equal "$(verified_images)" "$(jq -nc --arg i "$(image "$name")" --arg d "$(digest "$name")" --arg k "${pair#*:}" \
            '{($i): {digest: $d, key: $k}}')"
        # The tag's digest, the .sig manifest, then the host's exact question about the identity found.
        assert_equal "$(host_calls OciManifestDigest) $(host_calls OciManifest$) $(host_calls SigstoreKeylessVerify)" "1 1 1"
    done
    # A pinned image's digest is not asked.
    evaluate "$(pod "$(image keyless-email)@$(digest keyless-email)")" "$regexps"
    allowed
    assert_equal "$(host_calls OciManifestDigest)" 0
}

@test "policy-controller: a regexp identity no certificate claims denies; so do a look-alike and a copied certificate" {
    local policy
    policy="$(cip regexp "$REGISTRY/**" "$(keyless_authority '{"issuerRegExp": "fixtures", "subjectRegExp": "^someone@"}')")"
    evaluate "$(pod "$(image keyless-email)")" "$(pc_settings "$policy")"
    denied
    assert_equal "$(message)" "The image: $(image keyless-email) is not signed. key regexp/authority-0: no certificate among its \
signatures claims an identity with issuer ~ /fixtures/ and subject ~ /^someone@/"
    assert_equal "$(host_calls Sigstore)" 0
    # fixtures-org-evil is not fixtures-org/; a certificate copied beside a garbage signature signs nothing.
    policy="$(cip regexp "$REGISTRY/**" "$(keyless_authority '{"issuerRegExp": ".*", "subjectRegExp": "^https://github\\.com/fixtures-org/"}')")"
    evaluate "$(pod "$(image keyless-github-evil)")" "$(pc_settings "$policy")"
    denied
    [[ "$(message)" == *"no certificate among its signatures claims an identity with issuer ~ /.*/ and subject"* ]] || { message >&2; return 1; }
    evaluate "$(pod "$(image forged-github)")" "$(pc_settings "$policy")"
    denied
    [[ "$(message)" == *"that signs none of them (copied from another signature?)" ]] || { message >&2; return 1; }
    # An image with no .sig tag at all: the host's own words.
    evaluate "$(pod "$(image unsigned)")" "$(pc_settings "$policy")"
    denied
    assert_equal "$(message)" "The image: $(image unsigned) is not signed. key regexp/authority-0: no signatures found"
}

@test "policy-controller: static pass admits with no host call, not pinned; static fail denies with its message" {
    local unsigned
    unsigned="$(image unsigned)"
    evaluate "$(pod "$unsigned")" "$(pc_settings "$(cip open "$REGISTRY/**" '{"static": {"action": "pass"}}')")"
    admitted_unpinned "$unsigned" static-allowed
    assert_equal "$(host_calls)" 0
    evaluate "$(pod "$(image signed-a)")" "$(pc_settings "$(cip closed "$REGISTRY/**" \
        '{"name": "shut", "static": {"action": "fail", "message": "this registry is closed"}}')")"
    denied
    assert_equal "$(field .status.code)" 403
    assert_equal "$(message)" "The image: $(image signed-a) is not signed. disallowed by static policy: closed/shut: this registry is closed"
    assert_equal "$(host_calls)" 0
}

@test "policy-controller: spec.mode warn admits an unsigned image on a warning, unpinned; a signed one is verified" {
    local policy unsigned
    policy="$(cip audit "$REGISTRY/**" "$(key_authority a)" '{"mode": "warn"}')"
    unsigned="$(image unsigned)"
    evaluate "$(pod "$unsigned")" "$(pc_settings "$policy")"
    admitted_unpinned "$unsigned" admitted-on-warning
    assert_equal "$(field '.warnings | join("|")')" \
        "Admitted on a warning (mode: warn): The image: $unsigned is not signed. key audit/authority-0: no signatures found"
    evaluate "$(pod "$(image signed-a)")" "$(pc_settings "$policy")"
    allowed
    assert_equal "$(annotation status)" verified
    assert_equal "$(container_image)" "$(image signed-a)@$(digest signed-a)"
}

@test "policy-controller: a warn-mode policy that fails an image keeps the pin and record an enforced one earned" {
    local enforced rollout signed
    enforced="$(cip enforced "$REGISTRY/signed-*" "$(key_authority a)")"
    rollout="$(cip rollout "$REGISTRY/**" "$(key_authority b)" '{"mode": "warn"}')"
    signed="$(image signed-a)"
    evaluate "$(pod "$signed")" "$(pc_settings "$enforced" "$rollout")"
    allowed
    assert_equal "$(annotation status)" admitted-on-warning
    assert_equal "$(container_image)" "$signed@$(digest signed-a)"
    assert_equal "$(verified_images)" "$(jq -nc --arg i "$signed" --arg d "$(digest signed-a)" '{($i): {digest: $d, key: "enforced/authority-0"}}')"
    assert_equal "$(field '.warnings | join("|")')" \
        "Admitted on a warning (mode: warn): The image: $signed is not signed. key rollout/authority-0: no signature satisfies this key"
}

@test "policy-controller: every policy matching an image must pass; one failing denies" {
    local both
    both="$(pc_settings "$(cip all "$REGISTRY/**" "$(key_authority a)")" "$(cip signed "$REGISTRY/signed-*" "$(key_authority b)")")"
    evaluate "$(pod "$(image signed-ab)")" "$both"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" "all/authority-0, signed/authority-0"
    evaluate "$(pod "$(image signed-a)")" "$both"
    denied
    assert_equal "$(message)" "The image: $(image signed-a) is not signed. key signed/authority-0: no signature satisfies this key"
    # Only the first policy covers annotated: key a is enough.
    evaluate "$(pod "$(image annotated)")" "$both"
    allowed
    assert_equal "$(verified_images | jq -r '.[].key')" all/authority-0
    # A static pass in another policy does not waive a failing one.
    evaluate "$(pod "$(image unsigned)")" "$(pc_settings "$(cip open "$REGISTRY/**" '{"static": {"action": "pass"}}')" \
        "$(cip all "$REGISTRY/**" "$(key_authority a)")")"
    denied
}

@test "policy-controller: noMatchPolicy deny (the default), warn and allow, for an image no glob matches" {
    local policy unsigned case
    policy="$(pc_settings "$(cip signed "$REGISTRY/signed-*" "$(key_authority a)")")"
    unsigned="$(image unsigned)"
    for case in '{}' '{"noMatchPolicy": "deny"}'; do
        evaluate "$(pod "$unsigned")" "$(jq -c ". + $case" <<<"$policy")"
        denied
        assert_equal "$(message)" "Could not verify against any image policies for container image: $unsigned."
    done
    evaluate "$(pod "$unsigned")" "$(jq -c '.noMatchPolicy = "warn"' <<<"$policy")"
    allowed
    unchanged
    assert_equal "$(field '.warnings | join("|")')" "$unsigned matches no ClusterImagePolicy; admitted (noMatchPolicy: warn)."
    evaluate "$(pod "$unsigned")" "$(jq -c '.noMatchPolicy = "allow"' <<<"$policy")"
    allowed
    unchanged
    assert_equal "$(field '.warnings')" null
    assert_equal "$(host_calls)" 0
}

@test "policy-controller: globs: * stays within a path segment, ** crosses it; * and */* are Docker Hub's" {
    # Static passes: a glob that matches admits, one that does not leaves the
    # image unmatched (denied); the host is never asked, so no name resolves.
    local case glob written expected want
    for case in "$REGISTRY/team/*|$REGISTRY/team/app:v1|matched" "$REGISTRY/team/*|$REGISTRY/team/sub/app:v1|unmatched" \
        "$REGISTRY/*|$REGISTRY/team/app:v1|unmatched" "$REGISTRY/team/**|$REGISTRY/team/sub/app:v1|matched" \
        "$REGISTRY/app:v*|$REGISTRY/app:v1|matched" "$REGISTRY/app:v*|$REGISTRY/app@sha256:$(printf '1%.0s' {1..64})|unmatched" \
        "*|nginx:1.25|matched" "*|docker.io/nginx|matched" "*|bitnami/nginx:1.25|unmatched" \
        "*/*|bitnami/nginx:1.25|matched" "*/*|ghcr.io/org/app:1|unmatched" "index.docker.io/library/nginx:*|Docker.IO/nginx:1.25|matched"; do
        IFS='|' read -r glob written expected <<<"$case"
        evaluate "$(pod "$written")" "$(pc_settings "$(cip glob "$glob" '{"static": {"action": "pass"}}')")"
        want="true|static-allowed|$written|"
        [[ "$expected" == unmatched ]] &&
            want="false||$written|Could not verify against any image policies for container image: $written."
        assert_equal "$(field .allowed)|$(annotation status)|$(container_image)|$(message)" "$want" ||
            { echo "glob $glob, image $written" >&2; return 1; }
        assert_equal "$(host_calls)" 0
    done
}

# ---- settings refused when the policy loads -----------------------------------

# refused SETTINGS NEEDLE: kwctl refuses the settings and says NEEDLE on stderr.
refused() {
    validate_settings "$1"
    [[ "$status" -ne 0 ]] || { echo "settings accepted: $1" >&2; return 1; }
    [[ "$stderr" == *"$2"* ]] || { printf 'expected %s in:\n%s\n' "$2" "$stderr" >&2; return 1; }
}

# SCST-Sign's settings, and verify-image-signatures' where the test says so.

@test "settings: a key that does not parse" {
    refused '{"verification": {"keys": [{"name": "a", "publicKey": "junk"}]}}' \
        'verification.keys[0] (a): publicKey: not a PEM'
}

@test "settings: a key name that refers to no key" {
    refused '{"verification": {"images": [{"namePattern": "*", "keys": [{"name": "missing"}]}]}}' \
        'verification.images[0].keys[0].name: key "missing" is not defined in verification.keys'
}

@test "settings: a key defined twice" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k, $k]}}')" \
        'verification.keys[1].name: key name "a" is defined twice'
}

@test "settings: a key with two sources" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k + {githubActions: {owner: "o"}}]}}')" \
        'exactly one of publicKey, keyless, githubActions or certificate'
}

@test "settings: an entry with no key" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "*", keys: []}]}}')" \
        'verification.images[0].keys: the entry for "*" lists no key'
}

@test "settings: a malformed namePattern" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "Registry/App", keys: [{name: "a"}]}]}}')" \
        'verification.images[0].namePattern: namePattern "Registry/App" is not an image name pattern'
}

@test "settings: an ambiguous namePattern" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "ngin*", keys: [{name: "a"}]}]}}')" \
        'verification.images[0].namePattern: namePattern "ngin*" is ambiguous'
}

@test "settings: an empty githubActions.repo" {
    refused '{"verification": {"keys": [{"name": "gha", "githubActions": {"owner": "o", "repo": ""}}]}}' \
        'verification.keys[0] (gha): githubActions.repo must not be empty'
}

@test "settings: a urlPrefix that is not a URL, in either shape" {
    local issuer=https://token.actions.githubusercontent.com
    refused "$(jq -nc --arg i "$issuer" '{verification: {keys: [{name: "k", keyless: {issuer: $i, urlPrefix: "github.com/my-org"}}]}}')" \
        'verification.keys[0] (k): keyless.urlPrefix: "github.com/my-org" is not an http(s) URL the host can read'
    refused "$(peer_settings keyless-prefix | jq -c '.signatures[0].keylessPrefix[0].url_prefix = "github.com/my-org"')" \
        'keyless.urlPrefix: "github.com/my-org" is not an http(s) URL the host can read'
}

@test "settings: a threshold above the keys an entry names" {
    refused "$(settings a b | jq -c '.verification.images[0].threshold = 3')" \
        'verification.images[0].threshold: 3 keys must verify, but the entry names only 2 distinct keys'
}

@test "settings: one key under two names cannot make a threshold of two" {
    refused "$(settings a | jq -c '.verification.keys += [.verification.keys[0] | .name = "a-again"]
        | .verification.images[0].keys = [{name: "a"}, {name: "a-again"}] | .verification.images[0].threshold = 2')" \
        'verification.images[0].threshold: 2 keys must verify, but the entry names only 1 distinct key'
}

@test "settings: a verification limit of zero" {
    refused '{"maxVerificationsPerRequest": 0}' 'maxVerificationsPerRequest: must be at least 1'
}

@test "settings: an unknown field" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused '{"verification": {"imagez": []}}' 'verification.imagez: unknown field `imagez`'
}

@test "settings: a value out of range" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused '{"pinDigests": "always"}' 'pinDigests: unknown variant `always`'
}

@test "settings: a rules key written as null" {
    refused '{"verification": null}' 'verification: must not be null: give it a value or leave the field out'
    refused '{"signatures": null}' 'signatures: must not be null'
    refused "$(settings a | jq -c '.verification.images[0].annotations = null')" 'verification.images[0].annotations: must not be null'
}

@test "settings: inline rules and the cluster's at once" {
    refused '{"clusterImagePolicy": true, "verification": {}}' 'cannot be set together'
}

@test "settings: verify-image-signatures' settings with a misspelt field" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused "$(peer_settings pubkey-a | jq -c '.signatures[0].annotation = {env: "prod"}')" \
        'signatures[0].annotation: unknown field `annotation`'
}

@test "settings: verify-image-signatures' settings mixed with SCST-Sign's" {
    refused "$(peer_settings pubkey-a | jq -c '.pinDigests = "never"')" \
        'pinDigests: cannot be set together with signatures'
}

# policy-controller's ClusterImagePolicies (cip, pc_settings, key_authority above).

# pc_refused FILTER NEEDLE: kwctl refuses a policy (key a on every image of the
# registry) changed by the jq FILTER, saying NEEDLE.
pc_refused() {
    refused "$(pc_settings "$(cip p "$REGISTRY/**" "$(key_authority a)" | jq -c "$1")")" "clusterImagePolicies[0].$2"
}

REFUSED_TRUST_ROOT="is not supported: the host verifies certificates and transparency-log entries against its own sigstore trust root"
IDENTITY='{"issuer": "https://oidc.fixtures.test", "subject": "signer@fixtures.test"}'

@test "settings: policy-controller's spec.policy" {
    pc_refused '.spec.policy = {type: "cue", data: "predicateType: \"x\""}' 'spec.policy: is not supported: CUE and Rego policies are not evaluated'
}
@test "settings: policy-controller's spec.match" {
    pc_refused '.spec.match = [{resource: "pods", version: "v1"}]' 'spec.match: is not supported: resource selection is not supported'
}
@test "settings: policy-controller's attestations" {
    pc_refused '.spec.authorities[0].attestations = [{name: "sbom", predicateType: "spdx"}]' \
        'spec.authorities[0].attestations: is not supported: attestations are not verified'
}
@test "settings: policy-controller's source" {
    pc_refused '.spec.authorities[0].source = [{oci: "registry.example.org/signatures"}]' 'spec.authorities[0].source: is not supported'
}
@test "settings: policy-controller's key.kms" {
    pc_refused '.spec.authorities[0].key = {kms: "awskms:///arn:aws:kms:eu-west-1:1:key/k"}' \
        'spec.authorities[0].key.kms: is not supported: the host cannot reach a KMS: write the public key in key.data'
}
@test "settings: policy-controller's key.secretRef" {
    pc_refused '.spec.authorities[0].key = {secretRef: {name: "cosign-key"}}' \
        'spec.authorities[0].key.secretRef: is not supported: keys are not read from Secrets'
}
@test "settings: policy-controller's keyless.ca-cert" {
    pc_refused ".spec.authorities[0] = {keyless: {\"ca-cert\": {data: \"pem\"}, identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.ca-cert: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's keyless.trustRootRef" {
    pc_refused ".spec.authorities[0] = {keyless: {trustRootRef: \"private\", identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.trustRootRef: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's keyless.url other than https://fulcio.sigstore.dev" {
    pc_refused ".spec.authorities[0] = {keyless: {url: \"https://fulcio.example.org\", identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.url: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's ctlog on a key authority, whose log entries the host never checks" {
    # Read as absent, it admitted signed-a, whose signature no log holds.
    local needle="spec.authorities[0].ctlog: is not supported: the host checks no transparency-log entry for a key's signatures"
    pc_refused '.spec.authorities[0].ctlog = {url: "https://rekor.sigstore.dev"}' "$needle"
    pc_refused '.spec.authorities[0].ctlog = {}' "$needle"
}
@test "settings: policy-controller's ctlog.url on a keyless authority other than https://rekor.sigstore.dev (which is accepted)" {
    pc_refused ".spec.authorities[0] = {keyless: {identities: [$IDENTITY]}, ctlog: {url: \"https://rekor.example.org\"}}" \
        "spec.authorities[0].ctlog.url: $REFUSED_TRUST_ROOT"
    validate_settings "$(pc_settings "$(cip p "$REGISTRY/**" "$(keyless_authority "$IDENTITY" | jq -c '.ctlog = {url: "https://rekor.sigstore.dev"}')")")"
    assert_equal "$status" 0
}
@test "settings: policy-controller's rfc3161timestamp" {
    pc_refused '.spec.authorities[0].rfc3161timestamp = {trustRootRef: "tsa"}' \
        'spec.authorities[0].rfc3161timestamp: is not supported: RFC 3161 timestamps are not checked by the host'
}
@test "settings: policy-controller's glob on docker.io, which no normalised name has" {
    pc_refused '.spec.images[0].glob = "docker.io/library/*"' \
        'spec.images[0].glob: glob "docker.io/library/*" would never match: images are matched by their normalised name, whose registry is written "index.docker.io"'
}
@test "settings: policy-controller's glob that names no registry, which no normalised name can match" {
    pc_refused '.spec.images[0].glob = "acme/**"' \
        'spec.images[0].glob: glob "acme/**" would never match: images are matched by their normalised name, which always starts with a registry (Docker Hub'"'"'s is index.docker.io); write it, e.g. "index.docker.io/acme/**"'
    pc_refused '.spec.images[0].glob = "nginx"' 'spec.images[0].glob: glob "nginx" would never match: images are matched by their normalised name, which always starts with a registry (Docker Hub'"'"'s is index.docker.io); write it, e.g. "index.docker.io/library/nginx"'
}
@test "settings: outageFallback with pinning off, which cannot make a child run the recorded digest" {
    refused "$(settings a | jq -c --arg k "$RECORD_KEY" '.outageFallback = {recordKey: $k} | .pinDigests = "never"')" \
        'outageFallback: cannot be set together with pinDigests: never: a Pod admitted on its owner'"'"'s record'
    refused "$(peer_settings no-pinning | jq -c --arg k "$RECORD_KEY" '.outageFallback = {recordKey: $k}')" \
        'outageFallback: cannot be set together with modifyImagesWithDigest: false'
}
@test "settings: noMatchPolicy without policy-controller's policies, allowUnmatchedImages with them" {
    refused "$(settings a | jq -c '.noMatchPolicy = "allow"')" noMatchPolicy
    refused "$(pc_settings "$(cip p "$REGISTRY/**" "$(key_authority a)")" | jq -c '.allowUnmatchedImages = true')" allowUnmatchedImages
    refused '{"clusterImagePolicyApiVersion": "policy.sigstore.dev/v1beta1"}' clusterImagePolicyApiVersion
}

# ---- ClusterImagePolicies in the cluster ------------------------------------------
# SCST-Sign's, then policy-controller's, read from the cluster: kwctl answers
# the kubernetes capability from a recorded session of host calls.

CLUSTER_SETTINGS='{"clusterImagePolicy": true}'

@test "cluster: no ClusterImagePolicy is admitted with SCST-Sign's warning" {
    evaluate_in_cluster test_data/sessions/cluster-image-policy-missing.yml "$(pod "$(image unsigned)")" "$CLUSTER_SETTINGS"
    allowed
    assert_equal "$(field '.warnings | join("|")')" "$NO_POLICY"
}

@test "cluster: a ClusterImagePolicy with a key that does not parse denies everything and names the field" {
    evaluate_in_cluster test_data/sessions/cluster-image-policy-invalid.yml "$(pod "$(image signed-a)")" "$CLUSTER_SETTINGS"
    denied
    [[ "$(message)" == *'spec.verification.keys[0] (first-key): publicKey: not a PEM'* ]]
}

# cluster_session SPEC [API_VERSION]: a session whose cluster holds the
# "image-policy" ClusterImagePolicy with SPEC (of API_VERSION, default
# SCST-Sign's current one), followed by the host calls of the last evaluate.
cluster_session() {
    local api_version="${2:-signing.apps.tanzu.vmware.com/v1beta1}"
    cluster_list "$api_version" metadata.name=image-policy "$(jq -c --arg v "$api_version" '[{apiVersion: $v,
        kind: "ClusterImagePolicy", metadata: {name: "image-policy"}, spec: .}]' <<<"$1")"
}

# cluster_list API_VERSION FIELD_SELECTOR ITEMS: a session whose cluster
# answers the module's list of ClusterImagePolicies with ITEMS (a JSON
# array), followed by the host calls of the last evaluate.
cluster_list() {
    cat <<EOF
- type: Exchange
  request: |
    !KubernetesListResourceAll
    api_version: $1
    kind: ClusterImagePolicy
    label_selector: null
    field_selector: $(jq -n --arg s "$2" '$s')
    field_masks: null
  response:
    type: Success
    payload: $(jq -c '{apiVersion: "v1", kind: "List", metadata: {}, items: .}' <<<"$3" | jq -Rs .)
EOF
    grep -v '^\[\]$' "$BATS_TEST_TMPDIR/session.yml" 2>/dev/null || true
}

@test "cluster: an invalid key name reference denies everything and names the field" {
    evaluate "$(pod "$(image signed-a)")" "$(settings a)"
    cluster_session "$(settings a | jq -c '.verification.images[0].keys = [{name: "nobody"}]')" >"$BATS_TEST_TMPDIR/cluster.yml"
    evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image signed-a)")" "$CLUSTER_SETTINGS"
    denied
    [[ "$(message)" == *'spec.verification.images[0].keys[0].name: key "nobody" is not defined'* ]]
}

@test "cluster: the example ClusterImagePolicy decides like the same spec inline" {
    # The example with its registry and key pointed at the fixtures, as JSON.
    local spec req inline admitted=0
    spec="$(sed -e "s|harbor.example.net/storefront|$REGISTRY|; s|harbor.example.net|$REGISTRY|" \
        crds/example-image-policy.yaml | yq -c .spec | jq -c --argjson keys "$(cat "$WORK/keys.json")" \
        '.verification.keys[0].publicKey = $keys[0].publicKey')"
    for req in "$(pod "$(image signed-a)")" "$(pod "$(image unsigned)")" "$(pod nginx)" \
        "$(request deployment "$(image signed-a)")" "$(request cronjob "$(image signed-b)")" \
        "$(pod "$(image unsigned)" | jq -c '.namespace = "build-agents"')"; do
        evaluate "$req" "$spec"
        inline="$response"
        cluster_session "$spec" >"$BATS_TEST_TMPDIR/cluster.yml"
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$req" "$CLUSTER_SETTINGS"
        assert_equal "$response" "$inline"
        [[ "$(field .allowed)" == true ]] && admitted=$((admitted + 1))
    done
    assert_equal "$admitted" 3 # signed-a twice and the excluded namespace
}

@test "cluster: with no SCST-Sign policy in its earlier group, the warning names that group" {
    local earlier=signing.run.tanzu.vmware.com/v1alpha1
    cluster_list "$earlier" metadata.name=image-policy '[]' >"$BATS_TEST_TMPDIR/cluster.yml"
    evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image unsigned)")" \
        "$(jq -nc --arg v "$earlier" '{clusterImagePolicy: true, clusterImagePolicyApiVersion: $v}')"
    allowed
    assert_equal "$(field '.warnings | join("|")')" \
        'clusterimagepolicies.signing.run.tanzu.vmware.com "image-policy" not found. Image policy enforcement was not applied.'
}

@test "cluster: SCST-Sign's signing.run.tanzu.vmware.com/v1alpha1 ClusterImagePolicy decides as the v1beta1 one" {
    local req current admitted=0 earlier=signing.run.tanzu.vmware.com/v1alpha1
    for req in "$(pod "$(image signed-a)")" "$(pod "$(image unsigned)")" "$(pod nginx)" \
        "$(pod "$(image unsigned)" | jq -c '.namespace = "kube-system"')"; do
        evaluate "$req" "$(settings a)"
        cluster_session "$(settings a)" >"$BATS_TEST_TMPDIR/cluster.yml"
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$req" "$CLUSTER_SETTINGS"
        current="$response"
        cluster_session "$(settings a)" "$earlier" >"$BATS_TEST_TMPDIR/cluster.yml"
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$req" \
            "$(jq -nc --arg v "$earlier" '{clusterImagePolicy: true, clusterImagePolicyApiVersion: $v}')"
        assert_equal "$response" "$current"
        [[ "$(field .allowed)" == true ]] && admitted=$((admitted + 1))
    done
    assert_equal "$admitted" 2 # signed-a and the excluded namespace
}

# policy-controller's ClusterImagePolicies in the cluster: every one of
# API_VERSION, listed with an empty field selector.
PC_CLUSTER='{"clusterImagePolicy": true, "clusterImagePolicyApiVersion": "policy.sigstore.dev/v1beta1"}'

# pc_cluster_session API_VERSION CIP...: a session whose cluster holds these
# ClusterImagePolicies (written as API_VERSION), then the last evaluate's calls.
pc_cluster_session() {
    cluster_list "$1" "" "$(jq -nc --arg v "$1" '[$ARGS.positional[] | fromjson | .apiVersion = $v]' --args "${@:2}")"
}

@test "cluster: policy-controller's policies decide the images they cover; one with key.kms refuses only its own (500)" {
    local valid kms version settings
    valid="$(cip signed "$REGISTRY/signed-*" "$(key_authority a)")"
    kms="$(cip kms "$REGISTRY/unsigned*" '{"key": {"kms": "awskms:///arn:aws:kms:eu-west-1:1:key/k"}}')"
    for version in policy.sigstore.dev/v1beta1 policy.sigstore.dev/v1alpha1; do
        settings="$(jq -c --arg v "$version" '.clusterImagePolicyApiVersion = $v' <<<"$PC_CLUSTER")"
        # The registry's answers, recorded with the valid policy inline.
        evaluate "$(pod "$(image signed-a)")" "$(pc_settings "$valid")"
        pc_cluster_session "$version" "$valid" "$kms" >"$BATS_TEST_TMPDIR/cluster.yml"
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image signed-a)")" "$settings"
        allowed
        assert_equal "$(verified_images | jq -r '.[].key')" signed/authority-0
        assert_equal "$(container_image)" "$(image signed-a)@$(digest signed-a)"
        # No host call but the list: the refused policy is not asked about.
        rm "$BATS_TEST_TMPDIR/session.yml"
        pc_cluster_session "$version" "$valid" "$kms" >"$BATS_TEST_TMPDIR/cluster.yml"
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image unsigned)")" "$settings"
        denied
        assert_equal "$(field .status.code)" 500
        assert_equal "$(message)" "The image: $(image unsigned) cannot be checked: ClusterImagePolicy \"kms\" asks for what \
this policy cannot check, so the images it covers are refused until it is fixed: spec.authorities[0].key.kms: is not supported: \
the host cannot reach a KMS: write the public key in key.data"
        # An image neither covers: noMatchPolicy (deny).
        evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image annotated)")" "$settings"
        denied
        assert_equal "$(message)" "Could not verify against any image policies for container image: $(image annotated)."
    done
}

@test "cluster: the rules' fingerprint and the answer do not depend on the order the host lists the policies in" {
    local first second sealed rules one
    first="$(cip signed "$REGISTRY/signed-*" "$(key_authority a)")"
    second="$(cip rollout "$REGISTRY/**" "$(key_authority b)" '{"mode": "warn"}')"
    # The fingerprint is written on a sealed record: with a record key.
    sealed="$(jq -c --arg k "$RECORD_KEY" '.outageFallback = {recordKey: $k}' <<<"$PC_CLUSTER")"
    # The registry's answers, recorded in the order the policies are applied: by name.
    evaluate "$(pod "$(image signed-a)")" "$(pc_settings "$second" "$first")"
    pc_cluster_session policy.sigstore.dev/v1beta1 "$first" "$second" >"$BATS_TEST_TMPDIR/one.yml"
    pc_cluster_session policy.sigstore.dev/v1beta1 "$second" "$first" >"$BATS_TEST_TMPDIR/two.yml"
    evaluate_in_cluster "$BATS_TEST_TMPDIR/one.yml" "$(pod "$(image signed-a)")" "$sealed"
    allowed
    rules="$(annotation rules)" one="$response"
    [[ -n "$rules" ]]
    evaluate_in_cluster "$BATS_TEST_TMPDIR/two.yml" "$(pod "$(image signed-a)")" "$sealed"
    assert_equal "$(annotation rules)" "$rules"
    assert_equal "$response" "$one"
}

@test "cluster: warn mode does not admit what a policy that cannot be applied covers" {
    pc_cluster_session policy.sigstore.dev/v1beta1 "$(cip kms "$REGISTRY/**" '{"key": {"kms": "hashivault://k"}}')" \
        >"$BATS_TEST_TMPDIR/cluster.yml"
    evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image signed-a)")" \
        "$(jq -c '.warn = {allNamespaces: true}' <<<"$PC_CLUSTER")"
    denied
    assert_equal "$(field .status.code)" 500
    [[ "$(message)" == *'ClusterImagePolicy "kms" asks for what this policy cannot check'*'spec.authorities[0].key.kms: is not supported'* ]]
}

@test "cluster: with no policy-controller ClusterImagePolicy at all, the no-match policy decides (deny by default)" {
    pc_cluster_session policy.sigstore.dev/v1beta1 >"$BATS_TEST_TMPDIR/cluster.yml"
    evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image unsigned)")" "$PC_CLUSTER"
    denied
    assert_equal "$(message)" "Could not verify against any image policies for container image: $(image unsigned)."
    evaluate_in_cluster "$BATS_TEST_TMPDIR/cluster.yml" "$(pod "$(image unsigned)")" \
        "$(jq -c '.noMatchPolicy = "allow"' <<<"$PC_CLUSTER")"
    allowed
    unchanged
}

# ---- registry outages ------------------------------------------------------------
# A second registry of its own that the tests stop and start again: owners are
# created while it answers, their children and updates sent while it does not.
# Owners are read through kwctl's replayed host interactions; the registry's
# answers are the host's own, recorded against the stopped registry.

RECORD_KEY='a-random-record-key-of-at-least-32-characters'
OWNER_UID=6a1d6e8e-3b7f-4c55-9f5e-0f5e2a7c1b10

outage_dir() { echo "$WORK/outage"; }
# The outage registry's fixtures, pushed by its first start.
outage_fixtures() {
    [[ -f "$(outage_dir)/fixtures/fixtures.json" ]] || outage_registry up
    echo "$(outage_dir)/fixtures/fixtures.json"
}
outage_image() { jq -r ".images[\"$1\"].ref" "$(outage_fixtures)"; }
outage_digest() { jq -r ".images[\"$1\"].digest" "$(outage_fixtures)"; }

# outage_registry up|down: the outage registry answering or stopped; the
# first `up` starts it and pushes the fixtures' signed images to it.
outage_registry() {
    local dir
    dir="$(outage_dir)"
    case "$1:$([[ -f "$dir/registry/pid" ]] && echo running)" in
    up:running | down:) ;;
    down:running) scripts/registry.sh stop "$dir/registry" >/dev/null ;;
    up:)
        if [[ -f "$dir/registry/last-address" ]]; then
            scripts/registry.sh restart "$dir/registry" >/dev/null
        else
            local address
            address="$(scripts/registry.sh start "$dir/registry")"
            "${FIXTURES_BIN:-${CARGO_TARGET_DIR:-target}/debug/fixtures}" --registry "$address" --out "$dir/fixtures" 2>/dev/null
            printf -- '- "%s"\n' "$address" >>"$WORK/sources.yaml"
        fi
        ;;
    esac
}

# outage_settings [fallback]: key a of the outage registry's fixtures for its
# images; with `fallback`, outageFallback on.
outage_settings() {
    local address
    address="$(cat "$(outage_dir)/registry/address" 2>/dev/null || cat "$(outage_dir)/registry/last-address")"
    jq -nc --arg p "$address/*" --rawfile key "$(jq -r .keys.a "$(outage_dir)/fixtures/fixtures.json")" \
        --arg k "$RECORD_KEY" --arg fallback "${1:-}" '{verification: {keys: [{name: "a", publicKey: $key}],
        images: [{namePattern: $p, keys: [{name: "a"}]}]}} + if $fallback == "" then {} else {outageFallback: {recordKey: $k}} end'
}

# owner KIND IMAGE [NAME]: KIND running IMAGE as the policy admitted it while
# the registry answered (name NAME, default demo), with the uid the API
# server then gives it.
owner() {
    outage_registry up
    evaluate "$(workload "$1" "$2" | jq -c --arg n "${3:-demo}" '.object.metadata.name = $n')" "$(outage_settings fallback)"
    allowed
    mutated | jq -c --arg uid "$OWNER_UID" '.metadata.uid = $uid'
}

# child KIND IMAGE OWNER [controller]: a CREATE of KIND running IMAGE, made by
# OWNER (its controller unless the fourth argument is false), named by the
# API server later (generateName).
child() {
    workload "$1" "$2" | jq -c --argjson owner "$3" --argjson controller "${4:-true}" '
        .object.metadata |= (del(.name) | .generateName = "demo-" | .ownerReferences = [{apiVersion: $owner.apiVersion,
        kind: $owner.kind, name: $owner.metadata.name, uid: $owner.metadata.uid, controller: $controller}])'
}

# owner_read OWNER_ANSWER: a replayed get_resource exchange answering with
# OWNER_ANSWER, a Success or Error response (YAML mapping as JSON).
owner_read() {
    jq -n --argjson owner "$2" --argjson response "$1" '[{type: "Exchange", request: ("!KubernetesGetResource\n" +
        ({api_version: $owner.apiVersion, kind: $owner.kind, name: $owner.metadata.name, namespace: "default",
        disable_cache: false, field_masks: null} | tojson)), response: $response}]' | yq -y .
}
found() { jq -nc --argjson o "$1" '{type: "Success", payload: ($o | tojson)}'; }
not_found() { jq -nc --arg n "$1" '{type: "Error", message: "Cannot find apps/v1/ReplicaSet named \($n) inside of namespace Some(\"default\")"}'; }

# during_outage REQUEST [OWNER_ANSWER OWNER]: REQUEST evaluated with the
# outage registry stopped and outageFallback on. The registry's answers are
# recorded first (fallback off, so no owner is read); the evaluation then
# replays them, followed by the owner read answered with OWNER_ANSWER when
# given (a read the replay does not hold fails the run).
during_outage() {
    outage_registry down
    evaluate "$1" "$(outage_settings)"
    denied
    [[ "$(message)" == *"cannot reach the registry (connection failed)"* ]] || { echo "not an outage: $(message)" >&2; return 1; }
    grep -v '^\[\]$' "$BATS_TEST_TMPDIR/session.yml" >"$BATS_TEST_TMPDIR/replay.yml" || true
    [[ -z "${2:-}" ]] || owner_read "$2" "$3" >>"$BATS_TEST_TMPDIR/replay.yml"
    kwctl_run "$1" "$(outage_settings fallback)" --allow-context-aware \
        --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/replay.yml"
}

@test "outage: an update that changes no image passes without a host call; a changed or respelled image is denied" {
    local pod deployment edited address
    pod="$(owner pod "$(outage_image signed-a)")"
    deployment="$(owner deployment "$(outage_image signed-a)")"
    outage_registry down
    for edited in "$(jq -c '.metadata.finalizers = []' <<<"$pod")" "$(jq -c '.metadata.labels.tier = "web"' <<<"$pod")" \
        "$(jq -c '.spec.replicas = 0' <<<"$deployment")"; do
        local old="$pod"
        [[ "$(jq -r .kind <<<"$edited")" == Deployment ]] && old="$deployment"
        evaluate "$(workload "$(jq -r '.kind | ascii_downcase' <<<"$old")" x | jq -c --argjson old "$old" --argjson new "$edited" \
            '.operation = "UPDATE" | .oldObject = $old | .object = $new')" "$(outage_settings fallback)"
        allowed
        assert_equal "$(verify_calls)" 0
        assert_equal "$(annotation status)" verified
        assert_equal "$(annotation verified-images)" "$(jq -r '.metadata.annotations["image-policy.signing/verified-images"]' <<<"$old")"
    done
    # Another image, and the same one respelled (the port with a leading zero): verified, so denied.
    address="$(cat "$(outage_dir)/registry/last-address")"
    for image in "$(outage_image signed-b)" "127.0.0.1:0${address##*:}/signed-a:v1"; do
        evaluate "$(pod "$image" | jq -c --argjson old "$pod" '.operation = "UPDATE" | .oldObject = $old
            | .object.metadata = $old.metadata')" "$(outage_settings fallback)"
        denied
        assert_equal "$(message)" "The image: $image is not signed. key a: cannot reach the registry (connection failed)"
    done
}

@test "outage: a Pod of a verified ReplicaSet is admitted on its record, pinned to the recorded digest, one owner read" {
    local replicaset image
    image="$(outage_image signed-a)"
    replicaset="$(owner replicaset "$image")"
    during_outage "$(child pod "$image" "$replicaset")" "$(found "$replicaset")" "$replicaset"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$image@$(outage_digest signed-a)"
    assert_equal "$(annotation status)" owner-verified
    assert_equal "$(verified_images)" "$(jq -nc --arg i "$image" --arg d "$(outage_digest signed-a)" \
        '{($i): {digest: $d, key: "a", owner: "ReplicaSet/demo"}}')"
    assert_equal "$(field '.warnings | length')" 1
    [[ "$(field '.warnings[0]')" == "$image: its registry could not be reached (key a: cannot reach the registry (connection failed)); admitted on the record of its owner ReplicaSet/demo, which verified it at $(outage_digest signed-a) under the same rules." ]]
}

@test "outage: Deployment, then its ReplicaSet, then the ReplicaSet's Pod, each on the record of the one before" {
    local deployment replicaset image
    image="$(outage_image signed-a)"
    deployment="$(owner deployment "$image")"
    # The Deployment controller names the ReplicaSets it creates.
    during_outage "$(child replicaset "$image" "$deployment" | jq -c '.object.metadata.name = "demo-5d8f"')" \
        "$(found "$deployment")" "$deployment"
    allowed
    assert_equal "$(annotation status)" owner-verified
    replicaset="$(mutated | jq -c --arg uid "$OWNER_UID" '.metadata.uid = $uid')"
    during_outage "$(child pod "$image" "$replicaset")" "$(found "$replicaset")" "$replicaset"
    allowed
    assert_equal "$(mutated | jq -r '.spec.containers[0].image')" "$image@$(outage_digest signed-a)"
    assert_equal "$(verified_images)" "$(jq -nc --arg i "$image" --arg d "$(outage_digest signed-a)" \
        '{($i): {digest: $d, key: "a", owner: "ReplicaSet/demo-5d8f"}}')"
}

@test "outage: a Pod is denied as before when its owner is missing, another object, without a record, or one for other images or rules" {
    local image replicaset other_images other_rules pod case answer why
    image="$(outage_image signed-a)"
    replicaset="$(owner replicaset "$image")"
    other_images="$(owner replicaset "$(outage_image fleet-1)")"
    # A record made under other rules: the same key, another pattern.
    other_rules="$(jq -c '.metadata.annotations["image-policy.signing/rules"] = "00000000000000000000000000000000"' <<<"$replicaset")"
    pod="$(child pod "$image" "$replicaset")"
    for case in "missing|$(not_found demo)|cannot read its owner ReplicaSet/demo" \
        "another uid|$(found "$(jq -c '.metadata.uid = "another"' <<<"$replicaset")")|is another object than the one it names" \
        "no record|$(found "$(jq -c '.metadata.annotations = {}' <<<"$replicaset")")|carries no record of this policy" \
        "other images|$(found "$other_images")|does not list $image" \
        "other rules|$(found "$other_rules")|was verified under other rules" \
        "a copied record|$(found "$(jq -c '.metadata.name = "demo" | .metadata.annotations = $a' --argjson a \
            "$(owner replicaset "$image" copied | jq -c .metadata.annotations)" <<<"$replicaset")")|seal"; do
        IFS='|' read -r why answer reason <<<"$case"
        during_outage "$pod" "$answer" "$replicaset"
        denied
        assert_equal "$(message)" "The image: $image is not signed. key a: cannot reach the registry (connection failed)"
        [[ "$(field '.warnings[0]')" == *"$reason"* ]] || { echo "$why: $(field .warnings)" >&2; return 1; }
    done
    # Not its controller: the owner is not even read (the replay holds no read).
    during_outage "$(child pod "$image" "$replicaset" false)"
    denied
}

@test "outage: a Pod admitted on its owner's record stays owner-verified through an update that changes no image" {
    local replicaset image pod
    image="$(outage_image signed-a)"
    replicaset="$(owner replicaset "$image")"
    during_outage "$(child pod "$image" "$replicaset")" "$(found "$replicaset")" "$replicaset"
    allowed
    pod="$(mutated | jq -c '.metadata.name = "demo-x7k2p"')"
    evaluate "$(workload pod x | jq -c --argjson old "$pod" '.operation = "UPDATE" | .oldObject = $old
        | .object = ($old | .metadata.labels.tier = "web")')" "$(outage_settings fallback)"
    allowed
    assert_equal "$(verify_calls)" 0
    assert_equal "$(annotation status)" owner-verified
    assert_equal "$(verified_images | jq -r '.[].owner')" ReplicaSet/demo
}

@test "outage: without a record key no record is carried, a hand-made one with the rules' fingerprint least of all" {
    local unsigned fingerprint forged
    outage_registry up
    # The fingerprint, stamped in clear on whatever was admitted.
    evaluate "$(pod "$(outage_image signed-a)")" "$(outage_settings)"
    fingerprint="$(annotation rules)"
    unsigned="$(outage_image unsigned)"
    forged="$(pod "$unsigned" | jq -c --arg r "$fingerprint" --arg i "$unsigned" '.object
        | .metadata.annotations = {"image-policy.signing/status": "verified", "image-policy.signing/rules": $r,
          "image-policy.signing/verified-images": ({($i): {digest: "sha256:\("0" * 64)", key: "a"}} | tojson)}')"
    evaluate "$(workload pod x | jq -c --argjson old "$forged" '.operation = "UPDATE" | .oldObject = $old
        | .object = ($old | .metadata.labels.tier = "web")')" "$(outage_settings)"
    allowed
    assert_equal "$(verify_calls)" 0
    assert_equal "$(annotation status)" unchanged-unverified
    assert_equal "$(verified_images)" '{}'
}

@test "a deleted signature (not an outage) denies a controller's Pod, and its owner is not read" {
    local replicaset image
    image="$(outage_image fleet-3)"
    replicaset="$(owner replicaset "$image")"
    outage_registry up
    delete_signature "$(cat "$(outage_dir)/registry/address")" fleet-3 "$(outage_digest fleet-3)"
    evaluate "$(child pod "$image" "$replicaset")" "$(outage_settings fallback)"
    denied
    assert_equal "$(message)" "The image: $image is not signed. key a: no signatures found"
    assert_equal "$(grep -c KubernetesGetResource "$BATS_TEST_TMPDIR/session.yml" || true)" 0
}

# ---- packaging: the stock tools read the metadata ---------------------------------

@test "kwctl inspect: the annotated module carries its rules, mutating, context-aware resources and version" {
    run --separate-stderr kwctl inspect --output yaml "$POLICY"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local metadata
    metadata="$(yq -c . <<<"$output")"
    assert_equal "$(jq -c '[.mutating, .backgroundAudit, .executionMode]' <<<"$metadata")" \
        '[true,true,"kubewarden-wapc"]'
    assert_equal "$(jq -c '.rules' <<<"$metadata")" "$(yq -c '.rules' policy-metadata.yml)"
    assert_equal "$(jq -c '.contextAwareResources | sort' <<<"$metadata")" "$(yq -c '.contextAwareResources | sort' policy-metadata.yml)"
    assert_equal "$(jq -r '.annotations["io.kubewarden.policy.version"]' <<<"$metadata")" \
        "$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
}

@test "kwctl annotate: the metadata is accepted; name, home, author, OCI repository and minimum version are carried" {
    run --separate-stderr kwctl annotate -m policy-metadata.yml -u README.md -o "$BATS_TEST_TMPDIR/annotated.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    run --separate-stderr kwctl inspect --output yaml "$BATS_TEST_TMPDIR/annotated.wasm"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local inspected policy_annotations
    inspected="$(yq -c . <<<"$output")"
    policy_annotations='[.minimumKubewardenVersion, (.annotations | with_entries(select(.key | startswith("io.kubewarden.policy.")))
        | del(.["io.kubewarden.policy.usage"]))]'
    assert_equal "$(jq -cS "$policy_annotations" <<<"$inspected")" "$(yq -cS "$policy_annotations" policy-metadata.yml)"
    # The README travels inside the module as its usage text.
    assert_equal "$(jq -r '.annotations["io.kubewarden.policy.usage"]' <<<"$inspected")" "$(cat README.md)"
    if [[ "$KUBEWARDEN_HOST" == "$MINIMUM_HOST" ]]; then
        # The minimum release knows no hostCapabilities and drops them.
        assert_equal "$(jq -c '.hostCapabilities' <<<"$inspected")" null
    else
        assert_equal "$(jq -c '.hostCapabilities | sort' <<<"$inspected")" "$(yq -c '.hostCapabilities | sort' policy-metadata.yml)"
    fi
}

# The capabilities kwctl annotate warns about, from its stderr (colours removed:
# a regular expression, which ${var//pattern/} cannot write).
# shellcheck disable=SC2001
capability_warnings() { sed 's/\x1b\[[0-9;]*m//g' <<<"$1" | grep -i 'host capabilities' || true; }

@test "kwctl annotate: hostCapabilities name exactly what the module calls (the host of record warns otherwise; the minimum release loads the module it annotated)" {
    if [[ "$KUBEWARDEN_HOST" == "$MINIMUM_HOST" ]]; then
        # The shipped module is annotated by the host of record's kwctl; the minimum release reads its metadata and runs it.
        run --separate-stderr kwctl inspect --output yaml "$POLICY"
        [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
        assert_equal "$(yq -r '.annotations["io.kubewarden.kwctl"]' <<<"$output" | cut -d. -f1,2)" "$HOST_OF_RECORD"
        evaluate "$(pod "$(image signed-a)")" "$(settings a)"
        allowed
        return 0
    fi
    run --separate-stderr kwctl annotate -m policy-metadata.yml -u README.md -o "$BATS_TEST_TMPDIR/annotated.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    assert_equal "$(capability_warnings "$stderr")" ""
    # The check is live: without the list, kwctl names every capability the module calls.
    yq -y 'del(.hostCapabilities)' policy-metadata.yml >"$BATS_TEST_TMPDIR/metadata.yml"
    run --separate-stderr kwctl annotate -m "$BATS_TEST_TMPDIR/metadata.yml" -o "$BATS_TEST_TMPDIR/undeclared.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local warned capability
    warned="$(capability_warnings "$stderr")"
    [[ "$warned" == *"used by the policy but not declared"* ]] || { echo "no warning: $stderr" >&2; return 1; }
    for capability in $(yq -r '.hostCapabilities[]' policy-metadata.yml); do
        [[ "$warned" == *"\"$capability\""* ]] || { echo "$capability not named: $warned" >&2; return 1; }
    done
}

@test "kwctl scaffold artifacthub: artifacthub-pkg.yml is what kwctl makes of the metadata and questions (no drift)" {
    run --separate-stderr kwctl scaffold artifacthub -m policy-metadata.yml -q questions-ui.yml
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    # createdAt is the time of generation; everything else must be identical.
    local generated committed
    generated="$(yq -S 'del(.createdAt)' <<<"$output")"
    committed="$(yq -S 'del(.createdAt)' artifacthub-pkg.yml)"
    if [[ "$generated" != "$committed" ]]; then
        diff <(echo "$committed") <(echo "$generated") >&2 || true
        echo "artifacthub-pkg.yml is stale: run 'make artifacthub-pkg.yml'" >&2
        return 1
    fi
    assert_equal "$(yq -r '.containersImages[0].image' artifacthub-pkg.yml)" \
        "$(yq -r '.annotations["io.kubewarden.policy.ociUrl"]' policy-metadata.yml):v$(yq -r '.annotations["io.kubewarden.policy.version"]' policy-metadata.yml)"
    [[ -n "$(yq -r '.annotations["kubewarden/questions-ui"] // empty' artifacthub-pkg.yml)" ]]
}

@test "kwctl scaffold manifest: a ClusterAdmissionPolicy with every rule, mutating, reading ClusterImagePolicies" {
    run --separate-stderr kwctl scaffold manifest --type ClusterAdmissionPolicy --allow-context-aware "$POLICY"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    assert_equal "$(yq -r '.kind' <<<"$output")" ClusterAdmissionPolicy
    assert_equal "$(yq -c '.spec.mutating' <<<"$output")" true
    assert_equal "$(yq -c '.spec.rules' <<<"$output")" "$(yq -c '.rules' policy-metadata.yml)"
    assert_equal "$(yq -c '.spec.contextAwareResources | sort' <<<"$output")" "$(yq -c '.contextAwareResources | sort' policy-metadata.yml)"
}
