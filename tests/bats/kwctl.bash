# What the kwctl suites share (e2e.bats with tests/e2e/, through
# tests/bats/e2e.bash; and peer.bats, the comparison with
# verify-image-signatures): the host they run the module in, the test bed each
# starts, the one kwctl command line every evaluation goes through, and
# verify-image-signatures' settings, a settings shape both write. Loaded after
# tests/bats/helpers.
#
# KUBEWARDEN_HOST (default the host of record, see scripts/hosts.sh) names the
# kwctl that scripts/bats.sh put first on PATH. Without that kwctl every test
# is skipped with a message, except under CI=true, where a missing host fails
# the suite.

POLICY="${POLICY:-annotated-policy.wasm}"
KUBEWARDEN_HOST="${KUBEWARDEN_HOST:-$HOST_OF_RECORD}"

# Whether the kwctl on PATH is the host version under test.
host_installed() {
    [[ "$(kwctl --version 2>/dev/null | head -n 1 | awk '{ print $NF }' | cut -d. -f1,2)" == "$KUBEWARDEN_HOST" ]]
}

# ---- a suite's setup and teardown ---------------------------------------------

# kwctl_setup_file: the test bed in a fresh $WORK (the local registry, which
# also answers as $LOCALHOST_REGISTRY), when the host is installed; nothing
# when it is not (the tests skip, or the suite fails under CI=true).
kwctl_setup_file() {
    export RUST_BACKTRACE=0
    if ! host_installed; then
        host_missing "kwctl $KUBEWARDEN_HOST is not on PATH"
        return
    fi
    [[ -f "$POLICY" ]] || { echo "$POLICY is missing: run 'make e2e-tests'" >&2; return 1; }
    WORK="$(mktemp -d)"
    export WORK
    testbed_up "$WORK"
    # The registry also answers as localhost:PORT, a second spelling of it
    # (the sources list both).
    export LOCALHOST_REGISTRY="localhost:${REGISTRY##*:}"
}

kwctl_teardown_file() {
    [[ -n "${WORK:-}" ]] || return 0
    testbed_down "$WORK"
    rm -rf "$WORK"
}

# kwctl_setup: each test's setup; skips it when the host is not installed.
kwctl_setup() {
    export RUST_BACKTRACE=0
    host_installed || skip "kwctl $KUBEWARDEN_HOST is not installed: 'make setup' installs it, or see Kubewarden's releases"
}

# ---- running kwctl --------------------------------------------------------------

# kwctl_run REQUEST SETTINGS [kwctl options]: the kwctl command line of the
# suites, every evaluation's. `kwctl run` of $POLICY (the module under test
# unless the caller sets it) on REQUEST with SETTINGS, offline: the fixtures'
# trust config, and $SOURCES (default the test bed's sources.yaml) for the
# registries read over plain HTTP. Sets $response (the AdmissionResponse) and
# $request; returns 1 when kwctl fails (a refusal of the settings among
# others), leaving $status and $stderr as it left them.
kwctl_run() {
    # shellcheck disable=SC2034 # read by mutated (scripts/testbed.sh)
    request="$1"
    printf '%s' "$1" >"$BATS_TEST_TMPDIR/request.json"
    printf '%s' "$2" >"$BATS_TEST_TMPDIR/settings.json"
    run --separate-stderr kwctl run --sigstore-trust-config "$WORK/fixtures/trust-config.json" \
        --sources-path "${SOURCES:-$WORK/sources.yaml}" --settings-path "$BATS_TEST_TMPDIR/settings.json" \
        --request-path "$BATS_TEST_TMPDIR/request.json" "${@:3}" "$POLICY"
    if [[ "$status" -ne 0 ]]; then
        echo "kwctl exited $status: $stderr" >&2
        return 1
    fi
    response="${lines[-1]}"
    jq -e 'has("allowed")' <<<"$response" >/dev/null
}

# evaluate REQUEST SETTINGS [kwctl options]: kwctl_run, recording the host
# calls in $BATS_TEST_TMPDIR/session.yml.
evaluate() {
    kwctl_run "$1" "$2" --record-host-capabilities-interactions "$BATS_TEST_TMPDIR/session.yml" "${@:3}"
}

# ---- verify-image-signatures' settings -------------------------------------------

# peer_settings KIND: verify-image-signatures' settings over the local registry.
peer_settings() {
    local f="$WORK/fixtures/fixtures.json" pattern="$REGISTRY/*"
    local issuer="https://token.actions.githubusercontent.com"
    case "$1" in
    pubkey-a) jq -nc --rawfile a "$(jq -r .keys.a "$f")" --arg p "$pattern" '{signatures: [{image: $p, pubKeys: [$a]}]}' ;;
    pubkeys-a-and-b) jq -nc --rawfile a "$(jq -r .keys.a "$f")" --rawfile b "$(jq -r .keys.b "$f")" --arg p "$pattern" \
        '{signatures: [{image: $p, pubKeys: [$a, $b]}]}' ;;
    pubkey-rsa) jq -nc --rawfile k "$(jq -r .keys.rsa "$f")" --arg p "$pattern" '{signatures: [{image: $p, pubKeys: [$k]}]}' ;;
    pubkey-ed25519) jq -nc --rawfile k "$(jq -r .keys.ed25519 "$f")" --arg p "$pattern" '{signatures: [{image: $p, pubKeys: [$k]}]}' ;;
    annotations) jq -nc --rawfile a "$(jq -r .keys.a "$f")" --arg p "$pattern" \
        '{signatures: [{image: $p, pubKeys: [$a], annotations: {env: "prod"}}]}' ;;
    certificate) jq -nc --rawfile leaf "$WORK/fixtures/leaf.pem" --rawfile i "$WORK/fixtures/intermediate.pem" \
        --rawfile r "$WORK/fixtures/root.pem" --arg p "$pattern" \
        '{signatures: [{image: $p, certificates: [$leaf], certificateChain: [$i, $r], requireRekorBundle: false}]}' ;;
    keyless) jq -nc --arg p "$pattern" --arg i "$issuer" \
        '{signatures: [{image: $p, keyless: [{issuer: $i, subject: "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"}]}]}' ;;
    keyless-prefix) jq -nc --arg p "$pattern" --arg i "$issuer" \
        '{signatures: [{image: $p, keylessPrefix: [{issuer: $i, url_prefix: "https://github.com/org/"}]}]}' ;;
    github-actions) jq -nc --arg p "$pattern" '{signatures: [{image: $p, githubActions: {owner: "org", repo: "repo"}}]}' ;;
    keyless-email) jq -c --arg p "$pattern" '{signatures: [{image: $p, keyless: [{issuer: .keyless.email.issuer,
        subject: .keyless.email.subject}]}]}' "$f" ;;
    two-entries) jq -nc --rawfile a "$(jq -r .keys.a "$f")" --rawfile b "$(jq -r .keys.b "$f")" --arg p "$pattern" \
        --arg one "$REGISTRY/signed-*" '{signatures: [{image: $p, pubKeys: [$a]}, {image: $one, pubKeys: [$b]}]}' ;;
    no-pinning) peer_settings pubkey-a | jq -c '.modifyImagesWithDigest = false' ;;
    esac
}
