#!/usr/bin/env bash
# The Kubewarden hosts the module is tested in, and where each is installed.
# Their versions are written here, in RECORD and MINIMUM below, and nowhere
# else: the Makefile, the other scripts, the bats suites and the workflows ask
# this script.
#
#   record   kwctl and policy-server of the host of record (the current stable
#            release): the module is annotated by its kwctl, and the demo, the
#            benchmarks and the policy-server suite run in it
#   minimum  kwctl of the oldest release the metadata claims
#            (minimumKubewardenVersion): every e2e test runs in it too
#
#   scripts/hosts.sh record          the host of record's version (X.Y)
#   scripts/hosts.sh minimum         the oldest release's version (X.Y)
#   scripts/hosts.sh list            both versions, host of record first
#   scripts/hosts.sh bin VERSION     the directory holding that version's kwctl
#                                    (and policy-server), or exit 1 saying how
#                                    to install it
#   scripts/hosts.sh dir VERSION     where that version is installed (below)
#   scripts/hosts.sh install         build both from the sources kept beside
#                                    the repository, when they are there
#
# Layout, under PREFIX (default ~/.local, the sources' own defaults):
#   minimum: PREFIX/bin/kwctl
#   record:  PREFIX/kubewarden-RECORD/bin/{kwctl,policy-server}
# A kwctl of the right version on PATH is used when nothing is installed there
# (for example one from Kubewarden's releases).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
sources="$here/../../shared"
RECORD=1.35
MINIMUM=1.31

usage() {
    echo "usage: $0 record | minimum | list | bin VERSION | dir VERSION | install" >&2
    exit 2
}

install_dir() {
    case "$1" in
    "$MINIMUM") echo "$prefix/bin" ;;
    "$RECORD") echo "$prefix/kubewarden-$RECORD/bin" ;;
    *) echo "unknown Kubewarden host version '$1' (known: $RECORD $MINIMUM)" >&2; return 2 ;;
    esac
}

# version_of KWCTL: "X.Y" of "kwctl X.Y.Z".
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
        PREFIX="$(dirname "$(install_dir "$RECORD")")" "$sources/kubewarden/build.sh"
    fi
    if [[ -x "$sources/kwctl/build.sh" ]]; then
        echo "Kubewarden $MINIMUM: $sources/kwctl/build.sh (about 20 minutes the first time)"
        PREFIX="$prefix" "$sources/kwctl/build.sh"
    fi
}

case "${1:-}" in
record) [[ $# -eq 1 ]] || usage; echo "$RECORD" ;;
minimum) [[ $# -eq 1 ]] || usage; echo "$MINIMUM" ;;
list) echo "$RECORD $MINIMUM" ;;
bin) [[ $# -eq 2 ]] || usage; bin "$2" ;;
dir) [[ $# -eq 2 ]] || usage; install_dir "$2" ;;
install) install ;;
*) usage ;;
esac
