//! Rules read from the cluster's ClusterImagePolicy: the same decisions as the
//! same rules inline; missing, invalid and edited resources.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

const SIGNED: &str = "harbor.example.net/storefront/app:1.0";
const UNSIGNED: &str = "harbor.example.net/storefront/evil:1.0";

fn example_resource() -> Value {
    yaml_to_json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crds/example-image-policy.yaml"
        ))
        .unwrap(),
    )
}

fn cluster_settings() -> Value {
    json!({"clusterImagePolicy": true})
}

fn host_with(resource: Value) -> FakeHost {
    FakeHost::new()
        .sign(SIGNED, &key("p256.pub"))
        .with_resource(resource)
}

/// The parts of a response that make a decision.
fn decision(response: &ValidationResponse) -> Value {
    json!({
        "accepted": response.accepted,
        "message": response.message,
        "code": response.code,
        "warnings": response.warnings,
        "audit": response.audit_annotations,
        "object": response.mutated_object,
    })
}

#[test]
fn the_documented_resource_decides_like_the_same_policy_inline() {
    let inline = settings_file("scst-policy.yaml");
    let mut requests = vec![
        pod(&[SIGNED]),
        pod(&[UNSIGNED]),
        pod(&["nginx"]),
        pod(&[SIGNED, "nginx"]),
    ];
    let mut excluded = pod(&[UNSIGNED]);
    excluded["namespace"] = json!("build-agents");
    requests.push(excluded);
    for kind in ["Deployment", "CronJob", "ReplicationController"] {
        requests.push(request(kind, SIGNED));
        requests.push(request(kind, UNSIGNED));
    }
    for req in &requests {
        let from_cluster = validate(&host_with(example_resource()), req, &cluster_settings());
        let from_settings = validate(&host_with(json!({})), req, &inline);
        assert_eq!(
            decision(&from_cluster),
            decision(&from_settings),
            "{}",
            req["object"]["spec"]
        );
    }
}

#[test]
fn a_missing_resource_admits_with_scst_warning() {
    let host = FakeHost::new();
    let response = validate(&host, &pod(&[UNSIGNED]), &cluster_settings());
    assert!(response.accepted);
    assert_eq!(
        response.warnings,
        Some(vec!["clusterimagepolicies.signing.apps.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied.".to_string()])
    );
    // Nothing checked: nothing recorded.
    assert!(response.mutated_object.is_none());

    // A resource of another name is not the policy.
    let mut other = example_resource();
    other["metadata"]["name"] = json!("not-the-policy");
    let response = validate(
        &FakeHost::new().with_resource(other),
        &pod(&[UNSIGNED]),
        &cluster_settings(),
    );
    assert!(response.accepted);
    assert!(response.mutated_object.is_none());
}

