//! End-to-end: the compiled policy module in wasmtime, its host calls answered
//! for real against a local registry holding cosign signatures.
//!
//! One registry and one set of fixtures serve every scenario; the registry is
//! stopped when the run ends, pass or fail. Needs `POLICY_WASM` (set by
//! `make devhost-tests`) or `policy.wasm` at the top of the repository.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use signed_images_devhost::fixtures::{self, Fixtures};
use signed_images_devhost::registry::TestRegistry;
use signed_images_devhost::{HostConfig, PolicyHost};
use std::path::{Path, PathBuf};
use std::time::Instant;

const NO_POLICY: &str = "clusterimagepolicies.signing.apps.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied.";

struct World {
    fixtures: Fixtures,
    policy: PolicyHost,
    /// Answers the kubernetes capability from `resources`.
    cluster_policy: PolicyHost,
    resources: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn image(&self, name: &str) -> String {
        self.fixtures.image_ref(name).unwrap()
    }

    fn digest(&self, name: &str) -> String {
        self.fixtures.digest(name).unwrap()
    }

    fn key(&self, name: &str) -> String {
        self.fixtures.key_pem(name).unwrap()
    }

    /// Settings where every image of the registry needs one of `keys` (names
    /// of fixture keys), with optional required annotations.
    fn settings(&self, keys: &[&str], annotations: Option<Value>) -> Value {
        let mut entry = json!({
            "namePattern": format!("{}/*", self.fixtures.registry),
            "keys": keys.iter().map(|k| json!({"name": k})).collect::<Vec<_>>(),
        });
        if let Some(annotations) = annotations {
            entry["annotations"] = annotations;
        }
        json!({"verification": {
            "exclude": {"resources": {"namespaces": ["kube-system"]}},
            "keys": self.all_keys(),
            "images": [entry],
        }})
    }

    fn all_keys(&self) -> Value {
        json!([
            {"name": "a", "publicKey": self.key("a")},
            {"name": "b", "publicKey": self.key("b")},
            {"name": "rsa", "publicKey": self.key("rsa")},
            {"name": "ed25519", "publicKey": self.key("ed25519")},
            {"name": "ca", "certificate": self.fixtures.cert_pem("leaf").unwrap(),
             "certificateChain": [self.fixtures.cert_pem("intermediate").unwrap(), self.fixtures.cert_pem("root").unwrap()],
             "requireRekorBundle": false},
            {"name": "ca-with-rekor", "certificate": self.fixtures.cert_pem("leaf").unwrap(),
             "certificateChain": [self.fixtures.cert_pem("intermediate").unwrap(), self.fixtures.cert_pem("root").unwrap()]},
            {"name": "keyless", "keyless": {"issuer": "https://token.actions.githubusercontent.com", "subject": "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"}},
        ])
    }

    fn run(&self, request: &Value, settings: &Value) -> Value {
        self.policy
            .validate(request, settings)
            .expect("the module answers")
    }

    fn verify_calls(&self) -> usize {
        self.policy
            .calls()
            .get("oci/v2/verify")
            .copied()
            .unwrap_or(0)
    }
}

/// The kinds of the request fixtures in `test_data/requests`: every kind the
/// policy covers has one.
fn kinds() -> Vec<String> {
    let dir = repo_root().join("test_data/requests");
    let mut kinds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let request: Value = serde_json::from_str(&text).unwrap();
            request["kind"]["kind"].as_str().unwrap().to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 8, "one request fixture per covered kind");
    kinds
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A request fixture of `test_data/requests` with every image set to `image`.
fn request(kind: &str, image: &str) -> Value {
    let path = repo_root().join(format!("test_data/requests/{}.json", kind.to_lowercase()));
    serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap()
            .replace("__IMAGE__", image),
    )
    .unwrap()
}

