//! N of M: an entry's threshold, asked in order and stopped early, with one signer counted once (the same key material, keyless identities one certificate can claim).

mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::admission;

/// An entry that needs 2 of its 3 keys (`threshold: 2`).
fn two_of_three() -> Value {
    json!({"verification": {
        "keys": [
            {"name": "build", "publicKey": key("p256.pub")},
            {"name": "security", "publicKey": key("p384.pub")},
            {"name": "release", "publicKey": key("rsa2048.pub")}
        ],
        "images": [{"namePattern": "harbor.example.net/*", "threshold": 2,
            "keys": [{"name": "build"}, {"name": "security"}, {"name": "release"}]}]
    }})
}

#[test]
fn threshold_admits_with_n_keys_and_stops_asking_once_they_verified() {
    let host = FakeHost::new()
        .sign(SIGNED_CANONICAL, &key("p256.pub"))
        .sign(SIGNED_CANONICAL, &key("p384.pub"))
        .sign(SIGNED_CANONICAL, &key("rsa2048.pub"));
    let admitted = validate(&host, &pod(&[SIGNED]), &two_of_three());
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(host.verify_calls(), 2, "the third key is not asked");
    let verified: Value =
        serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
    assert_eq!(verified[SIGNED]["key"], "build, security");

    // The first key fails: the other two still make it.
    let host = FakeHost::new()
        .sign(SIGNED_CANONICAL, &key("p384.pub"))
        .sign(SIGNED_CANONICAL, &key("rsa2048.pub"));
    let admitted = validate(&host, &pod(&[SIGNED]), &two_of_three());
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(host.verify_calls(), 3);
}

#[test]
fn threshold_denies_with_the_count_and_stops_when_it_cannot_be_reached() {
    // One of three verifies: all three are asked, the message counts.
    let host = FakeHost::new().sign(SIGNED_CANONICAL, &key("p256.pub"));
    let denied = validate(&host, &pod(&[SIGNED]), &two_of_three());
    assert!(!denied.accepted);
    assert_eq!(host.verify_calls(), 3);
    assert_eq!(
        denied.message.as_deref(),
        Some(
            format!(
                "The image: {SIGNED} is not signed. 1 of the 2 keys that the entry for \
                 \"harbor.example.net/*\" needs verified it (build); \
                 key security: no signature of {SIGNED_CANONICAL} satisfies the constraints; \
                 key release: no signature of {SIGNED_CANONICAL} satisfies the constraints"
            )
            .as_str()
        )
    );

    // The first two fail: two can no longer verify, the third is not asked.
    let host = FakeHost::new().sign(SIGNED_CANONICAL, &key("rsa2048.pub"));
    let denied = validate(&host, &pod(&[SIGNED]), &two_of_three());
    assert!(!denied.accepted);
    assert_eq!(host.verify_calls(), 2);
    let message = denied.message.unwrap();
    assert!(
        message.contains("0 of the 2 keys that the entry for \"harbor.example.net/*\" needs verified it, not asked: release"),
        "{message}"
    );
}

#[test]
fn threshold_one_is_the_scst_any_of_with_its_exact_message() {
    let mut settings = two_of_three();
    settings["verification"]["images"][0]["threshold"] = json!(1);
    let host = FakeHost::new().sign(SIGNED_CANONICAL, &key("p384.pub"));
    assert!(validate(&host, &pod(&[SIGNED]), &settings).accepted);
    assert_eq!(host.verify_calls(), 2);
    let denied = validate(&FakeHost::new(), &pod(&[SIGNED]), &settings);
    assert!(denied
        .message
        .unwrap()
        .starts_with(&format!("The image: {SIGNED} is not signed. key build: ")));
}

