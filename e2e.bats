#!/usr/bin/env bats
# End-to-end through kwctl, against a local registry holding cosign
# signatures. Skipped, with a message, when kwctl is not installed: the
# development host's end-to-end tests (make devhost-tests) cover the same
# scenarios through the same module.

setup_file() {
    if ! command -v kwctl >/dev/null; then
        return 0
    fi
    export WORK="$(mktemp -d)"
    export REGISTRY="$(scripts/registry.sh start "$WORK/registry")"
    target/debug/devhost fixtures --registry "$REGISTRY" --out "$WORK/fixtures" >/dev/null
    printf 'insecure_sources:\n- "%s"\n' "$REGISTRY" >"$WORK/sources.yaml"
    if [[ ! -f annotated-policy.wasm || annotated-policy.wasm -ot policy.wasm ]]; then
        kwctl annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy.wasm
    fi
    key_a="$(jq -r '.keys.a' "$WORK/fixtures/fixtures.json")"
    {
        echo "verification:"
        echo "  exclude: {resources: {namespaces: [kube-system]}}"
        echo "  keys:"
        echo "  - name: key-a"
        echo "    publicKey: |"
        sed 's/^/      /' "$key_a"
        echo "  images:"
        echo "  - namePattern: $REGISTRY/*"
        echo "    keys: [{name: key-a}]"
    } >"$WORK/settings.yaml"
}

teardown_file() {
    if [[ -n "${WORK:-}" ]]; then
        scripts/registry.sh stop "$WORK/registry" || true
        rm -rf "$WORK"
    fi
}

setup() {
    command -v kwctl >/dev/null || skip "kwctl is not installed: the same scenarios run in 'make devhost-tests'"
}

image() { jq -r ".images[\"$1\"].ref" "$WORK/fixtures/fixtures.json"; }
digest() { jq -r ".images[\"$1\"].digest" "$WORK/fixtures/fixtures.json"; }

# kwctl run on a request fixture of test_data/requests with every image set to $2.
run_policy() {
    local kind="$1" image="$2" settings="${3:-$WORK/settings.yaml}"
    sed "s|__IMAGE__|$image|g" "test_data/requests/$kind.json" >"$WORK/request.json"
    run kwctl run --sources-path "$WORK/sources.yaml" --settings-path "$settings" \
        --request-path "$WORK/request.json" annotated-policy.wasm
}

@test "a signed image is admitted in every kind" {
    for kind in pod deployment replicaset statefulset daemonset job cronjob replicationcontroller; do
        run_policy "$kind" "$(image signed-a)"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r .allowed)" = true ]
    done
}

@test "an unsigned image is denied in every kind with SCST-Sign's message" {
    for kind in pod deployment replicaset statefulset daemonset job cronjob replicationcontroller; do
        run_policy "$kind" "$(image unsigned)"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r .allowed)" = false ]
        [ "$(echo "$output" | jq -r .status.code)" = 403 ]
        [[ "$(echo "$output" | jq -r .status.message)" == "The image: $(image unsigned) is not signed."* ]]
    done
}

@test "a Pod is pinned to the registry's digest and stamped verified" {
    run_policy pod "$(image signed-a)"
    patch="$(echo "$output" | jq -r .patch | base64 -d)"
    echo "$patch" | jq -e --arg v "$(image signed-a)@$(digest signed-a)" 'any(.[]; .value == $v)'
    echo "$patch" | jq -e 'any(.[]; .path == "/metadata/annotations/image-policy.signing~1status" and .value == "verified")'
}

@test "tampered and misdirected signatures are refused" {
    for name in tampered wrong-digest signed-b; do
        run_policy pod "$(image "$name")"
        [ "$(echo "$output" | jq -r .allowed)" = false ]
    done
}

@test "an unmatched image is denied with SCST-Sign's message" {
    run_policy pod nginx:1.25
    [ "$(echo "$output" | jq -r .status.message)" = "Could not verify against any image policies for container image: nginx:1.25." ]
}

@test "settings with an unknown key name are rejected at load" {
    printf 'verification:\n  images:\n  - namePattern: "*"\n    keys: [{name: nobody}]\n' >"$WORK/bad.yaml"
    run_policy pod "$(image signed-a)" "$WORK/bad.yaml"
    [ "$status" -ne 0 ]
    [[ "$output" == *'verification.images[0].keys[0].name: key \"nobody\" is not defined'* ||
       "$output" == *'verification.images[0].keys[0].name: key "nobody" is not defined'* ]]
}

@test "no rules: admitted with SCST-Sign's warning" {
    echo '{}' >"$WORK/empty.yaml"
    run_policy pod "$(image unsigned)" "$WORK/empty.yaml"
    [ "$(echo "$output" | jq -r .allowed)" = true ]
    [[ "$(echo "$output" | jq -r '.warnings[0]')" == *'"image-policy" not found. Image policy enforcement was not applied.' ]]
}

# The ClusterImagePolicy is supplied the way kwctl supplies cluster resources:
# a replay session of the host's answers (test_data/sessions).
run_cluster() {
    sed "s|__IMAGE__|$(image unsigned)|g" test_data/requests/pod.json >"$WORK/request.json"
    run kwctl run --allow-context-aware --replay-host-capabilities-interactions "$1" \
        --settings-path test_data/settings/cluster.yaml --request-path "$WORK/request.json" annotated-policy.wasm
}

@test "no ClusterImagePolicy in the cluster: admitted with SCST-Sign's warning" {
    run_cluster test_data/sessions/cluster-image-policy-missing.yml
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .allowed)" = true ]
    [[ "$(echo "$output" | jq -r '.warnings[0]')" == *'"image-policy" not found'* ]]
}

@test "an invalid ClusterImagePolicy denies and names the field" {
    run_cluster test_data/sessions/cluster-image-policy-invalid.yml
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .allowed)" = false ]
    [[ "$(echo "$output" | jq -r .status.message)" == *'spec.verification.keys[0] (first-key): publicKey: not a PEM'* ]]
}
