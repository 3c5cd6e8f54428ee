#!/usr/bin/env bash
# Installs what building and testing the policy needs on a Debian machine:
# the wasm32-wasip1 Rust target and the Debian packages for the local
# registry, module size optimisation, bats, and the development host's TLS.
# Safe to run again: it installs only what is missing.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
fi

packages=()
for pair in docker-registry:/usr/bin/docker-registry binaryen:/usr/bin/wasm-opt bats:/usr/bin/bats \
    jq:/usr/bin/jq curl:/usr/bin/curl python3:/usr/bin/python3 pkg-config:/usr/bin/pkg-config; do
    [[ -x "${pair#*:}" ]] || packages+=("${pair%%:*}")
done
[[ -f /usr/include/openssl/ssl.h ]] || packages+=(libssl-dev)

if ((${#packages[@]})); then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    echo "installing Debian packages: ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
