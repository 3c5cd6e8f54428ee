//! The waPC path of `PolicyHost`, with a tiny guest written in WebAssembly
//! text: `protocol_version` answers `"v1"`, `forward` sends its payload to the
//! `oci/v1/manifest_digest` host capability and returns the answer (or the
//! host error), any other function echoes its payload.

use serde_json::{json, Value};
use signed_images_devhost::registry::TestRegistry;
use signed_images_devhost::{HostConfig, PolicyHost};

const GUEST: &str = r#"
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kubewarden")
  (data (i32.const 16) "oci")
  (data (i32.const 32) "v1/manifest_digest")
  (data (i32.const 64) "\"v1\"")
  (data (i32.const 80) "protocol_version")
  (data (i32.const 96) "forward")

  (func $equal (param $a i32) (param $b i32) (param $len i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $n i32)
    (call $guest_request (i32.const 1024) (i32.const 4096))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then
        (if (call $equal (i32.const 1024) (i32.const 80) (i32.const 16))
          (then
            (call $guest_response (i32.const 64) (i32.const 4))
            (return (i32.const 1))))))
    (if (i32.eq (local.get $op_len) (i32.const 7))
      (then
        (if (call $equal (i32.const 1024) (i32.const 96) (i32.const 7))
          (then
            (if (call $host_call
                  (i32.const 0) (i32.const 10)
                  (i32.const 16) (i32.const 3)
                  (i32.const 32) (i32.const 18)
                  (i32.const 4096) (local.get $msg_len))
              (then
                (local.set $n (call $host_response_len))
                (call $host_response (i32.const 65536))
                (call $guest_response (i32.const 65536) (local.get $n))
                (return (i32.const 1)))
              (else
                (local.set $n (call $host_error_len))
                (call $host_error (i32.const 65536))
                (call $guest_error (i32.const 65536) (local.get $n))
                (return (i32.const 0))))))))
    (call $guest_response (i32.const 4096) (local.get $msg_len))
    (i32.const 1))
)
"#;

fn guest_file() -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".wat").tempfile().unwrap();
    std::fs::write(file.path(), GUEST).unwrap();
    file
}

#[test]
fn guest_functions_and_payload_envelopes() {
    let guest = guest_file();
    let host = PolicyHost::new(guest.path(), HostConfig::default()).unwrap();
    assert_eq!(host.protocol_version().unwrap(), "v1");

    let settings = json!({ "authorities": [] });
    assert_eq!(host.validate_settings(&settings).unwrap(), settings);

    let request = json!({ "uid": "u1", "object": { "kind": "Pod" } });
    assert_eq!(
        host.validate(&request, &settings).unwrap(),
        json!({ "request": request, "settings": settings })
    );
    assert!(host.calls().is_empty());
}

#[test]
fn guest_host_calls_reach_the_capabilities() {
    let registry = TestRegistry::start().unwrap();
    let out = tempfile::tempdir().unwrap();
    let fx = signed_images_devhost::fixtures::generate(registry.address(), out.path()).unwrap();
    let guest = guest_file();
    let host = PolicyHost::new(
        guest.path(),
        HostConfig {
            insecure_registries: vec![registry.address().to_string()],
            ..Default::default()
        },
    )
    .unwrap();

    let image = fx.image_ref("multiarch").unwrap();
    let answer = host
        .call_guest("forward", &serde_json::to_vec(&json!(image)).unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap(),
        json!({ "digest": fx.digest("multiarch").unwrap() })
    );

    let missing = format!("{}/missing:v1", registry.address());
    let err = host
        .call_guest("forward", &serde_json::to_vec(&json!(missing)).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot fetch the manifest digest of") && err.contains("missing:v1"),
        "{err}"
    );

    assert_eq!(host.calls().get("oci/v1/manifest_digest"), Some(&2));
    let log = host.call_log();
    assert_eq!(log.len(), 2);
    assert!(log[0].ok && !log[1].ok);
    assert_eq!(log[0].payload, json!(image).to_string());
}
