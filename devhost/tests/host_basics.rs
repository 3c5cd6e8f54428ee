//! Host capabilities that need no registry, the admission response and the
//! test registry itself.

use serde_json::{json, Value};
use signed_images_devhost::registry::TestRegistry;
use signed_images_devhost::response::{admission_request, admission_response};
use signed_images_devhost::{Capabilities, HostConfig};

fn caps(resources_dir: Option<&std::path::Path>) -> Capabilities {
    Capabilities::new(HostConfig {
        resources_dir: resources_dir.map(|d| d.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

fn call(caps: &Capabilities, ns: &str, op: &str, payload: &Value) -> Result<Value, String> {
    caps.call("kubewarden", ns, op, &serde_json::to_vec(payload).unwrap())
        .map(|answer| serde_json::from_slice(&answer).unwrap())
        .map_err(|e| format!("{e:#}"))
}

fn resources_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policies.yaml"),
        r#"
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: first
spec:
  images: [{glob: "registry.test/*"}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: second
  labels: {team: payments}
---
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secret.json"),
        r#"{"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "keys", "namespace": "cosign-system"},
            "data": {"cosign.pub": "AAAA"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a resource").unwrap();
    dir
}

fn list(api_version: &str, kind: &str, field_selector: Option<&str>) -> Value {
    json!({
        "api_version": api_version,
        "kind": kind,
        "label_selector": null,
        "field_selector": field_selector,
        "field_masks": null,
    })
}

#[test]
fn list_resources_all_reads_the_directory() {
    let dir = resources_dir();
    let caps = caps(Some(dir.path()));
    let all = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list("policy.sigstore.dev/v1beta1", "ClusterImagePolicy", None),
    )
    .unwrap();
    assert_eq!(all["apiVersion"], "v1");
    assert_eq!(all["kind"], "List");
    assert_eq!(all["metadata"], json!({}));
    let names: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "second"]);

    let one = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list(
            "policy.sigstore.dev/v1beta1",
            "ClusterImagePolicy",
            Some("metadata.name=second"),
        ),
    )
    .unwrap();
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["items"][0]["metadata"]["labels"]["team"], "payments");

    let by_label = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &json!({
            "api_version": "policy.sigstore.dev/v1beta1",
            "kind": "ClusterImagePolicy",
            "label_selector": "team=payments",
        }),
    )
    .unwrap();
    assert_eq!(by_label["items"][0]["metadata"]["name"], "second");

    let secrets = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list("v1", "Secret", Some("metadata.namespace=cosign-system")),
    )
    .unwrap();
    assert_eq!(secrets["items"][0]["data"]["cosign.pub"], "AAAA");

    let none = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list("v1", "Secret", Some("metadata.namespace=default")),
    )
    .unwrap();
    assert_eq!(none["items"], json!([]));

    let err = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list("v1", "Secret", Some("status.phase=Running")),
    )
    .unwrap_err();
    assert!(err.contains("unsupported field selector"), "{err}");
}

#[test]
fn get_resource_reads_the_directory() {
    let dir = resources_dir();
    let caps = caps(Some(dir.path()));
    let get = |name: &str, namespace: Option<&str>| {
        call(
            &caps,
            "kubernetes",
            "get_resource",
            &json!({
                "api_version": "v1",
                "kind": "Secret",
                "name": name,
                "namespace": namespace,
                "disable_cache": false,
                "field_masks": null,
            }),
        )
    };
    assert_eq!(
        get("keys", Some("cosign-system")).unwrap()["metadata"]["name"],
        "keys"
    );
    assert_eq!(
        get("missing", Some("cosign-system")).unwrap_err(),
        "Secret \"missing\" not found"
    );
    assert_eq!(
        get("keys", Some("default")).unwrap_err(),
        "Secret \"keys\" not found"
    );
}

#[test]
fn kubernetes_calls_without_resources_dir_fail() {
    let caps = caps(None);
    let err = call(
        &caps,
        "kubernetes",
        "list_resources_all",
        &list("v1", "Secret", None),
    )
    .unwrap_err();
    assert!(err.contains("no Kubernetes cluster is configured"), "{err}");
}

#[test]
fn unknown_capabilities_and_bad_payloads() {
    let caps = caps(None);
    let err = caps.call("kubewarden", "foo", "bar", b"{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown host capability kubewarden/foo/bar"
    );
    let err = caps.call("other", "oci", "v2/verify", b"{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown host capability other/oci/v2/verify"
    );
    let err = caps
        .call("kubewarden", "oci", "v2/verify", b"not json")
        .unwrap_err();
    assert!(err.to_string().contains("invalid oci/v2/verify payload"));
    // Guest logging is accepted.
    caps.call(
        "kubewarden",
        "tracing",
        "log",
        br#"{"level":"info","message":"hello"}"#,
    )
    .unwrap();

    let calls = caps.calls();
    assert_eq!(calls.get("foo/bar"), Some(&1));
    assert_eq!(calls.get("other/oci/v2/verify"), Some(&1));
    assert_eq!(calls.get("oci/v2/verify"), Some(&1));
    assert_eq!(calls.get("tracing/log"), Some(&1));
}

#[test]
fn admission_review_is_unwrapped() {
    let request = json!({ "uid": "abc", "object": {} });
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    });
    assert_eq!(admission_request(review).unwrap(), request);
    assert_eq!(admission_request(request.clone()).unwrap(), request);
}

#[test]
fn admission_response_like_kwctl() {
    let request = json!({
        "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
        "object": { "metadata": { "name": "pod" }, "spec": { "containers": [{ "image": "busybox:1" }] } },
    });

    let accepted = admission_response(
        &request,
        &json!({ "accepted": true, "message": null, "code": null, "mutated_object": null,
                 "warnings": ["careful"], "audit_annotations": null }),
    )
    .unwrap();
    assert_eq!(
        accepted,
        json!({ "uid": "1299d386-525b-4032-98ae-1949f69f9cfc", "allowed": true, "warnings": ["careful"] })
    );

    let denied = admission_response(
        &request,
        &json!({ "accepted": false, "message": "image not signed", "code": 403 }),
    )
    .unwrap();
    assert_eq!(denied["allowed"], false);
    assert_eq!(
        denied["status"],
        json!({ "message": "image not signed", "code": 403 })
    );
    assert!(denied.get("patch").is_none());

    let mut mutated = request["object"].clone();
    mutated["spec"]["containers"][0]["image"] = json!("busybox@sha256:0123");
    let patched = admission_response(
        &request,
        &json!({ "accepted": true, "mutated_object": mutated }),
    )
    .unwrap();
    assert_eq!(patched["patchType"], "JSONPatch");
    let ops = json!([{ "op": "replace", "path": "/spec/containers/0/image", "value": "busybox@sha256:0123" }]);
    assert_eq!(patched["patchOps"], ops);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(patched["patch"].as_str().unwrap())
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap(), ops);
}

#[test]
fn test_registry_starts_and_stops() {
    let registry = TestRegistry::start().unwrap();
    let address = registry.address().to_string();
    assert!(address.starts_with("127.0.0.1:"));
    let pid = registry.pid();
    let dir = registry.dir().to_path_buf();
    assert!(std::net::TcpStream::connect(&address).is_ok());
    drop(registry);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the registry process is still there"
    );
    assert!(!dir.exists(), "the registry directory is still there");
}
