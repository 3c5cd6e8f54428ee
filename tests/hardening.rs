//! The second round of attacks, each through `admission::validate` with a
//! fake host: respelled ports, the registry in the host's question, the
//! record on ephemeral containers, one signer counted twice, host errors as
//! denial amplifiers, null rules and pod specs without containers.

mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::admission;
use signed_images_policy::decision::{MAX_LINE_BYTES, MAX_MESSAGE_BYTES, MAX_WARNINGS};
use signed_images_policy::host::MAX_REASON_BYTES;

fn one_key(pattern: &str) -> Value {
    json!({"verification": {
        "keys": [{"name": "a", "publicKey": key("p256.pub")}],
        "images": [{"namePattern": pattern, "keys": [{"name": "a"}]}]
    }})
}

/// verify-image-signatures' shape: a strict entry for the local registry and
/// a catch-all trusting another key.
fn strict_and_catch_all() -> Value {
    json!({"signatures": [
        {"image": "127.0.0.1:5000/test/*", "pubKeys": [key("p256.pub")]},
        {"image": "*", "pubKeys": [key("p384.pub")]}
    ]})
}

#[test]
fn a_port_with_a_leading_zero_is_the_same_port() {
    let signatures =
        json!({"signatures": [{"image": "127.0.0.1:5000/test/*", "pubKeys": [key("p256.pub")]}]});
    let host = FakeHost::new();
    let denied = validate(
        &host,
        &pod(&["127.0.0.1:05000/test/unsigned:v1"]),
        &signatures,
    );
    assert!(!denied.accepted, "matched, so verified, and not signed");
    assert_eq!(host.asked_images(), ["127.0.0.1:5000/test/unsigned:v1"]);

    let mut allow = one_key("registry.example.org/myproject/*");
    allow["allowUnmatchedImages"] = json!(true);
    for image in [
        "registry.example.org:0443/myproject/evil:1.0",
        "REGISTRY.EXAMPLE.ORG:00443/myproject/evil:1.0",
    ] {
        let denied = validate(&FakeHost::new(), &pod(&[image]), &allow);
        assert!(!denied.accepted, "{image}");
        assert!(denied
            .message
            .unwrap()
            .starts_with(&format!("The image: {image} is not signed.")));
    }
    let mut hub = one_key("docker.io/library/*");
    hub["allowUnmatchedImages"] = json!(true);
    let host = FakeHost::new();
    assert!(
        !validate(
            &host,
            &pod(&["registry-1.docker.io:0443/library/nginx:1.25"]),
            &hub
        )
        .accepted
    );
    assert_eq!(host.asked_images(), ["docker.io/library/nginx:1.25"]);
}

#[test]
fn a_respelled_port_is_not_verified_under_the_catch_all_key() {
    // Signed by the catch-all's key only: the strict entry must still apply.
    let image = "127.0.0.1:5000/test/app:v1";
    let host = FakeHost::new().sign(image, &key("p384.pub"));
    let denied = validate(
        &host,
        &pod(&["127.0.0.1:05000/test/app:v1"]),
        &strict_and_catch_all(),
    );
    assert!(!denied.accepted);
    let host = FakeHost::new()
        .sign(image, &key("p384.pub"))
        .sign(image, &key("p256.pub"));
    assert!(
        validate(
            &host,
            &pod(&["127.0.0.1:05000/test/app:v1"]),
            &strict_and_catch_all()
        )
        .accepted
    );
}

#[test]
fn a_port_that_is_no_number_is_denied_as_an_invalid_reference() {
    for image in ["reg.io:0/app:1", "reg.io:99999/app:1", "reg.io:65536/app:1"] {
        let host = FakeHost::new();
        let denied = validate(&host, &pod(&[image]), &one_key("*"));
        assert!(!denied.accepted, "{image}");
        let message = denied.message.unwrap();
        assert!(message.contains("invalid registry port"), "{message}");
        assert_eq!(host.verify_calls(), 0);
    }
}

#[test]
fn the_host_is_asked_about_the_registry_the_runtime_pulls_from() {
    for written in ["myreg:443/app:1", "MYREG/app:1", "MyReg:0443/app:1"] {
        let host = FakeHost::new().sign("myreg:443/app:1", &key("p256.pub"));
        let response = validate(&host, &pod(&[written]), &one_key("myreg:443/*"));
        assert!(response.accepted, "{written}");
        assert_eq!(host.asked_images(), ["myreg:443/app:1"], "{written}");
    }
    // Docker Hub's myreg/app is another image, and the pattern does not name it.
    let host = FakeHost::new().sign("docker.io/myreg/app:1", &key("p256.pub"));
    assert!(!validate(&host, &pod(&["myreg/app:1"]), &one_key("myreg:443/*")).accepted);
    assert_eq!(host.verify_calls(), 0);
}

