# What the end-to-end suites share: e2e.bats, the entry, and the suites by
# concern under tests/e2e/, each of which loads this file (`load tests/bats/e2e`
# at the top level, `load ../bats/e2e` under tests/e2e/). It loads the helpers
# and the kwctl runner (tests/bats/helpers, tests/bats/kwctl) and gives every
# suite file the same setup: its setup_file starts a test bed of its own, with
# every key of the fixtures by name in $WORK/keys.json, so each file also runs
# alone (scripts/bats.sh tests/e2e/keys.bats). What one concern alone uses
# lives in that concern's file.

load "${BASH_SOURCE[0]%/*}/helpers"
load "${BASH_SOURCE[0]%/*}/kwctl"

# shellcheck disable=SC2034 # read by the suites
NO_POLICY='clusterimagepolicies.signing.apps.tanzu.vmware.com "image-policy" not found. Image policy enforcement was not applied.'
# The record key of outageFallback, for the suites that turn it on (settings
# refused, the cluster's policies, outages).
# shellcheck disable=SC2034 # read by the suites
RECORD_KEY='a-random-record-key-of-at-least-32-characters'

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

# The first container's image as the API server would store it.
container_image() { mutated | jq -r '.spec.containers[0].image'; }

# ---- policy-controller's ClusterImagePolicy ----------------------------------------
# Written by the policy-controller, settings-refused and cluster suites.

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
