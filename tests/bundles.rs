//! cosign 3 signature bundles: on a host that cannot verify them (Kubewarden
//! 1.31 to 1.35) the denial says one is there and what to do; on one that
//! verifies keyless ones (1.36 and later, the fake host's `newer`), they are
//! accepted on the host's word only with `acceptKeylessBundles`.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission::validate_settings;
use signed_images_policy::verification::bundles::MAX_INDEX_ENTRIES;

const IMAGE: &str = "registry.example.org/team/app:1";
const EMAIL_ISSUER: &str = "https://oidc.fixtures.test";
const EMAIL: &str = "signer@fixtures.test";

fn signer() -> String {
    format!("{EMAIL_ISSUER}|{EMAIL}")
}

/// Keyless for the email identity, or key p256, on every image of the registry.
fn settings(keyless: bool) -> Value {
    let key = match keyless {
        true => json!({"name": "k", "keyless": {"issuer": EMAIL_ISSUER, "subject": EMAIL}}),
        false => json!({"name": "k", "publicKey": key("p256.pub")}),
    };
    json!({"verification": {"keys": [key],
        "images": [{"namePattern": "registry.example.org/*", "keys": [{"name": "k"}]}]}})
}

fn accepting() -> Value {
    let mut settings = settings(true);
    settings["acceptKeylessBundles"] = json!(true);
    settings
}

/// The `sha256-<hex>` tag of IMAGE's digest.
fn fallback_tag() -> String {
    format!(
        "registry.example.org/team/app:{}",
        digest_of(IMAGE).replacen(':', "-", 1)
    )
}

fn denial(host: &FakeHost, settings: &Value) -> String {
    let response = validate(host, &pod(&[IMAGE]), settings);
    assert!(
        !response.accepted,
        "admitted: {:?}",
        response.mutated_object
    );
    assert_eq!(response.code, Some(403));
    response.message.unwrap()
}

const NOTE: &str = "it carries a cosign 3 signature bundle (tag {tag}), which this host cannot \
    verify: Kubewarden 1.36 and later verify keyless bundles (with acceptKeylessBundles), no host \
    verifies key-signed ones; sign with cosign's --new-bundle-format=false as well";

fn note() -> String {
    let tag = fallback_tag();
    NOTE.replace("{tag}", tag.rsplit(':').next().unwrap())
}

#[test]
fn a_bundle_only_image_is_denied_saying_a_bundle_is_there_and_what_to_do() {
    for (signer, keyless) in [(Some(signer()), true), (None, false)] {
        let host = FakeHost::new().sign_bundle(IMAGE, signer.as_deref());
        assert_eq!(
            denial(&host, &settings(keyless)),
            format!(
                "The image: {IMAGE} is not signed. key k: no signatures found; {}",
                note()
            )
        );
        // One question, then the digest and the fallback tag, once each.
        assert_eq!(host.verify_calls(), 1);
        assert_eq!(*host.digests_read.borrow(), [IMAGE]);
        assert_eq!(*host.manifests_read.borrow(), [fallback_tag()]);
    }
}

/// A fallback tag read is a registry round trip on a new connection: one
/// image per request is read, the first denied for having no signature.
#[test]
fn one_image_s_fallback_tag_is_read_per_request() {
    const OTHER: &str = "registry.example.org/team/other:1";
    let host = FakeHost::new()
        .sign_bundle(IMAGE, None)
        .sign_bundle(OTHER, None);
    let denied = validate(&host, &pod(&[IMAGE, OTHER]), &settings(false));
    let message = denied.message.unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message}");
    assert!(lines[0].ends_with(&note()), "{message}");
    assert_eq!(
        lines[1],
        format!("The image: {OTHER} is not signed. key k: no signatures found")
    );
    assert_eq!(*host.manifests_read.borrow(), [fallback_tag()]);
}

#[test]
fn the_bundle_reads_count_against_the_request_s_limit() {
    let host = FakeHost::new().sign_bundle(IMAGE, None);
    let mut limited = settings(false);
    limited["maxVerificationsPerRequest"] = json!(2);
    // The question and the digest fit; the fallback tag is not read.
    assert_eq!(
        denial(&host, &limited),
        format!("The image: {IMAGE} is not signed. key k: no signatures found")
    );
    assert!(host.manifests_read.borrow().is_empty());
    // A pinned image needs no digest read.
    let pinned = format!("{IMAGE}@{}", digest_of(IMAGE));
    let denied = validate(&host, &pod(&[&pinned]), &limited);
    assert!(denied.message.unwrap().ends_with(&note()));
}