fn ephemeral_update(stored_status: Option<&str>, ephemeral_image: &str) -> Value {
    let mut req = request("Pod", "registry.example.org/myproject/app:1.0");
    if let Some(status) = stored_status {
        req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!(status);
    }
    req["operation"] = json!("UPDATE");
    req["subResource"] = json!("ephemeralcontainers");
    req["oldObject"] = req["object"].clone();
    req["object"]["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": ephemeral_image}]);
    req
}

#[test]
fn an_unmatched_ephemeral_image_cannot_make_a_verified_record_stale() {
    let host = || FakeHost::new().sign("registry.example.org/myproject/app:1.0", &key("p256.pub"));
    let mut allow = one_key("registry.example.org/*");
    allow["allowUnmatchedImages"] = json!(true);
    let signatures =
        json!({"signatures": [{"image": "registry.example.org/*", "pubKeys": [key("p256.pub")]}]});
    for settings in [&allow, &signatures] {
        let denied = validate(
            &host(),
            &ephemeral_update(Some("verified"), "busybox:1.36"),
            settings,
        );
        assert!(!denied.accepted, "{settings}");
        assert_eq!(denied.code, Some(403));
        assert_eq!(
            denied.message.unwrap(),
            "The image: busybox:1.36 matches no image policy, and the Pod is recorded as verified: an \
             ephemeral container cannot change that record (image-policy.signing/status), so only \
             verified images can be added to it."
        );
        // A Pod whose record already says unmatched images run, or has none, stays true.
        for stored in [Some("unmatched-allowed"), None] {
            assert!(
                validate(&host(), &ephemeral_update(stored, "busybox:1.36"), settings).accepted
            );
        }
    }
    // A verified ephemeral image keeps the record true: admitted, pinned, no annotation.
    let host = host().sign("registry.example.org/myproject/debug:1", &key("p256.pub"));
    let admitted = validate(
        &host,
        &ephemeral_update(Some("verified"), "registry.example.org/myproject/debug:1"),
        &allow,
    );
    assert!(admitted.accepted);
    let pod = admitted.mutated_object.unwrap();
    assert!(pod["spec"]["ephemeralContainers"][0]["image"]
        .as_str()
        .unwrap()
        .contains("@sha256:"));
}

#[test]
fn an_unmatched_image_already_in_the_pod_does_not_block_an_ephemeral_update() {
    // The Pod's own container is unmatched under today's rules; the request adds a verified image.
    let mut allow = one_key("registry.example.org/myproject/debug*");
    allow["allowUnmatchedImages"] = json!(true);
    let host = FakeHost::new().sign("registry.example.org/myproject/debug:1", &key("p256.pub"));
    let req = ephemeral_update(Some("verified"), "registry.example.org/myproject/debug:1");
    assert!(validate(&host, &req, &allow).accepted);
}

fn two_names_one_key(second: &str) -> Value {
    json!({"verification": {
        "keys": [
            {"name": "a", "publicKey": key("p256.pub")},
            {"name": "b", "publicKey": second},
            {"name": "c", "publicKey": key("p384.pub")}
        ],
        "images": [{"namePattern": "registry.example.org/*", "threshold": 2,
            "keys": [{"name": "a"}, {"name": "b"}]}]
    }})
}

/// The same key in another PEM layout: other line lengths, CRLF, indented.
fn rewrapped(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut out = "-----BEGIN PUBLIC KEY-----\r\n".to_string();
    for chunk in body.as_bytes().chunks(40) {
        out.push_str("  ");
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out.push_str("-----END PUBLIC KEY-----\r\n");
    out
}

#[test]
fn one_key_under_two_names_does_not_reach_a_threshold_of_two() {
    for second in [key("p256.pub"), rewrapped(&key("p256.pub"))] {
        let settings = two_names_one_key(&second);
        let refused = admission::validate_settings(settings.to_string().as_bytes());
        assert!(!refused.valid);
        let message = refused.message.unwrap();
        assert!(
            message.starts_with(
                "verification.images[0].threshold: 2 keys must verify, but the entry names only 1 distinct key"
            ),
            "{message}"
        );
    }
    // With a third, distinct key the threshold is reachable, and the one key
    // counts once: signed by a alone is not enough.
    let mut settings = two_names_one_key(&rewrapped(&key("p256.pub")));
    settings["verification"]["images"][0]["keys"] =
        json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]);
    assert!(admission::validate_settings(settings.to_string().as_bytes()).valid);
    let image = "registry.example.org/team/app:1";
    let host = FakeHost::new()
        .sign(image, &key("p256.pub"))
        .sign(image, &rewrapped(&key("p256.pub")));
    let denied = validate(&host, &pod(&[image]), &settings);
    assert!(!denied.accepted);
    let message = denied.message.unwrap();
    assert!(
        message.contains("1 of the 2 keys") && message.contains("not asked: b"),
        "{message}"
    );
    let host = host.sign(image, &key("p384.pub"));
    let admitted = validate(&host, &pod(&[image]), &settings);
    assert!(admitted.accepted);
    let record: Value = serde_json::from_str(
        admitted.mutated_object.unwrap()["metadata"]["annotations"]
            ["image-policy.signing/verified-images"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record[image]["key"], "a, c");
}

