//! A registry outage or a rotated key must not stop the cluster: an UPDATE
//! that changes no image is not verified again and keeps its record, and a
//! controller's child created while the registry cannot be reached is
//! admitted on its owner's sealed record, for exactly those images, under
//! the same rules; anything short of that denies as before.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission;

const RECORD_KEY: &str = "a-random-record-key-of-at-least-32-characters";
const UID: &str = "6a1d6e8e-3b7f-4c55-9f5e-0f5e2a7c1b10";

fn keyed(mut settings: Value) -> Value {
    settings["outageFallback"] = json!({"recordKey": RECORD_KEY});
    settings
}

fn settings() -> Value {
    keyed(one_key("harbor.example.net/*"))
}

const OTHER: &str = "harbor.example.net/storefront/other:1.0";

fn host() -> FakeHost {
    FakeHost::new()
        .sign(SIGNED_CANONICAL, &key("p256.pub"))
        .sign(OTHER, &key("p256.pub"))
}

fn stored(response: &ValidationResponse, request: &Value) -> Value {
    assert!(response.accepted, "denied: {:?}", response.message);
    response
        .mutated_object
        .clone()
        .unwrap_or_else(|| request["object"].clone())
}

fn annotation_of(object: &Value, name: &str) -> Option<String> {
    object["metadata"]["annotations"][format!("image-policy.signing/{name}")]
        .as_str()
        .map(str::to_string)
}

/// The object `kind` as the policy admitted it on CREATE (registry up), with
/// the uid the API server then gives it.
fn created(kind: &str, image: &str, settings: &Value) -> Value {
    let req = request(kind, image);
    let mut object = stored(&validate(&host(), &req, settings), &req);
    object["metadata"]["uid"] = json!(UID);
    object
}

/// An UPDATE of `old` to `new`.
fn update(kind: &str, old: &Value, new: Value) -> Value {
    let mut req = request(kind, "placeholder");
    req["operation"] = json!("UPDATE");
    req["oldObject"] = old.clone();
    req["object"] = new;
    req
}

/// The edits a controller or an operator makes that run nothing new.
fn edits(object: &Value) -> Vec<(&'static str, Value)> {
    let mut finalizer = object.clone();
    finalizer["metadata"]["finalizers"] = json!([]);
    let mut label = object.clone();
    label["metadata"]["labels"]["tier"] = json!("web");
    let mut replicas = object.clone();
    replicas["spec"]["replicas"] = json!(7);
    let mut owner = object.clone();
    owner["metadata"]["ownerReferences"] = json!([]);
    vec![
        ("finalizers", finalizer),
        ("labels", label),
        ("replicas", replicas),
        ("ownerReferences", owner),
    ]
}

fn updates_that_change_no_image_pass_an_outage(kind: &str) {
    let settings = settings();
    let old = created(kind, SIGNED, &settings);
    for (what, new) in edits(&old) {
        let host = host();
        host.stop_registry();
        let req = update(kind, &old, new);
        let response = validate(&host, &req, &settings);
        let object = stored(&response, &req);
        assert_eq!(host.verify_calls(), 0, "{kind} {what}: no host call");
        assert_eq!(
            annotation_of(&object, "status").as_deref(),
            Some("verified"),
            "{kind} {what}"
        );
        assert_eq!(
            annotation_of(&object, "verified-images"),
            annotation_of(&old, "verified-images"),
            "{kind} {what}: the record is carried"
        );
        assert_eq!(
            object["spec"], req["object"]["spec"],
            "{kind} {what}: nothing pinned anew"
        );
    }
}

fn a_changed_or_respelled_image_is_verified_again(kind: &str) {
    let settings = settings();
    let old = created(kind, SIGNED, &settings);
    // The same image respelled is a change: the kubelet pulls it again.
    for written in [
        UNSIGNED,
        SIGNED_CANONICAL,
        "harbor.example.net:443/storefront/app:1.0",
    ] {
        let mut new = request(kind, written)["object"].clone();
        new["metadata"] = old["metadata"].clone();
        let host = host();
        host.stop_registry();
        let response = validate(&host, &update(kind, &old, new), &settings);
        assert!(!response.accepted, "{kind}: {written}");
        assert!(host.verify_calls() > 0, "{kind}: {written} asked");
        assert!(
            response
                .message
                .unwrap()
                .contains("cannot reach the registry"),
            "{kind}: {written}"
        );
    }
}

