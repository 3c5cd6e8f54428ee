#!/usr/bin/env bash
# Installs the Kubewarden hosts from Kubewarden's releases, where
# scripts/hosts.sh looks for them (`make setup` runs it for a missing host
# when the releases can be reached; GitHub's runners run it):
#
#   scripts/install-released-hosts.sh [VERSION...]     default: every version
#
# Each version X.Y is installed from its first release, vX.Y.0:
#   record   kwctl (release asset of kubewarden/kubewarden-controller) and
#            policy-server (copied out of its container image)
#   minimum  kwctl (release asset of kubewarden/kwctl)
#
# Each is checked against the keyless signature its release workflow made
# (cosign; docker for the policy-server image). The tests never download
# anything: this runs before them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cosign >/dev/null || { echo "cosign is needed to check the releases' signatures:" \
    "https://docs.sigstore.dev/cosign/system_config/installation/" >&2; exit 1; }
issuer=https://token.actions.githubusercontent.com
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# kwctl REPOSITORY TAG DIR: the linux x86_64 zip, whose bundle holds the
# signature; the signer is the release's reusable build workflow.
kwctl() {
    local repository="$1" tag="$2" dir="$3" asset=kwctl-linux-x86_64
    curl -fsSL --retry 3 -o "$work/$asset.zip" \
        "https://github.com/$repository/releases/download/$tag/$asset.zip"
    rm -f "$work/$asset" "$work/$asset.bundle.sigstore"
    unzip -q -o "$work/$asset.zip" -d "$work"
    cosign verify-blob --bundle "$work/$asset.bundle.sigstore" --certificate-oidc-issuer "$issuer" \
        --certificate-identity-regexp "^https://github\.com/$repository/\.github/workflows/[a-z-]+\.yml@refs/tags/${tag//./\\.}$" \
        "$work/$asset"
    mkdir -p "$dir"
    install -m 0755 "$work/$asset" "$dir/kwctl"
    "$dir/kwctl" --version | head -n 1
}

# policy_server TAG DIR: the static binary of the signed container image.
policy_server() {
    local tag="$1" dir="$2" image="ghcr.io/kubewarden/policy-server:$1" container
    command -v docker >/dev/null || { echo "docker is needed to copy policy-server out of $image" >&2; return 1; }
    cosign verify --certificate-oidc-issuer "$issuer" \
        --certificate-identity "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/$tag" \
        "$image" >/dev/null
    docker pull -q "$image" >/dev/null
    container="$(docker create "$image")"
    docker cp "$container:/policy-server" "$dir/policy-server"
    docker rm "$container" >/dev/null
    chmod 0755 "$dir/policy-server"
    "$dir/policy-server" --version | head -n 1
}

record="$(scripts/hosts.sh record)" minimum="$(scripts/hosts.sh minimum)"
versions=("$@")
((${#versions[@]})) || read -r -a versions <<<"$(scripts/hosts.sh list)"
for version in "${versions[@]}"; do
    dir="$(scripts/hosts.sh dir "$version")"
    case "$version" in
    "$record")
        kwctl kubewarden/kubewarden-controller "v$version.0" "$dir"
        policy_server "v$version.0" "$dir"
        ;;
    "$minimum") kwctl kubewarden/kwctl "v$version.0" "$dir" ;;
    *) echo "no release known for Kubewarden $version" >&2; exit 2 ;;
    esac
done