#[test]
fn an_invalid_resource_denies_and_says_which_field() {
    for (edit, needle) in [
        (json!({"keys": [{"name": "storefront-release", "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}]}),
         "spec.verification.keys[0] (storefront-release): publicKey: not a PEM"),
        (json!({"images": [{"namePattern": "*", "keys": [{"name": "second-key"}]}]}),
         "spec.verification.images[0].keys[0].name: key \"second-key\" is not defined in spec.verification.keys"),
        (json!({"imagess": []}), "spec.verification.imagess: unknown field `imagess`"),
    ] {
        let mut resource = example_resource();
        for (field, value) in edit.as_object().unwrap() {
            resource["spec"]["verification"][field] = value.clone();
        }
        let response = validate(&host_with(resource), &pod(&[SIGNED]), &cluster_settings());
        assert!(!response.accepted, "{needle}");
        let message = response.message.unwrap();
        assert!(message.starts_with("ClusterImagePolicy \"image-policy\" is invalid"), "{message}");
        assert!(message.contains(needle), "{message}");
    }
    let mut no_spec = example_resource();
    no_spec.as_object_mut().unwrap().remove("spec");
    let message = validate(&host_with(no_spec), &pod(&[SIGNED]), &cluster_settings())
        .message
        .unwrap();
    assert!(message.contains("spec: invalid type: null"), "{message}");
}

#[test]
fn an_edit_between_two_requests_takes_effect_at_once() {
    let host = host_with(example_resource());
    assert!(!validate(&host, &pod(&["nginx"]), &cluster_settings()).accepted);

    // The operator adds a pattern for nginx, signed by the same key.
    let mut edited = example_resource();
    edited["spec"]["verification"]["images"]
        .as_array_mut()
        .unwrap()
        .push(json!({"namePattern": "nginx", "keys": [{"name": "storefront-release"}]}));
    *host.resources.borrow_mut() = vec![edited];
    let response = validate(&host, &pod(&["nginx"]), &cluster_settings());
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap()
        .starts_with("The image: nginx is not signed."));

    // And then deletes the resource.
    host.resources.borrow_mut().clear();
    assert!(validate(&host, &pod(&["nginx"]), &cluster_settings()).accepted);
    assert_eq!(*host.list_calls.borrow(), 3, "read on every evaluation");
}

#[test]
fn inline_rules_never_read_the_cluster() {
    let host = host_with(example_resource());
    validate(&host, &pod(&[SIGNED]), &settings_file("scst-policy.yaml"));
    assert_eq!(*host.list_calls.borrow(), 0);
}

#[test]
fn a_cluster_that_cannot_be_read_denies() {
    let host = host_with(example_resource());
    *host.list_error.borrow_mut() = Some("the API server is unreachable".to_string());
    let response = validate(&host, &pod(&[SIGNED]), &cluster_settings());
    assert!(!response.accepted);
    assert_eq!(response.code, Some(500));
    assert_eq!(
        response.message.as_deref(),
        Some("cannot read ClusterImagePolicy \"image-policy\" (signing.apps.tanzu.vmware.com/v1beta1): the API server is unreachable")
    );
}

#[test]
fn a_threshold_in_the_cluster_resource_is_applied_and_checked() {
    let mut resource = example_resource();
    let spec = &mut resource["spec"]["verification"];
    spec["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "second-key", "publicKey": key("p384.pub")}));
    spec["images"][0]["keys"] = json!([{"name": "storefront-release"}, {"name": "second-key"}]);
    spec["images"][0]["threshold"] = json!(2);
    let one_key = host_with(resource.clone());
    let denied = validate(&one_key, &pod(&[SIGNED]), &cluster_settings());
    assert!(!denied.accepted);
    assert!(denied.message.unwrap().contains("1 of the 2 keys"));
    let both = FakeHost::new()
        .sign(SIGNED, &key("p256.pub"))
        .sign(SIGNED, &key("p384.pub"))
        .with_resource(resource.clone());
    assert!(validate(&both, &pod(&[SIGNED]), &cluster_settings()).accepted);

    // A threshold above the keys named makes the resource invalid: everything is refused.
    resource["spec"]["verification"]["images"][0]["threshold"] = json!(3);
    let denied = validate(&host_with(resource), &pod(&[SIGNED]), &cluster_settings());
    assert!(!denied.accepted);
    assert!(
        denied
            .message
            .unwrap()
            .contains("images[0].threshold: 3 keys must verify"),
        "the field is named"
    );
}

/// Every mistake of the resource is named in the one denial: the operator
/// fixes them in one apply while every image it covers is refused.
#[test]
fn an_invalid_resource_names_every_mistake_at_once() {
    let mut resource = example_resource();
    let spec = &mut resource["spec"]["verification"];
    spec["keys"] = json!([
        {"name": "storefront-release", "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
        {"name": "storefront-release", "publicKey": key("p384.pub")},
        {"name": "ci", "githubActions": {"owner": " "}}
    ]);
    spec["images"] = json!([
        {"namePattern": "harbor.example.net/storefront/*", "keys": [{"name": "storefront-release"}, {"name": "second-key"}]},
        {"namePattern": "nginx", "keys": [{"name": "ci"}], "threshold": 0}
    ]);
    let message = validate(&host_with(resource), &pod(&[SIGNED]), &cluster_settings())
        .message
        .unwrap();
    assert_eq!(
        message,
        "ClusterImagePolicy \"image-policy\" is invalid, so every image is refused until it is fixed: \
         spec.verification.keys[0] (storefront-release): publicKey: not a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo): \
         SubjectPublicKeyInfo: expected DER tag 0x30, found 0x00; \
         spec.verification.keys[1].name: key name \"storefront-release\" is defined twice; \
         spec.verification.keys[2] (ci): githubActions.owner must not be empty (leave the field out if it is not wanted); \
         spec.verification.images[0].keys[1].name: key \"second-key\" is not defined in spec.verification.keys; \
         spec.verification.images[1].threshold: must be at least 1"
    );
}