for_every_kind!(
    updates_that_change_no_image_pass_an_outage,
    a_changed_or_respelled_image_is_verified_again
);

#[test]
fn an_unchanged_image_without_a_record_is_admitted_and_says_so() {
    let settings = settings();
    // An object from before the policy: no record at all.
    let old = request("Deployment", UNSIGNED)["object"].clone();
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(0);
    let host = host();
    let req = update("Deployment", &old, new);
    let object = stored(&validate(&host, &req, &settings), &req);
    assert_eq!(host.verify_calls(), 0);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("unchanged-unverified")
    );
    assert_eq!(
        annotation_of(&object, "verified-images").as_deref(),
        Some("{}")
    );
}

#[test]
fn a_record_that_does_not_vouch_is_not_carried() {
    let settings = settings();
    let old = created("Deployment", SIGNED, &settings);
    let mut other_rules = settings.clone();
    other_rules["verification"]["keys"][0]["publicKey"] = json!(key("p384.pub"));
    let mut forged_seal = old.clone();
    forged_seal["metadata"]["annotations"]["image-policy.signing/seal"] = json!("00".repeat(32));
    let mut renamed = old.clone();
    renamed["metadata"]["name"] = json!("another");
    let mut unmatched = old.clone();
    unmatched["metadata"]["annotations"]["image-policy.signing/status"] = json!("verified");
    unmatched["metadata"]["annotations"]["image-policy.signing/verified-images"] = json!("{}");
    let mut another_key = settings.clone();
    another_key["outageFallback"]["recordKey"] =
        json!("another-record-key-just-as-long-and-random!");
    for (what, old, settings) in [
        ("other rules", &old, &other_rules),
        ("another key", &old, &another_key),
        ("a forged seal", &forged_seal, &settings),
        ("a record sealed for another object", &renamed, &settings),
        ("no entry for the image", &unmatched, &settings),
    ] {
        let mut new = old.clone();
        new["metadata"]["labels"]["tier"] = json!("web");
        let req = update("Deployment", old, new);
        let host = host();
        let object = stored(&validate(&host, &req, settings), &req);
        assert_eq!(host.verify_calls(), 0, "{what}");
        assert_eq!(
            annotation_of(&object, "status").as_deref(),
            Some("unchanged-unverified"),
            "{what}"
        );
    }
}

#[test]
fn a_tag_pinning_should_have_pinned_is_not_carried_as_verified() {
    // A Pod whose record lists a tag it still runs unpinned (recorded while
    // pinning was off, or its pin undone): pinning Pods, that is no record.
    let mut old = created("Pod", SIGNED, &settings());
    old["spec"]["containers"][0]["image"] = json!(SIGNED);
    old["spec"]["initContainers"] = json!([]);
    let mut new = old.clone();
    new["metadata"]["labels"]["tier"] = json!("web");
    let req = update("Pod", &old, new);
    let object = stored(&validate(&host(), &req, &settings()), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("unchanged-unverified")
    );
    assert_eq!(
        object["spec"]["containers"][0]["image"], SIGNED,
        "not pinned on an update"
    );
    // Where pinning does not apply, the record of a tag is carried.
    let old = created("Deployment", SIGNED, &settings());
    let mut new = old.clone();
    new["metadata"]["labels"]["tier"] = json!("web");
    let req = update("Deployment", &old, new);
    let object = stored(&validate(&host(), &req, &settings()), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("verified")
    );
}

#[test]
fn a_controller_s_pod_keeps_its_record_once_its_name_is_generated() {
    // Created with generateName: sealed before the API server named it.
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let req = child("Pod", SIGNED, &owner, true);
    let mut pod = stored(&validate(&host(), &req, &settings), &req);
    pod["metadata"]["name"] = json!("demo-x7k2p");
    let mut new = pod.clone();
    new["metadata"]["finalizers"] = json!([]);
    let req = update("Pod", &pod, new);
    let host = host();
    host.stop_registry();
    let object = stored(&validate(&host, &req, &settings), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("verified")
    );
    // A kind that may own children keeps the name it was sealed for.
    let mut req = request("ReplicaSet", SIGNED);
    req["object"]["metadata"]["name"] = json!("");
    req["object"]["metadata"]["generateName"] = json!("de");
    let mut replicaset = stored(&validate(&self::host(), &req, &settings), &req);
    replicaset["metadata"]["name"] = json!("demo");
    let mut new = replicaset.clone();
    new["spec"]["replicas"] = json!(3);
    let req = update("ReplicaSet", &replicaset, new);
    let object = stored(&validate(&host, &req, &settings), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("unchanged-unverified")
    );
}

