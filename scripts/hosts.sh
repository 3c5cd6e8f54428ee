#!/usr/bin/env bash
# The Kubewarden hosts the module is tested in, and where each is found. They
# come from outside the project (Kubewarden's releases, or installed by hand
# where those cannot be reached); nothing here builds them. Their versions are
# written here, in RECORD and MINIMUM below, and nowhere else: the Makefile,
# the other scripts, the bats suites and the workflows ask this script.
#
#   record   kwctl and policy-server of the host of record (the current stable
#            release): the module is annotated by its kwctl, and the demo, the
#            benchmarks, every suite and the policy-server suite run in it;
#            CI requires it
#   minimum  kwctl of the oldest release the metadata claims
#            (minimumKubewardenVersion): the kwctl suites run again in it when
#            it is installed
#
#   scripts/hosts.sh record          the host of record's version (X.Y)
#   scripts/hosts.sh minimum         the oldest release's version (X.Y)
#   scripts/hosts.sh list            both versions, host of record first
#   scripts/hosts.sh bin VERSION     the directory holding that version's kwctl
#                                    (and, for the record, policy-server), or
#                                    exit 1 with one line: what is missing,
#                                    where it looked, how to install it
#   scripts/hosts.sh dir VERSION     where that version is installed (below)
#
# Layout, under PREFIX (default ~/.local):
#   minimum: PREFIX/bin/kwctl
#   record:  PREFIX/kubewarden-RECORD/bin/{kwctl,policy-server}
# A kwctl of the right version on PATH (with policy-server beside it, for the
# record) is used when nothing is installed there.
set -euo pipefail
prefix="${PREFIX:-$HOME/.local}"
RECORD=1.35
MINIMUM=1.31

usage() {
    echo "usage: $0 record | minimum | list | bin VERSION | dir VERSION" >&2
    exit 2
}

install_dir() {
    case "$1" in
    "$MINIMUM") echo "$prefix/bin" ;;
    "$RECORD") echo "$prefix/kubewarden-$RECORD/bin" ;;
    *) echo "unknown Kubewarden host version '$1' (known: $RECORD $MINIMUM)" >&2; return 2 ;;
    esac
}

# version_of PROGRAM: "X.Y" of "kwctl X.Y.Z" (or "policy-server X.Y.Z").
version_of() { "$1" --version 2>/dev/null | head -n 1 | awk '{ print $NF }' | cut -d. -f1,2; }

# complete DIR VERSION: whether DIR holds every program of that host version.
complete() {
    local dir="$1" version="$2"
    [[ -x "$dir/kwctl" && "$(version_of "$dir/kwctl")" == "$version" ]] || return 1
    [[ "$version" != "$RECORD" ]] && return 0
    [[ -x "$dir/policy-server" && "$(version_of "$dir/policy-server")" == "$version" ]]
}

bin() {
    local version="$1" dir kwctl programs="kwctl $1.0 is" release
    dir="$(install_dir "$version")"
    if complete "$dir" "$version"; then
        echo "$dir"
        return 0
    fi
    if kwctl="$(command -v kwctl)" && complete "$(dirname "$kwctl")" "$version"; then
        dirname "$kwctl"
        return 0
    fi
    release="https://github.com/kubewarden/kubewarden-controller/releases/tag/v$version.0"
    if [[ "$version" == "$RECORD" ]]; then
        programs="kwctl and policy-server $version.0 are"
    else
        release="https://github.com/kubewarden/kwctl/releases/tag/v$version.0"
    fi
    echo "Kubewarden $version: $programs not installed (looked in $dir and on PATH); install into $dir" \
        "with 'scripts/install-released-hosts.sh $version' (from $release, signatures checked), or by hand" \
        "(docs/development.md)" >&2
    return 1
}

case "${1:-}" in
record) [[ $# -eq 1 ]] || usage; echo "$RECORD" ;;
minimum) [[ $# -eq 1 ]] || usage; echo "$MINIMUM" ;;
list) echo "$RECORD $MINIMUM" ;;
bin) [[ $# -eq 2 ]] || usage; bin "$2" ;;
dir) [[ $# -eq 2 ]] || usage; install_dir "$2" ;;
*) usage ;;
esac
