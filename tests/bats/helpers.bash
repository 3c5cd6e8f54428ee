# Helpers shared by the bats suites (e2e.bats with tests/e2e/, and peer.bats,
# through kwctl, with tests/bats/kwctl.bash; policy-server.bats through
# policy-server): the host versions, the fixtures' images, requests, and
# reading a response (kwctl's AdmissionResponse, or an AdmissionReview's
# response). A suite's setup_file calls testbed_up "$WORK"; $response and
# $request are set by the suite's own runner.

# The repository's root, two folders above this file, wherever the suite's
# own file lies (the top level, or tests/e2e/).
REPO_ROOT="$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)"

# The fixtures' images, keys and requests (image, digest, key, request, pod,
# workload), and the test bed itself (testbed_up, testbed_down): the same
# as the demo's and the benchmarks'.
# shellcheck source=scripts/testbed.sh
. "$REPO_ROOT/scripts/testbed.sh"

# The Kubewarden host versions, as scripts/hosts.sh says them: the host of
# record's and the oldest release's the metadata claims.
# shellcheck disable=SC2034 # read by the suites
HOST_OF_RECORD="$("$REPO_ROOT/scripts/hosts.sh" record)" MINIMUM_HOST="$("$REPO_ROOT/scripts/hosts.sh" minimum)"

# host_missing WHAT: a suite's setup_file when its host is not installed:
# under CI=true that fails the suite (CI never skips), else its tests skip.
host_missing() {
    if [[ "${CI:-}" == true ]]; then
        echo "$1, and CI never skips: run 'make setup'" >&2
        return 1
    fi
}

# ---- reading the response -----------------------------------------------------

field() { jq -r "$1" <<<"$response"; }
allowed() { [[ "$(field .allowed)" == true ]] || { echo "not admitted: $response" >&2; return 1; }; }
denied() { [[ "$(field .allowed)" == false ]] || { echo "not denied: $response" >&2; return 1; }; }
message() { field '.status.message // ""'; }

annotation() { mutated | jq -r --arg name "image-policy.signing/$1" '.metadata.annotations[$name] // ""'; }
verified_images() { annotation verified-images | jq -c .; }
# unchanged: admitted as sent, no patch (nothing pinned, nothing recorded).
unchanged() { assert_equal "$(field '.patch // "none"')" none; }

assert_equal() {
    [[ "$1" == "$2" ]] || { printf 'expected: %s\nactual:   %s\n' "$2" "$1" >&2; return 1; }
}

# ---- the registry -------------------------------------------------------------

# delete_signature REGISTRY REPOSITORY DIGEST: deletes the cosign signature
# (the sha256-<hex>.sig manifest) of REPOSITORY@DIGEST from REGISTRY.
delete_signature() {
    local sig
    sig="$(curl -sfI -m 10 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$1/v2/$2/manifests/${3/:/-}.sig" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
    [[ -n "$sig" ]] || { echo "no signature of $2@$3 in $1" >&2; return 1; }
    curl -sf -m 10 -X DELETE "http://$1/v2/$2/manifests/$sig"
}
