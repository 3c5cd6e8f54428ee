#!/usr/bin/env bats
# cosign 3 signature bundles, which this host does not read: named in the
# denial with the way out, a .sig beside them decides, and forged fallback
# tags never pass. Part of the end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

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
