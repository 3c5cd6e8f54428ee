#!/usr/bin/env bash
# The steps that publish the module as a policy artifact, shared by the
# release workflow (which signs in between with cosign, keyless, through the
# CI's identity) and the policy-server suite (which signs with a key, in
# cosign's format, through the fixtures tool):
#
#   scripts/publish.sh push MODULE HOST/REPOSITORY:TAG [KWCTL_OPTION...]
#       kwctl push; prints the pushed manifest as HOST/REPOSITORY@sha256:...
#       (every later step works on that digest, never on the tag)
#   scripts/publish.sh verify HOST/REPOSITORY@DIGEST [KWCTL_OPTION...]
#       kwctl verify: the artifact's signature, against the verification
#       options given (--verification-config-path FILE, --verification-key
#       FILE, --github-owner ..., --sources-path, --sigstore-trust-config);
#       the same check policy-server makes with --verification-path
#
# kwctl is the one on PATH (the host of record's in both callers).
set -euo pipefail

usage() {
    echo "usage: $0 push MODULE REF [OPTION...] | verify REF@DIGEST [OPTION...]" >&2
    exit 2
}

push() {
    local module="$1" ref="$2" pushed immutable
    pushed="$(kwctl push --output json "${@:3}" "$module" "registry://$ref")"
    immutable="$(jq -r .immutable_ref <<<"$pushed")"
    immutable="${immutable#registry://}"
    # The repository pushed to, at a well-formed digest.
    if [[ "${immutable%@*}" != "${ref%:*}" || ! "${immutable#*@}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
        echo "unexpected output of kwctl push: $pushed" >&2
        exit 1
    fi
    echo "$immutable"
}

verify() {
    local ref="$1"
    [[ "$ref" == *@sha256:* ]] || { echo "verify takes a digest reference, not $ref" >&2; exit 2; }
    kwctl verify "${@:2}" "registry://$ref"
}

case "${1:-}" in
push) [[ $# -ge 3 ]] || usage; push "${@:2}" ;;
verify) [[ $# -ge 2 ]] || usage; verify "${@:2}" ;;
*) usage ;;
esac
