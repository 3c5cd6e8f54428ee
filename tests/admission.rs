//! Admission through `admission::validate` with a fake host: decisions,
//! SCST-Sign's messages, host-call counts and the mutation.

mod common;

use common::*;
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission;

/// The kinds `for_every_kind!` (at the end) writes one test for, by name.
const KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

#[test]
fn the_kinds_tested_one_by_one_are_the_kinds_covered() {
    let covered: Vec<&str> = signed_images_policy::workload::COVERED_KINDS
        .iter()
        .map(|covered| covered.kind)
        .collect();
    let mut tested = KINDS.to_vec();
    tested.sort();
    let mut covered_sorted = covered.clone();
    covered_sorted.sort();
    assert_eq!(tested, covered_sorted);
}
/// A respelling of [`SIGNED_CANONICAL`] (host case, the default port), so the
/// main flows go through canonicalisation: the host is asked about the
/// canonical form, and messages and annotations keep the written one.
const SIGNED: &str = "Registry.Example.org:443/myproject/app:1.0";
const SIGNED_CANONICAL: &str = "registry.example.org/myproject/app:1.0";
const UNSIGNED: &str = "registry.example.org/myproject/evil:1.0";

fn signed_host() -> FakeHost {
    FakeHost::new().sign(SIGNED_CANONICAL, &key("p256.pub"))
}

fn scst_settings() -> Value {
    settings_file("scst-policy.yaml")
}

fn admitted_when_signed_and_denied_when_not(kind: &str) {
    let host = signed_host();
    let admitted = validate(&host, &request(kind, SIGNED), &scst_settings());
    assert!(admitted.accepted, "{kind}: {:?}", admitted.message);
    assert_eq!(annotation(&admitted, "status"), Some("verified"), "{kind}");
    assert_eq!(
        host.verify_calls(),
        1,
        "{kind}: container and init container share one answer"
    );

    let denied = validate(&FakeHost::new(), &request(kind, UNSIGNED), &scst_settings());
    assert!(!denied.accepted, "{kind}");
    assert_eq!(denied.code, Some(403));
    assert!(
        denied
            .message
            .as_deref()
            .unwrap()
            .starts_with(&format!("The image: {UNSIGNED} is not signed.")),
        "{kind}: {:?}",
        denied.message
    );
    assert!(denied.mutated_object.is_none());
}

fn every_image_field_is_verified(kind: &str) {
    let spec = json!({
        "containers": [{"name": "a", "image": SIGNED}],
        "initContainers": [{"name": "b", "image": "registry.example.org/myproject/init:1"}],
        "ephemeralContainers": [{"name": "c", "image": "registry.example.org/myproject/debug:1"}],
        "volumes": [{"name": "d", "image": {"reference": "registry.example.org/myproject/model:1"}}]
    });
    let all_signed = signed_host()
        .sign("registry.example.org/myproject/init:1", &key("p256.pub"))
        .sign("registry.example.org/myproject/debug:1", &key("p256.pub"))
        .sign("registry.example.org/myproject/model:1", &key("p256.pub"));
    let mut req = request(kind, SIGNED);
    let pointer = signed_images_policy::workload::pod_spec_path(kind)
        .unwrap()
        .join("/");
    *req["object"].pointer_mut(&format!("/{pointer}")).unwrap() = spec.clone();
    let response = validate(&all_signed, &req, &scst_settings());
    assert!(response.accepted, "{kind}: {:?}", response.message);

    for unsigned in ["init:1", "debug:1", "model:1"] {
        let image = format!("registry.example.org/myproject/{unsigned}");
        let host = signed_host()
            .sign("registry.example.org/myproject/init:1", &key("p256.pub"))
            .sign("registry.example.org/myproject/debug:1", &key("p256.pub"))
            .sign("registry.example.org/myproject/model:1", &key("p256.pub"))
            .answer(&image, Err("no signature found".to_string()));
        let response = validate(&host, &req, &scst_settings());
        assert!(!response.accepted, "{kind} {unsigned}");
        assert_eq!(
            response.message.as_deref(),
            Some(
                format!("The image: {image} is not signed. key first-key: no signature found")
                    .as_str()
            )
        );
    }
}

