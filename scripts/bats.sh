#!/usr/bin/env bash
# Runs a bats suite, one file or several (scripts/bats.sh e2e.bats
# tests/e2e/*.bats), on one Kubewarden host version (KUBEWARDEN_HOST, default
# the host of record; see scripts/hosts.sh), in one bats run: prints its TAP
# report and one closing count line, for every file together, named after the
# first file:
#   e2e.bats on kwctl X.Y.Z: N passed, N failed, N skipped
# Exits non-zero when a test failed or a file could not run.
set -uo pipefail
[[ $# -gt 0 ]] || { echo "usage: scripts/bats.sh FILE.bats [FILE.bats...]" >&2; exit 2; }
file="$1"
here="$(cd "$(dirname "$0")" && pwd)"
export KUBEWARDEN_HOST="${KUBEWARDEN_HOST:-$("$here/hosts.sh" record)}"
# The chosen host first on PATH. When it is missing: the host of record fails
# the run under CI=true (CI never skips its tests) and skips its tests
# otherwise; any other release (the oldest one the metadata claims) is not run,
# with one loud line.
# The count line names the host the file drives: policy-server for its suite, kwctl otherwise.
program=kwctl
[[ "$(basename "$file")" == policy-server.bats ]] && program=policy-server
if dir="$("$here/hosts.sh" bin "$KUBEWARDEN_HOST" 2>/dev/null)"; then
    export PATH="$dir:$PATH"
    host="$program $("$program" --version | head -n 1 | awk '{ print $NF }')"
elif [[ "$KUBEWARDEN_HOST" != "$("$here/hosts.sh" record)" ]]; then
    echo "######## NOT RUN: $(basename "$file") on Kubewarden $KUBEWARDEN_HOST, which is not installed:" \
        "$("$here/hosts.sh" bin "$KUBEWARDEN_HOST" 2>&1 >/dev/null)"
    exit 0
else
    host="$program $KUBEWARDEN_HOST (not installed)"
fi
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
bats --tap "$@" | tee "$report"
status=${PIPESTATUS[0]}
skipped=$(grep -c '^ok .* # skip' "$report")
passed=$(($(grep -c '^ok ' "$report") - skipped))
failed=$(grep -c '^not ok ' "$report")
echo "$(basename "$file") on $host: $passed passed, $failed failed, $skipped skipped"
exit "$status"
