#!/usr/bin/env bash
# The Kubewarden hosts the module is tested in, and where each is installed:
#
#   1.35  kwctl and policy-server 1.35: the host of record (the current
#         stable release); the module is annotated by its kwctl
#   1.31  kwctl 1.31: the oldest release the metadata claims
#         (minimumKubewardenVersion), tested too
#
#   scripts/hosts.sh list            the versions, host of record first
#   scripts/hosts.sh bin VERSION     the directory holding that version's kwctl
#                                    (and policy-server), or exit 1 saying how
#                                    to install it
#   scripts/hosts.sh dir VERSION     where that version is installed (below)
#   scripts/hosts.sh install         build both from the sources kept beside
#                                    the repository, when they are there
#
# Layout, under PREFIX (default ~/.local, the sources' own defaults):
#   1.31: PREFIX/bin/kwctl
#   1.35: PREFIX/kubewarden-1.35/bin/{kwctl,policy-server}
# A kwctl of the right version on PATH is used when nothing is installed there
# (for example one from Kubewarden's releases).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
sources="$here/../../shared"
RECORD=1.35
MINIMUM=1.31

usage() {
    echo "usage: $0 list | bin VERSION | dir VERSION | install" >&2
    exit 2
}

install_dir() {
    case "$1" in
    1.31) echo "$prefix/bin" ;;
    1.35) echo "$prefix/kubewarden-1.35/bin" ;;
    *) echo "unknown Kubewarden host version '$1' (known: $RECORD $MINIMUM)" >&2; return 2 ;;
    esac
}

# version_of KWCTL: "1.35" of "kwctl 1.35.0".
version_of() { "$1" --version 2>/dev/null | head -n 1 | awk '{ print $NF }' | cut -d. -f1,2; }

bin() {
    local version="$1" dir kwctl
    dir="$(install_dir "$version")"
    if [[ -x "$dir/kwctl" && "$(version_of "$dir/kwctl")" == "$version" ]]; then
        echo "$dir"
        return 0
    fi
    if kwctl="$(command -v kwctl)" && [[ "$(version_of "$kwctl")" == "$version" ]]; then
        dirname "$kwctl"
        return 0
    fi
    echo "kwctl $version is not installed in $dir nor on PATH: run 'make setup'," \
        "or install kwctl $version (and, for $RECORD, policy-server) from Kubewarden's releases" \
        "(https://github.com/kubewarden/kubewarden-controller/releases) into $dir" >&2
    return 1
}

install() {
    # Each build is a no-op once its binaries are installed.
    if [[ -x "$sources/kubewarden/build.sh" ]]; then
        echo "Kubewarden $RECORD: $sources/kubewarden/build.sh (about 20 minutes the first time)"
        PREFIX="$prefix/kubewarden-1.35" "$sources/kubewarden/build.sh"
    fi
    if [[ -x "$sources/kwctl/build.sh" ]]; then
        echo "Kubewarden $MINIMUM: $sources/kwctl/build.sh (about 20 minutes the first time)"
        PREFIX="$prefix" "$sources/kwctl/build.sh"
    fi
}

case "${1:-}" in
list) echo "$RECORD $MINIMUM" ;;
bin) [[ $# -eq 2 ]] || usage; bin "$2" ;;
dir) [[ $# -eq 2 ]] || usage; install_dir "$2" ;;
install) install ;;
*) usage ;;
esac
