#!/usr/bin/env bats
# The comparison with verify-image-signatures (the peer): the same settings
# file, in the peer's shape, and the same request go to both modules in kwctl;
# their decisions must agree, except for the differences docs/migrating.md
# lists, which are asserted as differences. Every case runs; a failure lists
# every disagreement.
#
# Run by `make e2e-tests` beside e2e.bats, once per host version and on the
# same terms (tests/bats/kwctl.bash): without the host's kwctl every test is
# skipped, except under CI=true. The peer comes from outside the project
# (scripts/peer.sh: PEER_WASM, or where `kwctl pull` stores it); without it
# every test is skipped, with one loud line saying where it was looked for.

bats_require_minimum_version 1.5.0
load tests/bats/helpers
load tests/bats/kwctl

PEER="$(scripts/peer.sh path 2>/dev/null || true)"

setup_file() {
    [[ -n "$PEER" ]] || echo "######## peer.bats: $(scripts/peer.sh path 2>&1 >/dev/null); every comparison is skipped" >&3
    kwctl_setup_file
}
teardown_file() { kwctl_teardown_file; }

setup() {
    kwctl_setup
    need_peer
}

need_peer() {
    [[ -n "$PEER" ]] || skip "the peer module is missing: $(scripts/peer.sh path 2>&1 >/dev/null)"
}

