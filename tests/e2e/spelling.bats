#!/usr/bin/env bats
# One image, one answer, whatever the spelling: registry hosts in another case,
# ports with leading zeros and Docker Hub's other names are matched by the same
# patterns, and the host is asked about the registry the runtime pulls from.
# Part of the end-to-end suite whose entry is e2e.bats (tests/bats/e2e.bash).

bats_require_minimum_version 1.5.0
load ../bats/e2e

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
