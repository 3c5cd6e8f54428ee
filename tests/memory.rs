//! The most memory one evaluation takes, on the largest requests the API
//! server sends: an UPDATE whose object and old object are each as large as
//! etcd stores (1.5 MiB), with the most images the policy verifies in one
//! request. Kubewarden 1.38 caps an evaluation at 256 MiB. Measured with a
//! counting allocator on the host target (its pointers are twice as wide as
//! the module's, so the module's heap is smaller still); the figure is in
//! docs/performance.md.

mod common;

use common::*;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// etcd's default limit on one stored object.
const MAX_OBJECT_BYTES: usize = 1536 * 1024;
/// Kubewarden 1.38's cap on one evaluation.
const EVALUATION_CAP: usize = 256 * 1024 * 1024;

/// A Deployment of `containers` containers over `distinct` signed images,
/// padded with an annotation to `MAX_OBJECT_BYTES`.
fn largest(containers: usize, distinct: usize) -> (Value, FakeHost) {
    let images: Vec<String> = (0..distinct)
        .map(|i| format!("harbor.example.net/storefront/app{i}:1.0"))
        .collect();
    let host = images.iter().fold(FakeHost::new(), |host, image| {
        host.sign(image, &key("p256.pub"))
    });
    let mut req = request("Deployment", &images[0]);
    let spec = &mut req["object"]["spec"]["template"]["spec"];
    spec["containers"] = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": images[i % distinct]}))
        .collect();
    let size = req["object"].to_string().len();
    req["object"]["metadata"]["annotations"]["padding"] =
        json!("x".repeat(MAX_OBJECT_BYTES.saturating_sub(size + 64)));
    // An UPDATE that changes every image: the old object as large again.
    let mut old = req["object"].clone();
    for container in old["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
    {
        container["image"] = json!("harbor.example.net/storefront/previous:0.9");
    }
    req["operation"] = json!("UPDATE");
    req["oldObject"] = old;
    (req, host)
}

#[test]
fn the_largest_request_stays_far_below_the_evaluation_cap() {
    let mut settings = one_key("harbor.example.net/*");
    settings["pinDigests"] = json!("all");
    let mut peaks = Vec::new();
    for (containers, distinct) in [(1, 1), (100, 100), (2000, 100)] {
        let (req, host) = largest(containers, distinct);
        let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
        assert!(payload.len() > 2 * MAX_OBJECT_BYTES, "{}", payload.len());
        let before = IN_USE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let response = validate_raw(&host, &payload);
        assert!(response.accepted, "{:?}", response.message);
        let peak = PEAK.load(Ordering::SeqCst) - before;
        println!(
            "{containers} containers, {distinct} images, request {} bytes: peak heap {} bytes",
            payload.len(),
            peak
        );
        peaks.push(peak);
    }
    let peak = peaks.into_iter().max().unwrap();
    assert!(
        peak < EVALUATION_CAP / 8,
        "peak {peak} bytes: an eighth of the cap is the room the docs promise"
    );
}
