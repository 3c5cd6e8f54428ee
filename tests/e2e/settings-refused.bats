#!/usr/bin/env bats
# Settings refused when the policy loads, in every shape (SCST-Sign's,
# verify-image-signatures', policy-controller's), each with the field named.
# Part of the end-to-end suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

# ---- settings refused when the policy loads -----------------------------------

# refused SETTINGS NEEDLE: kwctl refuses the settings and says NEEDLE on stderr.
refused() {
    validate_settings "$1"
    [[ "$status" -ne 0 ]] || { echo "settings accepted: $1" >&2; return 1; }
    [[ "$stderr" == *"$2"* ]] || { printf 'expected %s in:\n%s\n' "$2" "$stderr" >&2; return 1; }
}

# SCST-Sign's settings, and verify-image-signatures' where the test says so.

@test "settings: a key that does not parse" {
    refused '{"verification": {"keys": [{"name": "a", "publicKey": "junk"}]}}' \
        'verification.keys[0] (a): publicKey: not a PEM'
}

@test "settings: a key name that refers to no key" {
    refused '{"verification": {"images": [{"namePattern": "*", "keys": [{"name": "missing"}]}]}}' \
        'verification.images[0].keys[0].name: key "missing" is not defined in verification.keys'
}

@test "settings: a key defined twice" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k, $k]}}')" \
        'verification.keys[1].name: key name "a" is defined twice'
}

@test "settings: a key with two sources" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k + {githubActions: {owner: "o"}}]}}')" \
        'exactly one of publicKey, keyless, githubActions or certificate'
}

@test "settings: an entry with no key" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "*", keys: []}]}}')" \
        'verification.images[0].keys: the entry for "*" lists no key'
}

@test "settings: a malformed namePattern" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "Registry/App", keys: [{name: "a"}]}]}}')" \
        'verification.images[0].namePattern: namePattern "Registry/App" is not an image name pattern'
}

@test "settings: an ambiguous namePattern" {
    refused "$(jq -nc --argjson k "$(key_a_json)" '{verification: {keys: [$k], images: [{namePattern: "ngin*", keys: [{name: "a"}]}]}}')" \
        'verification.images[0].namePattern: namePattern "ngin*" is ambiguous'
}

@test "settings: an empty githubActions.repo" {
    refused '{"verification": {"keys": [{"name": "gha", "githubActions": {"owner": "o", "repo": ""}}]}}' \
        'verification.keys[0] (gha): githubActions.repo must not be empty'
}

@test "settings: a urlPrefix that is not a URL, in either shape" {
    local issuer=https://token.actions.githubusercontent.com
    refused "$(jq -nc --arg i "$issuer" '{verification: {keys: [{name: "k", keyless: {issuer: $i, urlPrefix: "github.com/my-org"}}]}}')" \
        'verification.keys[0] (k): keyless.urlPrefix: "github.com/my-org" is not an http(s) URL the host can read'
    refused "$(peer_settings keyless-prefix | jq -c '.signatures[0].keylessPrefix[0].url_prefix = "github.com/my-org"')" \
        'keyless.urlPrefix: "github.com/my-org" is not an http(s) URL the host can read'
}

@test "settings: a threshold above the keys an entry names" {
    refused "$(settings a b | jq -c '.verification.images[0].threshold = 3')" \
        'verification.images[0].threshold: 3 keys must verify, but the entry names only 2 distinct keys'
}

@test "settings: one key under two names cannot make a threshold of two" {
    refused "$(settings a | jq -c '.verification.keys += [.verification.keys[0] | .name = "a-again"]
        | .verification.images[0].keys = [{name: "a"}, {name: "a-again"}] | .verification.images[0].threshold = 2')" \
        'verification.images[0].threshold: 2 keys must verify, but the entry names only 1 distinct key'
}

@test "settings: a verification limit of zero" {
    refused '{"maxVerificationsPerRequest": 0}' 'maxVerificationsPerRequest: must be at least 1'
}

@test "settings: an unknown field" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused '{"verification": {"imagez": []}}' 'verification.imagez: unknown field `imagez`'
}

@test "settings: a value out of range" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused '{"pinDigests": "always"}' 'pinDigests: unknown variant `always`'
}

@test "settings: a rules key written as null" {
    refused '{"verification": null}' 'verification: must not be null: give it a value or leave the field out'
    refused '{"signatures": null}' 'signatures: must not be null'
    refused "$(settings a | jq -c '.verification.images[0].annotations = null')" 'verification.images[0].annotations: must not be null'
}

@test "settings: inline rules and the cluster's at once" {
    refused '{"clusterImagePolicy": true, "verification": {}}' 'cannot be set together'
}

@test "settings: verify-image-signatures' settings with a misspelt field" {
    # shellcheck disable=SC2016 # kwctl's words, backquotes included
    refused "$(peer_settings pubkey-a | jq -c '.signatures[0].annotation = {env: "prod"}')" \
        'signatures[0].annotation: unknown field `annotation`'
}

@test "settings: verify-image-signatures' settings mixed with SCST-Sign's" {
    refused "$(peer_settings pubkey-a | jq -c '.pinDigests = "never"')" \
        'pinDigests: cannot be set together with signatures'
}

# policy-controller's ClusterImagePolicies (cip, pc_settings, key_authority: tests/bats/e2e.bash).

# pc_refused FILTER NEEDLE: kwctl refuses a policy (key a on every image of the
# registry) changed by the jq FILTER, saying NEEDLE.
pc_refused() {
    refused "$(pc_settings "$(cip p "$REGISTRY/**" "$(key_authority a)" | jq -c "$1")")" "clusterImagePolicies[0].$2"
}

