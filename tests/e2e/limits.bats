#!/usr/bin/env bats
# Bounded work and bounded answers, what no key decides (excluded namespaces,
# unmatched images, no rules), warn mode, and bad input. Part of the
# end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

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