/// Without a record key nothing is sealed, and no record counts: the rules'
/// fingerprint can be read off any object sealed under them, so a record
/// written where the policy did not see it (before it was installed, in
/// monitor mode, outside its namespaceSelector) would otherwise be carried
/// as verified.
#[test]
fn without_a_record_key_no_record_is_sealed_or_carried() {
    let plain = one_key("harbor.example.net/*");
    let old = created("Pod", SIGNED, &plain);
    assert_eq!(annotation_of(&old, "seal"), None);
    assert_eq!(
        annotation_of(&old, "rules"),
        None,
        "only a sealed record names the rules"
    );
    let mut new = old.clone();
    new["metadata"]["labels"]["tier"] = json!("web");
    let req = update("Pod", &old, new);
    let host = host();
    let object = stored(&validate(&host, &req, &plain), &req);
    assert_eq!(
        host.verify_calls(),
        0,
        "an update that changes no image asks nothing"
    );
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("unchanged-unverified")
    );
    assert_eq!(
        annotation_of(&object, "verified-images").as_deref(),
        Some("{}")
    );

    // A hand-made record of an unsigned image, with the rules' fingerprint
    // read off an object sealed under them: still not carried.
    let mut forged = request("Pod", UNSIGNED)["object"].clone();
    let fingerprint =
        annotation_of(&created("Pod", SIGNED, &keyed(plain.clone())), "rules").unwrap();
    forged["metadata"]["annotations"] = json!({
        "image-policy.signing/status": "verified",
        "image-policy.signing/rules": fingerprint,
        "image-policy.signing/verified-images":
            json!({UNSIGNED: {"digest": digest_of(UNSIGNED), "key": "a"}}).to_string(),
    });
    let mut relabelled = forged.clone();
    relabelled["metadata"]["labels"]["tier"] = json!("web");
    let req = update("Pod", &forged, relabelled);
    let object = stored(&validate(&FakeHost::new(), &req, &plain), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("unchanged-unverified")
    );
    assert_eq!(
        annotation_of(&object, "verified-images").as_deref(),
        Some("{}")
    );
}

/// A child admitted on its owner's record must run the recorded digest:
/// settings that turn pinning off cannot have the fallback.
#[test]
fn the_fallback_without_pinning_is_refused_with_the_reason() {
    let mut never = settings();
    never["pinDigests"] = json!("never");
    let mut unpinned = keyed(json!({"signatures": [{"image": "harbor.example.net/*",
        "pubKeys": [key("p256.pub")]}], "modifyImagesWithDigest": false}));
    for (settings, how) in [
        (&mut never, "pinDigests: never"),
        (&mut unpinned, "modifyImagesWithDigest: false"),
    ] {
        let response = admission::validate_settings(settings.to_string().as_bytes());
        assert!(!response.valid);
        assert_eq!(
            response.message.unwrap(),
            format!(
                "outageFallback: cannot be set together with {how}: a Pod admitted on its owner's \
                 record during a registry outage must run the digest the record vouches for, which \
                 only pinning makes it do; leave pinning on (Pods at least)"
            )
        );
    }
    for pins in ["pods", "all"] {
        let mut pinned = settings();
        pinned["pinDigests"] = json!(pins);
        assert!(admission::validate_settings(pinned.to_string().as_bytes()).valid);
    }
}

// ---- a controller's child during an outage ----------------------------------

/// A CREATE of `kind` running `image`, made by the controller `owner`.
fn child(kind: &str, image: &str, owner: &Value, controller: bool) -> Value {
    let mut req = request(kind, image);
    req["object"]["metadata"]["name"] = json!("");
    req["object"]["metadata"]["generateName"] = json!("demo-");
    req["object"]["metadata"]["ownerReferences"] = json!([{
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": UID, "controller": controller, "blockOwnerDeletion": true
    }]);
    req
}

