//! One image, one answer, whatever its spelling: respelled hosts and ports, the registry the host is asked about, ports that are no number.

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn respelled_images_get_the_same_decision_and_question() {
    let mut settings = scst_settings();
    settings["allowUnmatchedImages"] = json!(true);
    for written in [
        "harbor.example.net/storefront/evil:1.0",
        "HARBOR.EXAMPLE.NET/storefront/evil:1.0",
        "Harbor.Example.Net/storefront/evil:1.0",
        "harbor.example.net:443/storefront/evil:1.0",
    ] {
        let host = FakeHost::new();
        let denied = validate(&host, &pod(&[written]), &settings);
        assert!(!denied.accepted, "{written}");
        assert!(denied
            .message
            .unwrap()
            .starts_with(&format!("The image: {written} is not signed.")));
        assert_eq!(host.asked_images(), vec![UNSIGNED], "{written}");
    }
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

    let mut allow = one_key("harbor.example.net/storefront/*");
    allow["allowUnmatchedImages"] = json!(true);
    for image in [
        "harbor.example.net:0443/storefront/evil:1.0",
        "HARBOR.EXAMPLE.NET:00443/storefront/evil:1.0",
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
