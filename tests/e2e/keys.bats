#!/usr/bin/env bats
# Keys: any-of and thresholds, public keys of every type, certificates with
# their chains, required signature annotations, tampered signatures, and
# keyless signatures (email, GitHub Actions, prefixes) with their negative
# controls and forgeries. Part of the end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

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