fn pod(images: &[&str]) -> Value {
    let mut req = request("Pod", "placeholder");
    req["object"]["spec"] = json!({"containers": images.iter().enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image})).collect::<Vec<_>>()});
    req
}

fn annotation<'a>(response: &'a Value, name: &str) -> &'a Value {
    &response["mutated_object"]["metadata"]["annotations"][format!("image-policy.signing/{name}")]
}

fn verified_images(response: &Value) -> Value {
    serde_json::from_str(
        annotation(response, "verified-images")
            .as_str()
            .unwrap_or("null"),
    )
    .unwrap()
}

fn message(response: &Value) -> &str {
    response["message"].as_str().unwrap_or_default()
}

// ---- scenarios ----------------------------------------------------------

fn protocol_version(w: &World) -> Result<()> {
    ensure!(w.policy.protocol_version()? == "v1");
    Ok(())
}

fn every_kind_signed_is_admitted(w: &World) -> Result<()> {
    let image = w.image("signed-a");
    for kind in kinds() {
        let kind = kind.as_str();
        let response = w.run(&request(kind, &image), &w.settings(&["a"], None));
        ensure!(response["accepted"] == true, "{kind}: {response}");
        ensure!(
            annotation(&response, "status") == "verified",
            "{kind}: {response}"
        );
        ensure!(
            verified_images(&response)
                == json!({image.clone(): {"digest": w.digest("signed-a"), "key": "a"}}),
            "{kind}: {response}"
        );
    }
    Ok(())
}

fn every_kind_unsigned_is_denied(w: &World) -> Result<()> {
    let image = w.image("unsigned");
    for kind in kinds() {
        let kind = kind.as_str();
        let response = w.run(&request(kind, &image), &w.settings(&["a"], None));
        ensure!(
            response["accepted"] == false && response["code"] == 403,
            "{kind}: {response}"
        );
        let text = message(&response);
        ensure!(
            text.starts_with(&format!(
                "The image: {image} is not signed. key a: no signature found for image {image}"
            )),
            "{kind}: the host's reason follows SCST-Sign's sentence: {text}"
        );
        ensure!(response["mutated_object"].is_null());
    }
    Ok(())
}

fn every_image_field_is_verified(w: &World) -> Result<()> {
    let signed = w.image("signed-a");
    let unsigned = w.image("unsigned");
    for field in ["initContainers", "ephemeralContainers"] {
        let mut req = pod(&[&signed]);
        req["object"]["spec"][field] = json!([{"name": "x", "image": unsigned}]);
        let response = w.run(&req, &w.settings(&["a"], None));
        ensure!(response["accepted"] == false, "{field}: {response}");
    }
    let mut req = pod(&[&signed]);
    req["object"]["spec"]["volumes"] = json!([{"name": "v", "image": {"reference": unsigned}}]);
    ensure!(
        w.run(&req, &w.settings(&["a"], None))["accepted"] == false,
        "image volume"
    );
    req["object"]["spec"]["volumes"][0]["image"]["reference"] = json!(signed);
    ensure!(
        w.run(&req, &w.settings(&["a"], None))["accepted"] == true,
        "signed image volume"
    );
    Ok(())
}

fn any_of_keys(w: &World) -> Result<()> {
    // Signed by A only; the entry lists B first: B fails, A verifies.
    w.policy.reset_calls();
    let response = w.run(
        &pod(&[&w.image("signed-a")]),
        &w.settings(&["b", "a"], None),
    );
    ensure!(response["accepted"] == true, "{response}");
    ensure!(verified_images(&response)[w.image("signed-a")]["key"] == "a");
    ensure!(w.verify_calls() == 2, "calls: {}", w.verify_calls());

    // Signed by both: the first key listed verifies, the second is never asked.
    w.policy.reset_calls();
    let response = w.run(
        &pod(&[&w.image("signed-ab")]),
        &w.settings(&["b", "a"], None),
    );
    ensure!(
        verified_images(&response)[w.image("signed-ab")]["key"] == "b",
        "{response}"
    );
    ensure!(w.verify_calls() == 1);

    // Signed by B only, entry trusts A only.
    let response = w.run(&pod(&[&w.image("signed-b")]), &w.settings(&["a"], None));
    ensure!(response["accepted"] == false, "{response}");
    Ok(())
}

