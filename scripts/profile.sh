#!/usr/bin/env bash
# Where one admission's work goes, by instruction counts (callgrind), which a
# busy machine does not change: the policy's own work on the host target,
# with the fake host answering at once (benches/profile.rs), for each case of
# `make load`. Prints, per case, the instructions of one request (a run of
# RUNS admissions less a run of one, over RUNS - 1) and of its phases.
#
#   scripts/profile.sh [CASE...]      (make profile builds the profile first)
#
# The module runs the same code compiled to WebAssembly; instantiating it
# is the host's work, measured in policy-server by `make load`.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${PROFILE_RUNS:-11}"
# The newest build of benches/profile.rs (cargo names it profile-<hash>).
bin=""
for candidate in "${CARGO_TARGET_DIR:-target}"/release/deps/profile-*; do
    [[ -x "$candidate" && "$candidate" != *.d && ( -z "$bin" || "$candidate" -nt "$bin" ) ]] && bin="$candidate"
done
[[ -n "$bin" ]] || { echo "the profile is not built: run 'make profile'" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed: run 'make setup'" >&2; exit 1; }
cases=("$@")
((${#cases[@]})) || cases=(pod no-host-call second-key deployment-50 keyless policy-controller)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# total CASE RUNS [FUNCTION]: the instructions of a whole run, or of the
# calls of FUNCTION in it (inclusive).
total() {
    local only=()
    [[ -z "${3:-}" ]] || only=(--toggle-collect="*$3*")
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "${only[@]}" "$bin" "$1" "$2" 2>&1 |
        awk '/Collected/ { print $NF }'
}

phases=(
    "settings read and compiled|admission::parse_settings_for_request"
    "the request read|admission::request::Request::read"
    "the object's metadata located|workload::object::Object::read"
    "its images found|workload::find_images"
    "images judged (questions asked, answers read)|decision::judge"
    "record and patch|admission::finish"
    "  of which the rules' fingerprint|rules::Rules::hash"
    "response written|ValidationResponse::to_json"
)
printf '| case | one request |'
for p in "${phases[@]}"; do printf ' %s |' "${p%%|*}"; done
printf '\n|---|---|'
for _ in "${phases[@]}"; do printf -- '---|'; done
printf '\n'
for case in "${cases[@]}"; do
    one="$(total "$case" 1)" many="$(total "$case" "$runs")"
    printf '| %s | %s |' "$case" "$(((many - one) / (runs - 1)))"
    for p in "${phases[@]}"; do printf ' %s |' "$(($(total "$case" "$runs" "${p##*|}") / runs))"; done
    printf '\n'
done