fn outage_host(owner: &Value) -> FakeHost {
    let host = host().with_resource(owner.clone());
    host.stop_registry();
    host
}

/// In a namespace `warn` names, a child its owner's record vouched for is
/// recorded as that (`owner-verified`), pinned: nothing failed, so nothing
/// was admitted on a warning.
#[test]
fn a_vouched_child_in_a_warn_namespace_is_owner_verified_not_warned() {
    let mut settings = settings();
    settings["warn"] = json!({"namespaces": ["default"]});
    let owner = created("ReplicaSet", SIGNED, &settings);
    let req = child("Pod", SIGNED, &owner, true);
    let host = outage_host(&owner);
    let response = validate(&host, &req, &settings);
    assert!(response.accepted, "{:?}", response.message);
    let pod = stored(&response, &req);
    assert_eq!(
        annotation_of(&pod, "status").as_deref(),
        Some("owner-verified")
    );
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{SIGNED}@{}", digest_of(SIGNED_CANONICAL))
    );
}

#[test]
fn a_pod_of_a_verified_replicaset_rides_out_an_outage_pinned_to_the_recorded_digest() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let req = child("Pod", SIGNED, &owner, true);
    let host = outage_host(&owner);
    let response = validate(&host, &req, &settings);
    let pod = stored(&response, &req);
    let digest = digest_of(SIGNED_CANONICAL);
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{SIGNED}@{digest}")
    );
    assert_eq!(
        pod["spec"]["initContainers"][0]["image"],
        format!("{SIGNED}@{digest}")
    );
    assert_eq!(
        annotation_of(&pod, "status").as_deref(),
        Some("owner-verified")
    );
    let entries: Value =
        serde_json::from_str(&annotation_of(&pod, "verified-images").unwrap()).unwrap();
    assert_eq!(
        entries,
        json!({SIGNED: {"digest": digest, "key": "a", "owner": "ReplicaSet/demo"}})
    );
    let warnings = response.warnings.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("could not be reached") && warnings[0].contains("ReplicaSet/demo")
    );
    assert_eq!(
        *host.resources_read.borrow(),
        ["apps/v1/ReplicaSet default/demo"],
        "one cluster read"
    );
}

/// A Pod admitted on its owner's record stays `owner-verified` through
/// updates that change no image (its entries keep naming the owner), until
/// an image is verified for the Pod itself.
#[test]
fn owner_verified_stays_so_until_an_image_is_verified_for_the_object() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let req = child("Pod", SIGNED, &owner, true);
    let mut pod = stored(&validate(&outage_host(&owner), &req, &settings), &req);
    pod["metadata"]["name"] = json!("demo-x7k2p");
    assert_eq!(
        annotation_of(&pod, "status").as_deref(),
        Some("owner-verified")
    );
    let entries = annotation_of(&pod, "verified-images");
    for (edit, new) in edits(&pod) {
        for host in [host(), outage_host(&owner)] {
            let req = update("Pod", &pod, new.clone());
            let object = stored(&validate(&host, &req, &settings), &req);
            assert_eq!(
                annotation_of(&object, "status").as_deref(),
                Some("owner-verified"),
                "{edit}"
            );
            assert_eq!(annotation_of(&object, "verified-images"), entries, "{edit}");
            assert_eq!(host.verify_calls(), 0, "{edit}");
        }
    }
    // An image verified for the Pod itself (here, an ephemeral container's
    // beside the carried one) does not make the carried one verified.
    let mut debugged = pod.clone();
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": OTHER}]);
    let req = update("Pod", &pod, debugged);
    let object = stored(&validate(&host(), &req, &settings), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("owner-verified")
    );
    // Its every image verified anew for it: verified.
    let mut updated = pod.clone();
    for field in ["containers", "initContainers"] {
        updated["spec"][field][0]["image"] = json!(OTHER);
    }
    let req = update("Pod", &pod, updated);
    let object = stored(&validate(&host(), &req, &settings), &req);
    assert_eq!(
        annotation_of(&object, "status").as_deref(),
        Some("verified")
    );
}