#[test]
fn scst_messages_are_exact() {
    // No key verifies.
    let denied = validate(&FakeHost::new(), &pod(&[UNSIGNED]), &scst_settings());
    assert_eq!(
        denied.message.as_deref(),
        Some(format!("The image: {UNSIGNED} is not signed. key first-key: no signature of {UNSIGNED} satisfies the constraints").as_str())
    );
    assert_eq!(denied.code, Some(403));

    // No pattern matches, not allowed.
    let denied = validate(&FakeHost::new(), &pod(&["nginx:1.25"]), &scst_settings());
    assert_eq!(
        denied.message.as_deref(),
        Some("Could not verify against any image policies for container image: nginx:1.25.")
    );
    assert_eq!(denied.code, Some(403));

    // No pattern matches, allowed.
    let admitted = validate(
        &FakeHost::new(),
        &pod(&["nginx:1.25"]),
        &settings_file("allow-unmatched.yaml"),
    );
    assert!(admitted.accepted);
    assert_eq!(
        admitted.warnings,
        Some(vec!["nginx:1.25 did not match any image policies. Container will be created as AllowUnmatchedImages flag is true.".to_string()])
    );
    assert_eq!(annotation(&admitted, "status"), Some("unmatched-allowed"));

    // No policy.
    let admitted = validate(&FakeHost::new(), &pod(&["nginx"]), &json!({}));
    assert!(admitted.accepted);
    assert_eq!(
        admitted.warnings,
        Some(vec!["clusterimagepolicies.signing.apps.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied.".to_string()])
    );
    assert_eq!(annotation(&admitted, "status"), Some("no-policy"));
    assert_eq!(annotation(&admitted, "verified-images"), Some("{}"));

    // Excluded namespace.
    let mut req = pod(&[UNSIGNED]);
    req["namespace"] = json!("kube-system");
    let admitted = validate(&FakeHost::new(), &req, &scst_settings());
    assert!(admitted.accepted);
    assert_eq!(annotation(&admitted, "status"), Some("excluded"));
    assert_eq!(
        admitted.audit_annotations.unwrap()["image-policy"],
        "kube-system is excluded. The ImagePolicy will not be applied."
    );
}

#[test]
fn denial_lists_every_failed_image_once() {
    let req = pod(&[UNSIGNED, SIGNED, "nginx", UNSIGNED, "nginx"]);
    let denied = validate(&signed_host(), &req, &scst_settings());
    let message = denied.message.unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message}");
    assert!(lines[0].starts_with(&format!("The image: {UNSIGNED} is not signed.")));
    assert_eq!(
        lines[1],
        "Could not verify against any image policies for container image: nginx."
    );
}

#[test]
fn an_ignored_secret_ref_is_named_only_when_its_image_fails() {
    // The SCST-Sign policy's second entry carries secretRef namespace-name/secret-name.
    let private = "registry.example.org/authproject/app:1.0";
    let denied = validate(
        &FakeHost::new(),
        &pod(&[private, UNSIGNED]),
        &scst_settings(),
    );
    assert!(!denied.accepted);
    assert_eq!(
        denied.warnings,
        Some(vec![format!(
            "{private}: the secretRef namespace-name/secret-name of its image policy is not used; \
             the policy-server reads registries with its own credentials (the PolicyServer's imagePullSecret)."
        )]),
        "one warning, for the image whose entry has a secretRef"
    );

    let host = FakeHost::new().sign(private, &key("p256.pub"));
    let admitted = validate(&host, &pod(&[private]), &scst_settings());
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(
        admitted.warnings, None,
        "no noise when verification succeeds"
    );
}

#[test]
fn unmatched_allowed_images_only_pass_when_allowed_and_matched_ones_are_still_checked() {
    let settings = settings_file("allow-unmatched.yaml");
    let denied = validate(&FakeHost::new(), &pod(&["nginx", UNSIGNED]), &settings);
    assert!(!denied.accepted);
    assert_eq!(
        denied.warnings.as_ref().map(Vec::len),
        Some(1),
        "the warning about nginx is kept"
    );
    let admitted = validate(&signed_host(), &pod(&["nginx", SIGNED]), &settings);
    assert!(admitted.accepted);
    assert_eq!(annotation(&admitted, "status"), Some("unmatched-allowed"));
    let verified: Value =
        serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
    assert_eq!(
        verified.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![SIGNED]
    );
}

