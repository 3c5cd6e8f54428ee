//! The `oci` host capabilities against a local registry holding the fixtures.
//! Each test owns its registry, which is stopped when the test ends, even on
//! failure.

use serde_json::{json, Value};
use signed_images_devhost::fixtures::{self, Fixtures};
use signed_images_devhost::registry::TestRegistry;
use signed_images_devhost::{Capabilities, HostConfig};

struct Env {
    caps: Capabilities,
    fx: Fixtures,
    _out: tempfile::TempDir,
    _registry: TestRegistry,
}

fn env() -> Env {
    let registry = TestRegistry::start().expect("start the registry");
    let out = tempfile::tempdir().unwrap();
    let fx = fixtures::generate(registry.address(), out.path()).expect("generate the fixtures");
    let caps = Capabilities::new(HostConfig {
        insecure_registries: vec![registry.address().to_string()],
        ..Default::default()
    })
    .unwrap();
    Env {
        caps,
        fx,
        _out: out,
        _registry: registry,
    }
}

impl Env {
    fn call(&self, namespace: &str, operation: &str, payload: &Value) -> Result<Value, String> {
        self.caps
            .call(
                "kubewarden",
                namespace,
                operation,
                &serde_json::to_vec(payload).unwrap(),
            )
            .map(|answer| serde_json::from_slice(&answer).unwrap())
            .map_err(|e| format!("{e:#}"))
    }

    fn verify(&self, payload: Value) -> Result<Value, String> {
        self.call("oci", "v2/verify", &payload)
    }

    fn verify_keys(
        &self,
        image: &str,
        keys: &[&str],
        annotations: Option<Value>,
    ) -> Result<Value, String> {
        let pub_keys: Vec<String> = keys.iter().map(|k| self.fx.key_pem(k).unwrap()).collect();
        self.verify(json!({
            "type": "SigstorePubKeyVerify",
            "image": self.fx.image_ref(image).unwrap(),
            "pub_keys": pub_keys,
            "annotations": annotations,
        }))
    }

    fn verify_cert(
        &self,
        image: &str,
        chain: Option<&[&str]>,
        require_rekor_bundle: bool,
        annotations: Option<Value>,
    ) -> Result<Value, String> {
        let bytes = |name: &str| self.fx.cert_pem(name).unwrap().into_bytes();
        let chain: Option<Vec<Vec<u8>>> =
            chain.map(|names| names.iter().map(|n| bytes(n)).collect());
        self.verify(json!({
            "type": "SigstoreCertificateVerify",
            "image": self.fx.image_ref(image).unwrap(),
            "certificate": bytes("leaf"),
            "certificate_chain": chain,
            "require_rekor_bundle": require_rekor_bundle,
            "annotations": annotations,
        }))
    }

    fn trusted(&self, name: &str) -> Value {
        json!({ "is_trusted": true, "digest": self.fx.digest(name).unwrap() })
    }
}

#[track_caller]
fn assert_err_contains(result: Result<Value, String>, needle: &str) {
    match result {
        Ok(v) => panic!("expected an error containing {needle:?}, got {v}"),
        Err(e) => assert!(
            e.contains(needle),
            "error {e:?} does not contain {needle:?}"
        ),
    }
}

#[test]
fn key_a_verifies_its_images_and_returns_the_registry_digest() {
    let env = env();
    for image in ["signed-a", "signed-ab", "annotated", "multiarch"] {
        let answer = env.verify_keys(image, &["a"], None).unwrap();
        assert_eq!(answer, env.trusted(image), "{image}");
        // The digest is the one the registry serves for the tag.
        let served = env
            .call(
                "oci",
                "v1/manifest_digest",
                &json!(env.fx.image_ref(image).unwrap()),
            )
            .unwrap();
        assert_eq!(served["digest"], answer["digest"], "{image}");
    }
}

#[test]
fn other_keys_do_not_verify() {
    let env = env();
    assert_err_contains(env.verify_keys("signed-a", &["b"], None), "no signature of");
    assert_err_contains(
        env.verify_keys("signed-b", &["a"], None),
        "public key #1 of 1",
    );
    assert_eq!(
        env.verify_keys("signed-b", &["b"], None).unwrap(),
        env.trusted("signed-b")
    );
    assert_eq!(
        env.verify_keys("signed-ab", &["b"], None).unwrap(),
        env.trusted("signed-ab")
    );
}

#[test]
fn every_listed_key_must_have_signed() {
    let env = env();
    assert_eq!(
        env.verify_keys("signed-ab", &["a", "b"], None).unwrap(),
        env.trusted("signed-ab")
    );
    assert_err_contains(
        env.verify_keys("signed-a", &["a", "b"], None),
        "public key #2 of 2",
    );
}

#[test]
fn unsigned_tampered_and_wrong_digest_images_fail() {
    let env = env();
    assert_err_contains(
        env.verify_keys("unsigned", &["a"], None),
        "no signature found for image",
    );
    assert_err_contains(env.verify_keys("tampered", &["a"], None), "no signature of");
    assert_err_contains(
        env.verify_keys("wrong-digest", &["a"], None),
        "no signature found for image",
    );
    // The signature copied into wrong-digest is valid for the image it names.
    assert!(env.verify_keys("signed-a", &["a"], None).is_ok());
}