#[test]
fn every_controller_s_child_rides_out_an_outage_and_a_record_serves_its_children() {
    let settings = settings();
    for (child_kind, owner_kind) in [
        ("Pod", "Job"),
        ("Pod", "StatefulSet"),
        ("Pod", "DaemonSet"),
        ("Pod", "ReplicationController"),
        ("ReplicaSet", "Deployment"),
        ("Job", "CronJob"),
    ] {
        let owner = created(owner_kind, SIGNED, &settings);
        let req = child(child_kind, SIGNED, &owner, true);
        let response = validate(&outage_host(&owner), &req, &settings);
        assert!(
            response.accepted,
            "{child_kind} of {owner_kind}: {:?}",
            response.message
        );
    }
    // Deployment -> ReplicaSet -> Pod in one outage.
    let deployment = created("Deployment", SIGNED, &settings);
    let req = child("ReplicaSet", SIGNED, &deployment, true);
    let mut replicaset = stored(&validate(&outage_host(&deployment), &req, &settings), &req);
    replicaset["metadata"]["name"] = json!("demo");
    // The record of a ReplicaSet created with a name is sealed for it.
    let mut named = req.clone();
    named["object"]["metadata"]["name"] = json!("demo");
    let mut replicaset_named = stored(
        &validate(&outage_host(&deployment), &named, &settings),
        &named,
    );
    replicaset_named["metadata"]["uid"] = json!(UID);
    assert_eq!(
        annotation_of(&replicaset_named, "status").as_deref(),
        Some("owner-verified")
    );
    let pod = child("Pod", SIGNED, &replicaset_named, true);
    let response = validate(&outage_host(&replicaset_named), &pod, &settings);
    assert!(response.accepted, "{:?}", response.message);
    // One written before its name was known (generateName) vouches for nothing.
    replicaset["metadata"]["uid"] = json!(UID);
    let pod = child("Pod", SIGNED, &replicaset, true);
    assert!(!validate(&outage_host(&replicaset), &pod, &settings).accepted);
}

/// The denial a Pod of `owner` gets during an outage, with the cluster reads made.
fn denied_child(owner: &Value, req: &Value, settings: &Value) -> (ValidationResponse, usize) {
    let host = outage_host(owner);
    let response = validate(&host, req, settings);
    assert!(!response.accepted);
    assert_eq!(
        response.message.as_deref(),
        Some(
            "The image: Harbor.Example.NET:443/storefront/app:1.0 is not signed. key a: cannot \
             reach the registry (connection failed)"
        ),
        "denied as without the fallback"
    );
    let reads = host.resources_read.borrow().len();
    (response, reads)
}

#[test]
fn a_child_is_denied_as_before_when_its_owner_s_record_does_not_vouch() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let pod = child("Pod", SIGNED, &owner, true);
    let mut other_uid = owner.clone();
    other_uid["metadata"]["uid"] = json!("another-uid");
    let mut no_record = owner.clone();
    no_record["metadata"]["annotations"] = json!({});
    let other_images = created("ReplicaSet", OTHER, &settings);
    let mut other_rules = settings.clone();
    other_rules["verification"]["images"][0]["namePattern"] =
        json!("harbor.example.net/storefront/*");
    let mut copied = owner.clone();
    copied["metadata"]["name"] = json!("copied");
    let copied_pod = child("Pod", SIGNED, &copied, true);
    for (what, owner, req, settings, why) in [
        (
            "owner missing",
            json!({}),
            &pod,
            &settings,
            "cannot read its owner ReplicaSet/demo",
        ),
        (
            "another uid",
            other_uid,
            &pod,
            &settings,
            "is another object",
        ),
        ("no record", no_record, &pod, &settings, "carries no record"),
        (
            "a record for other images",
            other_images,
            &pod,
            &settings,
            "does not list",
        ),
        (
            "a record under other rules",
            owner.clone(),
            &pod,
            &other_rules,
            "other rules",
        ),
        (
            "a record copied onto another object",
            copied,
            &copied_pod,
            &settings,
            "seal",
        ),
    ] {
        let (response, reads) = denied_child(&owner, req, settings);
        assert_eq!(reads, 1, "{what}");
        let warnings = response.warnings.unwrap_or_default();
        assert!(
            warnings.iter().any(|w| w.contains(why)),
            "{what}: {warnings:?}"
        );
    }
}