REFUSED_TRUST_ROOT="is not supported: the host verifies certificates and transparency-log entries against its own sigstore trust root"
IDENTITY='{"issuer": "https://oidc.fixtures.test", "subject": "signer@fixtures.test"}'

@test "settings: policy-controller's spec.policy" {
    pc_refused '.spec.policy = {type: "cue", data: "predicateType: \"x\""}' 'spec.policy: is not supported: CUE and Rego policies are not evaluated'
}
@test "settings: policy-controller's spec.match" {
    pc_refused '.spec.match = [{resource: "pods", version: "v1"}]' 'spec.match: is not supported: resource selection is not supported'
}
@test "settings: policy-controller's attestations" {
    pc_refused '.spec.authorities[0].attestations = [{name: "sbom", predicateType: "spdx"}]' \
        'spec.authorities[0].attestations: is not supported: attestations are not verified'
}
@test "settings: policy-controller's source" {
    pc_refused '.spec.authorities[0].source = [{oci: "registry.example.org/signatures"}]' 'spec.authorities[0].source: is not supported'
}
@test "settings: policy-controller's key.kms" {
    pc_refused '.spec.authorities[0].key = {kms: "awskms:///arn:aws:kms:eu-west-1:1:key/k"}' \
        'spec.authorities[0].key.kms: is not supported: the host cannot reach a KMS: write the public key in key.data'
}
@test "settings: policy-controller's key.secretRef" {
    pc_refused '.spec.authorities[0].key = {secretRef: {name: "cosign-key"}}' \
        'spec.authorities[0].key.secretRef: is not supported: keys are not read from Secrets'
}
@test "settings: policy-controller's keyless.ca-cert" {
    pc_refused ".spec.authorities[0] = {keyless: {\"ca-cert\": {data: \"pem\"}, identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.ca-cert: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's keyless.trustRootRef" {
    pc_refused ".spec.authorities[0] = {keyless: {trustRootRef: \"private\", identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.trustRootRef: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's keyless.url other than https://fulcio.sigstore.dev" {
    pc_refused ".spec.authorities[0] = {keyless: {url: \"https://fulcio.example.org\", identities: [$IDENTITY]}}" \
        "spec.authorities[0].keyless.url: $REFUSED_TRUST_ROOT"
}
@test "settings: policy-controller's ctlog on a key authority, whose log entries the host never checks" {
    # Read as absent, it admitted signed-a, whose signature no log holds.
    local needle="spec.authorities[0].ctlog: is not supported: the host checks no transparency-log entry for a key's signatures"
    pc_refused '.spec.authorities[0].ctlog = {url: "https://rekor.sigstore.dev"}' "$needle"
    pc_refused '.spec.authorities[0].ctlog = {}' "$needle"
}
@test "settings: policy-controller's ctlog.url on a keyless authority other than https://rekor.sigstore.dev (which is accepted)" {
    pc_refused ".spec.authorities[0] = {keyless: {identities: [$IDENTITY]}, ctlog: {url: \"https://rekor.example.org\"}}" \
        "spec.authorities[0].ctlog.url: $REFUSED_TRUST_ROOT"
    validate_settings "$(pc_settings "$(cip p "$REGISTRY/**" "$(keyless_authority "$IDENTITY" | jq -c '.ctlog = {url: "https://rekor.sigstore.dev"}')")")"
    assert_equal "$status" 0
}
@test "settings: policy-controller's rfc3161timestamp" {
    pc_refused '.spec.authorities[0].rfc3161timestamp = {trustRootRef: "tsa"}' \
        'spec.authorities[0].rfc3161timestamp: is not supported: RFC 3161 timestamps are not checked by the host'
}
@test "settings: policy-controller's glob on docker.io, which no normalised name has" {
    pc_refused '.spec.images[0].glob = "docker.io/library/*"' \
        'spec.images[0].glob: glob "docker.io/library/*" would never match: images are matched by their normalised name, whose registry is written "index.docker.io"'
}
@test "settings: policy-controller's glob that names no registry, which no normalised name can match" {
    pc_refused '.spec.images[0].glob = "acme/**"' \
        'spec.images[0].glob: glob "acme/**" would never match: images are matched by their normalised name, which always starts with a registry (Docker Hub'"'"'s is index.docker.io); write it, e.g. "index.docker.io/acme/**"'
    pc_refused '.spec.images[0].glob = "nginx"' 'spec.images[0].glob: glob "nginx" would never match: images are matched by their normalised name, which always starts with a registry (Docker Hub'"'"'s is index.docker.io); write it, e.g. "index.docker.io/library/nginx"'
}
@test "settings: outageFallback with pinning off, which cannot make a child run the recorded digest" {
    refused "$(settings a | jq -c --arg k "$RECORD_KEY" '.outageFallback = {recordKey: $k} | .pinDigests = "never"')" \
        'outageFallback: cannot be set together with pinDigests: never: a Pod admitted on its owner'"'"'s record'
    refused "$(peer_settings no-pinning | jq -c --arg k "$RECORD_KEY" '.outageFallback = {recordKey: $k}')" \
        'outageFallback: cannot be set together with modifyImagesWithDigest: false'
}
@test "settings: noMatchPolicy without policy-controller's policies, allowUnmatchedImages with them" {
    refused "$(settings a | jq -c '.noMatchPolicy = "allow"')" noMatchPolicy
    refused "$(pc_settings "$(cip p "$REGISTRY/**" "$(key_authority a)")" | jq -c '.allowUnmatchedImages = true')" allowUnmatchedImages
    refused '{"clusterImagePolicyApiVersion": "policy.sigstore.dev/v1beta1"}' clusterImagePolicyApiVersion
}
