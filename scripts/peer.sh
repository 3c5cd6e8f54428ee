#!/usr/bin/env bash
# The peer: Kubewarden's verify-image-signatures 1.0.11, the policy the module
# is compared with (peer.bats) and measured against (make bench, make load).
# It comes from outside the project: PEER_WASM names its annotated module, or
# it is where `kwctl pull` stores it:
#
#   kwctl pull registry://ghcr.io/kubewarden/policies/verify-image-signatures:v1.0.11
#
#   scripts/peer.sh path       the peer's module, or exit 1 with one line: where
#                              it was looked for and how to get it
#   scripts/peer.sh reference  the OCI reference it is published under
set -euo pipefail
VERSION=v1.0.11
REFERENCE="ghcr.io/kubewarden/policies/verify-image-signatures:$VERSION"
default="$HOME/.cache/kubewarden/store/registry/$REFERENCE"

case "${1:-}" in
path)
    peer="${PEER_WASM:-$default}"
    if [[ -f "$peer" ]]; then
        echo "$peer"
        exit 0
    fi
    echo "the peer module (verify-image-signatures $VERSION) is missing: not found at $peer;" \
        "get it with 'kwctl pull registry://$REFERENCE', or set PEER_WASM to its annotated module" >&2
    exit 1
    ;;
reference) echo "$REFERENCE" ;;
*) echo "usage: $0 path | reference" >&2; exit 2 ;;
esac
