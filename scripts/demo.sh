#!/usr/bin/env bash
# The policy on a demo: a local registry, an image signed with a fresh key, and
# a signed and an unsigned Deployment run through the annotated module in kwctl.
# Run by `make demo`, which installs the hosts and builds the module and the
# fixtures tool first. It runs in kwctl 1.35, the host of record
# (KUBEWARDEN_HOST=1.31 picks the minimum release instead).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/hosts.sh bin "${KUBEWARDEN_HOST:-1.35}"):$PATH"
export PATH RUST_BACKTRACE=0
fixtures_bin="${CARGO_TARGET_DIR:-target}/debug/fixtures"
work="$(mktemp -d)"
cleanup() {
    scripts/registry.sh stop "$work/registry" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

echo "host: $(kwctl --version | head -n 1)"
step "Starting a local OCI registry"
registry="$(scripts/registry.sh start "$work/registry")"
echo "registry at $registry (CNCF distribution, storage in $work/registry)"

step "Building, pushing and signing images in cosign's format"
"$fixtures_bin" --registry "$registry" --out "$work/fixtures" 2>/dev/null
printf 'insecure_sources:\n- "%s"\n' "$registry" >"$work/sources.yaml"
fixtures="$work/fixtures/fixtures.json"
signed="$(jq -r '.images["signed-a"].ref' "$fixtures")"
unsigned="$(jq -r '.images["unsigned"].ref' "$fixtures")"
echo "signed with key A: $signed ($(jq -r '.images["signed-a"].digest' "$fixtures"))"
echo "not signed:        $unsigned"

step "Settings: images of $registry must be signed by key A"
{
    echo "verification:"
    echo "  keys:"
    echo "  - name: key-a"
    echo "    publicKey: |"
    sed 's/^/      /' "$(jq -r '.keys.a' "$fixtures")"
    echo "  images:"
    echo "  - namePattern: $registry/*"
    echo "    keys:"
    echo "    - name: key-a"
} >"$work/settings.yaml"
cat "$work/settings.yaml"

run() {
    local kind="$1" image="$2"
    sed "s|__IMAGE__|$image|g" "test_data/requests/$kind.json" >"$work/request.json"
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
