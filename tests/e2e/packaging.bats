#!/usr/bin/env bats
# Packaging: kwctl inspect, annotate and scaffold read the module and its
# metadata, and artifacthub-pkg.yml has not drifted. Part of the end-to-end
# suite whose entry is e2e.bats.

bats_require_minimum_version 1.5.0
load ../bats/e2e

# ---- packaging: the stock tools read the metadata ---------------------------------

@test "kwctl inspect: the annotated module carries its rules, mutating, context-aware resources and version" {
    run --separate-stderr kwctl inspect --output yaml "$POLICY"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local metadata
    metadata="$(yq -c . <<<"$output")"
    assert_equal "$(jq -c '[.mutating, .backgroundAudit, .executionMode]' <<<"$metadata")" \
        '[true,true,"kubewarden-wapc"]'
    assert_equal "$(jq -c '.rules' <<<"$metadata")" "$(yq -c '.rules' policy-metadata.yml)"
    assert_equal "$(jq -c '.contextAwareResources | sort' <<<"$metadata")" "$(yq -c '.contextAwareResources | sort' policy-metadata.yml)"
    assert_equal "$(jq -r '.annotations["io.kubewarden.policy.version"]' <<<"$metadata")" \
        "$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
}

@test "kwctl annotate: the metadata is accepted; name, home, author, OCI repository and minimum version are carried" {
    run --separate-stderr kwctl annotate -m policy-metadata.yml -u README.md -o "$BATS_TEST_TMPDIR/annotated.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    run --separate-stderr kwctl inspect --output yaml "$BATS_TEST_TMPDIR/annotated.wasm"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local inspected policy_annotations
    inspected="$(yq -c . <<<"$output")"
    policy_annotations='[.minimumKubewardenVersion, (.annotations | with_entries(select(.key | startswith("io.kubewarden.policy.")))
        | del(.["io.kubewarden.policy.usage"]))]'
    assert_equal "$(jq -cS "$policy_annotations" <<<"$inspected")" "$(yq -cS "$policy_annotations" policy-metadata.yml)"
    # The README travels inside the module as its usage text.
    assert_equal "$(jq -r '.annotations["io.kubewarden.policy.usage"]' <<<"$inspected")" "$(cat README.md)"
    if [[ "$KUBEWARDEN_HOST" == "$MINIMUM_HOST" ]]; then
        # The minimum release knows no hostCapabilities and drops them.
        assert_equal "$(jq -c '.hostCapabilities' <<<"$inspected")" null
    else
        assert_equal "$(jq -c '.hostCapabilities | sort' <<<"$inspected")" "$(yq -c '.hostCapabilities | sort' policy-metadata.yml)"
    fi
}

# The capabilities kwctl annotate warns about, from its stderr (colours removed:
# a regular expression, which ${var//pattern/} cannot write).
# shellcheck disable=SC2001
capability_warnings() { sed 's/\x1b\[[0-9;]*m//g' <<<"$1" | grep -i 'host capabilities' || true; }

@test "kwctl annotate: hostCapabilities name exactly what the module calls (the host of record warns otherwise; the minimum release loads the module it annotated)" {
    if [[ "$KUBEWARDEN_HOST" == "$MINIMUM_HOST" ]]; then
        # The shipped module is annotated by the host of record's kwctl; the minimum release reads its metadata and runs it.
        run --separate-stderr kwctl inspect --output yaml "$POLICY"
        [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
        assert_equal "$(yq -r '.annotations["io.kubewarden.kwctl"]' <<<"$output" | cut -d. -f1,2)" "$HOST_OF_RECORD"
        evaluate "$(pod "$(image signed-a)")" "$(settings a)"
        allowed
        return 0
    fi
    run --separate-stderr kwctl annotate -m policy-metadata.yml -u README.md -o "$BATS_TEST_TMPDIR/annotated.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    assert_equal "$(capability_warnings "$stderr")" ""
    # The check is live: without the list, kwctl names every capability the module calls.
    yq -y 'del(.hostCapabilities)' policy-metadata.yml >"$BATS_TEST_TMPDIR/metadata.yml"
    run --separate-stderr kwctl annotate -m "$BATS_TEST_TMPDIR/metadata.yml" -o "$BATS_TEST_TMPDIR/undeclared.wasm" policy.wasm
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    local warned capability
    warned="$(capability_warnings "$stderr")"
    [[ "$warned" == *"used by the policy but not declared"* ]] || { echo "no warning: $stderr" >&2; return 1; }
    for capability in $(yq -r '.hostCapabilities[]' policy-metadata.yml); do
        [[ "$warned" == *"\"$capability\""* ]] || { echo "$capability not named: $warned" >&2; return 1; }
    done
}

@test "kwctl scaffold artifacthub: artifacthub-pkg.yml is what kwctl makes of the metadata and questions (no drift)" {
    run --separate-stderr kwctl scaffold artifacthub -m policy-metadata.yml -q questions-ui.yml
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    # createdAt is the time of generation; everything else must be identical.
    local generated committed
    generated="$(yq -S 'del(.createdAt)' <<<"$output")"
    committed="$(yq -S 'del(.createdAt)' artifacthub-pkg.yml)"
    if [[ "$generated" != "$committed" ]]; then
        diff <(echo "$committed") <(echo "$generated") >&2 || true
        echo "artifacthub-pkg.yml is stale: run 'make artifacthub-pkg.yml'" >&2
        return 1
    fi
    assert_equal "$(yq -r '.containersImages[0].image' artifacthub-pkg.yml)" \
        "$(yq -r '.annotations["io.kubewarden.policy.ociUrl"]' policy-metadata.yml):v$(yq -r '.annotations["io.kubewarden.policy.version"]' policy-metadata.yml)"
    [[ -n "$(yq -r '.annotations["kubewarden/questions-ui"] // empty' artifacthub-pkg.yml)" ]]
}

@test "kwctl scaffold manifest: a ClusterAdmissionPolicy with every rule, mutating, reading ClusterImagePolicies" {
    run --separate-stderr kwctl scaffold manifest --type ClusterAdmissionPolicy --allow-context-aware "$POLICY"
    [[ "$status" -eq 0 ]] || { echo "$stderr" >&2; return 1; }
    assert_equal "$(yq -r '.kind' <<<"$output")" ClusterAdmissionPolicy
    assert_equal "$(yq -c '.spec.mutating' <<<"$output")" true
    assert_equal "$(yq -c '.spec.rules' <<<"$output")" "$(yq -c '.rules' policy-metadata.yml)"
    assert_equal "$(yq -c '.spec.contextAwareResources | sort' <<<"$output")" "$(yq -c '.contextAwareResources | sort' policy-metadata.yml)"
}
