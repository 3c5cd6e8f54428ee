//! Keyless answers checked against the signatures (`keyless_proof`), with a
//! fake host that, like the real one, answers keyless questions from the
//! layer's certificate alone and checks signatures only for `certificate`
//! questions. The certificates are the fixtures tool's (test_data/keys).

mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::trust::keys::certificate_identity;
use signed_images_policy::verification::signatures::MAX_SIGNATURE_LAYERS;

const IMAGE: &str = "registry.example.org/team/app:1";
const EMAIL_ISSUER: &str = "https://oidc.fixtures.test";
const EMAIL: &str = "signer@fixtures.test";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str =
    "https://github.com/fixtures-org/app/.github/workflows/release.yml@refs/heads/main";

fn email_cert() -> String {
    key("keyless-email.crt")
}

fn github_cert() -> String {
    key("keyless-github.crt")
}

/// A certificate claiming the email identity, from a CA nobody trusts.
fn self_made_cert() -> String {
    key("keyless-other-ca.crt")
}

fn settings_with(key: Value) -> Value {
    let mut key = key;
    key["name"] = json!("k");
    json!({"verification": {"keys": [key], "images": [{"namePattern": "registry.example.org/*", "keys": [{"name": "k"}]}]}})
}

fn email_key() -> Value {
    settings_with(json!({"keyless": {"issuer": EMAIL_ISSUER, "subject": EMAIL}}))
}

fn email_signer() -> String {
    format!("{EMAIL_ISSUER}|{EMAIL}")
}

fn denial(host: &FakeHost, settings: &Value) -> String {
    let response = validate(host, &pod(&[IMAGE]), settings);
    assert!(!response.accepted, "admitted: {settings}");
    response.message.unwrap()
}

#[test]
fn the_certificates_identity_is_read_as_the_host_reads_it() {
    let email = certificate_identity(&email_cert()).unwrap();
    assert_eq!(email.subject.as_deref(), Some(EMAIL));
    assert_eq!(email.issuer.as_deref(), Some(EMAIL_ISSUER));
    assert_eq!(email.github_repository, None);
    let github = certificate_identity(&github_cert()).unwrap();
    assert_eq!(github.subject.as_deref(), Some(WORKFLOW));
    assert_eq!(github.issuer.as_deref(), Some(GITHUB_ISSUER));
    assert_eq!(
        github.github_repository.as_deref(),
        Some("fixtures-org/app")
    );
    assert!(certificate_identity("junk").is_err());
    assert!(certificate_identity(&key("p256.pub")).is_err());
}

#[test]
fn a_genuine_keyless_signature_is_admitted_after_its_certificate_is_checked() {
    let host = FakeHost::new().sign_keyless(IMAGE, &email_signer(), &email_cert(), true);
    let response = validate(&host, &pod(&[IMAGE, IMAGE]), &email_key());
    assert!(response.accepted, "{:?}", response.message);
    let digest = digest_of(IMAGE);
    let repository = "registry.example.org/team/app";
    assert_eq!(
        *host.manifests_read.borrow(),
        [format!("{repository}:{}.sig", digest.replacen(':', "-", 1))],
        "the .sig manifest is read once"
    );
    assert_eq!(
        host.certificate_questions(),
        [(format!("{repository}@{digest}"), email_cert())],
        "the certificate is asked about once, at the digest the host trusted"
    );
    assert_eq!(host.verify_calls(), 2);
}

#[test]
fn a_copied_certificate_whose_signature_is_not_its_own_is_denied() {
    let host = FakeHost::new().sign_keyless(IMAGE, &email_signer(), &email_cert(), false);
    let message = denial(&host, &email_key());
    assert_eq!(
        message,
        format!(
            "The image: {IMAGE} is not signed. key k: its signatures carry a certificate for \"{EMAIL}\" that \
             signs none of them (copied from another signature?)"
        )
    );
}

#[test]
fn a_copied_certificate_paired_with_a_self_made_one_is_denied() {
    // The host trusts the copied certificate (its signature is never
    // checked); the self-made one's signature is good but no CA vouches for it.
    let host = FakeHost::new()
        .sign_keyless(IMAGE, &email_signer(), &email_cert(), false)
        .sign_keyless(IMAGE, "nobody|trusts", &self_made_cert(), true);
    let message = denial(&host, &email_key());
    assert!(message.contains("signs none of them"), "{message}");
}

#[test]
fn a_trusted_answer_with_no_certificate_claiming_the_identity_is_denied() {
    // The manifest read holds only another identity's certificate.
    let host = FakeHost::new().sign_keyless(IMAGE, &email_signer(), &github_cert(), true);
    let message = denial(&host, &email_key());
    assert!(
        message.contains("no certificate among its signatures claims this identity"),
        "{message}"
    );
    // And one whose layers carry no certificate at all.
    let host = FakeHost::new().sign(IMAGE, &email_signer());
    let message = denial(&host, &email_key());
    assert!(
        message.contains("no certificate among its signatures claims this identity"),
        "{message}"
    );
}

#[test]
fn a_url_prefix_covers_what_the_host_s_prefix_covers() {
    let signer = |prefix: &str| format!("{GITHUB_ISSUER}|{prefix}");
    for (prefix, admitted) in [
        ("https://github.com/fixtures-org", true),
        ("https://github.com/fixtures-org/", true),
        ("https://GitHub.com:443/fixtures-org/app", true),
        // The host adds a `/`: the prefix names a directory, not a string.
        ("https://github.com/fixtures", false),
        (
            "https://github.com/fixtures-org/app/.github/workflows/other.yml",
            false,
        ),
    ] {
        let host = FakeHost::new().sign_keyless(IMAGE, &signer(prefix), &github_cert(), true);
        let settings =
            settings_with(json!({"keyless": {"issuer": GITHUB_ISSUER, "urlPrefix": prefix}}));
        let response = validate(&host, &pod(&[IMAGE]), &settings);
        assert_eq!(
            response.accepted, admitted,
            "{prefix}: {:?}",
            response.message
        );
    }
}

