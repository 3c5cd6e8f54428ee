#!/usr/bin/env bash
# The policy on a demo: a local registry, an image signed with a fresh key, and
# a signed and an unsigned Deployment run through the annotated module in kwctl.
# Run by `make demo`, which installs the hosts and builds the module and the
# fixtures tool first. It runs in the host of record's kwctl
# (KUBEWARDEN_HOST="$(scripts/hosts.sh minimum)" picks the minimum release instead).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/hosts.sh bin "${KUBEWARDEN_HOST:-$(scripts/hosts.sh record)}"):$PATH"
export PATH RUST_BACKTRACE=0
# shellcheck source=scripts/testbed.sh
. scripts/testbed.sh
work="$(mktemp -d)"
cleanup() {
    testbed_down "$work"
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

echo "host: $(kwctl --version | head -n 1)"
step "A local OCI registry, with images pushed and signed in cosign's format"
testbed_up "$work"
registry="$REGISTRY"
echo "registry at $registry (CNCF distribution, storage in $work/registry)"
signed="$(image signed-a)"
unsigned="$(image unsigned)"
echo "signed with key A: $signed ($(digest signed-a))"
echo "not signed:        $unsigned"

step "Settings: images of $registry must be signed by key A"
{
    echo "verification:"
    echo "  keys:"
    echo "  - name: key-a"
    echo "    publicKey: |"
    sed 's/^/      /' "$(key a)"
    echo "  images:"
    echo "  - namePattern: $registry/*"
    echo "    keys:"
    echo "    - name: key-a"
} >"$work/settings.yaml"
cat "$work/settings.yaml"

run() {
    request "$1" "$2" >"$work/request.json"
    # kwctl logs to stderr and prints the AdmissionResponse on stdout; its
    # trust config is the fixtures' offline one, so nothing goes to the network.
    kwctl run --sigstore-trust-config "$work/fixtures/trust-config.json" --sources-path "$work/sources.yaml" \
        --settings-path "$work/settings.yaml" --request-path "$work/request.json" annotated-policy.wasm 2>"$work/kwctl.log" \
        || { echo "kwctl failed:" >&2; cat "$work/kwctl.log" >&2; exit 1; }
}

show() {
    jq -r '
      if .allowed then "ADMITTED"
      else "DENIED (code \(.status.code)): \(.status.message)" end,
      (.warnings // [] | .[] | "warning: \(.)"),
      (.patch // "W10=" | @base64d | fromjson | .[] | "mutation: \(.op) \(.path) = \(.value | if type == "string" then . else tojson end)")'
}

step "A Deployment running the signed image"
run deployment "$signed" | show

step "A Deployment running the unsigned image"
run deployment "$unsigned" | show

step "A Pod running the signed image: pinned to the digest that was verified"
run pod "$signed" | show

step "Done: the registry is stopped and $work removed"
