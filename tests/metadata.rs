//! policy-metadata.yml and artifacthub-pkg.yml say the same thing, and match
//! what the code covers.

mod common;

use common::yaml_to_json;
use serde_json::Value;
use signed_images_policy::cluster_policy;
use signed_images_policy::workload::{api_group, pod_spec_path};

fn read(name: &str) -> Value {
    yaml_to_json(
        &std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
}

#[test]
fn metadata_and_artifacthub_agree() {
    let metadata = read("policy-metadata.yml");
    let artifacthub = read("artifacthub-pkg.yml");
    let annotations = &artifacthub["annotations"];
    assert_eq!(metadata["mutating"], Value::Bool(true));
    assert_eq!(annotations["kubewarden/mutation"], "true");
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(
        yaml_to_json(annotations["kubewarden/rules"].as_str().unwrap()),
        metadata["rules"]
    );
    assert_eq!(
        yaml_to_json(
            annotations["kubewarden/contextAwareResources"]
                .as_str()
                .unwrap()
        ),
        metadata["contextAwareResources"]
    );
    assert_eq!(
        annotations["kubewarden/resources"],
        metadata["annotations"]["io.artifacthub.resources"]
    );
    assert_eq!(artifacthub["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn rules_cover_exactly_the_kinds_the_policy_unwraps() {
    let metadata = read("policy-metadata.yml");
    let resources: Vec<String> = metadata["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    for (kind, resource) in [
        ("Pod", "pods"),
        ("Deployment", "deployments"),
        ("ReplicaSet", "replicasets"),
        ("StatefulSet", "statefulsets"),
        ("DaemonSet", "daemonsets"),
        ("Job", "jobs"),
        ("CronJob", "cronjobs"),
        ("ReplicationController", "replicationcontrollers"),
    ] {
        assert!(pod_spec_path(kind).is_some(), "{kind}");
        let group = api_group(kind).unwrap();
        assert!(
            metadata["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule["apiGroups"][0] == group
                    && rule["resources"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(resource))),
            "{kind} is routed in group {group:?}"
        );
        assert!(resources.contains(&resource.to_string()), "{resource}");
        let status = format!("{resource}/status");
        assert!(
            metadata["rules"].as_array().unwrap().iter().any(|rule| {
                rule["apiGroups"][0] == group
                    && rule["resources"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(status.as_str()))
                    && rule["operations"] == serde_json::json!(["UPDATE"])
            }),
            "{status} is routed on UPDATE in group {group:?}"
        );
    }
    assert!(resources.contains(&"pods/ephemeralcontainers".to_string()));
    assert_eq!(resources.len(), 17);
    let context = &metadata["contextAwareResources"][0];
    assert_eq!(context["apiVersion"], cluster_policy::API_VERSION);
    assert_eq!(context["kind"], cluster_policy::KIND);
    assert_eq!(
        metadata["contextAwareResources"].as_array().unwrap().len(),
        1
    );
}
