//! verify-image-signatures' settings (`signatures:`), read as that policy reads
//! them: all keys of an entry, every matching entry, unmatched images
//! admitted, `modifyImagesWithDigest` pinning every kind; and as strictly as
//! our own settings.

mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::admission::validate_settings;

const IMAGE: &str = "registry.example.org/team/app:1.0";

/// verify-image-signatures' settings: one entry over the registry with `keys`.
fn peer_settings(keys: &[&str]) -> Value {
    json!({"signatures": [{
        "image": "registry.example.org/*",
        "pubKeys": keys.iter().map(|k| key(k)).collect::<Vec<_>>()
    }]})
}

fn refusal(settings: Value) -> String {
    let response = validate_settings(settings.to_string().as_bytes());
    assert!(!response.valid, "accepted: {settings}");
    response.message.unwrap()
}

#[test]
fn every_listed_key_of_an_entry_must_verify() {
    let settings = peer_settings(&["p256.pub", "p384.pub"]);
    let host = FakeHost::new()
        .sign(IMAGE, &key("p256.pub"))
        .sign(IMAGE, &key("p384.pub"));
    let admitted = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    let verified: Value =
        serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
    assert_eq!(
        verified[IMAGE]["key"],
        "signatures[0].pubKeys[0], signatures[0].pubKeys[1]"
    );

    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let denied = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(403));
    let message = denied.message.unwrap();
    assert!(
        message.starts_with(&format!(
            "The image: {IMAGE} is not signed. 1 of the 2 keys that the entry for \
             \"registry.example.org/*\" needs verified it (signatures[0].pubKeys[0]); \
             key signatures[0].pubKeys[1]: "
        )),
        "{message}"
    );
}

#[test]
fn every_matching_entry_must_pass() {
    let settings = json!({"signatures": [
        {"image": "registry.example.org/*", "pubKeys": [key("p256.pub")]},
        {"image": "*", "pubKeys": [key("p384.pub")]}
    ]});
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let denied = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted, "the second entry matches too");
    let host = host.sign(IMAGE, &key("p384.pub"));
    assert!(validate(&host, &pod(&[IMAGE]), &settings).accepted);
}

#[test]
fn a_key_listed_by_two_entries_is_asked_about_once() {
    let settings = json!({"signatures": [
        {"image": "registry.example.org/*", "pubKeys": [key("p256.pub")]},
        {"image": "registry.example.org/team/*", "pubKeys": [key("p256.pub")]}
    ]});
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    assert!(validate(&host, &pod(&[IMAGE, IMAGE]), &settings).accepted);
    assert_eq!(host.verify_calls(), 1);
}

#[test]
fn images_no_entry_matches_are_admitted_without_a_warning() {
    let admitted = validate(
        &FakeHost::new(),
        &pod(&["nginx:1.25"]),
        &peer_settings(&["p256.pub"]),
    );
    assert!(admitted.accepted);
    assert_eq!(admitted.warnings, None);
    assert!(
        admitted.mutated_object.is_none(),
        "nothing checked, nothing recorded"
    );
}

#[test]
fn modify_images_with_digest_pins_every_kind_by_default_and_never_when_false() {
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let pinned = format!("{IMAGE}@{}", digest_of(IMAGE));
    for kind in ["Pod", "Deployment", "CronJob"] {
        let request = request(kind, IMAGE);
        let admitted = validate(&host, &request, &peer_settings(&["p256.pub"]));
        assert!(admitted.accepted, "{kind}: {:?}", admitted.message);
        let object = admitted.mutated_object.expect("mutated");
        assert!(object.to_string().contains(&pinned), "{kind}: {object}");
        assert!(
            !object.to_string().contains(&format!("\"{IMAGE}\"")),
            "{kind}"
        );

        let mut settings = peer_settings(&["p256.pub"]);
        settings["modifyImagesWithDigest"] = json!(false);
        let admitted = validate(&host, &request, &settings);
        assert!(admitted.accepted);
        let object = admitted.mutated_object.expect("stamped");
        assert!(!object.to_string().contains(&pinned), "{kind}: not pinned");
    }
}

#[test]
fn each_kind_of_key_is_asked_as_that_kind() {
    let issuer = "https://token.actions.githubusercontent.com";
    let cases = [
        (
            json!({"keyless": [{"issuer": issuer, "subject": "me@example.org"}]}),
            format!("{issuer}|me@example.org"),
            "SigstoreKeylessVerify",
        ),
        (
            json!({"keylessPrefix": [{"issuer": issuer, "urlPrefix": "https://github.com/org/"}]}),
            format!("{issuer}|https://github.com/org/"),
            "SigstoreKeylessPrefixVerify",
        ),
        // verify-image-signatures' own spelling of the same field.
        (
            json!({"keylessPrefix": [{"issuer": issuer, "url_prefix": "https://github.com/org/"}]}),
            format!("{issuer}|https://github.com/org/"),
            "SigstoreKeylessPrefixVerify",
        ),
        (
            json!({"githubActions": {"owner": "org", "repo": "app"}}),
            "github|org|app".to_string(),
            "SigstoreGithubActionsVerify",
        ),
        (
            json!({"certificates": [test_data("keys/signer.crt")], "requireRekorBundle": false}),
            test_data("keys/signer.crt"),
            "SigstoreCertificateVerify",
        ),
    ];
    for (keys, signer, question_type) in cases {
        let mut entry = keys.clone();
        entry["image"] = json!("registry.example.org/*");
        let settings = json!({"signatures": [entry]});
        let host = FakeHost::new().sign(IMAGE, &signer);
        let response = validate(&host, &pod(&[IMAGE]), &settings);
        let questions = host.questions.borrow();
        assert_eq!(questions[0]["type"], question_type, "{keys}");
        if question_type == "SigstoreCertificateVerify" {
            assert!(response.accepted, "{keys}: {:?}", response.message);
        } else {
            // A keyless answer counts only once the signatures back it
            // (tests/keyless.rs): this signature carries no certificate.
            assert!(!response.accepted, "{keys}");
            assert_eq!(host.manifests_read.borrow().len(), 1, "{keys}");
        }
    }
}