#[test]
fn required_annotations() {
    let env = env();
    let prod = Some(json!({ "env": "prod" }));
    assert_eq!(
        env.verify_keys("annotated", &["a"], prod.clone()).unwrap(),
        env.trusted("annotated")
    );
    assert_eq!(
        env.verify_keys(
            "annotated",
            &["a"],
            Some(json!({ "env": "prod", "team": "payments" }))
        )
        .unwrap(),
        env.trusted("annotated")
    );
    assert_err_contains(env.verify_keys("signed-a", &["a"], prod), "annotations");
    assert_err_contains(
        env.verify_keys("annotated", &["a"], Some(json!({ "env": "dev" }))),
        "no signature of",
    );
}

#[test]
fn certificate_with_chain() {
    let env = env();
    assert_eq!(
        env.verify_cert("cert-signed", Some(&["intermediate", "root"]), false, None)
            .unwrap(),
        env.trusted("cert-signed")
    );
    // Without a chain the certificate is trusted as given.
    assert_eq!(
        env.verify_cert("cert-signed", None, false, None).unwrap(),
        env.trusted("cert-signed")
    );
    // No Rekor bundle in the fixtures.
    assert_err_contains(
        env.verify_cert("cert-signed", Some(&["intermediate", "root"]), true, None),
        "Rekor bundle",
    );
    // A chain that does not lead to the leaf's issuer.
    assert_err_contains(
        env.verify_cert("cert-signed", Some(&["root"]), false, None),
        "cannot be used",
    );
    // signed-a carries a key-A signature, not one of the leaf key.
    assert_err_contains(
        env.verify_cert("signed-a", Some(&["intermediate", "root"]), false, None),
        "no signature of",
    );
    assert_err_contains(
        env.verify_cert(
            "cert-signed",
            Some(&["intermediate", "root"]),
            false,
            Some(json!({ "env": "prod" })),
        ),
        "annotations",
    );
}

#[test]
fn rsa_and_ed25519_keys() {
    let env = env();
    assert_eq!(
        env.verify_keys("rsa-signed", &["rsa"], None).unwrap(),
        env.trusted("rsa-signed")
    );
    assert_eq!(
        env.verify_keys("ed25519-signed", &["ed25519"], None)
            .unwrap(),
        env.trusted("ed25519-signed")
    );
    assert_err_contains(
        env.verify_keys("rsa-signed", &["a"], None),
        "no signature of",
    );
    assert_err_contains(
        env.verify_keys("signed-a", &["ed25519"], None),
        "no signature of",
    );
}

#[test]
fn manifest_digest_and_call_counts() {
    let env = env();
    for image in ["signed-a", "unsigned", "multiarch"] {
        let answer = env
            .call(
                "oci",
                "v1/manifest_digest",
                &json!(env.fx.image_ref(image).unwrap()),
            )
            .unwrap();
        assert_eq!(answer, json!({ "digest": env.fx.digest(image).unwrap() }));
    }
    assert_err_contains(
        env.call(
            "oci",
            "v1/manifest_digest",
            &json!(format!("{}/missing:v1", env.fx.registry)),
        ),
        "cannot fetch the manifest digest",
    );
    env.verify_keys("signed-a", &["a"], None).unwrap();

    let calls = env.caps.calls();
    assert_eq!(calls.get("oci/v1/manifest_digest"), Some(&4));
    assert_eq!(calls.get("oci/v2/verify"), Some(&1));
    let log = env.caps.call_log();
    assert_eq!(log.len(), 5);
    assert!(!log[3].ok);
    assert!(log[4].payload.contains("SigstorePubKeyVerify"));
    env.caps.reset_calls();
    assert!(env.caps.calls().is_empty());
}

#[test]
fn keyless_requests_are_refused() {
    let env = env();
    let image = env.fx.image_ref("signed-a").unwrap();
    for payload in [
        json!({
            "type": "SigstoreKeylessVerify",
            "image": image,
            "keyless": [{ "issuer": "https://issuer.test", "subject": "someone@example.test" }],
            "annotations": null,
        }),
        json!({
            "type": "SigstoreKeylessPrefixVerify",
            "image": image,
            "keyless_prefix": [{ "issuer": "https://issuer.test", "url_prefix": "https://example.test" }],
            "annotations": null,
        }),
        json!({
            "type": "SigstoreGithubActionsVerify",
            "image": image,
            "owner": "someone",
            "repo": null,
            "annotations": null,
        }),
    ] {
        assert_err_contains(env.verify(payload), "public Sigstore infrastructure");
    }
}

#[test]
fn fixtures_json_describes_the_fixtures() {
    let env = env();
    let path = env._out.path().join("fixtures.json");
    let loaded = Fixtures::load(&path).unwrap();
    assert_eq!(loaded.registry, env.fx.registry);
    assert_eq!(loaded.images, env.fx.images);
    assert_eq!(loaded.images.len(), 11);
    for key in ["a", "b", "rsa", "ed25519"] {
        assert!(loaded
            .key_pem(key)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
    }
    let chain = loaded.cert_pem("chain").unwrap();
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    let digests: std::collections::BTreeSet<&str> =
        loaded.images.values().map(|i| i.digest.as_str()).collect();
    assert_eq!(digests.len(), loaded.images.len(), "digests must differ");
    assert_eq!(
        loaded.image("multiarch").unwrap().reference,
        format!("{}/multiarch:v1", loaded.registry)
    );
}