#[test]
fn an_image_with_a_sig_signature_and_a_bundle_decides_on_the_sig() {
    let host = FakeHost::new()
        .sign(IMAGE, &key("p256.pub"))
        .sign_bundle(IMAGE, Some(&signer()));
    let admitted = validate(&host, &pod(&[IMAGE]), &settings(false));
    assert!(admitted.accepted);
    assert!(admitted.warnings.is_none());
    assert!(host.digests_read.borrow().is_empty());
}

/// What is no index of bundles never passes: an error said, or nothing.
#[test]
fn a_forged_fallback_index_is_an_error_or_ignored_never_a_pass() {
    let entry = |artifact_type: &str| {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type, "digest": format!("sha256:{}", "1".repeat(64)), "size": 10})
    };
    let index = |entries: Vec<Value>| {
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries})
    };
    let tag = fallback_tag();
    let tag_name = tag.rsplit(':').next().unwrap();
    let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json";
    for (manifest, said) in [
        (
            json!({"schemaVersion": 2, "config": {}, "layers": []}),
            Some("it is not an image index"),
        ),
        (
            index(vec![entry(bundle); 5000]),
            Some("its index lists 5000 manifests, more than the 64 the policy reads"),
        ),
        (index(vec![entry("application/spdx+json"); 3]), None),
    ] {
        for (host, settings) in [
            (
                FakeHost::new().sign_bundle(IMAGE, Some(&signer())),
                settings(true),
            ),
            (
                FakeHost::new()
                    .newer()
                    .sign_bundle(IMAGE, Some(&signer()))
                    .fallback_tag(IMAGE, manifest.clone()),
                settings(false),
            ),
        ] {
            let host = host.fallback_tag(IMAGE, manifest.clone());
            let message = denial(&host, &settings);
            let plain = format!("The image: {IMAGE} is not signed. key k: no signatures found");
            match said {
                Some(why) => assert_eq!(
                    message,
                    format!("{plain}; its tag {tag_name} is no cosign 3 bundle index ({why})")
                ),
                None => assert_eq!(message, plain),
            }
        }
    }
    assert_eq!(MAX_INDEX_ENTRIES, 64);
}

/// cosign's own fallback index says nothing of its entries (and the host of
/// 1.35 drops their artifactType): the module reads the referrer manifests
/// it lists, at most two, each within the request's limit.
#[test]
fn an_untyped_index_is_told_by_the_referrer_manifests_it_lists() {
    let repository = "registry.example.org/team/app";
    let digest = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
    let untyped = |n: u8| json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(n), "size": 700});
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [untyped(1), untyped(2), untyped(3)]});
    let referrer = |artifact_type: &str| json!({"schemaVersion": 2, "artifactType": artifact_type});
    let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json";
    for (second, third, noted) in [
        (bundle, bundle, true),
        ("application/spdx+json", bundle, false),
    ] {
        let host = FakeHost::new()
            .sign_bundle(IMAGE, None)
            .fallback_tag(IMAGE, index.clone())
            .manifest(
                &format!("{repository}@{}", digest(1)),
                referrer("application/spdx+json"),
            )
            .manifest(&format!("{repository}@{}", digest(2)), referrer(second))
            .manifest(&format!("{repository}@{}", digest(3)), referrer(third));
        let message = denial(&host, &settings(false));
        assert_eq!(message.ends_with(&note()), noted, "{message}");
        assert_eq!(
            host.manifests_read.borrow().len(),
            3,
            "the tag and two referrers"
        );
    }
}

fn entries(response: &ValidationResponse) -> Value {
    serde_json::from_str(annotation(response, "verified-images").unwrap()).unwrap()
}