#[test]
fn a_certificate_for_a_key_is_that_key() {
    let settings = json!({"verification": {
        "keys": [
            {"name": "cert", "certificate": key("signer.crt")},
            {"name": "same", "publicKey": key("p256.pub")}
        ],
        "images": [{"namePattern": "*", "threshold": 2, "keys": [{"name": "cert"}, {"name": "same"}]}]
    }});
    let refused = admission::validate_settings(settings.to_string().as_bytes());
    assert!(
        !refused.valid,
        "test_data/keys/signer.crt certifies p256.pub"
    );
}

#[test]
fn keyless_identities_one_certificate_can_claim_count_once() {
    let gha = "https://token.actions.githubusercontent.com";
    for (first, second, reachable) in [
        (
            json!({"githubActions": {"owner": "org"}}),
            json!({"githubActions": {"owner": "org", "repo": "app"}}),
            false,
        ),
        (
            json!({"githubActions": {"owner": "org"}}),
            json!({"keyless": {"issuer": gha, "urlPrefix": "https://github.com/org/"}}),
            false,
        ),
        (
            json!({"keyless": {"issuer": gha, "subject": "https://github.com/org/app/x"}}),
            json!({"keyless": {"issuer": gha, "urlPrefix": "https://github.com/org/"}}),
            false,
        ),
        (
            json!({"keyless": {"issuer": gha, "subject": "https://github.com/org/app/x"}}),
            json!({"keyless": {"issuer": gha, "subject": "https://github.com/org/app/y"}}),
            true,
        ),
        (
            json!({"keyless": {"issuer": "https://accounts.google.com", "subject": "a@example.org"}}),
            json!({"keyless": {"issuer": gha, "urlPrefix": "https://github.com/org/"}}),
            true,
        ),
        (
            json!({"githubActions": {"owner": "org", "repo": "app"}}),
            json!({"githubActions": {"owner": "org", "repo": "lib"}}),
            true,
        ),
    ] {
        let mut a = first.clone();
        a["name"] = json!("a");
        let mut b = second.clone();
        b["name"] = json!("b");
        let settings = json!({"verification": {"keys": [a, b], "images": [{"namePattern": "*", "threshold": 2,
            "keys": [{"name": "a"}, {"name": "b"}]}]}});
        let answer = admission::validate_settings(settings.to_string().as_bytes());
        assert_eq!(
            answer.valid, reachable,
            "{first} and {second}: {:?}",
            answer.message
        );
    }
}

#[test]
fn a_cluster_image_policy_with_an_unreachable_threshold_denies_with_the_field_named() {
    let spec = two_names_one_key(&key("p256.pub"));
    let host = FakeHost::new().with_resource(json!({
        "apiVersion": "signing.apps.tanzu.vmware.com/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "image-policy"},
        "spec": spec,
    }));
    let denied = validate(
        &host,
        &pod(&["registry.example.org/team/app:1"]),
        &json!({"clusterImagePolicy": true}),
    );
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(500));
    let message = denied.message.unwrap();
    assert!(
        message.contains("spec.verification.images[0].threshold: 2 keys must verify"),
        "{message}"
    );
}

#[test]
fn the_verify_image_signatures_shape_still_asks_every_key() {
    let settings = json!({"signatures": [{"image": "*", "pubKeys": [key("p256.pub"), rewrapped(&key("p256.pub"))]}]});
    assert!(admission::validate_settings(settings.to_string().as_bytes()).valid);
    let image = "registry.example.org/team/app:1";
    let host = FakeHost::new().sign(image, &key("p256.pub"));
    assert!(
        !validate(&host, &pod(&[image]), &settings).accepted,
        "the second PEM, as written, is asked too"
    );
    assert_eq!(host.verify_calls(), 2);
}