fn one_host_call_per_distinct_image(w: &World) -> Result<()> {
    let image = w.image("signed-a");
    let mut req = request("Deployment", &image);
    let containers: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    req["object"]["spec"]["template"]["spec"]["containers"] = json!(containers);
    w.policy.reset_calls();
    let response = w.run(&req, &w.settings(&["a"], None));
    ensure!(response["accepted"] == true, "{response}");
    ensure!(
        w.verify_calls() == 1,
        "10 containers and 1 init container of one image: {} calls",
        w.verify_calls()
    );
    Ok(())
}

fn key_types(w: &World) -> Result<()> {
    for (image, key) in [
        ("rsa-signed", "rsa"),
        ("ed25519-signed", "ed25519"),
        ("cert-signed", "ca"),
    ] {
        let response = w.run(&pod(&[&w.image(image)]), &w.settings(&[key], None));
        ensure!(
            response["accepted"] == true,
            "{image} with {key}: {response}"
        );
        ensure!(verified_images(&response)[w.image(image)]["digest"] == w.digest(image));
    }
    let response = w.run(
        &pod(&[&w.image("cert-signed")]),
        &w.settings(&["ca-with-rekor"], None),
    );
    ensure!(response["accepted"] == false, "no Rekor bundle: {response}");
    let response = w.run(&pod(&[&w.image("signed-a")]), &w.settings(&["ca"], None));
    ensure!(
        response["accepted"] == false,
        "key A is not the certificate: {response}"
    );
    let response = w.run(
        &pod(&[&w.image("signed-a")]),
        &w.settings(&["keyless"], None),
    );
    ensure!(response["accepted"] == false, "{response}");
    ensure!(message(&response).contains("key keyless: "), "{response}");
    Ok(())
}

fn required_annotations(w: &World) -> Result<()> {
    let prod = Some(json!({"env": "prod"}));
    let response = w.run(
        &pod(&[&w.image("annotated")]),
        &w.settings(&["a"], prod.clone()),
    );
    ensure!(response["accepted"] == true, "{response}");
    let response = w.run(&pod(&[&w.image("signed-a")]), &w.settings(&["a"], prod));
    ensure!(
        response["accepted"] == false,
        "signed-a carries no annotations: {response}"
    );
    let response = w.run(
        &pod(&[&w.image("annotated")]),
        &w.settings(&["a"], Some(json!({"env": "staging"}))),
    );
    ensure!(response["accepted"] == false, "{response}");
    Ok(())
}

fn tampered_and_misdirected_signatures(w: &World) -> Result<()> {
    for image in ["tampered", "wrong-digest"] {
        let response = w.run(&pod(&[&w.image(image)]), &w.settings(&["a"], None));
        ensure!(response["accepted"] == false, "{image}: {response}");
        ensure!(message(&response)
            .starts_with(&format!("The image: {} is not signed.", w.image(image))));
    }
    Ok(())
}

