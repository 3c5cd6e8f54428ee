# Helpers shared by the bats suites (e2e.bats through kwctl, policy-server.bats
# through policy-server): the fixtures' images, requests, and reading a
# response (kwctl's AdmissionResponse, or an AdmissionReview's response).
# $WORK/fixtures holds the fixtures tool's output; $response and $request are
# set by the suite's own runner.

image() { jq -r ".images[\"$1\"].ref" "$WORK/fixtures/fixtures.json"; }
digest() { jq -r ".images[\"$1\"].digest" "$WORK/fixtures/fixtures.json"; }

# The request fixture of test_data/requests for KIND with every image set to IMAGE.
request() { sed "s|__IMAGE__|$2|g" "test_data/requests/$1.json"; }

# A Pod CREATE whose containers run IMAGE...
pod() {
    request pod placeholder | jq -c '.object.spec = {containers: [$ARGS.positional | to_entries[] |
        {name: "c\(.key)", image: .value}]}' --args "$@"
}

# ---- reading the response -----------------------------------------------------

field() { jq -r "$1" <<<"$response"; }
allowed() { [[ "$(field .allowed)" == true ]] || { echo "not admitted: $response" >&2; return 1; }; }
denied() { [[ "$(field .allowed)" == false ]] || { echo "not denied: $response" >&2; return 1; }; }
message() { field '.status.message // ""'; }

# The object as the API server would store it: the request's object with the
# response's JSON patch applied.
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

annotation() { mutated | jq -r --arg name "image-policy.signing/$1" '.metadata.annotations[$name] // ""'; }
verified_images() { annotation verified-images | jq -c .; }

assert_equal() {
    [[ "$1" == "$2" ]] || { printf 'expected: %s\nactual:   %s\n' "$2" "$1" >&2; return 1; }
}
