# shellcheck shell=bash
# The local test bed, written once for the demo, the benchmarks and the bats
# suites: a throw-away registry on a free loopback port holding the fixtures
# tool's signed images, the sources file that lets the hosts read it over
# plain HTTP, and the requests built from test_data/requests. Sourced:
#
#   . scripts/testbed.sh
#   testbed_up DIR        registry in DIR/registry, fixtures in DIR/fixtures,
#                         DIR/sources.yaml; sets REGISTRY and FIXTURES (the
#                         fixtures.json) and exports them
#   testbed_down DIR      stops the registry
#   image NAME, digest NAME, key NAME
#                         an image's reference and digest, a key's PEM file
#   request KIND IMAGE    test_data/requests/KIND.json with every image IMAGE
#   pod IMAGE...          a Pod CREATE whose containers run the images
#   workload KIND IMAGE...
#                         the same for any kind (its pod template's containers)
#   mutated               the object of $request as the API server would store
#                         it once $response (an AdmissionResponse) is applied
#
# FIXTURES_BIN is the fixtures tool (default target/debug/fixtures, built by make).

testbed_up() {
    local dir="$1"
    REGISTRY="$(scripts/registry.sh start "$dir/registry")"
    "${FIXTURES_BIN:-${CARGO_TARGET_DIR:-target}/debug/fixtures}" --registry "$REGISTRY" --out "$dir/fixtures" 2>/dev/null
    FIXTURES="$dir/fixtures/fixtures.json"
    # The registry also answers as localhost:PORT, a second spelling of it.
    printf 'insecure_sources:\n- "%s"\n- "localhost:%s"\n' "$REGISTRY" "${REGISTRY##*:}" >"$dir/sources.yaml"
    export REGISTRY FIXTURES
}

testbed_down() {
    scripts/registry.sh stop "$1/registry" >/dev/null 2>&1 || true
}

image() { jq -r ".images[\"$1\"].ref" "$FIXTURES"; }
digest() { jq -r ".images[\"$1\"].digest" "$FIXTURES"; }
key() { jq -r ".keys[\"$1\"]" "$FIXTURES"; }

request() { sed "s|__IMAGE__|$2|g" "test_data/requests/$1.json"; }

pod() { workload pod "$@"; }

workload() {
    local kind="$1"
    shift
    request "$kind" placeholder | jq -c '(if .object.spec.template then .object.spec.template.spec
        elif .object.spec.jobTemplate then .object.spec.jobTemplate.spec.template.spec else .object.spec end) as $spec
        | (if .object.spec.template then ["object", "spec", "template", "spec"]
        elif .object.spec.jobTemplate then ["object", "spec", "jobTemplate", "spec", "template", "spec"]
        else ["object", "spec"] end) as $at
        | setpath($at; {containers: [$ARGS.positional | to_entries[] | {name: "c\(.key)", image: .value}]})' --args "$@"
}

# The object as the API server would store it: the request's object with the
# response's JSON patch applied ($request and $response are the caller's).
# shellcheck disable=SC2154
mutated() {
    jq -c --argjson response "$response" '
        def pointer: ltrimstr("/") | split("/") | map(gsub("~1"; "/") | gsub("~0"; "~")
            | if test("^[0-9]+$") then tonumber else . end);
        def apply($op): ($op.path | pointer) as $p
            | if $op.op == "remove" then delpaths([$p])
              elif $op.op == "add" and ($p[-1] | type) == "number" then
                  setpath($p[:-1]; getpath($p[:-1]) | .[:$p[-1]] + [$op.value] + .[$p[-1]:])
              elif $op.op == "add" and $p[-1] == "-" then setpath($p[:-1]; getpath($p[:-1]) + [$op.value])
              elif $op.op == "add" or $op.op == "replace" then setpath($p; $op.value)
              else error("unexpected patch operation \($op.op)") end;
        ($response.patch // "W10=" | @base64d | fromjson) as $ops
        | reduce $ops[] as $op (.object; apply($op))' <<<"$request"
}
