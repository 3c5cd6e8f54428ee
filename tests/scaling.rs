//! The policy's work grows with the request, never faster: requests with
//! thousands of distinct images, in every list and through every path that
//! touches each image (matching, messages, warnings, edits, the record
//! carried by an UPDATE, the ephemeral-container check), cost about the same
//! per image as requests a quarter their size.
//!
//! Work is counted, not timed (a clock on a busy machine says little): the
//! heap allocations of one evaluation and the bytes they ask for, counted by
//! this test's allocator on the evaluating thread only. Every copy, message,
//! list and map the policy builds per image allocates, so work that grows
//! faster than the images (a message rebuilt per image, a list copied per
//! image) shows in the counts, the same on every run. The host calls are
//! counted too: one per distinct image, whatever the request's size.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations and their bytes made on each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: a thread being torn down has no counters left.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let _ = BYTES.try_with(|n| n.set(n.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let _ = BYTES.try_with(|n| n.set(n.get() + new_size));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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

/// The work of one evaluation of the request: (allocations, bytes).
fn work(req: &Value) -> (usize, usize) {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings()})).unwrap();
    let host = FakeHost::new();
    let before = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    let response = validate_raw(&host, &payload);
    let after = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    assert!(response.message.map_or(0, |m| m.len()) <= 4096 + 64);
    (after.0 - before.0, after.1 - before.1)
}

#[test]
fn the_count_sees_work_that_grows_faster_than_the_images() {
    // The measure itself: building n strings of n bytes is n² bytes.
    let bytes = |n: usize| {
        let before = BYTES.with(Cell::get);
        let rows: Vec<String> = (0..n).map(|_| "x".repeat(n)).collect();
        assert_eq!(rows.len(), n);
        BYTES.with(Cell::get) - before
    };
    assert!(bytes(400) > bytes(100) * 8);
}

#[test]
fn each_distinct_image_is_asked_about_once_whatever_the_request_s_size() {
    for count in [50, 200] {
        let images: Vec<String> = (0..count)
            .map(|i| format!("registry.example.org/team/app{}:1", i % (count / 2)))
            .collect();
        let host = images.iter().fold(FakeHost::new(), |host, image| {
            host.sign(image, &key("p256.pub"))
        });
        let refs: Vec<&str> = images.iter().map(String::as_str).collect();
        let response = validate(&host, &pod(&refs), &one_key("registry.example.org/*"));
        assert!(response.accepted, "{:?}", response.message);
        assert_eq!(host.verify_calls(), count / 2, "{count} containers");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn work_per_image_does_not_grow_with_the_request(
        count in 2000usize..4000,
        weights in prop::array::uniform4(1usize..4),
    ) {
        for shape in [Shape::Create, Shape::UnchangedUpdate, Shape::EphemeralOnVerified] {
            let small = work(&request(shape, count / 4, weights));
            let large = work(&request(shape, count, weights));
            // Linear work is 4 times as much for 4 times the images,
            // quadratic work 16 times: allow twice linear (a growing
            // buffer doubles, so its bytes are linear only within 2).
            prop_assert!(
                large.0 <= small.0 * 8 && large.1 <= small.1 * 8,
                "{shape:?}: {} images took {large:?} (allocations, bytes), {} took {small:?}",
                count, count / 4
            );
        }
    }
}
