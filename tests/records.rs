//! The record under the annotation prefix, where the policy cannot rewrite it: status subresource writes may not change it, and an ephemeral container may not make it false.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

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
        json!("harbor.example.net/storefront/debug:1");
    let host = signed_host().sign("harbor.example.net/storefront/debug:1", &key("p256.pub"));
    let admitted = validate(&host, &req, &scst_settings());
    let pod = admitted_with_ephemeral_pinned(admitted);
    assert!(
        pod["metadata"]["annotations"]
            .get("image-policy.signing/status")
            .is_none(),
        "the subresource drops metadata"
    );
}

/// The admitted Pod, checked to run its ephemeral container by digest.
fn admitted_with_ephemeral_pinned(response: ValidationResponse) -> Value {
    assert!(response.accepted);
    let pod = response.mutated_object.unwrap();
    assert!(pod["spec"]["ephemeralContainers"][0]["image"]
        .as_str()
        .unwrap()
        .contains("@sha256:"));
    pod
}

fn ephemeral_update(stored_status: Option<&str>, ephemeral_image: &str) -> Value {
    let mut req = request("Pod", "harbor.example.net/storefront/app:1.0");
    if let Some(status) = stored_status {
        req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!(status);
    }
    req["operation"] = json!("UPDATE");
    req["subResource"] = json!("ephemeralcontainers");
    req["oldObject"] = req["object"].clone();
    req["object"]["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": ephemeral_image}]);
    req
}

#[test]
fn an_unmatched_ephemeral_image_cannot_make_a_verified_record_stale() {
    let host = || FakeHost::new().sign("harbor.example.net/storefront/app:1.0", &key("p256.pub"));
    let mut allow = one_key("harbor.example.net/*");
    allow["allowUnmatchedImages"] = json!(true);
    let signatures =
        json!({"signatures": [{"image": "harbor.example.net/*", "pubKeys": [key("p256.pub")]}]});
    for settings in [&allow, &signatures] {
        let denied = validate(
            &host(),
            &ephemeral_update(Some("verified"), "busybox:1.36"),
            settings,
        );
        assert!(!denied.accepted, "{settings}");
        assert_eq!(denied.code, Some(403));
        assert_eq!(
            denied.message.unwrap(),
            "The image: busybox:1.36 matches no image policy, and the Pod is recorded as verified: an \
             ephemeral container cannot change that record (image-policy.signing/status), so only \
             verified images can be added to it."
        );
        // A Pod whose record already says unmatched images run, or has none, stays true.
        for stored in [Some("unmatched-allowed"), None] {
            assert!(
                validate(&host(), &ephemeral_update(stored, "busybox:1.36"), settings).accepted
            );
        }
    }
    // A verified ephemeral image keeps the record true: admitted, pinned, no annotation.
    let host = host().sign("harbor.example.net/storefront/debug:1", &key("p256.pub"));
    let admitted = validate(
        &host,
        &ephemeral_update(Some("verified"), "harbor.example.net/storefront/debug:1"),
        &allow,
    );
    admitted_with_ephemeral_pinned(admitted);
}

#[test]
fn the_stored_record_decides_not_the_one_the_client_sends() {
    // Through this subresource the API server keeps the stored metadata: a
    // body without the record, or with another status, changes nothing.
    let host = || FakeHost::new().sign("harbor.example.net/storefront/app:1.0", &key("p256.pub"));
    let mut allow = one_key("harbor.example.net/*");
    allow["allowUnmatchedImages"] = json!(true);
    let status = "image-policy.signing/status";
    for stored in ["verified", "owner-verified"] {
        let mut deleted = ephemeral_update(Some(stored), "busybox:1.36");
        deleted["object"]["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(status);
        let mut relabelled = ephemeral_update(Some(stored), "busybox:1.36");
        relabelled["object"]["metadata"]["annotations"][status] = json!("unmatched-allowed");
        for req in [deleted, relabelled] {
            assert!(!validate(&host(), &req, &allow).accepted, "{stored}");
        }
    }
    // Recorded as unmatched, a body claiming verified changes nothing either.
    let mut claimed = ephemeral_update(Some("unmatched-allowed"), "busybox:1.36");
    claimed["object"]["metadata"]["annotations"][status] = json!("verified");
    assert!(validate(&host(), &claimed, &allow).accepted);
    // No stored object to read the record from: denied.
    let mut no_old = ephemeral_update(Some("verified"), "busybox:1.36");
    no_old["oldObject"] = Value::Null;
    assert!(!validate(&host(), &no_old, &allow).accepted);
}

#[test]
fn an_unmatched_image_already_in_the_pod_does_not_block_an_ephemeral_update() {
    // The Pod's own container is unmatched under today's rules; the request adds a verified image.
    let mut allow = one_key("harbor.example.net/storefront/debug*");
    allow["allowUnmatchedImages"] = json!(true);
    let host = FakeHost::new().sign("harbor.example.net/storefront/debug:1", &key("p256.pub"));
    let req = ephemeral_update(Some("verified"), "harbor.example.net/storefront/debug:1");
    assert!(validate(&host, &req, &allow).accepted);
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

for_every_kind!(status_writes_cannot_change_the_policy_annotations,);

/// Two instances of the policy on one object (a cluster-wide one and a
/// tenant's namespaced one): with one annotation prefix, the later writes its
/// record over the earlier's, which then vouches for nothing under the
/// earlier's rules; each with a prefix of its own keeps its record.
#[test]
fn two_policies_on_one_object_keep_their_records_only_under_their_own_prefixes() {
    let with = |pattern: &str, record_key: &str, prefix: Option<&str>| {
        let mut settings = one_key(pattern);
        settings["outageFallback"] = json!({"recordKey": record_key});
        if let Some(prefix) = prefix {
            settings["annotationPrefix"] = json!(prefix);
        }
        settings
    };
    let status = |object: &Value, prefix: &str| {
        object["metadata"]["annotations"][format!("{prefix}/status")]
            .as_str()
            .map(str::to_string)
    };
    let cluster = with("harbor.example.net/*", &"c".repeat(32), None);
    for (tenant_prefix, cluster_keeps) in [
        (None, "unchanged-unverified"),
        (Some("tenant.example.net"), "verified"),
    ] {
        let tenant = with(
            "harbor.example.net/storefront/*",
            &"t".repeat(32),
            tenant_prefix,
        );
        let req = request("Deployment", SIGNED);
        // The API server calls each mutating webhook on the object the
        // previous one returned.
        let first = validate(&signed_host(), &req, &cluster);
        let mut req = req.clone();
        req["object"] = first.mutated_object.unwrap();
        let second = validate(&signed_host(), &req, &tenant);
        assert!(second.accepted, "{:?}", second.message);
        let stored = second.mutated_object.unwrap();
        // A label edit: the cluster policy reads the record it wrote.
        let mut edit = req.clone();
        edit["operation"] = json!("UPDATE");
        edit["oldObject"] = stored.clone();
        edit["object"] = stored;
        edit["object"]["metadata"]["labels"]["tier"] = json!("web");
        let host = FakeHost::new();
        host.stop_registry();
        let updated = validate(&host, &edit, &cluster);
        assert!(updated.accepted, "{:?}", updated.message);
        // No change to make is no patch: the object stays as sent.
        let object = updated.mutated_object.unwrap_or(edit["object"].clone());
        assert_eq!(
            status(&object, "image-policy.signing").as_deref(),
            Some(cluster_keeps),
            "tenant prefix {tenant_prefix:?}"
        );
    }
}
