//! policy-controller's ClusterImagePolicy (`clusterImagePolicies:`, and every
//! `policy.sigstore.dev` one read from the cluster): globs, all of the
//! matching policies, any one authority each, regular-expression identities,
//! static authorities, warn mode, the no-match policy, and every field the
//! host cannot check refused by name. Also `warn:` for the other shapes.

mod common;

use common::*;
use serde::Deserialize;
use serde_json::{json, Value};
use signed_images_policy::admission::validate_settings;
use std::path::Path;

const IMAGE: &str = "registry.example.org/team/app:1.0";
const OTHER: &str = "quay.example.org/team/app:1.0";
const EMAIL_ISSUER: &str = "https://oidc.fixtures.test";
const EMAIL: &str = "signer@fixtures.test";

/// A ClusterImagePolicy as `kubectl get -o yaml` prints it.
fn policy(name: &str, globs: &[&str], authorities: Value) -> Value {
    json!({
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {
            "name": name,
            "uid": "0e5b7a34-5f0e-4c1b-9a8e-1b2c3d4e5f60",
            "resourceVersion": "4242",
            "generation": 1,
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "spec": {
            "images": globs.iter().map(|g| json!({"glob": g})).collect::<Vec<_>>(),
            "authorities": authorities
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn key_authority(pem_file: &str) -> Value {
    json!([{"name": "team-key", "key": {"data": key(pem_file), "hashAlgorithm": "sha256"}}])
}

/// A change to a policy, for tables of refusals.
type Edit = Box<dyn Fn(&mut Value)>;

fn settings(policies: &[Value]) -> Value {
    json!({"clusterImagePolicies": policies})
}

fn refusal(settings: Value) -> String {
    let response = validate_settings(settings.to_string().as_bytes());
    assert!(!response.valid, "accepted: {settings}");
    response.message.unwrap()
}

fn status(response: &kubewarden_policy_sdk::response::ValidationResponse) -> &str {
    annotation(response, "status").unwrap_or_default()
}

#[test]
fn a_public_key_authority_admits_what_it_signed_and_pins_it() {
    let settings = settings(&[policy(
        "team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    )]);
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let admitted = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(status(&admitted), "verified");
    let verified: Value =
        serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
    assert_eq!(verified[IMAGE]["key"], "team/team-key");
    let pinned = &admitted.mutated_object.unwrap()["spec"]["containers"][0]["image"];
    assert_eq!(pinned, &json!(format!("{IMAGE}@{}", digest_of(IMAGE))));

    let denied = validate(&FakeHost::new(), &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(403));
    let message = denied.message.unwrap();
    assert!(
        message.starts_with(&format!(
            "The image: {IMAGE} is not signed. key team/team-key: "
        )),
        "{message}"
    );
}

#[test]
fn every_matching_policy_must_pass_through_any_one_of_its_authorities() {
    let either = json!([
        {"name": "a", "key": {"data": key("p256.pub")}},
        {"name": "b", "key": {"data": key("p384.pub")}}
    ]);
    let settings = settings(&[
        policy("registry", &["registry.example.org/**"], either),
        policy(
            "team",
            &["registry.example.org/team/*"],
            key_authority("rsa2048.pub"),
        ),
    ]);
    // The second authority of the first policy, and the second policy.
    let host = FakeHost::new()
        .sign(IMAGE, &key("p384.pub"))
        .sign(IMAGE, &key("rsa2048.pub"));
    assert!(validate(&host, &pod(&[IMAGE]), &settings).accepted);
    // The first policy alone is not enough.
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let denied = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted);
    assert!(denied.message.unwrap().contains("key team/team-key: "));
}

/// The same rule written in SCST-Sign's shape (one key per entry, every
/// entry of verify-image-signatures' kind) and policy-controller's decides the
/// same for every signer.
#[test]
fn decides_as_the_same_rule_in_verify_image_signatures_shape() {
    let ours = settings(&[policy(
        "team",
        &["registry.example.org/team/*"],
        key_authority("p256.pub"),
    )]);
    let peer = json!({"signatures": [
        {"image": "registry.example.org/team/*", "pubKeys": [key("p256.pub")]}
    ], "modifyImagesWithDigest": true});
    for signer in ["p256.pub", "p384.pub"] {
        let host = FakeHost::new().sign(IMAGE, &key(signer));
        let a = validate(&host, &pod(&[IMAGE]), &ours);
        let b = validate(&host, &pod(&[IMAGE]), &peer);
        assert_eq!(a.accepted, b.accepted, "signed by {signer}");
        assert_eq!(a.mutated_object.is_some(), b.mutated_object.is_some());
    }
}

#[test]
fn the_same_rule_in_scst_sign_shape_decides_the_same() {
    let ours = settings(&[policy(
        "team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    )]);
    let scst = one_key("registry.example.org/*");
    for (host, image) in [
        (FakeHost::new().sign(IMAGE, &key("p256.pub")), IMAGE),
        (FakeHost::new().sign(IMAGE, &key("p384.pub")), IMAGE),
        (FakeHost::new(), "registry.example.org/a/b/c:2"),
    ] {
        let a = validate(&host, &pod(&[image]), &ours);
        let b = validate(&host, &pod(&[image]), &scst);
        assert_eq!(a.accepted, b.accepted, "{image}");
        assert_eq!(status(&a), status(&b));
    }
}

#[test]
fn globs_match_the_normalised_name() {
    let settings = |glob: &str| settings(&[policy("p", &[glob], key_authority("p256.pub"))]);
    let unsigned = FakeHost::new();
    // Covered (denied, not signed) or not (denied as unmatched): the message says which.
    let covered = |glob: &str, image: &str| {
        let message = validate(&unsigned, &pod(&[image]), &settings(glob))
            .message
            .unwrap();
        message.contains("is not signed")
    };
    assert!(covered("registry.example.org/team/*", IMAGE));
    assert!(
        !covered("registry.example.org/*", IMAGE),
        "`*` stays in its segment"
    );
    assert!(covered("registry.example.org/**", IMAGE));
    assert!(covered("*", "nginx"), "`*` is index.docker.io/library/*");
    assert!(covered("*", "docker.io/library/nginx:1.27"));
    assert!(!covered("*", "bitnami/nginx"));
    assert!(covered("*/*", "bitnami/nginx"));
    assert!(covered("index.docker.io/library/nginx:1.*", "nginx:1.27"));
    assert!(
        !covered("index.docker.io/library/nginx:1.*", "nginx"),
        "no tag is latest"
    );
    // A respelling is the same image.
    assert!(covered(
        "registry.example.org/team/*",
        "REGISTRY.example.org:443/team/app:1.0"
    ));
    assert!(covered(
        "index.docker.io/**",
        "registry-1.docker.io/library/nginx"
    ));
}

#[test]
fn a_glob_spelled_as_no_normalised_name_is_refused() {
    for glob in [
        "docker.io/library/*",
        "REGISTRY.example.org/**",
        "registry.example.org:443/**",
    ] {
        let message = refusal(settings(&[policy("p", &[glob], key_authority("p256.pub"))]));
        assert!(
            message.starts_with("clusterImagePolicies[0].spec.images[0].glob: glob "),
            "{message}"
        );
        assert!(message.contains("would never match"), "{message}");
    }
    let message = refusal(settings(&[policy(
        "p",
        &["[a-z]*"],
        key_authority("p256.pub"),
    )]));
    assert!(message.contains("is invalid"), "{message}");
}

fn keyless(identities: Value) -> Value {
    json!([{"name": "ci", "keyless": {"url": "https://fulcio.sigstore.dev", "identities": identities}}])
}

fn email_signed_host() -> FakeHost {
    FakeHost::new().sign_keyless(
        IMAGE,
        &format!("{EMAIL_ISSUER}|{EMAIL}"),
        &key("keyless-email.crt"),
        true,
    )
}

#[test]
fn an_exact_keyless_identity_is_the_hosts_own_question() {
    let settings = settings(&[policy(
        "ci",
        &["registry.example.org/**"],
        keyless(json!([{"issuer": EMAIL_ISSUER, "subject": EMAIL}])),
    )]);
    let host = email_signed_host();
    let admitted = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert!(host.digests_read.borrow().is_empty(), "no digest is needed");
}

#[test]
fn regular_expression_identities_are_read_from_the_signatures_then_asked_exactly() {
    let settings = |issuer: &str, subject: &str| {
        settings(&[policy(
            "ci",
            &["registry.example.org/**"],
            keyless(json!([{"issuerRegExp": issuer, "subjectRegExp": subject}])),
        )])
    };
    let host = email_signed_host();
    let admitted = validate(
        &host,
        &pod(&[IMAGE]),
        &settings(r"^https://oidc\.fixtures\.test$", r"@fixtures\.test$"),
    );
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(*host.digests_read.borrow(), vec![IMAGE.to_string()]);
    // The host was asked about the identity the certificate claims, exactly,
    // at the digest whose signatures were read.
    let keyless_question = host
        .questions
        .borrow()
        .iter()
        .find(|q| q.get("keyless").is_some())
        .cloned()
        .unwrap();
    assert_eq!(keyless_question["keyless"][0]["subject"], EMAIL);
    assert_eq!(keyless_question["keyless"][0]["issuer"], EMAIL_ISSUER);
    assert_eq!(
        keyless_question["image"],
        format!("registry.example.org/team/app@{}", digest_of(IMAGE))
    );

    // Unanchored, as cosign matches: `fixtures` is found inside the subject.
    assert!(
        validate(
            &email_signed_host(),
            &pod(&[IMAGE]),
            &settings(".*", "fixtures")
        )
        .accepted
    );

    let host = email_signed_host();
    let denied = validate(&host, &pod(&[IMAGE]), &settings(".*", r"^someone@"));
    assert!(!denied.accepted);
    let message = denied.message.unwrap();
    assert!(
        message.contains(r#"no certificate among its signatures claims an identity with issuer ~ /.*/ and subject ~ /^someone@/"#),
        "{message}"
    );
    assert!(
        host.questions
            .borrow()
            .iter()
            .all(|q| q.get("keyless").is_none()),
        "no identity matched, so none was asked about"
    );
}

#[test]
fn a_regular_expression_identity_from_a_copied_certificate_is_denied() {
    // The certificate claims the identity, but did not make the signature.
    let host = FakeHost::new().sign_keyless(
        IMAGE,
        &format!("{EMAIL_ISSUER}|{EMAIL}"),
        &key("keyless-email.crt"),
        false,
    );
    let settings = settings(&[policy(
        "ci",
        &["registry.example.org/**"],
        keyless(json!([{"issuer": EMAIL_ISSUER, "subjectRegExp": "fixtures"}])),
    )]);
    let denied = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted);
    assert!(denied.message.unwrap().contains("signs none of them"));
}

#[test]
fn static_authorities_pass_unasked_or_fail_with_their_message() {
    let pass = settings(&[policy(
        "system",
        &["registry.example.org/**"],
        json!([{"static": {"action": "pass"}}]),
    )]);
    let host = FakeHost::new();
    let admitted = validate(&host, &pod(&[IMAGE]), &pass);
    assert!(admitted.accepted);
    assert_eq!(status(&admitted), "static-allowed");
    assert_eq!(host.verify_calls(), 0);
    let object = admitted.mutated_object.unwrap();
    assert_eq!(
        object["spec"]["containers"][0]["image"], IMAGE,
        "nothing verified, nothing pinned"
    );

    let fail = settings(&[policy(
        "blocked",
        &["registry.example.org/**"],
        json!([{"name": "no", "static": {"action": "fail", "message": "use the internal mirror"}}]),
    )]);
    let denied = validate(&host, &pod(&[IMAGE]), &fail);
    assert!(!denied.accepted);
    assert_eq!(
        denied.message.unwrap(),
        format!("The image: {IMAGE} is not signed. disallowed by static policy: blocked/no: use the internal mirror")
    );
    // A static pass does not excuse another policy that also matches.
    let both = settings(&[
        policy(
            "system",
            &["registry.example.org/**"],
            json!([{"static": {"action": "pass"}}]),
        ),
        policy(
            "team",
            &["registry.example.org/team/*"],
            key_authority("p256.pub"),
        ),
    ]);
    assert!(!validate(&FakeHost::new(), &pod(&[IMAGE]), &both).accepted);
}

#[test]
fn warn_mode_admits_with_a_warning_and_pins_nothing() {
    let mut warned = policy(
        "new-team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    );
    warned["spec"]["mode"] = json!("warn");
    let settings = settings(&[warned]);
    let admitted = validate(&FakeHost::new(), &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted);
    assert_eq!(status(&admitted), "admitted-on-warning");
    let warnings = admitted.warnings.clone().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with(&format!(
            "Admitted on a warning (mode: warn): The image: {IMAGE} is not signed. key new-team/team-key: "
        )),
        "{warnings:?}"
    );
    let object = admitted.mutated_object.unwrap();
    assert_eq!(object["spec"]["containers"][0]["image"], IMAGE);
    // Signed, it is verified and pinned as under enforce.
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let verified = validate(&host, &pod(&[IMAGE]), &settings);
    assert_eq!(status(&verified), "verified");
    assert!(verified.warnings.is_none());
}

#[test]
fn an_enforced_policy_that_fails_denies_whatever_warn_mode_policies_say() {
    let mut warned = policy(
        "warned",
        &["registry.example.org/**"],
        key_authority("p384.pub"),
    );
    warned["spec"]["mode"] = json!("warn");
    let enforced = policy(
        "enforced",
        &["registry.example.org/team/*"],
        key_authority("p256.pub"),
    );
    let settings = settings(&[warned, enforced]);
    assert!(!validate(&FakeHost::new(), &pod(&[IMAGE]), &settings).accepted);
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    let admitted = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted);
    assert_eq!(status(&admitted), "admitted-on-warning");
}

/// A warn-mode policy that fails an image an enforced one verified costs the
/// enforced verification nothing: the image is pinned to the digest it
/// verified and recorded, with the warn-mode failure as a warning. Without
/// the pin, whoever moves the tag later would run an unsigned image.
#[test]
fn a_warn_mode_failure_keeps_the_pin_and_record_an_enforced_policy_earned() {
    let enforced = policy(
        "enforced",
        &["registry.example.org/team/*"],
        key_authority("p256.pub"),
    );
    let mut warned = policy(
        "rollout",
        &["registry.example.org/**"],
        key_authority("p384.pub"),
    );
    warned["spec"]["mode"] = json!("warn");
    let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
    for settings in [
        settings(&[enforced.clone(), warned.clone()]),
        settings(&[warned, enforced]),
    ] {
        let admitted = validate(&host, &pod(&[IMAGE]), &settings);
        assert!(admitted.accepted, "{:?}", admitted.message);
        assert_eq!(status(&admitted), "admitted-on-warning");
        let warnings = admitted.warnings.clone().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(&format!(
                "Admitted on a warning (mode: warn): The image: {IMAGE} is not signed. key rollout/team-key: "
            )),
            "{warnings:?}"
        );
        let verified: Value =
            serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
        assert_eq!(verified[IMAGE]["digest"], json!(digest_of(IMAGE)));
        assert_eq!(verified[IMAGE]["key"], "enforced/team-key");
        let object = admitted.mutated_object.unwrap();
        assert_eq!(
            object["spec"]["containers"][0]["image"],
            json!(format!("{IMAGE}@{}", digest_of(IMAGE)))
        );
    }
}

#[test]
fn the_no_match_policy_denies_warns_or_allows() {
    let base = || {
        settings(&[policy(
            "team",
            &["registry.example.org/**"],
            key_authority("p256.pub"),
        )])
    };
    let denied = validate(&FakeHost::new(), &pod(&[OTHER]), &base());
    assert!(!denied.accepted);
    assert_eq!(
        denied.message.unwrap(),
        format!("Could not verify against any image policies for container image: {OTHER}.")
    );
    let mut warn = base();
    warn["noMatchPolicy"] = json!("warn");
    let warned = validate(&FakeHost::new(), &pod(&[OTHER]), &warn);
    assert!(warned.accepted);
    assert_eq!(
        warned.warnings.unwrap(),
        vec![format!(
            "{OTHER} matches no ClusterImagePolicy; admitted (noMatchPolicy: warn)."
        )]
    );
    let mut allow = base();
    allow["noMatchPolicy"] = json!("allow");
    let allowed = validate(&FakeHost::new(), &pod(&[OTHER]), &allow);
    assert!(allowed.accepted);
    assert!(allowed.warnings.is_none());
    assert!(
        allowed.mutated_object.is_none(),
        "nothing checked, nothing recorded"
    );

    let mut wrong = base();
    wrong["noMatchPolicy"] = json!("permit");
    assert!(refusal(wrong).starts_with("noMatchPolicy: \"permit\" is not one of deny, warn, allow"));
    let mut scst_only = base();
    scst_only["allowUnmatchedImages"] = json!(true);
    assert!(refusal(scst_only).starts_with("allowUnmatchedImages: goes with SCST-Sign's rules"));
    let mut with_scst = one_key("*");
    with_scst["noMatchPolicy"] = json!("allow");
    assert!(refusal(with_scst).starts_with("noMatchPolicy: goes with policy-controller's"));
}

/// Each field the host cannot check, and the path its refusal names.
#[test]
fn every_field_the_host_cannot_check_is_refused_by_name() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut p = policy("p", &["registry.example.org/**"], key_authority("p256.pub"));
        edit(&mut p);
        refusal(settings(&[p]))
    };
    let authority = "clusterImagePolicies[0].spec.authorities[0]";
    let cases: Vec<(String, Edit)> = vec![
        (
            "clusterImagePolicies[0].spec.policy".into(),
            Box::new(|p| p["spec"]["policy"] = json!({"type": "cue", "data": "x"})),
        ),
        (
            "clusterImagePolicies[0].spec.match".into(),
            Box::new(|p| p["spec"]["match"] = json!([{"resource": "pods", "version": "v1"}])),
        ),
        (
            format!("{authority}.attestations"),
            Box::new(|p| {
                p["spec"]["authorities"][0]["attestations"] =
                    json!([{"name": "a", "predicateType": "slsaprovenance"}])
            }),
        ),
        (
            format!("{authority}.source"),
            Box::new(|p| {
                p["spec"]["authorities"][0]["source"] =
                    json!([{"oci": "registry.example.org/sigs"}])
            }),
        ),
        (
            format!("{authority}.rfc3161timestamp"),
            Box::new(|p| {
                p["spec"]["authorities"][0]["rfc3161timestamp"] = json!({"trustRootRef": "x"})
            }),
        ),
        (
            format!("{authority}.signatureFormat"),
            Box::new(|p| p["spec"]["authorities"][0]["signatureFormat"] = json!("bundle")),
        ),
        // On a key authority, ctlog asks for a log entry the host never
        // checks: refused whole, even at the public-good default.
        (
            format!("{authority}.ctlog"),
            Box::new(|p| p["spec"]["authorities"][0]["ctlog"] = json!({})),
        ),
        (
            format!("{authority}.ctlog"),
            Box::new(|p| {
                p["spec"]["authorities"][0]["ctlog"] = json!({"url": "https://rekor.sigstore.dev"})
            }),
        ),
        (
            format!("{authority}.ctlog"),
            Box::new(|p| {
                p["spec"]["authorities"][0]["ctlog"] = json!({"url": "https://rekor.internal"})
            }),
        ),
        // On a keyless one the host checks its own log: only another is refused.
        (
            format!("{authority}.ctlog.url"),
            Box::new(|p| {
                p["spec"]["authorities"][0] = json!({"keyless": {"identities": [{"issuer": "https://i", "subject": "s"}]},
                    "ctlog": {"url": "https://rekor.internal"}})
            }),
        ),
        (
            format!("{authority}.ctlog.trustRootRef"),
            Box::new(|p| {
                p["spec"]["authorities"][0] = json!({"keyless": {"identities": [{"issuer": "https://i", "subject": "s"}]},
                    "ctlog": {"trustRootRef": "mine"}})
            }),
        ),
        (
            format!("{authority}.key.kms"),
            Box::new(|p| p["spec"]["authorities"][0]["key"] = json!({"kms": "awskms:///alias/x"})),
        ),
        (
            format!("{authority}.key.secretRef"),
            Box::new(|p| p["spec"]["authorities"][0]["key"] = json!({"secretRef": {"name": "k"}})),
        ),
        (
            format!("{authority}.key.hashAlgorithm"),
            Box::new(|p| p["spec"]["authorities"][0]["key"]["hashAlgorithm"] = json!("sha512")),
        ),
        (
            format!("{authority}.keyless.url"),
            Box::new(
                |p| p["spec"]["authorities"][0] = json!({"keyless": {"url": "https://fulcio.internal", "identities": [{"issuer": "https://i", "subject": "s"}]}}),
            ),
        ),
        (
            format!("{authority}.keyless.ca-cert"),
            Box::new(
                |p| p["spec"]["authorities"][0] = json!({"keyless": {"ca-cert": {"data": "x"}, "identities": [{"issuer": "https://i", "subject": "s"}]}}),
            ),
        ),
        (
            format!("{authority}.keyless.trustRootRef"),
            Box::new(
                |p| p["spec"]["authorities"][0] = json!({"keyless": {"trustRootRef": "mine", "identities": [{"issuer": "https://i", "subject": "s"}]}}),
            ),
        ),
        (
            format!("{authority}.keyless.insecureIgnoreSCT"),
            Box::new(
                |p| p["spec"]["authorities"][0] = json!({"keyless": {"insecureIgnoreSCT": true, "identities": [{"issuer": "https://i", "subject": "s"}]}}),
            ),
        ),
    ];
    for (path, edit) in cases {
        let message = with(edit.as_ref());
        assert!(
            message.starts_with(&format!("{path}: is not supported: ")),
            "{path}: {message}"
        );
    }
}

#[test]
fn malformed_policies_are_refused_with_the_path() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut p = policy("p", &["registry.example.org/**"], key_authority("p256.pub"));
        edit(&mut p);
        refusal(settings(&[p]))
    };
    let cases: Vec<(&str, Edit)> = vec![
        ("clusterImagePolicies[0].apiVersion: \"policy.sigstore.dev/v1\" is not one of", Box::new(|p| p["apiVersion"] = json!("policy.sigstore.dev/v1"))),
        ("clusterImagePolicies[0].spec.mode: \"audit\" is not one of enforce, warn", Box::new(|p| p["spec"]["mode"] = json!("audit"))),
        ("clusterImagePolicies[0].spec.images: must list at least one", Box::new(|p| p["spec"]["images"] = json!([]))),
        ("clusterImagePolicies[0].spec.authorities: must list at least one", Box::new(|p| p["spec"]["authorities"] = json!([]))),
        ("clusterImagePolicies[0].spec.authorities[0]: exactly one of key, keyless, static must be set", Box::new(|p| p["spec"]["authorities"][0]["static"] = json!({"action": "pass"}))),
        ("clusterImagePolicies[0].spec.authorities[0].static.action: \"allow\" is not one of pass, fail", Box::new(|p| p["spec"]["authorities"][0] = json!({"static": {"action": "allow"}}))),
        ("clusterImagePolicies[0].spec.authorities[0].key.data: ", Box::new(|p| p["spec"]["authorities"][0]["key"]["data"] = json!("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))),
        ("clusterImagePolicies[0].spec.authorities[0].keyless.identities[0]: exactly one of subject, subjectRegExp must be set", Box::new(|p| p["spec"]["authorities"][0] = json!({"keyless": {"identities": [{"issuer": "https://i"}]}}))),
        ("clusterImagePolicies[0].spec.authorities[0].keyless.identities[0].subjectRegExp: ", Box::new(|p| p["spec"]["authorities"][0] = json!({"keyless": {"identities": [{"issuer": "https://i", "subjectRegExp": "(unclosed"}]}}))),
        ("clusterImagePolicies[0].spec.authorities[0].keyless.identities: must list at least one", Box::new(|p| p["spec"]["authorities"][0] = json!({"keyless": {"identities": []}}))),
        ("clusterImagePolicies[0].spec.imagez: unknown field `imagez`", Box::new(|p| p["spec"]["imagez"] = json!([]))),
    ];
    for (expected, edit) in cases {
        let message = with(edit.as_ref());
        assert!(message.starts_with(expected), "{expected}\n{message}");
    }
    let twice = policy("p", &["registry.example.org/**"], key_authority("p256.pub"));
    let message = refusal(settings(&[twice.clone(), twice]));
    assert_eq!(
        message,
        "clusterImagePolicies[1].metadata.name: ClusterImagePolicy \"p\" is listed twice"
    );
    let message = refusal(json!({"clusterImagePolicies": [], "verification": {}}));
    assert!(message.starts_with("clusterImagePolicies: cannot be set together with verification"));
}

fn cluster_mode(api_version: &str) -> Value {
    json!({"clusterImagePolicy": true, "clusterImagePolicyApiVersion": api_version})
}

#[test]
fn cluster_mode_reads_every_policy_controller_policy_and_refuses_only_what_a_bad_one_covers() {
    let mut bad = policy("kms", &["quay.example.org/**"], key_authority("p256.pub"));
    bad["spec"]["authorities"][0]["key"] = json!({"kms": "gcpkms://k"});
    let host = FakeHost::new()
        .sign(IMAGE, &key("p256.pub"))
        .with_resource(policy(
            "team",
            &["registry.example.org/**"],
            key_authority("p256.pub"),
        ))
        .with_resource(bad);
    let settings = cluster_mode("policy.sigstore.dev/v1beta1");
    let admitted = validate(&host, &pod(&[IMAGE]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    let denied = validate(&host, &pod(&[OTHER]), &settings);
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(500));
    let message = denied.message.unwrap();
    assert!(
        message.starts_with(&format!(
            "The image: {OTHER} cannot be checked: ClusterImagePolicy \"kms\" asks for what this policy cannot check"
        )),
        "{message}"
    );
    assert!(
        message.contains("spec.authorities[0].key.kms: is not supported"),
        "{message}"
    );
}

/// The host lists the cluster's ClusterImagePolicies in no stable order
/// (a cache, rebuilt on every restart and in every replica): the rules'
/// fingerprint, which records are checked against, does not follow it, nor
/// do the messages. Pasted, in any order, they are the same rules.
#[test]
fn the_rules_do_not_depend_on_the_order_the_policies_are_listed_in() {
    let team = policy(
        "team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    );
    let mut other = policy("other", &["**"], key_authority("p384.pub"));
    other["spec"]["mode"] = json!("warn");
    let host = |policies: [&Value; 2]| {
        policies
            .into_iter()
            .fold(FakeHost::new().sign(IMAGE, &key("p256.pub")), |host, p| {
                host.with_resource(p.clone())
            })
    };
    // The fingerprint is written on a sealed record, so with a record key.
    let keyed = |mut settings: Value| {
        settings["outageFallback"] = json!({"recordKey": "r".repeat(32)});
        settings
    };
    let settings = keyed(cluster_mode("policy.sigstore.dev/v1beta1"));
    let one = validate(&host([&team, &other]), &pod(&[IMAGE]), &settings);
    let two = validate(&host([&other, &team]), &pod(&[IMAGE]), &settings);
    assert!(annotation(&one, "rules").is_some());
    assert!(one.accepted, "{:?}", one.message);
    assert_eq!(annotation(&one, "rules"), annotation(&two, "rules"));
    assert_eq!(one.warnings, two.warnings);
    for pasted in [
        keyed(self::settings(&[team.clone(), other.clone()])),
        keyed(self::settings(&[other.clone(), team.clone()])),
    ] {
        let admitted = validate(&host([&team, &other]), &pod(&[IMAGE]), &pasted);
        assert_eq!(annotation(&admitted, "rules"), annotation(&one, "rules"));
    }
}

/// No ClusterImagePolicy at all is not "no policy": as in policy-controller,
/// every image is then decided by the no-match policy, deny by default.
#[test]
fn cluster_mode_with_no_policy_controller_policy_applies_the_no_match_policy() {
    let mut settings = cluster_mode("policy.sigstore.dev/v1beta1");
    let denied = validate(&FakeHost::new(), &pod(&[IMAGE]), &settings);
    assert!(!denied.accepted);
    assert_eq!(
        denied.message.unwrap(),
        format!("Could not verify against any image policies for container image: {IMAGE}.")
    );
    settings["noMatchPolicy"] = json!("allow");
    let allowed = validate(&FakeHost::new(), &pod(&[IMAGE]), &settings);
    assert!(allowed.accepted);
    assert!(
        allowed.mutated_object.is_none(),
        "nothing checked, nothing recorded"
    );
}

#[test]
fn cluster_mode_reads_only_the_api_version_it_names() {
    let host = FakeHost::new().with_resource(policy(
        "team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    ));
    let v1alpha1 = validate(
        &host,
        &pod(&[IMAGE]),
        &cluster_mode("policy.sigstore.dev/v1alpha1"),
    );
    assert_eq!(
        v1alpha1.message.unwrap(),
        format!("Could not verify against any image policies for container image: {IMAGE}."),
        "the v1beta1 policy is not read"
    );
    assert_eq!(*host.list_calls.borrow(), 1);
    let message = refusal(cluster_mode("policy.sigstore.dev/v2"));
    assert!(message
        .starts_with("clusterImagePolicyApiVersion: \"policy.sigstore.dev/v2\" is not one of"));
    let message = refusal(json!({"clusterImagePolicyApiVersion": "policy.sigstore.dev/v1beta1"}));
    assert_eq!(
        message,
        "clusterImagePolicyApiVersion: goes with clusterImagePolicy: true"
    );
}

#[test]
fn scst_signs_earlier_group_is_read_as_the_same_schema() {
    let mut resource =
        yaml_to_json(&std::fs::read_to_string("crds/example-image-policy.yaml").unwrap());
    resource["apiVersion"] = json!("signing.run.tanzu.vmware.com/v1alpha1");
    let host = FakeHost::new().with_resource(resource.clone());
    let earlier = validate(
        &host,
        &pod(&[UNSIGNED]),
        &cluster_mode("signing.run.tanzu.vmware.com/v1alpha1"),
    );
    let mut current_resource = resource;
    current_resource["apiVersion"] = json!("signing.apps.tanzu.vmware.com/v1beta1");
    let host = FakeHost::new().with_resource(current_resource);
    let current = validate(
        &host,
        &pod(&[UNSIGNED]),
        &json!({"clusterImagePolicy": true}),
    );
    assert_eq!(earlier.accepted, current.accepted);
    assert_eq!(earlier.message, current.message);
    assert_ne!(
        status(&earlier),
        "no-policy",
        "the earlier group's policy was read"
    );
    // Without it, SCST-Sign's warning names the group it was looked for in.
    let missing = validate(
        &FakeHost::new(),
        &pod(&[UNSIGNED]),
        &cluster_mode("signing.run.tanzu.vmware.com/v1alpha1"),
    );
    assert_eq!(
        missing.warnings.unwrap(),
        vec!["clusterimagepolicies.signing.run.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied."]
    );
}

#[test]
fn a_pasted_policy_changes_the_fingerprint_when_its_rules_change_and_not_otherwise() {
    // The fingerprint is written on a sealed record, so with a record key.
    let fingerprint = |settings: &Value| {
        let mut settings = settings.clone();
        settings["outageFallback"] = json!({"recordKey": "r".repeat(32)});
        let host = FakeHost::new().sign(IMAGE, &key("p256.pub"));
        let response = validate(&host, &pod(&[IMAGE]), &settings);
        annotation(&response, "rules").unwrap().to_string()
    };
    let base = policy(
        "team",
        &["registry.example.org/**"],
        key_authority("p256.pub"),
    );
    let mut relabelled = base.clone();
    relabelled["metadata"]["resourceVersion"] = json!("9999");
    relabelled["status"] = json!({});
    let mut warned = base.clone();
    warned["spec"]["mode"] = json!("warn");
    let first = fingerprint(&settings(&[base]));
    assert_eq!(first, fingerprint(&settings(&[relabelled])));
    assert_ne!(first, fingerprint(&settings(&[warned])));
}

/// The YAML documents of a text, as JSON.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            let value = serde_yaml::Value::deserialize(document).unwrap();
            serde_json::to_value(value).unwrap()
        })
        .collect()
}

/// One of policy-controller's own policies, kept as data outside the project
/// (`../shared/reference/policy-controller/`).
fn upstream(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/policy-controller")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("policy-controller's policy {}: {e}", path.display()));
    documents(&text)
}

/// policy-controller's own examples and end-to-end policies: each loads
/// unchanged, or is refused with the field that asks for what the host
/// cannot check.
#[test]
fn policy_controllers_documented_policies_load_or_are_refused_by_name() {
    for (file, refused) in [
        ("signed-by-github-actions.yaml", None),
        ("release-signed-by-github-actions.yaml", None),
        ("cip-key.yaml", Some("spec.authorities[0].ctlog")),
        (
            "cip-key-and-keyless.yaml",
            Some("spec.authorities[0].ctlog"),
        ),
        ("allow-only-pods.yaml", Some("spec.policy")),
        // A KMS key with a log: both refused, the log first.
        (
            "signed-by-aws-kms-key.yaml",
            Some("spec.authorities[0].ctlog"),
        ),
        // In-cluster Fulcio and Rekor: the first named is the log's.
        (
            "cip-keyless-warn.yaml",
            Some("spec.authorities[0].ctlog.url"),
        ),
        (
            "cip-keyless-with-identities.yaml",
            Some("spec.authorities[0].ctlog.url"),
        ),
        (
            "cip-key-with-attestations.yaml",
            Some("spec.authorities[0].attestations"),
        ),
    ] {
        let response = validate_settings(settings(&upstream(file)).to_string().as_bytes());
        match refused {
            None => assert!(response.valid, "{file}: {:?}", response.message),
            Some(field) => {
                let message = response.message.unwrap_or_default();
                assert!(
                    message.starts_with(&format!(
                        "clusterImagePolicies[0].{field}: is not supported"
                    )),
                    "{file}: {message}"
                );
            }
        }
    }
}

/// The example SCST-Sign policy as a migration to policy-controller writes
/// it (`test_data/settings/tap-migration.yaml`).
#[test]
fn the_migrated_policies_decide_as_policy_controller_would() {
    let settings = settings_file("tap-migration.yaml");
    let signed = "harbor.example.net/storefront/checkout:3.1";
    let host = FakeHost::new().sign(signed, &key("p256.pub"));
    assert!(validate(&host, &pod(&[signed]), &settings).accepted);
    let denied = validate(
        &host,
        &pod(&["harbor.example.net/storefront/other:3.1"]),
        &settings,
    );
    assert!(denied
        .message
        .unwrap()
        .contains("key storefront/storefront-release: "));
    // Deeper than one segment: no glob covers it, so no-match (deny) decides.
    let deeper = "harbor.example.net/storefront/team/app:3.1";
    let denied = validate(&host, &pod(&[deeper]), &settings);
    assert_eq!(
        denied.message.unwrap(),
        format!("Could not verify against any image policies for container image: {deeper}.")
    );
    let platform = "harbor.example.net/platform/ingress/controller:1.12";
    let admitted = validate(&FakeHost::new(), &pod(&[platform]), &settings);
    assert_eq!(status(&admitted), "static-allowed");
}

/// One refusal names every mistake of every pasted ClusterImagePolicy.
#[test]
fn every_mistake_of_pasted_policies_is_named_at_once() {
    let mut first = policy(
        "p",
        &["registry.example.org/**", "[bad"],
        json!([
            {"key": {"kms": "awskms:///alias/x", "hashAlgorithm": "sha512"}, "ctlog": {"url": "https://rekor.internal", "trustRootRef": "mine"}},
            {"keyless": {"identities": [{"issuerRegExp": "(unclosed", "subject": "s"}, {"issuer": "https://i"}]}},
            {"static": {"action": "allow"}}
        ]),
    );
    first["spec"]["mode"] = json!("audit");
    let mut second = policy("p", &[], json!([]));
    second["apiVersion"] = json!("policy.sigstore.dev/v1");
    let response = validate_settings(
        json!({"clusterImagePolicies": [first, second], "allowUnmatchedImages": true})
            .to_string()
            .as_bytes(),
    );
    assert!(!response.valid);
    let message = response.message.unwrap();
    let at = "clusterImagePolicies[0]";
    let authority = format!("{at}.spec.authorities");
    let expected = [
        format!("{at}.spec.mode: \"audit\" is not one of enforce, warn"),
        format!("{at}.spec.images[1].glob: "),
        format!("{authority}[0].ctlog: is not supported"),
        format!("{authority}[0].key.kms: is not supported"),
        format!("{authority}[0].key.hashAlgorithm: is not supported"),
        format!("{authority}[1].keyless.identities[0].issuerRegExp: "),
        format!("{authority}[1].keyless.identities[1]: exactly one of subject, subjectRegExp"),
        format!("{authority}[2].static.action: \"allow\" is not one of pass, fail"),
        "clusterImagePolicies[1].metadata.name: ClusterImagePolicy \"p\" is listed twice".into(),
    ];
    assert!(message.starts_with(&expected[0]), "{message}");
    let mut rest = message.as_str();
    for mistake in &expected {
        let found = rest
            .find(mistake.as_str())
            .unwrap_or_else(|| panic!("{mistake:?} (in order) in {message}"));
        rest = &rest[found + mistake.len()..];
    }
    // The key whose place is refused is not also missing its data.
    assert!(!message.contains(".key.data"), "{message}");
    assert!(message.ends_with("; ... and 3 more"), "{message}");
    // The rest: the second policy's apiVersion, images, authorities, and
    // allowUnmatchedImages, which goes with SCST-Sign's rules.
    let all = signed_images_policy::settings::parse_settings(
        &json!({"clusterImagePolicies": [
            policy("q", &[], json!([])),
        ], "allowUnmatchedImages": true})
        .to_string(),
    )
    .unwrap_err();
    let paths: Vec<&str> = all.mistakes().iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "clusterImagePolicies[0].spec.images",
            "clusterImagePolicies[0].spec.authorities",
            "allowUnmatchedImages"
        ]
    );
}

/// A policy read from the cluster that cannot be applied refuses what it
/// covers with every one of its mistakes, and only its own.
#[test]
fn a_bad_policy_in_the_cluster_names_all_its_mistakes() {
    let mut bad = policy(
        "bad",
        &["quay.example.org/**"],
        json!([
            {"key": {"kms": "gcpkms://k"}},
            {"keyless": {"url": "https://fulcio.internal", "identities": []}}
        ]),
    );
    bad["spec"]["mode"] = json!("audit");
    let mut other = policy(
        "other",
        &["registry.example.org/**"],
        json!([{"source": [{"oci": "x"}], "key": {"data": key("p256.pub")}}]),
    );
    other["spec"]["match"] = json!([]);
    let host = FakeHost::new().with_resource(bad).with_resource(other);
    let settings = cluster_mode("policy.sigstore.dev/v1beta1");
    let message = validate(&host, &pod(&[OTHER]), &settings).message.unwrap();
    let reason = message
        .split_once("is fixed: ")
        .map(|(_, reason)| reason)
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(
        reason,
        "spec.mode: \"audit\" is not one of enforce, warn; \
         spec.authorities[0].key.kms: is not supported: the host cannot reach a KMS: write the public key in key.data; \
         spec.authorities[1].keyless.url: is not supported: the host verifies certificates and transparency-log \
         entries against its own sigstore trust root (the policy-server's), not one a policy names; leave the field \
         out (or write the public-good default) and configure the host's trust root; \
         spec.authorities[1].keyless.identities: must list at least one"
    );
    let message = validate(&host, &pod(&[IMAGE]), &settings).message.unwrap();
    assert!(
        message.contains("ClusterImagePolicy \"other\""),
        "{message}"
    );
    assert!(
        message.ends_with(
            "spec.match: is not supported: resource selection is not supported: choose the resources with the \
             Kubewarden policy's rules and objectSelector, and remove spec.match; \
             spec.authorities[0].source: is not supported: signatures are read from the image's own repository \
             only; remove source"
        ),
        "{message}"
    );
}
