//! Admission cost on the host target, with a fake host that answers at once,
//! so the figures are the policy's own work: `cargo bench -p signed-images-policy`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{request, settings_file, yaml_to_json};
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2 as Question;
use serde_json::{json, Value};
use signed_images_policy::admission::validate;
use signed_images_policy::host::Host;
use signed_images_policy::settings::parse_settings;
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Mean time of `f` over enough runs to take about half a second.
fn measure(name: &str, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_millis(500) || runs < 10 {
        f();
        runs += 1;
    }
    let mean = started.elapsed() / runs;
    println!(
        "{name:<64} {:>10.1} µs/op  ({runs} runs)",
        mean.as_secs_f64() * 1e6
    );
    mean
}

/// A Deployment of `containers` containers running `distinct` different images.
fn deployment(containers: usize, distinct: usize) -> Value {
    let mut request = request("Deployment", "placeholder");
    let list: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("harbor.example.net/storefront/app{}:1.0", i % distinct)}))
        .collect();
    request["object"]["spec"]["template"]["spec"] = json!({"containers": list});
    request
}

fn payload(request: &Value, settings: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap()
}

/// Answers at once: every image is signed, the cluster holds `resource`.
struct BenchHost {
    resource: Value,
    calls: Cell<usize>,
}

impl Host for BenchHost {
    fn verify(&self, _question: &Question) -> Result<VerificationResponse, String> {
        self.calls.set(self.calls.get() + 1);
        Ok(VerificationResponse {
            is_trusted: true,
            digest: format!("sha256:{}", "ab".repeat(32)),
        })
    }

    fn list_all_resources(
        &self,
        _api_version: &str,
        _kind: &str,
        _selector: &str,
    ) -> Result<Value, String> {
        Ok(json!({"items": [self.resource]}))
    }

    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        // Only identities written as regular expressions ask for a digest.
        Err(format!("no digest of {image} in the benchmark"))
    }

    fn oci_manifest(&self, image: &str) -> Result<Value, String> {
        // The benchmark's keys are public keys: no signature manifest is read.
        Err(format!("no manifest of {image} in the benchmark"))
    }

    fn get_resource(
        &self,
        _api_version: &str,
        _kind: &str,
        _namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        // Verification never fails here, so no owner is read.
        Err(format!("no owner {name} in the benchmark"))
    }
}

fn main() {
    let host = BenchHost {
        resource: yaml_to_json(&std::fs::read_to_string("crds/example-image-policy.yaml").unwrap()),
        calls: Cell::new(0),
    };
    println!("signed-images-policy admission benchmark (host target, host answering at once)");
    let full = settings_file("full.yaml");
    let settings_text = full.to_string();
    measure(
        "compile the full.yaml settings (once per settings text)",
        || {
            black_box(parse_settings(black_box(&settings_text)).unwrap());
        },
    );

    for (containers, distinct) in [(1, 1), (20, 5), (100, 50)] {
        let body = payload(&deployment(containers, distinct), &full);
        host.calls.set(0);
        validate(&body, &host);
        let calls = host.calls.get();
        measure(
            &format!("Deployment, {containers} containers, {distinct} images ({calls} host calls)"),
            || {
                black_box(validate(black_box(&body), &host));
            },
        );
    }

    let request = deployment(20, 1);
    let inline_body = payload(&request, &settings_file("scst-policy.yaml"));
    let cluster_body = payload(&request, &json!({"clusterImagePolicy": true}));
    let inline_time = measure("SCST-Sign policy inline, 20 containers, 1 image", || {
        black_box(validate(black_box(&inline_body), &host));
    });
    let cluster_time = measure("the same policy read from the ClusterImagePolicy", || {
        black_box(validate(black_box(&cluster_body), &host));
    });
    println!(
        "reading and checking the ClusterImagePolicy: {:+.1} µs per admission",
        (cluster_time.as_secs_f64() - inline_time.as_secs_f64()) * 1e6
    );
}
