//! The policy's work grows with the request, never faster: requests with
//! thousands of distinct images, in every list and through every path that
//! touches each image (matching, messages, warnings, edits, the record
//! carried by an UPDATE, the ephemeral-container check), cost about the same
//! per image as requests a quarter their size.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// The lists a pod spec names images in.
const LISTS: [&str; 4] = [
    "containers",
    "initContainers",
    "ephemeralContainers",
    "volumes",
];

/// `count` distinct images, dealt over the lists as `weights` says.
fn spec(count: usize, weights: [usize; 4], tag: &str) -> Value {
    let total: usize = weights.iter().sum::<usize>().max(1);
    let mut spec = Map::new();
    let mut next = 0;
    for (list, weight) in LISTS.iter().zip(weights) {
        let n = count * weight / total;
        let items: Vec<Value> = (next..next + n)
            .map(|i| {
                let image = format!("registry.example.org/team{}/app{i}:{tag}", i % 7);
                match *list {
                    "volumes" => json!({"name": format!("v{i}"), "image": {"reference": image}}),
                    _ => json!({"name": format!("c{i}"), "image": image}),
                }
            })
            .collect();
        next += n;
        spec.insert(list.to_string(), Value::Array(items));
    }
    // A pod spec runs at least one container.
    spec["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "main", "image": format!("registry.example.org/main:{tag}")}));
    Value::Object(spec)
}

/// Unmatched images admitted with a warning each: no host call, every image
/// matched, reported, recorded.
fn settings() -> Value {
    let mut settings = one_key("registry.example.org/never/*");
    settings["allowUnmatchedImages"] = json!(true);
    settings
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A Pod created with every image new.
    Create,
    /// A Pod updated leaving every image unchanged, its record carried.
    UnchangedUpdate,
    /// `pods/ephemeralcontainers` adding unmatched images to a Pod recorded
    /// verified: one denial line per image.
    EphemeralOnVerified,
}

fn request(shape: Shape, count: usize, weights: [usize; 4]) -> Value {
    let mut req = pod(&[]);
    req["object"]["spec"] = spec(count, weights, "1");
    match shape {
        Shape::Create => {}
        Shape::UnchangedUpdate => {
            // The old object's record lists every image, under these rules
            // (whose fingerprint a sealed record with an entry names).
            let signed = "registry.example.org/never/app:1";
            let host = FakeHost::new().sign(signed, &key("p256.pub"));
            let mut keyed = settings();
            keyed["outageFallback"] = json!({"recordKey": "r".repeat(32)});
            let created = validate(&host, &pod(&[signed]), &keyed);
            let rules = annotation(&created, "rules").unwrap().to_string();
            let entries: Map<String, Value> = every_image(&req["object"]["spec"])
                .map(|image| {
                    (
                        image,
                        json!({"digest": format!("sha256:{}", "1".repeat(64)), "key": "a"}),
                    )
                })
                .collect();
            req["object"]["metadata"]["annotations"] = json!({
                "image-policy.signing/status": "verified",
                "image-policy.signing/verified-images": Value::Object(entries).to_string(),
                "image-policy.signing/rules": rules,
            });
            req["operation"] = json!("UPDATE");
            req["oldObject"] = req["object"].clone();
            req["object"]["metadata"]["labels"]["tier"] = json!("web");
        }
        Shape::EphemeralOnVerified => {
            req["object"]["spec"] = spec(1, [1, 0, 0, 0], "1");
            req["object"]["metadata"]["annotations"] =
                json!({"image-policy.signing/status": "verified"});
            req["operation"] = json!("UPDATE");
            req["subResource"] = json!("ephemeralcontainers");
            req["oldObject"] = req["object"].clone();
            req["object"]["spec"]["ephemeralContainers"] =
                spec(count, [0, 0, 1, 0], "debug")["ephemeralContainers"].clone();
        }
    }
    req
}

fn every_image(spec: &Value) -> impl Iterator<Item = String> + '_ {
    LISTS.iter().flat_map(move |list| {
        spec[*list].as_array().into_iter().flatten().map(|item| {
            let image = item.get("image").unwrap();
            image
                .as_str()
                .unwrap_or_else(|| image["reference"].as_str().unwrap())
                .to_string()
        })
    })
}

/// The fastest of three evaluations of the request.
fn time(req: &Value) -> Duration {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings()})).unwrap();
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let response = validate_raw(&FakeHost::new(), &payload);
            let elapsed = started.elapsed();
            assert!(response.message.map_or(0, |m| m.len()) <= 4096 + 64);
            elapsed
        })
        .min()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn work_per_image_does_not_grow_with_the_request(
        count in 2000usize..4000,
        weights in prop::array::uniform4(1usize..4),
    ) {
        for shape in [Shape::Create, Shape::UnchangedUpdate, Shape::EphemeralOnVerified] {
            let small = time(&request(shape, count / 4, weights));
            let large = time(&request(shape, count, weights));
            // Linear work takes 4 times as long for 4 times the images,
            // quadratic work 16 times: allow twice linear, for noise.
            prop_assert!(
                large < small * 8 + Duration::from_millis(20),
                "{shape:?}: {} images took {large:?}, {} took {small:?}", count, count / 4
            );
        }
    }
}