#[test]
fn the_settings_are_read_strictly() {
    let pem = key("p256.pub");
    for (settings, expected) in [
        (json!({"signatures": []}), "signatures: must list at least one entry"),
        (json!({"signatures": [{"image": "*", "pubKey": [pem]}]}), "signatures[0].pubKey: unknown field `pubKey`"),
        (json!({"signatures": [{"image": "*"}]}),
            "signatures[0]: exactly one of pubKeys, keyless, keylessPrefix, githubActions or certificates must be set"),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem], "githubActions": {"owner": "org"}}]}),
            "signatures[0]: exactly one of"),
        (json!({"signatures": [{"image": "*", "pubKeys": []}]}), "signatures[0].pubKeys: must list at least one"),
        (json!({"signatures": [{"image": "", "pubKeys": [pem]}]}), "signatures[0].image: must not be empty"),
        (json!({"signatures": [{"image": "*", "pubKeys": ["not a key"]}]}), "signatures[0].pubKeys[0]: publicKey: "),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem], "certificateChain": [pem]}]}),
            "signatures[0]: certificateChain and requireRekorBundle go with certificates"),
        (json!({"signatures": [{"image": "*", "keyless": [{"issuer": "https://issuer", "subject": ""}]}]}),
            "signatures[0].keyless[0]: keyless.subject must not be empty"),
        (json!({"signatures": [{"image": "ngin*", "pubKeys": [pem]}]}), "signatures[0].image: "),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem]}], "verification": {}}),
            "verification: cannot be set together with signatures"),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem]}], "pinDigests": "never"}),
            "pinDigests: cannot be set together with signatures"),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem]}], "allowUnmatchedImages": true}),
            "allowUnmatchedImages: cannot be set together with signatures"),
        (json!({"signatures": [{"image": "*", "pubKeys": [pem]}], "clusterImagePolicy": true}),
            "clusterImagePolicy: cannot be set together with signatures"),
        (json!({"modifyImagesWithDigest": false}), "modifyImagesWithDigest: goes with signatures"),
    ] {
        let message = refusal(settings.clone());
        assert!(message.contains(expected), "{settings}: expected {expected:?} in {message:?}");
    }
}

#[test]
fn our_keys_that_apply_to_both_shapes_are_accepted() {
    let mut settings = peer_settings(&["p256.pub"]);
    settings["annotationPrefix"] = json!("example.org");
    settings["maxVerificationsPerRequest"] = json!(1);
    settings["modifyImagesWithDigest"] = json!(true);
    let response = validate_settings(settings.to_string().as_bytes());
    assert!(response.valid, "{:?}", response.message);
}

#[test]
fn the_verification_limit_applies_to_this_shape_too() {
    let mut settings = peer_settings(&["p256.pub", "p384.pub"]);
    settings["maxVerificationsPerRequest"] = json!(1);
    let host = FakeHost::new()
        .sign(IMAGE, &key("p256.pub"))
        .sign(IMAGE, &key("p384.pub"));
    let denied = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted, "all-of two keys needs two verifications");
    assert_eq!(host.verify_calls(), 1);
    assert!(denied
        .message
        .unwrap()
        .contains("maxVerificationsPerRequest"));
}

#[test]
fn the_verify_image_signatures_example_needs_both_keys() {
    let settings = settings_file("verify-image-signatures.yaml");
    let release = "registry.example.org/release/app:1.0";
    let one = FakeHost::new().sign(release, &key("p256.pub"));
    assert!(!validate(&one, &pod(&[release]), &settings).accepted);
    let both = one.sign(release, &key("p384.pub"));
    let admitted = validate(&both, &pod(&[release]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    // modifyImagesWithDigest: true pins the Pod.
    assert_eq!(
        admitted.mutated_object.unwrap()["spec"]["containers"][0]["image"],
        format!("{release}@{}", digest_of(release))
    );
}

#[test]
fn the_verify_image_signatures_shape_still_asks_every_key() {
    let settings = json!({"signatures": [{"image": "*", "pubKeys": [key("p256.pub"), rewrapped(&key("p256.pub"))]}]});
    assert!(validate_settings(settings.to_string().as_bytes()).valid);
    let image = "registry.example.org/team/app:1";
    let host = FakeHost::new().sign(image, &key("p256.pub"));
    assert!(
        !validate(&host, &pod(&[image]), &settings).accepted,
        "the second PEM, as written, is asked too"
    );
    assert_eq!(host.verify_calls(), 2);
}