#[test]
fn github_actions_owner_and_repository_are_read_from_the_certificate() {
    for (owner, repo, admitted) in [
        ("fixtures-org", Some("app"), true),
        ("fixtures-org", None, true),
        ("fixtures-org", Some("other"), false),
        ("fixtures", None, false),
    ] {
        let signer = format!("github|{owner}|{}", repo.unwrap_or_default());
        let host = FakeHost::new().sign_keyless(IMAGE, &signer, &github_cert(), true);
        let settings = settings_with(json!({"githubActions": {"owner": owner, "repo": repo}}));
        let response = validate(&host, &pod(&[IMAGE]), &settings);
        assert_eq!(
            response.accepted, admitted,
            "{owner}/{repo:?}: {:?}",
            response.message
        );
    }
}

#[test]
fn an_unreadable_certificate_denies_and_says_so() {
    let host = FakeHost::new().sign_keyless(
        IMAGE,
        &email_signer(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        true,
    );
    let message = denial(&host, &email_key());
    assert!(
        message.contains("cannot read the certificate of one of its signatures"),
        "{message}"
    );
}

#[test]
fn a_signature_manifest_with_too_many_layers_is_not_read() {
    let mut host = FakeHost::new();
    for i in 0..=MAX_SIGNATURE_LAYERS {
        host = host.sign_keyless(IMAGE, &format!("other|{i}"), &email_cert(), true);
    }
    let host = host.sign_keyless(IMAGE, &email_signer(), &email_cert(), true);
    let message = denial(&host, &email_key());
    assert!(
        message.contains("more than the 32 the policy reads"),
        "{message}"
    );
}

#[test]
fn the_checks_count_against_the_verification_limit() {
    let host = FakeHost::new().sign_keyless(IMAGE, &email_signer(), &email_cert(), true);
    let mut settings = email_key();
    // The keyless question, the .sig manifest, the certificate question: three host calls.
    settings["maxVerificationsPerRequest"] = json!(2);
    let response = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("more than 2 signature verifications"));
    settings["maxVerificationsPerRequest"] = json!(3);
    assert!(validate(&host, &pod(&[IMAGE]), &settings).accepted);
}

#[test]
fn public_keys_and_certificates_are_not_checked_again() {
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let settings = settings_with(json!({"publicKey": key("p256.pub")}));
    assert!(validate(&host, &pod(&[IMAGE]), &settings).accepted);
    assert!(host.manifests_read.borrow().is_empty());
    assert_eq!(host.verify_calls(), 1);
}

/// The email identity's entry, requiring `env: prod` on its signatures.
fn email_key_requiring_prod() -> Value {
    let mut settings = email_key();
    settings["verification"]["images"][0]["annotations"] = json!({"env": "prod"});
    settings
}

#[test]
fn required_annotations_count_only_from_a_layer_its_rekor_entry_logged() {
    let prod = [("env", "prod")];
    // Genuinely signed with the annotation: admitted.
    let genuine = FakeHost::new().sign_keyless_with_annotations(
        IMAGE,
        &email_signer(),
        Some(&email_cert()),
        true,
        &prod,
    );
    let response = validate(&genuine, &pod(&[IMAGE]), &email_key_requiring_prod());
    assert!(response.accepted, "{:?}", response.message);
    // Genuinely signed without it, and a layer that carries it beside the
    // same certificate (and a bundle logging the genuine layer), unsigned.
    let forged = FakeHost::new()
        .sign_keyless(IMAGE, &email_signer(), &email_cert(), true)
        .sign_keyless_with_annotations(IMAGE, &email_signer(), Some(&email_cert()), false, &prod);
    assert!(
        denial(&forged, &email_key_requiring_prod()).contains("not the one its Rekor entry logged"),
        "the appended layer is caught"
    );
    // Without required annotations the genuine layer is enough, as before.
    assert!(validate(&forged, &pod(&[IMAGE]), &email_key()).accepted);
}

#[test]
fn a_certificate_key_s_required_annotations_come_from_a_layer_its_key_signed() {
    let prod = [("env", "prod")];
    // signer.crt's key is test_data/keys/p256.pub.
    let certificate = key("signer.crt");
    let mut settings =
        settings_with(json!({"certificate": certificate, "requireRekorBundle": false}));
    settings["verification"]["images"][0]["annotations"] = json!({"env": "prod"});
    // A layer signed by the certificate's key, with the annotation.
    let genuine = FakeHost::new()
        .sign_keyless_with_annotations(IMAGE, &certificate, None, true, &prod)
        .sign_with_annotations(IMAGE, &key("p256.pub"), &prod);
    let response = validate(&genuine, &pod(&[IMAGE]), &settings);
    assert!(response.accepted, "{:?}", response.message);
    // The host's certificate question passes (a signed layer without the
    // annotation, another layer with it), but no layer signed by the key carries it.
    let forged = FakeHost::new()
        .sign_keyless_with_annotations(IMAGE, &certificate, None, true, &prod)
        .sign(IMAGE, &key("p256.pub"));
    assert!(denial(&forged, &settings)
        .contains("no signature made with the certificate's key carries the required annotations"));
    assert_eq!(
        forged.asked_images(),
        [
            IMAGE.to_string(),
            format!("registry.example.org/team/app@{}", digest_of(IMAGE))
        ],
        "one more question, about the digest the certificate's answer named"
    );
}