fn digest_pinning(w: &World) -> Result<()> {
    let image = w.image("signed-a");
    let response = w.run(&request("Pod", &image), &w.settings(&["a"], None));
    let pinned = format!("{image}@{}", w.digest("signed-a"));
    ensure!(
        response["mutated_object"]["spec"]["containers"][0]["image"] == pinned,
        "{response}"
    );
    ensure!(response["mutated_object"]["spec"]["initContainers"][0]["image"] == pinned);

    // A multi-architecture index is pinned to the index digest it was signed over.
    let multiarch = w.image("multiarch");
    let response = w.run(&pod(&[&multiarch]), &w.settings(&["a"], None));
    ensure!(
        response["mutated_object"]["spec"]["containers"][0]["image"]
            == format!("{multiarch}@{}", w.digest("multiarch")),
        "{response}"
    );

    // Controllers are not pinned by default.
    let response = w.run(&request("Deployment", &image), &w.settings(&["a"], None));
    ensure!(
        response["mutated_object"]["spec"]["template"]["spec"]["containers"][0]["image"] == image
    );

    // A reference pinned to another image's digest does not verify.
    let wrong = format!("{image}@{}", w.digest("signed-b"));
    let response = w.run(&pod(&[&wrong]), &w.settings(&["a"], None));
    ensure!(response["accepted"] == false, "{response}");
    // A reference pinned to its own digest verifies and is kept.
    let response = w.run(&pod(&[&pinned]), &w.settings(&["a"], None));
    ensure!(response["accepted"] == true, "{response}");
    Ok(())
}

fn excluded_namespace_and_unmatched_images(w: &World) -> Result<()> {
    let unsigned = w.image("unsigned");
    let mut req = pod(&[&unsigned]);
    req["namespace"] = json!("kube-system");
    w.policy.reset_calls();
    let response = w.run(&req, &w.settings(&["a"], None));
    ensure!(
        response["accepted"] == true && annotation(&response, "status") == "excluded",
        "{response}"
    );
    ensure!(w.verify_calls() == 0);

    let response = w.run(&pod(&["nginx:1.25"]), &w.settings(&["a"], None));
    ensure!(
        message(&response)
            == "Could not verify against any image policies for container image: nginx:1.25.",
        "{response}"
    );
    let mut allow = w.settings(&["a"], None);
    allow["allowUnmatchedImages"] = json!(true);
    let response = w.run(&pod(&["nginx:1.25", &w.image("signed-a")]), &allow);
    ensure!(response["accepted"] == true, "{response}");
    ensure!(annotation(&response, "status") == "unmatched-allowed");
    ensure!(
        response["warnings"] == json!(["nginx:1.25 did not match any image policies. Container will be created as AllowUnmatchedImages flag is true."]),
        "{response}"
    );
    let response = w.run(&pod(&[&unsigned]), &json!({}));
    ensure!(
        response["accepted"] == true && response["warnings"] == json!([NO_POLICY]),
        "{response}"
    );
    ensure!(annotation(&response, "status") == "no-policy");
    Ok(())
}

fn forged_status_is_overwritten(w: &World) -> Result<()> {
    let mut req = request("Deployment", &w.image("unsigned"));
    req["object"]["metadata"]["annotations"]["image-policy.signing/status"] = json!("verified");
    ensure!(w.run(&req, &w.settings(&["a"], None))["accepted"] == false);
    req["namespace"] = json!("kube-system");
    let response = w.run(&req, &w.settings(&["a"], None));
    ensure!(annotation(&response, "status") == "excluded", "{response}");
    Ok(())
}

fn settings_rejected_at_load(w: &World) -> Result<()> {
    for (settings, needle) in [
        (json!({"verification": {"keys": [{"name": "a", "publicKey": "junk"}]}}), "verification.keys[0] (a): publicKey: not a PEM"),
        (json!({"verification": {"keys": [], "images": [{"namePattern": "*", "keys": [{"name": "missing"}]}]}}),
         "verification.images[0].keys[0].name: key \"missing\" is not defined in verification.keys"),
        (json!({"verification": {"imagez": []}}), "verification.imagez: unknown field `imagez`"),
        (json!({"pinDigests": "always"}), "pinDigests: unknown variant `always`"),
    ] {
        let answer = w.policy.validate_settings(&settings)?;
        ensure!(answer["valid"] == false, "{settings}: {answer}");
        ensure!(answer["message"].as_str().unwrap_or_default().contains(needle), "{answer}");
    }
    ensure!(
        w.policy
            .validate_settings(&w.settings(&["a", "ca"], None))?["valid"]
            == true
    );
    ensure!(w.policy.validate_settings(&json!({}))?["valid"] == true);
    Ok(())
}