#[test]
fn a_url_prefix_that_is_no_url_is_refused_when_the_policy_loads() {
    let gha = "https://token.actions.githubusercontent.com";
    for prefix in [
        "github.com/my-org",
        "/my-org",
        "https://",
        "https:///my-org",
        "ftp://github.com/my-org",
        "https://github com/my-org",
        "https://github.com:99999/my-org",
        "https://git[hub.com/",
        "https://user@github.com/",
        "https://github.com/my org",
    ] {
        for settings in [
            json!({"verification": {"keys": [{"name": "k", "keyless": {"issuer": gha, "urlPrefix": prefix}}]}}),
            json!({"signatures": [{"image": "*", "keylessPrefix": [{"issuer": gha, "url_prefix": prefix}]}]}),
        ] {
            let refused = admission::validate_settings(settings.to_string().as_bytes());
            assert!(!refused.valid, "{prefix}");
            let message = refused.message.unwrap();
            assert!(
                message.contains("is not an http(s) URL the host can read"),
                "{prefix}: {message}"
            );
        }
    }
    for prefix in [
        "https://github.com/my-org",
        "http://git.example.org:8080/team/",
        "https://github.com",
    ] {
        let settings = json!({"verification": {"keys": [{"name": "k", "keyless": {"issuer": gha, "urlPrefix": prefix}}]}});
        assert!(
            admission::validate_settings(settings.to_string().as_bytes()).valid,
            "{prefix}"
        );
    }
}

/// A megabyte of registry error body, twice, as the host reports it.
fn huge_host_error(image: &str) -> String {
    let body = "x".repeat(1 << 20);
    format!(
        "failed to get image trusted layers: Server error: url https://registry.example.org/v2/{image}, \
         code: 500, message: {body}\n\nCaused by:\n    {body}"
    )
}

#[test]
fn host_errors_are_condensed_and_the_denial_is_bounded() {
    let images: Vec<String> = (0..50)
        .map(|i| format!("registry.example.org/team/app{i}:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let host = images.iter().fold(FakeHost::new(), |host, image| {
        host.answer(image, Err(huge_host_error(image)))
    });
    let denied = validate(&host, &pod(&refs), &one_key("registry.example.org/*"));
    assert!(!denied.accepted);
    let message = denied.message.unwrap();
    assert!(
        message.len() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        message.len()
    );
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The image: {} is not signed. key a: the registry answered HTTP 500",
            images[0]
        )
    );
    let shown = lines.len() - 1;
    assert_eq!(lines[shown], format!("... and {} more images", 50 - shown));
    assert_eq!(host.verify_calls(), 50, "every image was still checked");
}

#[test]
fn a_normal_denial_does_not_repeat_the_key() {
    let constraint_error = format!(
        "Image verification failed: missing signatures\nThe following constraints were not satisfied:\n\
         - kind: pubKey\n  owner: null\n  key: |\n{}  annotations: null\n",
        key("p256.pub")
    );
    let host = FakeHost::new().answer("registry.example.org/team/app:1", Err(constraint_error));
    let denied = validate(
        &host,
        &pod(&["registry.example.org/team/app:1"]),
        &one_key("*"),
    );
    assert_eq!(
        denied.message.unwrap(),
        "The image: registry.example.org/team/app:1 is not signed. key a: no signature satisfies this key"
    );
}

#[test]
fn an_unknown_host_error_keeps_its_first_line_and_no_more_than_the_bound() {
    let long = format!(
        "something new went wrong: {}\nmore detail",
        "y".repeat(1000)
    );
    let host = FakeHost::new().answer("registry.example.org/team/app:1", Err(long));
    let denied = validate(
        &host,
        &pod(&["registry.example.org/team/app:1"]),
        &one_key("*"),
    );
    let message = denied.message.unwrap();
    let reason = message.split("key a: ").nth(1).unwrap();
    assert!(
        reason.starts_with("something new went wrong: yyy"),
        "{reason}"
    );
    assert!(reason.ends_with('…'));
    assert!(reason.len() <= MAX_REASON_BYTES + '…'.len_utf8());
}

