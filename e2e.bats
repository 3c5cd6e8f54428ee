#!/usr/bin/env bats
# The end-to-end suite: the compiled, annotated module in kwctl (the Kubewarden
# host, same policy-evaluator as policy-server), against a local registry
# holding images signed in cosign's format. Offline: kwctl reads a local trust
# config instead of fetching Sigstore's, and reaches the registry over plain HTTP.
# The suite is split by concern. This file, its entry, holds the core: every
# kind signed and unsigned, every image field, ephemeral containers, pinning
# and annotations. The other concerns are files of their own under tests/e2e/
# (spelling, keys, bundles, limits, policy-controller, settings-refused,
# cluster, outages, packaging), each of which also runs alone; what they all
# share (the test bed each file starts, the keys, the settings and the kwctl
# runners) is tests/bats/e2e.bash. The comparison with verify-image-signatures
# is a suite of its own, peer.bats.
#
# Run by `make e2e-tests` (which builds annotated-policy.wasm and the fixtures
# tool first) once per host version, every file in one command and one count
# line (scripts/bats.sh e2e.bats tests/e2e/*.bats): KUBEWARDEN_HOST (the host
# of record or the oldest release the metadata claims, see scripts/hosts.sh)
# names the kwctl that scripts/bats.sh put first on PATH (tests/bats/kwctl.bash).
# Without that kwctl every test is skipped with a message, except under
# CI=true, where a missing host fails the run.

bats_require_minimum_version 1.5.0
load tests/bats/e2e

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