fn bad_requests_are_denied_not_trapped(w: &World) -> Result<()> {
    let no_image = json!({
        "request": {"operation": "CREATE", "kind": {"group": "", "kind": "Pod"}, "object": {"spec": {"containers": [{"name": "a"}]}}},
        "settings": w.settings(&["a"], None),
    });
    for payload in [b"not json".to_vec(), serde_json::to_vec(&no_image)?] {
        let answer: Value = serde_json::from_slice(&w.policy.call_guest("validate", &payload)?)?;
        ensure!(
            answer["accepted"] == false && answer["code"] == 400,
            "{answer}"
        );
        ensure!(
            message(&answer).starts_with("cannot read the admission request: "),
            "{answer}"
        );
    }
    let response = w.run(&pod(&["Not A Reference"]), &w.settings(&["a"], None));
    ensure!(
        message(&response).contains("invalid image reference"),
        "{response}"
    );
    // The module still works after bad input.
    ensure!(w.run(&pod(&[&w.image("signed-a")]), &w.settings(&["a"], None))["accepted"] == true);
    Ok(())
}

fn cluster_resource(w: &World, spec: Value) -> Result<()> {
    let resource = json!({
        "apiVersion": "signing.apps.tanzu.vmware.com/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "image-policy"},
        "spec": spec,
    });
    std::fs::write(
        w.resources.join("image-policy.yaml"),
        serde_yaml::to_string(&resource)?,
    )?;
    Ok(())
}

fn cluster_policy_decides_like_inline(w: &World) -> Result<()> {
    // SCST-Sign's documented example, with its registry and key pointed at the
    // fixtures: the same spec inline and as the cluster resource.
    let example = std::fs::read_to_string(repo_root().join("crds/example-image-policy.yaml"))?
        .replace("registry.example.org/myproject", &w.fixtures.registry)
        .replace("registry.example.org", &w.fixtures.registry);
    let mut resource: Value = serde_yaml::from_str(&example)?;
    resource["spec"]["verification"]["keys"][0]["publicKey"] = json!(w.key("a"));
    std::fs::write(
        w.resources.join("image-policy.yaml"),
        serde_yaml::to_string(&resource)?,
    )?;
    let inline = resource["spec"].clone();
    let cluster = json!({"clusterImagePolicy": true});

    let mut excluded = pod(&[&w.image("unsigned")]);
    excluded["namespace"] = json!("my-excluded-namespace");
    let requests = [
        pod(&[&w.image("signed-a")]),
        pod(&[&w.image("unsigned")]),
        pod(&["nginx"]),
        request("Deployment", &w.image("signed-a")),
        request("CronJob", &w.image("signed-b")),
        excluded,
    ];
    let mut accepted = 0;
    for req in &requests {
        let from_cluster = w.cluster_policy.validate(req, &cluster)?;
        let from_settings = w.run(req, &inline);
        ensure!(
            from_cluster == from_settings,
            "cluster: {from_cluster}\ninline: {from_settings}"
        );
        accepted += usize::from(from_cluster["accepted"] == true);
    }
    ensure!(
        accepted == 3,
        "signed-a twice and the excluded namespace are admitted, the rest denied"
    );
    Ok(())
}

fn cluster_policy_missing_and_invalid(w: &World) -> Result<()> {
    let cluster = json!({"clusterImagePolicy": true});
    std::fs::remove_file(w.resources.join("image-policy.yaml")).ok();
    let response = w
        .cluster_policy
        .validate(&pod(&[&w.image("unsigned")]), &cluster)?;
    ensure!(
        response["accepted"] == true && response["warnings"] == json!([NO_POLICY]),
        "{response}"
    );

    let mut spec = w.settings(&["a"], None);
    spec["verification"]["images"][0]["keys"] = json!([{"name": "nobody"}]);
    cluster_resource(w, spec)?;
    let response = w
        .cluster_policy
        .validate(&pod(&[&w.image("signed-a")]), &cluster)?;
    ensure!(response["accepted"] == false, "{response}");
    ensure!(
        message(&response)
            .contains("spec.verification.images[0].keys[0].name: key \"nobody\" is not defined"),
        "{response}"
    );
    std::fs::remove_file(w.resources.join("image-policy.yaml"))?;
    Ok(())
}