#[test]
fn the_threshold_example_needs_two_of_three_for_release_images() {
    let settings = settings_file("threshold.yaml");
    let release = "registry.example.org/release/app:1.0";
    let build_only = FakeHost::new().sign(release, &key("p256.pub"));
    assert!(!validate(&build_only, &pod(&[release]), &settings).accepted);
    let build_and_security = build_only.sign(release, &key("p384.pub"));
    assert!(validate(&build_and_security, &pod(&[release]), &settings).accepted);
    // Development images: the build system's signature is enough.
    let dev = "registry.example.org/dev/app:1.0";
    let other = FakeHost::new().sign(dev, &key("p256.pub"));
    assert!(validate(&other, &pod(&[dev]), &settings).accepted);
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

/// A key rotation: the entry lists the old key first, the image is signed
/// by the new one. The layer's Rekor entry (cosign logs a key's signatures by
/// default) names the key that signed, so the new key is asked first and the
/// old one, which would cost a registry round trip each time, not at all.
/// The host still decides: a layer that names the wrong key only moves the
/// keys, and the answer is the host's.
#[test]
fn the_key_that_signed_is_asked_first_and_the_host_still_decides() {
    let (old, new) = (key("p256.pub"), key("p384.pub"));
    let settings = json!({"verification": {
        "keys": [{"name": "old", "publicKey": old}, {"name": "new", "publicKey": new}],
        "images": [{"namePattern": "registry.example.org/*", "keys": [{"name": "old"}, {"name": "new"}]}]}});
    let image = "registry.example.org/team/app:1";
    let tag = format!(
        "registry.example.org/team/app:{}.sig",
        digest_of(image).replacen(':', "-", 1)
    );
    // A layer as cosign writes it with the key `signer`, logged.
    let layer = |signer: &str, logged_hex: &str| {
        let hex = "ab".repeat(32);
        json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": format!("sha256:{hex}"),
            "annotations": {"dev.cosignproject.cosign/signature": "c2ln",
                "dev.sigstore.cosign/bundle": rekor_bundle(logged_hex, "c2ln", signer)}})
    };
    let logged_by =
        |signer: &str| json!({"schemaVersion": 2, "layers": [layer(signer, &"ab".repeat(32))]});
    let host = FakeHost::new()
        .sign(image, &new)
        .manifest(&tag, logged_by(&new));
    let admitted = validate(&host, &pod(&[image]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(host.verify_calls(), 1, "only the key that signed is asked");
    assert!(annotation(&admitted, "verified-images")
        .unwrap()
        .contains("\"key\":\"new\""));
    assert_eq!(host.manifests_read.borrow().len(), 1);
    assert_eq!(host.digests_read.borrow().len(), 1);

    // The layer names new, the host says old signed: asked in turn, the
    // host's answer stands.
    let host = FakeHost::new()
        .sign(image, &old)
        .manifest(&tag, logged_by(&new));
    let admitted = validate(&host, &pod(&[image]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(host.verify_calls(), 2);
    assert!(annotation(&admitted, "verified-images")
        .unwrap()
        .contains("\"key\":\"old\""));

    // A Rekor entry of another payload names no signer of this layer; no
    // entry, or one naming no key of the entry: the entry's order.
    for manifest in [
        json!({"schemaVersion": 2, "layers": [layer(&new, &"cd".repeat(32))]}),
        json!({"schemaVersion": 2, "layers": [{"digest": format!("sha256:{}", "ab".repeat(32)),
            "annotations": {"dev.cosignproject.cosign/signature": "c2ln"}}]}),
        logged_by(&key("rsa2048.pub")),
    ] {
        let host = FakeHost::new().sign(image, &new).manifest(&tag, manifest);
        assert!(validate(&host, &pod(&[image]), &settings).accepted);
        assert_eq!(host.verify_calls(), 2, "old first, as written");
    }

    // One key, or keys that must all verify: nothing to order, nothing read.
    let host = FakeHost::new().sign(image, &new);
    let mut all = settings.clone();
    all["verification"]["images"][0]["threshold"] = json!(2);
    validate(&host, &pod(&[image]), &all);
    assert!(host.manifests_read.borrow().is_empty());
}