#[test]
fn on_a_newer_host_the_opt_in_admits_a_keyless_bundle_pinned_recorded_and_warned() {
    let host = FakeHost::new().newer().sign_bundle(IMAGE, Some(&signer()));
    let admitted = validate(&host, &pod(&[IMAGE]), &accepting());
    assert!(admitted.accepted, "{:?}", admitted.message);
    let digest = digest_of(IMAGE);
    assert_eq!(
        entries(&admitted),
        json!({IMAGE: {"digest": digest, "key": "k", "signature": "cosign 3 bundle, on the host's word"}})
    );
    assert_eq!(
        admitted.warnings.clone().unwrap(),
        [format!(
            "{IMAGE}: verified through a cosign 3 signature bundle that the host vouched for and the \
             policy cannot check itself (acceptKeylessBundles: true); pinned to the digest the host verified."
        )]
    );
    let object = admitted.mutated_object.unwrap();
    assert_eq!(
        object["spec"]["containers"][0]["image"],
        json!(format!("{IMAGE}@{digest}"))
    );
}

#[test]
fn on_a_newer_host_without_the_opt_in_the_bundle_is_denied_saying_so() {
    let host = FakeHost::new().newer().sign_bundle(IMAGE, Some(&signer()));
    assert_eq!(
        denial(&host, &settings(true)),
        format!(
            "The image: {IMAGE} is not signed. key k: the host vouched for it with no .sig signature \
             at {} (a cosign 3 bundle, which Kubewarden 1.36 and later verify), which the policy takes \
             on the host's word only with acceptKeylessBundles: true and no annotations required",
            digest_of(IMAGE)
        )
    );
}

#[test]
fn a_key_signed_bundle_is_denied_on_a_newer_host_too() {
    let host = FakeHost::new().newer().sign_bundle(IMAGE, None);
    let mut settings = settings(false);
    settings["acceptKeylessBundles"] = json!(true);
    assert!(denial(&host, &settings).ends_with(&note()));
}

/// A `.sig` signature that is there is proven as without the opt-in: a
/// forgery beside a bundle is never rescued by it.
#[test]
fn a_sig_signature_that_fails_the_proof_is_never_rescued_by_a_bundle() {
    let host = FakeHost::new()
        .newer()
        .sign_keyless(IMAGE, &signer(), &key("keyless-email.crt"), false)
        .sign_bundle(IMAGE, Some(&signer()));
    let message = denial(&host, &accepting());
    assert!(
        message.ends_with("that signs none of them (copied from another signature?)"),
        "{message}"
    );
}

#[test]
fn the_opt_in_never_goes_with_annotations() {
    let mut annotated = accepting();
    annotated["verification"]["images"][0]["annotations"] = json!({"env": "prod"});
    let response = validate_settings(annotated.to_string().as_bytes());
    assert!(!response.valid);
    assert_eq!(
        response.message.unwrap(),
        "acceptKeylessBundles: cannot be set together with signature annotations (the entry for \
         \"registry.example.org/*\" requires them): the host reads no annotations from a cosign 3 \
         bundle, so an image it covers could never pass through one"
    );
    let mut peer = json!({"signatures": [{"image": "registry.example.org/*",
        "keyless": [{"issuer": EMAIL_ISSUER, "subject": EMAIL}], "annotations": {"env": "prod"}}],
        "acceptKeylessBundles": true});
    assert!(!validate_settings(peer.to_string().as_bytes()).valid);
    peer["signatures"][0]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    assert!(validate_settings(peer.to_string().as_bytes()).valid);
}

/// A record made on the host's word counts only while the settings still
/// take it: with the opt-in off, an update carries no such entry.
#[test]
fn a_bundle_entry_is_carried_only_while_the_opt_in_is_on() {
    let key = json!({"recordKey": "a-random-record-key-of-at-least-32-characters"});
    let host = FakeHost::new().newer().sign_bundle(IMAGE, Some(&signer()));
    let mut on = accepting();
    on["outageFallback"] = key.clone();
    let mut off = settings(true);
    off["outageFallback"] = key;
    let req = request("Deployment", IMAGE);
    let created = validate(&host, &req, &on);
    assert!(created.accepted, "{:?}", created.message);
    let object = created.mutated_object.unwrap();
    let mut update = req.clone();
    update["operation"] = json!("UPDATE");
    update["oldObject"] = object.clone();
    update["object"] = object;
    update["object"]["metadata"]["labels"]["tier"] = json!("web");
    for (settings, status) in [(&on, "verified"), (&off, "unchanged-unverified")] {
        let updated = validate(&FakeHost::new(), &update, settings);
        assert!(updated.accepted);
        let stamped = updated
            .mutated_object
            .unwrap_or_else(|| update["object"].clone());
        assert_eq!(
            stamped["metadata"]["annotations"]["image-policy.signing/status"],
            status
        );
    }
}
