#!/usr/bin/env bats
# Registry outages: a second registry the tests stop and start, owners' records
# carried to their children, and a deleted signature. The tests share that
# registry and run in order. Part of the end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

# ---- registry outages ------------------------------------------------------------
# A second registry of its own that the tests stop and start again: owners are
# created while it answers, their children and updates sent while it does not.
# Owners are read through kwctl's replayed host interactions; the registry's
# answers are the host's own, recorded against the stopped registry.

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