// ---- harness ------------------------------------------------------------

type Scenario = (&'static str, fn(&World) -> Result<()>);

const SCENARIOS: &[Scenario] = &[
    ("protocol_version", protocol_version),
    (
        "every_kind_signed_is_admitted",
        every_kind_signed_is_admitted,
    ),
    (
        "every_kind_unsigned_is_denied",
        every_kind_unsigned_is_denied,
    ),
    (
        "every_image_field_is_verified",
        every_image_field_is_verified,
    ),
    ("any_of_keys", any_of_keys),
    (
        "one_host_call_per_distinct_image",
        one_host_call_per_distinct_image,
    ),
    ("key_types", key_types),
    ("required_annotations", required_annotations),
    (
        "tampered_and_misdirected_signatures",
        tampered_and_misdirected_signatures,
    ),
    ("digest_pinning", digest_pinning),
    (
        "excluded_namespace_and_unmatched_images",
        excluded_namespace_and_unmatched_images,
    ),
    ("forged_status_is_overwritten", forged_status_is_overwritten),
    ("settings_rejected_at_load", settings_rejected_at_load),
    (
        "bad_requests_are_denied_not_trapped",
        bad_requests_are_denied_not_trapped,
    ),
    (
        "cluster_policy_decides_like_inline",
        cluster_policy_decides_like_inline,
    ),
    (
        "cluster_policy_missing_and_invalid",
        cluster_policy_missing_and_invalid,
    ),
];

fn setup() -> Result<(TestRegistry, World)> {
    let wasm = std::env::var_os("POLICY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("policy.wasm"));
    ensure!(
        wasm.exists(),
        "{} is missing: run `make policy.wasm` (or `make devhost-tests`)",
        wasm.display()
    );
    let registry = TestRegistry::start().context("starting the registry")?;
    let dir = tempfile::tempdir()?;
    let fixtures =
        fixtures::generate(registry.address(), &dir.path().join("fixtures")).context("fixtures")?;
    let resources = dir.path().join("resources");
    std::fs::create_dir_all(&resources)?;
    let config = HostConfig {
        insecure_registries: vec![registry.address().to_string()],
        ..Default::default()
    };
    let policy = PolicyHost::new(&wasm, config.clone())?;
    let cluster_policy = PolicyHost::new(
        &wasm,
        HostConfig {
            resources_dir: Some(resources.clone()),
            ..config
        },
    )?;
    Ok((
        registry,
        World {
            fixtures,
            policy,
            cluster_policy,
            resources,
            _dir: dir,
        },
    ))
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let started = Instant::now();
    let (registry, world) = match setup() {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("end-to-end setup failed: {e:#}");
            std::process::exit(1);
        }
    };
    println!(
        "registry {} (pid {}), {} scenarios",
        registry.address(),
        registry.pid(),
        SCENARIOS.len()
    );
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in SCENARIOS {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&world)));
        match outcome {
            Ok(Ok(())) => {
                passed += 1;
                println!("test e2e::{name} ... ok");
            }
            Ok(Err(e)) => {
                failed += 1;
                println!("test e2e::{name} ... FAILED\n    {e:#}");
            }
            Err(_) => {
                failed += 1;
                println!("test e2e::{name} ... FAILED (panicked)");
            }
        }
    }
    drop(world);
    drop(registry);
    println!(
        "\ne2e: {passed} passed, {failed} failed ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
