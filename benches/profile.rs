//! One admission of each case of `make load`, on the host target with the
//! fake host, for an instruction profile of the policy's own work:
//!
//!   cargo bench -p signed-images-policy --bench profile --no-run
//!   valgrind --tool=callgrind target/release/deps/profile-* CASE [RUNS]
//!
//! (`scripts/profile.sh` runs every case and prints the split.) Every run
//! reads the settings and the request anew, as policy-server's fresh
//! instance per request does.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::admission::validate as admit;
use std::hint::black_box;

const SIGNED: &str = "harbor.example.net/storefront/app:1.0";
const EMAIL_ISSUER: &str = "https://oidc.fixtures.test";
const EMAIL: &str = "signer@fixtures.test";

fn scst(keys: &[&str]) -> Value {
    json!({"verification": {
        "keys": [{"name": "a", "publicKey": key("p256.pub")}, {"name": "b", "publicKey": key("p384.pub")}],
        "images": [{"namePattern": "harbor.example.net/*", "keys": keys.iter().map(|k| json!({"name": k})).collect::<Vec<_>>()}]},
        "allowUnmatchedImages": true})
}

/// The case's request, settings and host.
fn case(name: &str) -> Option<(Value, Value, FakeHost)> {
    let signed_a = || FakeHost::new().sign(SIGNED, &key("p256.pub"));
    Some(match name {
        "pod" => (pod(&[SIGNED]), scst(&["a"]), signed_a()),
        "no-host-call" => (pod(&["nginx:1.25"]), scst(&["a"]), FakeHost::new()),
        "second-key" => (pod(&[SIGNED]), scst(&["b", "a"]), signed_a()),
        "deployment-50" => {
            let images: Vec<String> = (0..5)
                .map(|i| format!("harbor.example.net/storefront/fleet-{i}:1.0"))
                .collect();
            let host = images
                .iter()
                .fold(FakeHost::new(), |h, i| h.sign(i, &key("p256.pub")));
            let mut req = request("Deployment", &images[0]);
            req["object"]["spec"]["template"]["spec"]["containers"] = (0..50)
                .map(|i| json!({"name": format!("c{i}"), "image": images[i % 5]}))
                .collect();
            (req, scst(&["a"]), host)
        }
        "keyless" => {
            let host = FakeHost::new().sign_keyless(
                SIGNED,
                &format!("{EMAIL_ISSUER}|{EMAIL}"),
                &key("keyless-email.crt"),
                true,
            );
            let settings = json!({"verification": {
                "keys": [{"name": "k", "keyless": {"issuer": EMAIL_ISSUER, "subject": EMAIL}}],
                "images": [{"namePattern": "harbor.example.net/*", "keys": [{"name": "k"}]}]}});
            (pod(&[SIGNED]), settings, host)
        }
        "policy-controller" => {
            let settings = json!({"clusterImagePolicies": [{
                "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": "storefront"},
                "spec": {"images": [{"glob": "harbor.example.net/**"}],
                    "authorities": [{"key": {"data": key("p256.pub")}}]}}],
                "noMatchPolicy": "allow"});
            (pod(&[SIGNED]), settings, signed_a())
        }
        _ => return None,
    })
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let name = args.next().unwrap_or_else(|| "pod".to_string());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1);
    let Some((request, settings, host)) = case(&name) else {
        eprintln!("unknown case {name}: pod, no-host-call, second-key, deployment-50, keyless, policy-controller");
        std::process::exit(2);
    };
    let payload = serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
    for _ in 0..runs {
        black_box(admit(black_box(&payload), &host).to_json());
    }
}
