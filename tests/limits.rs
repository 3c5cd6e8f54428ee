//! What one request may make the policy do, and how much it answers: the verification limit, registries no pattern names, host errors condensed and every response bounded.

mod common;

use common::*;
use serde_json::json;
use signed_images_policy::decision::{MAX_LINE_BYTES, MAX_MESSAGE_BYTES, MAX_WARNINGS};
use signed_images_policy::host::reasons::MAX_REASON_BYTES;

#[test]
fn verifications_past_the_limit_deny_the_request() {
    let images: Vec<String> = (0..5)
        .map(|i| format!("harbor.example.net/storefront/app{i}:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let signed_all = refs.iter().fold(FakeHost::new(), |host, image| {
        host.sign(image, &key("p256.pub"))
    });
    let mut settings = scst_settings();
    settings["maxVerificationsPerRequest"] = json!(4);
    let denied = validate(&signed_all, &pod(&refs), &settings);
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(403));
    assert_eq!(
        denied.message.as_deref(),
        Some(
            "The image: harbor.example.net/storefront/app4:1 was not verified: the request needs \
             more than 4 signature verifications, the most the policy makes for one request \
             (maxVerificationsPerRequest)."
        )
    );
    assert_eq!(
        signed_all.verify_calls(),
        4,
        "nothing is asked past the limit"
    );

    settings["maxVerificationsPerRequest"] = json!(5);
    let host = refs.iter().fold(FakeHost::new(), |host, image| {
        host.sign(image, &key("p256.pub"))
    });
    assert!(validate(&host, &pod(&refs), &settings).accepted);
}

#[test]
fn the_default_limit_stops_a_flood_of_images() {
    let images: Vec<String> = (0..3000)
        .map(|i| format!("harbor.example.net/storefront/app{i}:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let host = FakeHost::new();
    let denied = validate(&host, &pod(&refs), &settings_file("full.yaml"));
    assert!(!denied.accepted);
    assert!(denied
        .message
        .unwrap()
        .contains("more than 100 signature verifications"));
    // Every host call counts: the questions, and for full.yaml's entry of
    // two public keys, each image's digest and signatures, read to know
    // which key to ask first.
    let calls =
        host.verify_calls() + host.digests_read.borrow().len() + host.manifests_read.borrow().len();
    assert_eq!(calls, 100);
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
