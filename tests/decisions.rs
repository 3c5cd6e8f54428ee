//! Decisions through `admission::validate` with a fake host: every kind and image field, SCST-Sign's messages, any-of keys, the questions asked and the answers checked, unreadable requests and settings.

mod common;

use common::*;
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission;

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
        "initContainers": [{"name": "b", "image": "harbor.example.net/storefront/init:1"}],
        "ephemeralContainers": [{"name": "c", "image": "harbor.example.net/storefront/debug:1"}],
        "volumes": [{"name": "d", "image": {"reference": "harbor.example.net/storefront/model:1"}}]
    });
    let all_signed = signed_host()
        .sign("harbor.example.net/storefront/init:1", &key("p256.pub"))
        .sign("harbor.example.net/storefront/debug:1", &key("p256.pub"))
        .sign("harbor.example.net/storefront/model:1", &key("p256.pub"));
    let mut req = request(kind, SIGNED);
    let pointer = signed_images_policy::workload::pod_spec_path(kind)
        .unwrap()
        .join("/");
    *req["object"].pointer_mut(&format!("/{pointer}")).unwrap() = spec.clone();
    let response = validate(&all_signed, &req, &scst_settings());
    assert!(response.accepted, "{kind}: {:?}", response.message);

    for unsigned in ["init:1", "debug:1", "model:1"] {
        let image = format!("harbor.example.net/storefront/{unsigned}");
        let host = signed_host()
            .sign("harbor.example.net/storefront/init:1", &key("p256.pub"))
            .sign("harbor.example.net/storefront/debug:1", &key("p256.pub"))
            .sign("harbor.example.net/storefront/model:1", &key("p256.pub"))
            .answer(&image, Err("no signature found".to_string()));
        let response = validate(&host, &req, &scst_settings());
        assert!(!response.accepted, "{kind} {unsigned}");
        assert_eq!(
            response.message.as_deref(),
            Some(
                format!(
                    "The image: {image} is not signed. key storefront-release: no signature found"
                )
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
        Some(format!("The image: {UNSIGNED} is not signed. key storefront-release: no signature of {UNSIGNED} satisfies the constraints").as_str())
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
    // Nothing checked: nothing recorded (the object carries no record to replace).
    assert!(admitted.mutated_object.is_none());

    // No policy.
    let admitted = validate(&FakeHost::new(), &pod(&["nginx"]), &json!({}));
    assert!(admitted.accepted);
    assert_eq!(
        admitted.warnings,
        Some(vec!["clusterimagepolicies.signing.apps.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied.".to_string()])
    );
    assert!(admitted.mutated_object.is_none());

    // Excluded namespace.
    let mut req = pod(&[UNSIGNED]);
    req["namespace"] = json!("kube-system");
    let admitted = validate(&FakeHost::new(), &req, &scst_settings());
    assert!(admitted.accepted);
    assert!(admitted.mutated_object.is_none());
    // A record the object carries, which could claim what did not happen, is replaced.
    req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!("verified");
    let admitted = validate(&FakeHost::new(), &req, &scst_settings());
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
    // The SCST-Sign policy's second entry carries secretRef storefront/harbor-pull.
    let private = "harbor.example.net/vendor-mirror/app:1.0";
    let denied = validate(
        &FakeHost::new(),
        &pod(&[private, UNSIGNED]),
        &scst_settings(),
    );
    assert!(!denied.accepted);
    assert_eq!(
        denied.warnings,
        Some(vec![format!(
            "{private}: the secretRef storefront/harbor-pull of its image policy is not used; \
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
    let image = "harbor.example.net/storefront/app:2";
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
        message.contains("key storefront-release: no signature")
            && message.contains("key second-key: no signature"),
        "{message}"
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
        {"namePattern": "harbor.example.net/storefront/*", "keys": [{"name": "k"}, {"name": "k"}]}
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
            message.starts_with("The image: reg.io/app:1 is not signed. key storefront-release: "),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
    }
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
        &pod(&["harbor.example.net/storefront/App:1"]),
        &settings,
    );
    assert_eq!(
        denied.message.as_deref(),
        Some("The image: harbor.example.net/storefront/App:1 cannot be verified: invalid image reference \"harbor.example.net/storefront/App:1\": it is not of the form [registry/]path[:tag][@digest], in lower case but for the registry and the tag.")
    );
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
    assert!(allowed.mutated_object.is_none());
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
    let mut settings = one_key_settings("harbor.example.net/*");
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
    let deny_unmatched = one_key_settings("harbor.example.net/*");
    let mut allow_unmatched = deny_unmatched.clone();
    allow_unmatched["allowUnmatchedImages"] = json!(true);
    for _ in 0..2 {
        assert!(!validate(&host, &pod(&["nginx:1.25"]), &deny_unmatched).accepted);
        assert!(validate(&host, &pod(&["nginx:1.25"]), &allow_unmatched).accepted);
    }
}

for_every_kind!(
    admitted_when_signed_and_denied_when_not,
    every_image_field_is_verified,
);
