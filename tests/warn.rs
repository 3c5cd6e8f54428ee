//! The `warn` setting, the same for every shape of the settings: failures
//! in the namespaces it names (or everywhere) admit with a warning, the
//! images that passed still pinned; the same mistakes refused in each shape.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission::validate_settings;

const IMAGE: &str = "registry.example.org/team/app:1.0";

fn status(response: &ValidationResponse) -> &str {
    annotation(response, "status").unwrap_or_default()
}

fn refusal(settings: Value) -> String {
    let response = validate_settings(settings.to_string().as_bytes());
    assert!(!response.valid, "accepted: {settings}");
    response.message.unwrap()
}

#[test]
fn warn_for_listed_namespaces_admits_failures_there_only() {
    let mut settings = one_key("harbor.example.net/*");
    settings["warn"] = json!({"namespaces": ["sandbox"]});
    let mut request = pod(&[UNSIGNED, SIGNED]);
    let denied = validate(&signed_host(), &request, &settings);
    assert!(!denied.accepted, "another namespace is enforced");
    request["namespace"] = json!("sandbox");
    request["object"]["metadata"]["namespace"] = json!("sandbox");
    let admitted = validate(&signed_host(), &request, &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(status(&admitted), "admitted-on-warning");
    let warnings = admitted.warnings.clone().unwrap();
    assert!(
        warnings[0].starts_with(&format!(
            "Admitted on a warning (mode: warn): The image: {UNSIGNED} is not signed."
        )),
        "{warnings:?}"
    );
    let object = admitted.mutated_object.unwrap();
    let containers = &object["spec"]["containers"];
    assert_eq!(
        containers[0]["image"], UNSIGNED,
        "the failed image is not pinned"
    );
    assert_eq!(
        containers[1]["image"],
        format!("{SIGNED}@{}", digest_of(SIGNED_CANONICAL)),
        "the verified one is"
    );
}

#[test]
fn warn_everywhere_applies_to_verify_image_signatures_settings_too() {
    let settings = json!({
        "signatures": [{"image": "registry.example.org/*", "pubKeys": [key("p256.pub")]}],
        "warn": {"allNamespaces": true}
    });
    let admitted = validate(&FakeHost::new(), &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted);
    assert_eq!(status(&admitted), "admitted-on-warning");
    for wrong in [
        json!({}),
        json!({"allNamespaces": true, "namespaces": ["a"]}),
        json!({"namespaces": [""]}),
    ] {
        let mut settings = one_key("*");
        settings["warn"] = wrong;
        assert!(refusal(settings).starts_with("warn"));
    }
}