#[test]
fn no_cluster_read_unless_it_could_serve() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    // Not a controller's reference; no record key; an UPDATE; a plain Pod.
    let not_controller = child("Pod", SIGNED, &owner, false);
    let mut unkeyed = settings.clone();
    unkeyed.as_object_mut().unwrap().remove("outageFallback");
    let mut as_update = child("Pod", SIGNED, &owner, true);
    as_update["operation"] = json!("UPDATE");
    as_update["oldObject"] = request("Pod", UNSIGNED)["object"].clone();
    for (what, req, settings) in [
        ("not the controller", &not_controller, &settings),
        (
            "no record key",
            &child("Pod", SIGNED, &owner, true),
            &unkeyed,
        ),
        ("an update", &as_update, &settings),
        ("no owner", &request("Pod", SIGNED), &settings),
    ] {
        let (_, reads) = denied_child(&owner, req, settings);
        assert_eq!(reads, 0, "{what}");
    }
    // The normal path pays nothing.
    let host = host().with_resource(owner.clone());
    assert!(validate(&host, &child("Pod", SIGNED, &owner, true), &settings).accepted);
    assert!(host.resources_read.borrow().is_empty());
}

#[test]
fn only_an_outage_falls_back_never_a_missing_signature_or_a_refusal() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let req = child("Pod", SIGNED, &owner, true);
    let server_error =
        "Cannot fetch manifest: Server error: url https://r/v2/, code: 503, message: down";
    for (error, falls_back) in [
        (server_error, true),
        (
            "no signatures found for image: harbor.example.net/storefront/app:1.0 ",
            false,
        ),
        (
            "Cannot fetch manifest: Not authorized: url https://r/v2/",
            false,
        ),
        (
            "Cannot fetch manifest: Server error: url https://r/v2/, code: 404, message: no",
            false,
        ),
        (
            "Policy has not been granted access to the 'oci/v2/verify' host capability.",
            false,
        ),
    ] {
        let host = FakeHost::new()
            .answer(SIGNED_CANONICAL, Err(error.to_string()))
            .with_resource(owner.clone());
        let response = validate(&host, &req, &settings);
        assert_eq!(response.accepted, falls_back, "{error}");
        assert_eq!(
            host.resources_read.borrow().len(),
            usize::from(falls_back),
            "{error}"
        );
    }
    // One image down and another refused: the whole request is denied.
    let two = {
        let mut req = child("Pod", SIGNED, &owner, true);
        req["object"]["spec"]["containers"][0]["image"] = json!(UNSIGNED);
        req
    };
    let host = FakeHost::new()
        .answer(SIGNED_CANONICAL, Err(CONNECTION_FAILED.to_string()))
        .with_resource(owner.clone());
    assert!(!validate(&host, &two, &settings).accepted);
    assert!(host.resources_read.borrow().is_empty());
}

#[test]
fn the_cluster_unreachable_fails_closed() {
    let settings = settings();
    let owner = created("ReplicaSet", SIGNED, &settings);
    let host = outage_host(&owner);
    *host.get_error.borrow_mut() = Some(
        "Policy has not been granted access to the 'kubernetes/get_resource' host capability."
            .to_string(),
    );
    let response = validate(&host, &child("Pod", SIGNED, &owner, true), &settings);
    assert!(!response.accepted);
    assert!(response.warnings.unwrap()[0].contains("cannot read its owner ReplicaSet/demo"));
}

#[test]
fn a_record_key_is_checked_when_the_policy_loads() {
    use signed_images_policy::settings::parse_settings;
    let mut short = settings();
    short["outageFallback"]["recordKey"] = json!("short");
    let error = parse_settings(&short.to_string()).unwrap_err().to_string();
    assert!(
        error.starts_with("outageFallback.recordKey: is 5 bytes long"),
        "{error}"
    );
    let mut missing = settings();
    missing["outageFallback"] = json!({});
    assert_eq!(
        parse_settings(&missing.to_string())
            .unwrap_err()
            .to_string(),
        "outageFallback.recordKey is missing"
    );
    let mut unknown = settings();
    unknown["outageFallback"]["enabled"] = json!(true);
    assert!(parse_settings(&unknown.to_string()).is_err());
}