#[test]
fn any_of_keys_stops_at_the_first_that_verifies() {
    let settings = settings_file("full.yaml");
    let image = "registry.example.org/myproject/app:2";
    // Signed by the second key only: both keys are tried, in order.
    let host = FakeHost::new().sign(image, &key("p384.pub"));
    let admitted = validate(&host, &pod(&[image]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(host.verify_calls(), 2);
    let verified: Value =
        serde_json::from_str(annotation(&admitted, "verified-images").unwrap()).unwrap();
    assert_eq!(verified[image]["key"], "second-key");
    assert_eq!(verified[image]["digest"], digest_of(image));

    // Signed by the first key: the second is never asked.
    let host = FakeHost::new().sign(image, &key("p256.pub"));
    assert!(validate(&host, &pod(&[image]), &settings).accepted);
    assert_eq!(host.verify_calls(), 1);

    // Signed by neither: one reason per key.
    let host = FakeHost::new();
    let denied = validate(&host, &pod(&[image]), &settings);
    assert_eq!(host.verify_calls(), 2);
    let message = denied.message.unwrap();
    assert!(
        message.contains("key first-key: no signature")
            && message.contains("key second-key: no signature"),
        "{message}"
    );
}

/// An entry that needs 2 of its 3 keys (`threshold: 2`).
fn two_of_three() -> Value {
    json!({"verification": {
        "keys": [
            {"name": "build", "publicKey": key("p256.pub")},
            {"name": "security", "publicKey": key("p384.pub")},
            {"name": "release", "publicKey": key("rsa2048.pub")}
        ],
        "images": [{"namePattern": "registry.example.org/*", "threshold": 2,
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
                 \"registry.example.org/*\" needs verified it (build); \
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
        message.contains("0 of the 2 keys that the entry for \"registry.example.org/*\" needs verified it, not asked: release"),
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
fn one_host_question_per_distinct_image_and_key() {
    // Four spellings of one image in six containers, plus an unrelated image.
    let settings = one_key_settings("nginx");
    let host = FakeHost::new().sign("docker.io/library/nginx:latest", &key("p256.pub"));
    let req = pod(&[
        "nginx",
        "nginx:latest",
        "docker.io/library/nginx",
        "index.docker.io/nginx:latest",
        "nginx",
        "library/nginx",
    ]);
    let response = validate(&host, &req, &settings);
    assert!(response.accepted, "{:?}", response.message);
    assert_eq!(host.asked_images(), vec!["docker.io/library/nginx:latest"]);

    // Overlapping entries naming the same key with the same annotations share a question.
    let settings = json!({"verification": {
    "keys": [{"name": "k", "publicKey": key("p256.pub")}],
    "images": [
        {"namePattern": "registry.example.org/*", "keys": [{"name": "k"}]},
        {"namePattern": "registry.example.org/myproject/*", "keys": [{"name": "k"}, {"name": "k"}]}
    ]}});
    let host = FakeHost::new();
    validate(&host, &pod(&[UNSIGNED, UNSIGNED]), &settings);
    assert_eq!(host.verify_calls(), 1);
}

#[test]
fn required_annotations_are_part_of_the_question() {
    let settings = settings_file("full.yaml");
    let image = "registry.example.org/payments/api:3";
    let host = FakeHost::new().sign_with_annotations(
        image,
        &key("p256.pub"),
        &[("env", "prod"), ("team", "pay")],
    );
    assert!(validate(&host, &pod(&[image]), &settings).accepted);
    assert_eq!(
        host.questions.borrow()[0]["annotations"],
        json!({"env": "prod"})
    );

    let host =
        FakeHost::new().sign_with_annotations(image, &key("p256.pub"), &[("env", "staging")]);
    assert!(!validate(&host, &pod(&[image]), &settings).accepted);
}

#[test]
fn questions_carry_each_trust_root() {
    let settings = settings_file("full.yaml");
    let image = "ghcr.io/my-org/tool:1";
    let host = FakeHost::new();
    validate(&host, &pod(&[image]), &settings);
    let questions = host.questions.borrow();
    assert_eq!(questions.len(), 2);
    assert_eq!(questions[0]["type"], "SigstoreKeylessVerify");
    assert_eq!(
        questions[0]["keyless"][0]["issuer"],
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(questions[0]["image"], image);
    assert_eq!(questions[1]["type"], "SigstoreGithubActionsVerify");
    assert_eq!(questions[1]["owner"], "my-org");
    assert_eq!(questions[1]["repo"], "my-repo");
    drop(questions);

    let cert_settings = json!({"verification": {
        "keys": [{"name": "ca", "certificate": key("signer.crt"), "certificateChain": [key("signer.crt")]},
                 {"name": "prefix", "keyless": {"issuer": "https://issuer.example", "urlPrefix": "https://github.com/org"}}],
        "images": [{"namePattern": "*", "keys": [{"name": "ca"}, {"name": "prefix"}]}]}});
    let host = FakeHost::new();
    validate(&host, &pod(&["reg.io/a"]), &cert_settings);
    let questions = host.questions.borrow();
    assert_eq!(questions[0]["type"], "SigstoreCertificateVerify");
    assert_eq!(
        questions[0]["require_rekor_bundle"], true,
        "rekor bundles are required by default"
    );
    assert_eq!(
        questions[0]["certificate_chain"].as_array().unwrap().len(),
        1
    );
    assert_eq!(questions[1]["type"], "SigstoreKeylessPrefixVerify");
    assert_eq!(
        questions[1]["keyless_prefix"][0]["url_prefix"],
        "https://github.com/org"
    );
}

#[test]
fn host_answers_are_checked_not_trusted() {
    let settings = one_key_settings("reg.io/*");
    for (answer, reason) in [
        (
            Ok(VerificationResponse {
                is_trusted: false,
                digest: digest_of("x"),
            }),
            "not trusted",
        ),
        (
            Ok(VerificationResponse {
                is_trusted: true,
                digest: String::new(),
            }),
            "no valid digest",
        ),
        (
            Ok(VerificationResponse {
                is_trusted: true,
                digest: "sha256:short".to_string(),
            }),
            "no valid digest",
        ),
        (
            Err("registry unreachable: connection refused".to_string()),
            "registry unreachable",
        ),
    ] {
        let host = FakeHost::new().answer("reg.io/app:1", answer);
        let denied = validate(&host, &pod(&["reg.io/app:1"]), &settings);
        assert!(!denied.accepted, "{reason}");
        let message = denied.message.unwrap();
        assert!(
            message.starts_with("The image: reg.io/app:1 is not signed. key first-key: "),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn a_pinned_digest_must_be_the_verified_one() {
    let settings = one_key_settings("reg.io/*");
    let host = FakeHost::new().sign("reg.io/app:1", &key("p256.pub"));
    let good = format!("reg.io/app:1@{}", digest_of("reg.io/app:1"));
    let admitted = validate(&host, &pod(&[&good]), &settings);
    assert!(admitted.accepted, "{:?}", admitted.message);
    assert_eq!(
        admitted.mutated_object.unwrap()["spec"]["containers"][0]["image"],
        json!(good),
        "kept as written"
    );
    assert_eq!(host.asked_images(), vec![good.clone()]);

    let other = format!("sha256:{}", "f".repeat(64));
    let bad = format!("reg.io/app:1@{other}");
    let denied = validate(&host, &pod(&[&bad]), &settings);
    let message = denied.message.unwrap();
    assert!(
        message.contains(&format!("the image is pinned to {other}")),
        "{message}"
    );
}

#[test]
fn pods_are_pinned_to_the_verified_digest_and_controllers_are_not() {
    let digest = digest_of(SIGNED_CANONICAL);
    let admitted = validate(&signed_host(), &request("Pod", SIGNED), &scst_settings());
    let pinned_pod = admitted.mutated_object.unwrap();
    assert_eq!(
        pinned_pod["spec"]["containers"][0]["image"],
        json!(format!("{SIGNED}@{digest}"))
    );
    assert_eq!(
        pinned_pod["spec"]["initContainers"][0]["image"],
        json!(format!("{SIGNED}@{digest}"))
    );

    let admitted = validate(
        &signed_host(),
        &request("Deployment", SIGNED),
        &scst_settings(),
    );
    let deployment = admitted.mutated_object.unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(SIGNED)
    );

    let mut all = scst_settings();
    all["pinDigests"] = json!("all");
    let admitted = validate(&signed_host(), &request("CronJob", SIGNED), &all);
    let cronjob = admitted.mutated_object.unwrap();
    assert_eq!(
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(format!("{SIGNED}@{digest}"))
    );

    let mut never = scst_settings();
    never["pinDigests"] = json!("never");
    let admitted = validate(&signed_host(), &request("Pod", SIGNED), &never);
    assert_eq!(
        admitted.mutated_object.unwrap()["spec"]["containers"][0]["image"],
        json!(SIGNED)
    );

    // A bare Docker Hub name keeps its spelling and shows the tag it meant.
    let host = FakeHost::new().sign("docker.io/library/nginx:latest", &key("p256.pub"));
    let admitted = validate(&host, &pod(&["nginx"]), &one_key_settings("nginx"));
    assert_eq!(
        admitted.mutated_object.unwrap()["spec"]["containers"][0]["image"],
        json!(format!(
            "nginx:latest@{}",
            digest_of("docker.io/library/nginx:latest")
        ))
    );
}

#[test]
fn updates_pin_only_the_images_they_change() {
    let mut req = request("Pod", SIGNED);
    req["operation"] = json!("UPDATE");
    req["oldObject"] = req["object"].clone();
    req["object"]["spec"]["containers"][0]["image"] = json!("registry.example.org/myproject/new:2");
    let host = signed_host().sign("registry.example.org/myproject/new:2", &key("p256.pub"));
    let admitted = validate(&host, &req, &scst_settings());
    let pod = admitted.mutated_object.unwrap();
    assert!(
        pod["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .contains('@'),
        "changed image pinned"
    );
    assert_eq!(
        pod["spec"]["initContainers"][0]["image"],
        json!(SIGNED),
        "unchanged image left alone"
    );
}

#[test]
fn forged_annotations_are_overwritten() {
    let mut req = request("Deployment", UNSIGNED);
    req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!("verified");
    req["object"]["metadata"]["annotations"]["image-policy.signing/verified-images"] = json!(
        format!("{{\"{UNSIGNED}\": {{\"digest\": \"sha256:forged\", \"key\": \"first-key\"}}}}")
    );
    // Denied when the image is not signed, whatever the annotations say.
    assert!(!validate(&FakeHost::new(), &req, &scst_settings()).accepted);

    // Admitted as excluded: the forged values are replaced, not kept.
    req["namespace"] = json!("kube-system");
    let admitted = validate(&FakeHost::new(), &req, &scst_settings());
    assert_eq!(annotation(&admitted, "status"), Some("excluded"));
    assert_eq!(annotation(&admitted, "verified-images"), Some("{}"));
}

fn mutation_keeps_every_other_field(kind: &str) {
    let req = request(kind, SIGNED);
    let response = validate(&signed_host(), &req, &scst_settings());
    let mut mutated = response.mutated_object.unwrap();
    let annotations = mutated["metadata"]["annotations"].as_object_mut().unwrap();
    assert_eq!(
        annotations.get("team"),
        Some(&json!("payments")),
        "{kind}: existing annotation kept"
    );
    annotations.remove("image-policy.signing/status").unwrap();
    annotations
        .remove("image-policy.signing/verified-images")
        .unwrap();
    if kind == "Pod" {
        for list in ["containers", "initContainers"] {
            mutated["spec"][list][0]["image"] = json!(SIGNED);
        }
    }
    assert_eq!(
        mutated, req["object"],
        "{kind}: only the stamped fields differ"
    );
    assert_eq!(mutated["futureTopLevelField"], json!({"kept": [1, 2, 3]}));
}

#[test]
fn no_mutation_when_nothing_changes() {
    let first = validate(
        &signed_host(),
        &request("Deployment", SIGNED),
        &scst_settings(),
    );
    let mut again = request("Deployment", SIGNED);
    again["object"] = first.mutated_object.unwrap();
    let second = validate(&signed_host(), &again, &scst_settings());
    assert!(second.accepted);
    assert!(second.mutated_object.is_none());
}

#[test]
fn metadata_is_created_when_absent() {
    let mut req = pod(&[SIGNED]);
    req["object"].as_object_mut().unwrap().remove("metadata");
    let admitted = validate(&signed_host(), &req, &scst_settings());
    assert_eq!(annotation(&admitted, "status"), Some("verified"));
    let mut req = pod(&[SIGNED]);
    req["object"]["metadata"]["annotations"] = Value::Null;
    assert_eq!(
        annotation(&validate(&signed_host(), &req, &scst_settings()), "status"),
        Some("verified")
    );
}

#[test]
fn custom_annotation_prefix() {
    let mut settings = scst_settings();
    settings["annotationPrefix"] = json!("signing.example.com");
    let admitted = validate(&signed_host(), &pod(&[SIGNED]), &settings);
    let annotations = &admitted.mutated_object.unwrap()["metadata"]["annotations"];
    assert_eq!(annotations["signing.example.com/status"], "verified");
    assert_eq!(
        serde_json::from_str::<Value>(
            annotations["signing.example.com/verified-images"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        json!({SIGNED: {"digest": digest_of(SIGNED_CANONICAL), "key": "first-key"}})
    );
}

#[test]
fn operations_kinds_and_subresources_outside_the_policy_are_untouched() {
    for operation in ["DELETE", "CONNECT"] {
        let mut req = pod(&[UNSIGNED]);
        req["operation"] = json!(operation);
        let response = validate(&FakeHost::new(), &req, &scst_settings());
        assert!(
            response.accepted && response.mutated_object.is_none(),
            "{operation}"
        );
    }
    let mut req = pod(&[UNSIGNED]);
    req["kind"]["kind"] = json!("Service");
    let host = FakeHost::new();
    let response = validate(&host, &req, &scst_settings());
    assert!(response.accepted && response.mutated_object.is_none());
    assert_eq!(host.verify_calls(), 0);

    // A custom resource that reuses a covered kind name in another group.
    let mut req = request("Job", UNSIGNED);
    req["kind"]["group"] = json!("batch.volcano.sh");
    let response = validate(&host, &req, &scst_settings());
    assert!(response.accepted && response.mutated_object.is_none());
    assert_eq!(host.verify_calls(), 0);

    let mut req = pod(&[UNSIGNED]);
    req["subResource"] = json!("status");
    assert!(validate(&FakeHost::new(), &req, &scst_settings()).accepted);
}

#[test]
fn ephemeral_containers_subresource_is_checked() {
    let mut req = request("Pod", SIGNED);
    req["operation"] = json!("UPDATE");
    req["subResource"] = json!("ephemeralcontainers");
    req["oldObject"] = req["object"].clone();
    req["object"]["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": UNSIGNED}]);
    let denied = validate(&signed_host(), &req, &scst_settings());
    assert!(!denied.accepted);
    assert!(denied.message.unwrap().contains(UNSIGNED));

    req["object"]["spec"]["ephemeralContainers"][0]["image"] =
        json!("registry.example.org/myproject/debug:1");
    let host = signed_host().sign("registry.example.org/myproject/debug:1", &key("p256.pub"));
    let admitted = validate(&host, &req, &scst_settings());
    assert!(admitted.accepted);
    let pod = admitted.mutated_object.unwrap();
    assert!(pod["spec"]["ephemeralContainers"][0]["image"]
        .as_str()
        .unwrap()
        .contains("@sha256:"));
    assert!(
        pod["metadata"]["annotations"]
            .get("image-policy.signing/status")
            .is_none(),
        "the subresource drops metadata"
    );
}

#[test]
fn unreadable_requests_are_denied_with_the_reason() {
    let settings = scst_settings();
    let host = FakeHost::new();
    for (payload, message) in [
        (b"not json".to_vec(), "the payload is not"),
        (b"{}".to_vec(), "the payload is not"),
        (br#"{"request": 3, "settings": {}}"#.to_vec(), "request must be an object"),
        (br#"{"request": {}, "settings": {}}"#.to_vec(), "request.operation is missing"),
        (br#"{"request": {"operation": "CREATE", "kind": {"group": ""}}, "settings": {}}"#.to_vec(), "request.kind.kind is missing"),
        (br#"{"request": {"operation": "CREATE", "kind": {"kind": "Pod"}}, "settings": {}}"#.to_vec(), "request.kind.group is missing"),
        (br#"{"request": {"operation": 1, "kind": {"group": "", "kind": "Pod"}}, "settings": {}}"#.to_vec(), "request.operation must be a string"),
        (br#"{"request": {"operation": "CREATE", "kind": {"group": "", "kind": "Pod"}, "object": null}, "settings": {}}"#.to_vec(), "request.object must be an object"),
    ] {
        let response = validate_raw(&host, &payload);
        assert!(!response.accepted, "{}", String::from_utf8_lossy(&payload));
        assert_eq!(response.code, Some(400));
        assert!(response.message.as_deref().unwrap().contains(message), "{:?}", response.message);
    }

    for (object, message) in [
        (
            json!({"spec": {"containers": [{"name": "a"}]}}),
            "spec.containers[0].image is missing",
        ),
        (
            json!({"spec": {"containers": "nginx"}}),
            "spec.containers must be a list",
        ),
        (json!({"metadata": {}}), "spec is missing"),
    ] {
        let mut req = pod(&[]);
        req["object"] = object;
        let response = validate(&host, &req, &settings);
        assert!(!response.accepted);
        assert!(
            response.message.as_deref().unwrap().contains(message),
            "{:?}",
            response.message
        );
    }

    let denied = validate(
        &host,
        &pod(&["registry.example.org/myproject/App:1"]),
        &settings,
    );
    assert_eq!(
        denied.message.as_deref(),
        Some("The image: registry.example.org/myproject/App:1 cannot be verified: invalid image reference \"registry.example.org/myproject/App:1\": invalid reference format.")
    );
}

#[test]
fn invalid_settings_at_admission_time_deny() {
    let response = validate(
        &FakeHost::new(),
        &pod(&["nginx"]),
        &json!({"verificaton": {}}),
    );
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .contains("unknown field `verificaton`"));
}

/// `verification: {}` is a policy with no patterns, not "no policy": every
/// image is unmatched, so it is denied unless unmatched images are allowed.
#[test]
fn an_empty_verification_block_matches_nothing() {
    let denied = validate(
        &FakeHost::new(),
        &pod(&["nginx"]),
        &json!({"verification": {}}),
    );
    assert!(!denied.accepted);
    assert_eq!(
        denied.message.as_deref(),
        Some("Could not verify against any image policies for container image: nginx.")
    );
    let allowed = validate(
        &FakeHost::new(),
        &pod(&["nginx"]),
        &json!({"verification": {}, "allowUnmatchedImages": true}),
    );
    assert!(allowed.accepted);
    assert_eq!(annotation(&allowed, "status"), Some("unmatched-allowed"));
}

// ---- settings on the per-request path ---------------------------------------
// policy-server never calls `validate` with settings `validate_settings`
// refused, so a request does not decode key material again; it still refuses
// settings it cannot read.

#[test]
fn key_material_goes_to_the_host_as_written() {
    // validate_settings refuses this key; a request does not decode it again
    // but hands it to the host, which cannot verify with it.
    let junk = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n";
    let mut settings = one_key_settings("registry.example.org/*");
    settings["verification"]["keys"][0]["publicKey"] = json!(junk);
    assert!(!admission::validate_settings(settings.to_string().as_bytes()).valid);
    let host = signed_host();
    let denied = validate(&host, &pod(&[SIGNED]), &settings);
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(403));
    assert_eq!(host.questions.borrow()[0]["pub_keys"], json!([junk]));
}

#[test]
fn unreadable_settings_deny_every_request_with_the_field_named() {
    for (settings, needle) in [
        (
            json!({"verification": {"imagez": []}}),
            "verification.imagez: unknown field `imagez`",
        ),
        (
            json!({"pinDigests": "always"}),
            "pinDigests: unknown variant `always`",
        ),
        (
            json!({"verification": {"images": [{"namePattern": "*", "keys": [{"name": "missing"}]}]}}),
            "key \"missing\" is not defined",
        ),
    ] {
        let host = signed_host();
        let denied = validate(&host, &pod(&[SIGNED]), &settings);
        assert!(!denied.accepted, "{settings}");
        assert_eq!(denied.code, Some(500));
        let message = denied.message.unwrap();
        assert!(
            message.starts_with("the policy settings are invalid: "),
            "{message}"
        );
        assert!(message.contains(needle), "{message}");
        assert_eq!(host.verify_calls(), 0);
    }
}

#[test]
fn nothing_is_kept_between_requests() {
    // Two settings texts in turn, as two policies served by one policy-server:
    // each request is decided by its own settings only.
    let host = signed_host();
    let deny_unmatched = one_key_settings("registry.example.org/*");
    let mut allow_unmatched = deny_unmatched.clone();
    allow_unmatched["allowUnmatchedImages"] = json!(true);
    for _ in 0..2 {
        assert!(!validate(&host, &pod(&["nginx:1.25"]), &deny_unmatched).accepted);
        assert!(validate(&host, &pod(&["nginx:1.25"]), &allow_unmatched).accepted);
    }
}

fn status_update(kind: &str, forged: Option<&str>) -> Value {
    let mut req = request(kind, UNSIGNED);
    req["operation"] = json!("UPDATE");
    req["subResource"] = json!("status");
    req["object"]["metadata"]["annotations"]["image-policy.signing/status"] =
        json!("unmatched-allowed");
    req["oldObject"] = req["object"].clone();
    req["object"]["status"] = json!({"phase": "Running"});
    if let Some(value) = forged {
        req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!(value);
    }
    req
}

fn status_writes_cannot_change_the_policy_annotations(kind: &str) {
    let host = FakeHost::new();
    let denied = validate(
        &host,
        &status_update(kind, Some("verified")),
        &scst_settings(),
    );
    assert!(!denied.accepted, "{kind}");
    assert_eq!(denied.code, Some(403), "{kind}");
    let message = denied.message.unwrap();
    assert!(
        message.contains("cannot be changed through the")
            && message.contains("(changed: image-policy.signing/status)"),
        "{kind}: {message}"
    );
    assert_eq!(
        host.verify_calls(),
        0,
        "{kind}: the images are not verified"
    );
}

#[test]
fn status_writes_that_keep_the_policy_annotations_pass_untouched() {
    let host = FakeHost::new();
    let mut req = status_update("Pod", None);
    req["object"]["metadata"]["annotations"]["other.example.org/note"] = json!("changed");
    let response = validate(&host, &req, &scst_settings());
    assert!(response.accepted, "{:?}", response.message);
    assert!(response.mutated_object.is_none());
    assert_eq!(host.verify_calls(), 0);
}

#[test]
fn status_writes_that_remove_a_policy_annotation_are_denied() {
    let mut req = status_update("Deployment", None);
    req["object"]["metadata"]["annotations"] = json!({});
    let denied = validate(&FakeHost::new(), &req, &scst_settings());
    assert!(!denied.accepted);
    assert!(denied
        .message
        .unwrap()
        .contains("(changed: image-policy.signing/status)"));
}

#[test]
fn status_writes_are_guarded_under_a_custom_prefix() {
    let mut settings = scst_settings();
    settings["annotationPrefix"] = json!("security.example.org");
    let mut req = status_update("Pod", None);
    req["object"]["metadata"]["annotations"]["security.example.org/status"] = json!("verified");
    let denied = validate(&FakeHost::new(), &req, &settings);
    assert!(!denied.accepted);
    assert!(denied
        .message
        .unwrap()
        .contains("under security.example.org/"));
    // The default prefix is then not the policy's and may change.
    let req = status_update("Pod", Some("verified"));
    assert!(validate(&FakeHost::new(), &req, &settings).accepted);
}

#[test]
fn verifications_past_the_limit_deny_the_request() {
    let images: Vec<String> = (0..5)
        .map(|i| format!("registry.example.org/myproject/app{i}:1"))
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
            "The image: registry.example.org/myproject/app4:1 was not verified: the request needs \
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
        .map(|i| format!("registry.example.org/myproject/app{i}:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let host = FakeHost::new();
    let denied = validate(&host, &pod(&refs), &settings_file("full.yaml"));
    assert!(!denied.accepted);
    assert!(denied
        .message
        .unwrap()
        .contains("more than 100 signature verifications"));
    assert_eq!(host.verify_calls(), 100);
}

#[test]
fn respelled_images_get_the_same_decision_and_question() {
    let mut settings = scst_settings();
    settings["allowUnmatchedImages"] = json!(true);
    for written in [
        "registry.example.org/myproject/evil:1.0",
        "REGISTRY.EXAMPLE.ORG/myproject/evil:1.0",
        "Registry.Example.Org/myproject/evil:1.0",
        "registry.example.org:443/myproject/evil:1.0",
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

#[test]
fn status_writes_with_unreadable_annotations_are_denied_with_the_field_named() {
    for (pointer, value, field) in [
        (
            "/object/metadata",
            json!("x"),
            "request.object.metadata must be an object",
        ),
        (
            "/object/metadata/annotations",
            json!(["x"]),
            "request.object.metadata.annotations must be an object",
        ),
        (
            "/oldObject/metadata/annotations",
            json!(true),
            "request.oldObject.metadata.annotations must be an object",
        ),
    ] {
        let mut req = status_update("Pod", None);
        *req.pointer_mut(pointer).unwrap() = value;
        let denied = validate(&FakeHost::new(), &req, &scst_settings());
        assert!(!denied.accepted, "{pointer}");
        assert_eq!(denied.code, Some(400), "{pointer}");
        assert!(denied.message.unwrap().contains(field), "{pointer}");
    }
}

/// The checks every covered kind must pass, one test per kind each
/// (`every_kind::<check>::<kind>`), so that a failing kind hides no other.
macro_rules! for_every_kind {
    ($($check:ident),* $(,)?) => {
        mod every_kind {
            $(
                mod $check {
                    use super::super::$check as check;
                    #[test] fn pod() { check("Pod") }
                    #[test] fn deployment() { check("Deployment") }
                    #[test] fn replica_set() { check("ReplicaSet") }
                    #[test] fn stateful_set() { check("StatefulSet") }
                    #[test] fn daemon_set() { check("DaemonSet") }
                    #[test] fn job() { check("Job") }
                    #[test] fn cron_job() { check("CronJob") }
                    #[test] fn replication_controller() { check("ReplicationController") }
                }
            )*
        }
    };
}

for_every_kind!(
    admitted_when_signed_and_denied_when_not,
    every_image_field_is_verified,
    mutation_keeps_every_other_field,
    status_writes_cannot_change_the_policy_annotations,
);
