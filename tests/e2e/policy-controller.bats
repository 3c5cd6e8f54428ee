#!/usr/bin/env bats
# policy-controller's ClusterImagePolicies as settings: key and keyless
# authorities, regexp identities, static policies, warn mode, every matching
# policy, noMatchPolicy and globs. Part of the end-to-end suite whose entry is
# e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

# ---- policy-controller's ClusterImagePolicy ----------------------------------------
# sigstore policy-controller's resources as the third settings shape
# (clusterImagePolicies, pasted as kubectl prints them), or read from the
# cluster. Every policy whose globs match an image must pass, each through
# any one of its authorities.
# (cip, pc_settings, key_authority, keyless_authority and container_image:
# tests/bats/e2e.bash, which the settings and cluster suites share.)

# The fixtures' keyless identity NAME (email or github) as policy-controller writes it.
identity() { jq -c --arg n "$1" '.keyless[$n] | {issuer, subject}' "$FIXTURES"; }

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
