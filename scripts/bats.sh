#!/usr/bin/env bash
# Runs a bats file, prints its TAP report and a closing count line:
#   e2e.bats: N passed, N failed, N skipped
# Exits non-zero when a test failed or the file could not run.
set -uo pipefail
file="$1"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
bats --tap "$file" | tee "$report"
status=${PIPESTATUS[0]}
skipped=$(grep -c '^ok .* # skip' "$report")
passed=$(($(grep -c '^ok ' "$report") - skipped))
failed=$(grep -c '^not ok ' "$report")
echo "$(basename "$file"): $passed passed, $failed failed, $skipped skipped"
exit "$status"
