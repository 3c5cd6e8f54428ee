//! What an admitted request becomes: pinned digests, the annotations stamped, and every other byte of the object kept.

mod common;

use common::*;
use serde_json::{json, Value};

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
    req["object"]["spec"]["containers"][0]["image"] = json!("harbor.example.net/storefront/new:2");
    let host = signed_host().sign("harbor.example.net/storefront/new:2", &key("p256.pub"));
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
        format!("{{\"{UNSIGNED}\": {{\"digest\": \"sha256:forged\", \"key\": \"storefront-release\"}}}}")
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
        json!({SIGNED: {"digest": digest_of(SIGNED_CANONICAL), "key": "storefront-release"}})
    );
}

for_every_kind!(mutation_keeps_every_other_field,);