#[test]
fn a_long_image_name_is_cut_in_its_line_and_warnings_are_bounded() {
    let long = format!("registry.example.org/{}:1", "a".repeat(5000));
    let denied = validate(
        &FakeHost::new(),
        &pod(&[&long]),
        &one_key("other.example.org/*"),
    );
    let message = denied.message.unwrap();
    assert!(
        message.len() <= MAX_LINE_BYTES + '…'.len_utf8(),
        "{} bytes",
        message.len()
    );
    assert!(message.starts_with("The image: registry.example.org/aaa") && message.ends_with('…'));

    let images: Vec<String> = (0..30)
        .map(|i| format!("unmatched.example.org/app{i}:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let mut allow = one_key("registry.example.org/*");
    allow["allowUnmatchedImages"] = json!(true);
    let admitted = validate(&FakeHost::new(), &pod(&refs), &allow);
    let warnings = admitted.warnings.unwrap();
    assert_eq!(warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(
        warnings[MAX_WARNINGS],
        format!("... and {} more warnings", 30 - MAX_WARNINGS)
    );
}

#[test]
fn a_rules_key_written_as_null_is_a_settings_error() {
    for (settings, path) in [
        (json!({"verification": null}), "verification"),
        (json!({"signatures": null}), "signatures"),
        (
            json!({"verification": {"keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}], "annotations": null}]}}),
            "verification.images[0].annotations",
        ),
        (
            json!({"verification": {"keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}], "threshold": null}]}}),
            "verification.images[0].threshold",
        ),
        (
            json!({"signatures": [{"image": "*", "pubKeys": [key("p256.pub")], "annotations": null}]}),
            "signatures[0].annotations",
        ),
    ] {
        let refused = admission::validate_settings(settings.to_string().as_bytes());
        assert!(!refused.valid, "{settings}");
        assert_eq!(
            refused.message.unwrap(),
            format!("{path}: must not be null: give it a value or leave the field out")
        );
    }
    // What Kubewarden's UI writes for the other shape's switch stays readable.
    assert!(admission::validate_settings(br#"{"clusterImagePolicy": null}"#).valid);
}

#[test]
fn a_pod_spec_without_containers_is_an_unreadable_request() {
    let settings = one_key("*");
    for (kind, spec_at, object) in [
        ("Pod", "spec", json!({"spec": {}})),
        (
            "Pod",
            "spec",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}}),
        ),
        (
            "Deployment",
            "spec.template.spec",
            json!({"spec": {"template": {"spec": {}}}}),
        ),
    ] {
        let mut req = request(kind, "registry.example.org/team/app:1");
        req["object"] = object;
        let host = FakeHost::new();
        let denied = validate(&host, &req, &settings);
        assert!(!denied.accepted, "{kind}");
        assert_eq!(denied.code, Some(400));
        assert_eq!(
            denied.message.unwrap(),
            format!("cannot read the admission request: {spec_at}.containers is missing: a pod spec runs at least one container")
        );
        assert_eq!(host.verify_calls(), 0);
    }
}

#[test]
fn named_registries_only_keeps_a_star_pattern_from_sending_the_host_anywhere() {
    let settings = |named_only: bool| {
        json!({"verification": {
            "keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [
                {"namePattern": "registry.example.org/*", "keys": [{"name": "a"}]},
                {"namePattern": "*", "keys": [{"name": "a"}]}
            ]},
            "namedRegistriesOnly": named_only})
    };
    let silent = "silent.attacker.example/app:1";
    // Off (the default): `*` sends the host to any registry.
    let host = FakeHost::new();
    assert!(!validate(&host, &pod(&[silent]), &settings(false)).accepted);
    assert_eq!(host.asked_images(), [silent]);
    // On: denied before any host call, the registry named.
    let host = FakeHost::new();
    let denied = validate(&host, &pod(&[silent]), &settings(true));
    assert!(!denied.accepted);
    assert_eq!(
        denied.message.unwrap(),
        format!(
            "The image: {silent} was not verified: no image policy names its registry silent.attacker.example, \
             and the policy asks only about registries a pattern names (namedRegistriesOnly)."
        )
    );
    assert_eq!(host.verify_calls(), 0);
    // A registry a pattern names is verified as before, under every entry.
    let named = "registry.example.org/team/app:1";
    let host = FakeHost::new().sign(named, &key("p256.pub"));
    assert!(validate(&host, &pod(&[named]), &settings(true)).accepted);
    // Docker Hub is named by a pattern without a registry part.
    let mut hub = settings(true);
    hub["verification"]["images"][0]["namePattern"] = json!("library/*");
    let host = FakeHost::new().sign("docker.io/library/nginx:1.25", &key("p256.pub"));
    assert!(validate(&host, &pod(&["nginx:1.25"]), &hub).accepted);
    // The same in verify-image-signatures' shape.
    let signatures = json!({"signatures": [{"image": "*", "pubKeys": [key("p256.pub")]}], "namedRegistriesOnly": true});
    let host = FakeHost::new();
    assert!(!validate(&host, &pod(&[silent]), &signatures).accepted);
    assert_eq!(host.verify_calls(), 0);
}