# decision MODULE REQUEST SETTINGS: admitted, denied, crashed (the module
# trapped: kwctl answers 500 with the guest's failure) or no-response (kwctl
# refused the settings or could not run the module). Through kwctl_run, the
# suites' one kwctl command line.
decision() {
    POLICY="$1" kwctl_run "$2" "$3" 2>/dev/null || { echo "no-response"; return 0; }
    jq -r 'if .allowed then "admitted"
        elif (.status.message // "" | startswith("internal server error: Guest call failure")) then "crashed"
        else "denied" end' <<<"$response"
}

# compare LABEL EXPECTED_OURS EXPECTED_PEER REQUEST SETTINGS: appends to
# $disagreements when a module decides otherwise than expected.
compare() {
    local ours peer
    ours="$(decision "$POLICY" "$4" "$5")" && peer="$(decision "$PEER" "$4" "$5")" || return 1
    if [[ "$ours" != "$2" || "$peer" != "$3" ]]; then
        disagreements+=("$1: ours $ours (expected $2), peer $peer (expected $3)")
    fi
    compared=$((compared + 1))
}

# same LABEL EXPECTED REQUEST SETTINGS: both modules decide EXPECTED.
same() { compare "$1" "$2" "$2" "$3" "$4"; }

report() {
    echo "$compared cases compared" >&3
    if ((${#disagreements[@]})); then
        printf '%s\n' "${disagreements[@]}" >&2
        return 1
    fi
}

@test "peer settings, differential: each key type on every image of the registry decides as verify-image-signatures does" {
    local disagreements=() compared=0 name expected settings
    # image => expected decision, per settings
    declare -A admits=(
        [pubkey-a]="signed-a signed-ab annotated multiarch fleet-1"
        [pubkeys-a-and-b]="signed-ab"
        [pubkey-rsa]="rsa-signed"
        [pubkey-ed25519]="ed25519-signed"
        [annotations]="annotated"
        [certificate]="cert-signed"
        [keyless]="" [keyless-prefix]="" [github-actions]=""
    )
    for settings in "${!admits[@]}"; do
        for name in signed-a signed-b signed-ab unsigned annotated multiarch cert-signed tampered wrong-digest \
            rsa-signed ed25519-signed fleet-1; do
            expected=denied
            [[ " ${admits[$settings]} " == *" $name "* ]] && expected=admitted
            same "$settings / $name" "$expected" "$(pod "$(image "$name")")" "$(peer_settings "$settings")"
        done
    done
    report
}

@test "peer settings, differential: every kind, signed and unsigned, pinned or not" {
    local disagreements=() compared=0 kind
    for kind in pod deployment replicaset statefulset daemonset job cronjob replicationcontroller; do
        same "$kind signed" admitted "$(request "$kind" "$(image signed-a)")" "$(peer_settings pubkey-a)"
        same "$kind unsigned" denied "$(request "$kind" "$(image unsigned)")" "$(peer_settings pubkey-a)"
        same "$kind signed, no pinning" admitted "$(request "$kind" "$(image signed-a)")" "$(peer_settings no-pinning)"
    done
    report
}

@test "peer settings, differential: several containers, matched and unmatched images, two matching entries" {
    local disagreements=() compared=0
    local a b u
    a="$(image signed-a)" b="$(image signed-b)" u="$(image unsigned)"
    same "signed + unmatched" admitted "$(pod "$a" nginx:1.25)" "$(peer_settings pubkey-a)"
    same "unmatched only" admitted "$(pod nginx:1.25 busybox)" "$(peer_settings pubkey-a)"
    same "signed + unsigned" denied "$(pod "$a" "$u")" "$(peer_settings pubkey-a)"
    same "signed twice + unsigned" denied "$(pod "$a" "$a" "$u")" "$(peer_settings pubkey-a)"
    same "all signed" admitted "$(pod "$a" "$a" "$(image annotated)")" "$(peer_settings pubkey-a)"
    # signed-a matches both entries (every key, the second entry needs b): denied.
    same "two entries, one satisfied" denied "$(pod "$a")" "$(peer_settings two-entries)"
    same "two entries, the other image" denied "$(pod "$b")" "$(peer_settings two-entries)"
    same "two entries, both satisfied" admitted "$(pod "$(image signed-ab)")" "$(peer_settings two-entries)"
    same "init container unsigned" denied "$(pod "$a" | jq -c --arg u "$u" '.object.spec.initContainers = [{name: "i", image: $u}]')" \
        "$(peer_settings pubkey-a)"
    report
}

@test "peer settings, the documented differences: where verify-image-signatures is unsafe or broken, ours holds" {
    local disagreements=() compared=0
    local a u
    a="$(image signed-a)" u="$(image unsigned)"
    # A container without an image: the peer traps (500), ours denies it as unreadable.
    compare "container without an image" denied crashed \
        "$(pod "$a" | jq -c '.object.spec.containers += [{name: "no-image"}]')" "$(peer_settings pubkey-a)"
    # An unsigned image volume: the peer does not look at image volumes.
    compare "unsigned image volume" denied admitted \
        "$(pod "$a" | jq -c --arg u "$u" '.object.spec.volumes = [{name: "v", image: {reference: $u}}]')" "$(peer_settings pubkey-a)"
    # The pattern's host respelled in the image: the peer's raw string match misses it.
    compare "respelled registry host" denied admitted "$(pod "LocalHost:${REGISTRY##*:}/unsigned:v1")" \
        "$(peer_settings pubkey-a | jq -c --arg p "$LOCALHOST_REGISTRY/*" '.signatures[0].image = $p')"
    # An object the peer cannot read into its types (a port written as a word): it admits it.
    compare "object the peer cannot read, unsigned image" denied admitted \
        "$(request deployment "$u" | jq -c '.object.spec.template.spec.containers[0].ports = "eighty"')" "$(peer_settings pubkey-a)"
    report
    # Fields of the object that the peer's types do not know: its patch removes them, ours keeps them.
    local req
    req="$(request deployment "$a" | jq -c '.object.spec.template.spec.futureField = {x: 1}')"
    evaluate "$req" "$(peer_settings pubkey-a)"
    allowed
    assert_equal "$(mutated | jq -c '.spec.template.spec.futureField')" '{"x":1}'
    assert_equal "$(mutated | jq -r '.spec.template.spec.containers[0].image')" "$a@$(digest signed-a)"
    POLICY="$PEER" evaluate "$req" "$(peer_settings pubkey-a)"
    allowed
    assert_equal "$(mutated | jq -c '.spec.template.spec.futureField')" null
}

@test "peer settings, differential: verify-image-signatures admits the keyless forgeries ours denies" {
    local disagreements=() compared=0 name
    same "keyless-email genuine" admitted "$(pod "$(image keyless-email)")" "$(peer_settings keyless-email)"
    for name in forged-garbage forged-empty forged-other-sig forged-own-sig forged-paired; do
        compare "$name" denied admitted "$(pod "$(image "$name")")" "$(peer_settings keyless-email)"
    done
    report
}
