#!/usr/bin/env bats
# ClusterImagePolicies read from the cluster, SCST-Sign's and
# policy-controller's, from recorded sessions of host calls. Part of the
# end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

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
