//! A fake Kubewarden host for tests: a table of signatures and cluster
//! resources, and a record of every call the policy makes.
#![allow(dead_code)]

use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2 as Question;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use signed_images_policy::admission;
use signed_images_policy::host::Host;
use signed_images_policy::workload::COVERED_KINDS;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

pub fn test_data(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

pub fn key(name: &str) -> String {
    test_data(&format!("keys/{name}"))
}

/// A YAML settings file of `test_data/settings`, as the JSON the host sends.
pub fn settings_file(name: &str) -> Value {
    yaml_to_json(&test_data(&format!("settings/{name}")))
}

pub fn yaml_to_json(yaml: &str) -> Value {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("valid YAML");
    serde_json::to_value(value).expect("YAML that is JSON")
}

pub fn digest_of(seed: &str) -> String {
    // Not a real hash: a stable, well-formed digest per image name.
    let hex: String = seed
        .bytes()
        .map(|b| format!("{:02x}", b))
        .collect::<String>();
    format!("sha256:{:0<64}", &hex[..hex.len().min(64)])
}

/// One signature in the fake registry.
#[derive(Clone)]
struct Signature {
    image: String,
    signer: String,
    digest: String,
    annotations: BTreeMap<String, String>,
    /// A keyless signature's certificate (PEM), in its `.sig` layer.
    certificate: Option<String>,
    /// Whether the layer's signature verifies under that certificate (a
    /// forgery copies a genuine certificate next to a signature it did not make).
    signed_by_certificate: bool,
}

#[derive(Default)]
pub struct FakeHost {
    signatures: Vec<Signature>,
    /// Answers that replace the verification for an image (bad host replies).
    overrides: BTreeMap<String, Result<VerificationResponse, String>>,
    pub resources: RefCell<Vec<Value>>,
    pub questions: RefCell<Vec<Value>>,
    pub list_calls: RefCell<usize>,
    /// When set, listing cluster resources fails with this message.
    pub list_error: RefCell<Option<String>>,
    /// The `.sig` manifests the policy read, by reference.
    pub manifests_read: RefCell<Vec<String>>,
    /// When set, every registry question fails as the host's do when the
    /// registry cannot be reached.
    pub registry_down: RefCell<bool>,
    /// The objects read with `get_resource`, as `apiVersion/Kind ns/name`.
    pub resources_read: RefCell<Vec<String>>,
    /// When set, reading one cluster object fails with this message.
    pub get_error: RefCell<Option<String>>,
    /// The images whose digest the policy asked for.
    pub digests_read: RefCell<Vec<String>>,
    /// cosign 3 bundles: (image, keyless signer `issuer|subject`, or `None`
    /// for a key-signed one), each listed in the image's fallback index.
    bundles: Vec<(String, Option<String>)>,
    /// Manifests by reference, read instead of what the signatures make
    /// (a fallback tag's index, a referrer manifest).
    manifests: BTreeMap<String, Value>,
    /// A host of Kubewarden 1.36 and later: keyless questions are also
    /// answered from cosign 3 bundles (keyless ones, no annotations).
    pub verifies_bundles: bool,
}

/// What the host says when a registry cannot be reached.
pub const CONNECTION_FAILED: &str = "failed to get image trusted layers: Cannot fetch manifest: \
    error sending request for url (https://registry.example.org/v2/myproject/app/manifests/1.0)";

impl FakeHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// `image` (canonical form) is signed by `signer` (a PEM, or a keyless
    /// identity `issuer|subject`).
    pub fn sign(mut self, image: &str, signer: &str) -> Self {
        self.signatures.push(Signature {
            image: image.to_string(),
            signer: signer.to_string(),
            digest: digest_of(image.split('@').next().unwrap()),
            annotations: BTreeMap::new(),
            certificate: None,
            signed_by_certificate: false,
        });
        self
    }

    /// A keyless signature of `image` by `signer` (`issuer|subject`, or
    /// `github|owner|repo`) whose `.sig` layer carries `certificate`: as the
    /// host does, keyless questions are answered from the signer alone;
    /// `signed` says whether the layer's signature verifies under the
    /// certificate, which only a `certificate` question checks.
    pub fn sign_keyless(
        mut self,
        image: &str,
        signer: &str,
        certificate: &str,
        signed: bool,
    ) -> Self {
        self.signatures.push(Signature {
            image: image.to_string(),
            signer: signer.to_string(),
            digest: digest_of(image.split('@').next().unwrap()),
            annotations: BTreeMap::new(),
            certificate: Some(certificate.to_string()),
            signed_by_certificate: signed,
        });
        self
    }

    pub fn sign_with_annotations(
        self,
        image: &str,
        signer: &str,
        annotations: &[(&str, &str)],
    ) -> Self {
        self.sign_keyless_with_annotations(image, signer, None, true, annotations)
    }

    /// A signature of `image` by `signer` whose payload carries
    /// `annotations`; with `certificate`, a keyless (or certificate) layer
    /// that carries it, `signed` saying whether its signature verifies with
    /// it (and so whether its Rekor bundle logs this layer or another's).
    pub fn sign_keyless_with_annotations(
        mut self,
        image: &str,
        signer: &str,
        certificate: Option<&str>,
        signed: bool,
        annotations: &[(&str, &str)],
    ) -> Self {
        self.signatures.push(Signature {
            image: image.to_string(),
            signer: signer.to_string(),
            digest: digest_of(image.split('@').next().unwrap()),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            certificate: certificate.map(str::to_string),
            signed_by_certificate: signed,
        });
        self
    }

    /// `image` (canonical) carries a cosign 3 bundle, keyless by `signer`
    /// (`issuer|subject`) or, with `None`, signed with a key.
    pub fn sign_bundle(mut self, image: &str, signer: Option<&str>) -> Self {
        self.bundles
            .push((image.to_string(), signer.map(str::to_string)));
        self
    }

    /// The fallback tag of `image` (canonical) holds `manifest`.
    pub fn fallback_tag(self, image: &str, manifest: Value) -> Self {
        let tag = fallback_tag_of(image);
        self.manifest(&tag, manifest)
    }

    /// `reference` names `manifest`.
    pub fn manifest(mut self, reference: &str, manifest: Value) -> Self {
        self.manifests.insert(reference.to_string(), manifest);
        self
    }

    /// A host that verifies keyless cosign 3 bundles (Kubewarden 1.36+).
    pub fn newer(mut self) -> Self {
        self.verifies_bundles = true;
        self
    }

    pub fn answer(mut self, image: &str, answer: Result<VerificationResponse, String>) -> Self {
        self.overrides.insert(image.to_string(), answer);
        self
    }

    /// The registry stops answering: every verification and manifest read
    /// fails with [`CONNECTION_FAILED`].
    pub fn stop_registry(&self) {
        *self.registry_down.borrow_mut() = true;
    }

    pub fn with_resource(self, resource: Value) -> Self {
        self.resources.borrow_mut().push(resource);
        self
    }

    pub fn verify_calls(&self) -> usize {
        self.questions.borrow().len()
    }

    /// The certificate questions asked, as (image, certificate PEM).
    pub fn certificate_questions(&self) -> Vec<(String, String)> {
        self.questions
            .borrow()
            .iter()
            .filter_map(|q| {
                let certificate = q.get("certificate")?.as_array()?;
                let bytes: Vec<u8> = certificate
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                Some((
                    q["image"].as_str()?.to_string(),
                    String::from_utf8(bytes).ok()?,
                ))
            })
            .collect()
    }

    /// Images the policy asked about, in order.
    pub fn asked_images(&self) -> Vec<String> {
        self.questions
            .borrow()
            .iter()
            .map(|q| q["image"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Host for FakeHost {
    fn verify(&self, question: &Question) -> Result<VerificationResponse, String> {
        self.questions
            .borrow_mut()
            .push(serde_json::to_value(question).unwrap());
        let (image, signers, annotations): (&str, Vec<String>, _) = match question {
            Question::SigstorePubKeyVerify {
                image,
                pub_keys,
                annotations,
            } => (image, pub_keys.clone(), annotations),
            Question::SigstoreKeylessVerify {
                image,
                keyless,
                annotations,
            } => (
                image,
                keyless
                    .iter()
                    .map(|k| format!("{}|{}", k.issuer, k.subject))
                    .collect(),
                annotations,
            ),
            Question::SigstoreKeylessPrefixVerify {
                image,
                keyless_prefix,
                annotations,
            } => (
                image,
                keyless_prefix
                    .iter()
                    .map(|k| format!("{}|{}", k.issuer, k.url_prefix))
                    .collect(),
                annotations,
            ),
            Question::SigstoreGithubActionsVerify {
                image,
                owner,
                repo,
                annotations,
            } => (
                image,
                vec![format!(
                    "github|{owner}|{}",
                    repo.clone().unwrap_or_default()
                )],
                annotations,
            ),
            Question::SigstoreCertificateVerify {
                image,
                certificate,
                annotations,
                ..
            } => (
                image,
                vec![String::from_utf8(certificate.clone()).unwrap()],
                annotations,
            ),
        };
        if *self.registry_down.borrow() {
            return Err(CONNECTION_FAILED.to_string());
        }
        if let Some(answer) = self.overrides.get(image) {
            return answer.clone();
        }
        let required = annotations.clone().unwrap_or_default();
        let is_certificate_question =
            matches!(question, Question::SigstoreCertificateVerify { .. });
        let found = self.signatures.iter().find(|s| {
            let signs = match (&s.certificate, is_certificate_question) {
                // A certificate question checks the layer's signature with the
                // certificate's key, whoever the layer names as signer.
                (Some(certificate), true) => {
                    signers.contains(certificate) && s.signed_by_certificate
                }
                _ => signers.contains(&s.signer),
            };
            names(s, image)
                && signs
                && required
                    .iter()
                    .all(|(k, v)| s.annotations.get(k) == Some(v))
        });
        if let Some(signature) = found {
            return Ok(VerificationResponse {
                is_trusted: true,
                digest: signature.digest.clone(),
            });
        }
        let keyless_question =
            !is_certificate_question && !matches!(question, Question::SigstorePubKeyVerify { .. });
        let bundles: Vec<&Option<String>> = self
            .bundles
            .iter()
            .filter(|(bundled, _)| bundle_names(bundled, image))
            .map(|(_, signer)| signer)
            .collect();
        let by_bundle = self.verifies_bundles
            && keyless_question
            && required.is_empty()
            && bundles
                .iter()
                .any(|signer| signer.as_ref().is_some_and(|s| signers.contains(s)));
        let has_sig = self.signatures.iter().any(|s| names(s, image));
        match (by_bundle, has_sig, bundles.is_empty()) {
            (true, _, _) => Ok(VerificationResponse {
                is_trusted: true,
                digest: digest_of(image.split('@').next().unwrap()),
            }),
            // The host's words for an image with no `.sig` tag.
            (false, false, false) => Err(format!("no signatures found for image: {image} ")),
            _ => Err(format!("no signature of {image} satisfies the constraints")),
        }
    }

    fn list_all_resources(
        &self,
        api_version: &str,
        kind: &str,
        field_selector: &str,
    ) -> Result<Value, String> {
        *self.list_calls.borrow_mut() += 1;
        if let Some(error) = self.list_error.borrow().clone() {
            return Err(error);
        }
        // No selector lists every resource of the kind.
        let name = field_selector.strip_prefix("metadata.name=");
        if name.is_none() {
            assert_eq!(field_selector, "", "only a name selector, or none");
        }
        let items: Vec<Value> = self
            .resources
            .borrow()
            .iter()
            .filter(|r| {
                r["apiVersion"] == api_version
                    && r["kind"] == kind
                    && name.is_none_or(|name| r["metadata"]["name"] == name)
            })
            .cloned()
            .collect();
        Ok(json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}))
    }

    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        self.resources_read
            .borrow_mut()
            .push(format!("{api_version}/{kind} {namespace}/{name}"));
        if let Some(error) = self.get_error.borrow().clone() {
            return Err(error);
        }
        self.resources
            .borrow()
            .iter()
            .find(|r| {
                r["apiVersion"] == api_version
                    && r["kind"] == kind
                    && r["metadata"]["namespace"] == namespace
                    && r["metadata"]["name"] == name
            })
            .cloned()
            .ok_or_else(|| {
                format!("Cannot find {api_version}/{kind} named '{name}' inside of namespace 'Some(\"{namespace}\")'")
            })
    }

    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.digests_read.borrow_mut().push(image.to_string());
        if *self.registry_down.borrow() {
            return Err(CONNECTION_FAILED.to_string());
        }
        match self.signatures.iter().find(|s| names(s, image)) {
            Some(signature) => Ok(signature.digest.clone()),
            None if self.bundles.iter().any(|(b, _)| bundle_names(b, image)) => {
                Ok(digest_of(image.split('@').next().unwrap()))
            }
            None => Err(format!("{image}: manifest unknown")),
        }
    }

    fn oci_manifest(&self, image: &str) -> Result<Value, String> {
        self.manifests_read.borrow_mut().push(image.to_string());
        if *self.registry_down.borrow() {
            return Err(CONNECTION_FAILED.to_string());
        }
        let layers: Vec<Value> = self
            .signatures
            .iter()
            .filter(|s| signature_tag(s) == image)
            .enumerate()
            .map(|(i, s)| {
                // Each layer's payload is its own: its digest differs.
                let payload = format!("{:064x}", i + 1);
                let mut layer = json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": format!("sha256:{payload}"),
                    "annotations": {"dev.cosignproject.cosign/signature": "c2lnbmF0dXJl"}});
                if let Some(certificate) = &s.certificate {
                    // A layer whose signature is not its certificate's carries
                    // a bundle copied from another layer: it logs another payload.
                    let logged = match s.signed_by_certificate {
                        true => payload,
                        false => format!("{:064x}", 0),
                    };
                    let annotations = layer["annotations"].as_object_mut().unwrap();
                    annotations.insert("dev.sigstore.cosign/certificate".into(), json!(certificate));
                    annotations.insert(
                        "dev.sigstore.cosign/bundle".into(),
                        json!(rekor_bundle(&logged, "c2lnbmF0dXJl", certificate)),
                    );
                }
                layer
            })
            .collect();
        if let Some(manifest) = self.manifests.get(image) {
            return Ok(manifest.clone());
        }
        if !layers.is_empty() {
            return Ok(json!({"schemaVersion": 2, "layers": layers}));
        }
        let bundles: Vec<Value> = self
            .bundles
            .iter()
            .filter(|(bundled, _)| fallback_tag_of(bundled) == image)
            .enumerate()
            .map(|(i, _)| {
                // As the host of 1.35 passes the index on: no artifactType.
                json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{:064x}", i + 1), "size": 700,
                    "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                        "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}})
            })
            .collect();
        if !bundles.is_empty() {
            return Ok(json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": bundles}));
        }
        Err(format!("Image manifest not found: {image}"))
    }
}

/// The repository of an image reference (no tag, no digest).
fn repository_of(image: &str) -> &str {
    let name = image.split('@').next().unwrap();
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// The cosign 3 fallback tag of a bundle-signed image: `repo:sha256-<hex>`.
fn fallback_tag_of(bundled: &str) -> String {
    let digest = digest_of(bundled.split('@').next().unwrap());
    format!(
        "{}:{}",
        repository_of(bundled),
        digest.replacen(':', "-", 1)
    )
}

/// Whether a question about `image` is about the bundle-signed `bundled`:
/// the same reference, its tag, or its repository at its digest.
fn bundle_names(bundled: &str, image: &str) -> bool {
    let at_digest = format!("{}@{}", repository_of(bundled), digest_of(bundled));
    bundled == image || bundled == image.split('@').next().unwrap() || at_digest == image
}

/// A cosign Rekor bundle whose hashedrekord entry logs the payload digest
/// `payload_hex`, the signature and the certificate (its timestamp is not
/// real: the host, not the policy, checks it).
pub fn rekor_bundle(payload_hex: &str, signature: &str, certificate: &str) -> String {
    let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": payload_hex}},
        "signature": {"content": signature, "publicKey": {"content": base64(certificate.as_bytes())}}}});
    json!({"SignedEntryTimestamp": "c2V0", "Payload": {"body": base64(body.to_string().as_bytes()),
        "integratedTime": 1, "logIndex": 1, "logID": "00"}})
    .to_string()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            out.push(match i <= chunk.len() {
                true => ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char,
                false => '=',
            });
        }
    }
    out
}

/// The repository a signature's image is in (no tag, no digest).
fn repository(s: &Signature) -> &str {
    let name = s.image.split('@').next().unwrap();
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// The tag cosign would write the signature under.
fn signature_tag(s: &Signature) -> String {
    format!("{}:{}.sig", repository(s), s.digest.replacen(':', "-", 1))
}

/// Whether a question about `image` is about the signature's image: the same
/// reference, the tag of a digest reference, or the repository at its digest.
fn names(s: &Signature, image: &str) -> bool {
    s.image == image
        || s.image == image.split('@').next().unwrap()
        || format!("{}@{}", repository(s), s.digest) == image
}

/// A request fixture of `test_data/requests` with every image set to `image`.
pub fn request(kind: &str, image: &str) -> Value {
    let text =
        test_data(&format!("requests/{}.json", kind.to_lowercase())).replace("__IMAGE__", image);
    serde_json::from_str(&text).unwrap()
}

pub fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let mut request = request("Pod", "placeholder");
    request["object"]["spec"] = json!({"containers": containers});
    request
}

pub fn validate(host: &FakeHost, request: &Value, settings: &Value) -> ValidationResponse {
    let payload = serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
    validate_raw(host, &payload)
}

/// The response as the host reads it: the module's JSON, parsed into the SDK's type.
pub fn validate_raw(host: &FakeHost, payload: &[u8]) -> ValidationResponse {
    let response = admission::validate(payload, host).to_json();
    serde_json::from_slice(&response).unwrap()
}

/// Settings with one public key `storefront-release` (P-256) over `pattern`.
pub fn one_key_settings(pattern: &str) -> Value {
    json!({
        "verification": {
            "keys": [{"name": "storefront-release", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": pattern, "keys": [{"name": "storefront-release"}]}]
        }
    })
}

pub fn annotation<'a>(response: &'a ValidationResponse, name: &str) -> Option<&'a str> {
    response.mutated_object.as_ref()?["metadata"]["annotations"]
        [format!("image-policy.signing/{name}")]
    .as_str()
}

/// A respelling of [`SIGNED_CANONICAL`] (host case, the default port), so the
/// main flows go through canonicalisation: the host is asked about the
/// canonical form, and messages and annotations keep the written one.
pub const SIGNED: &str = "Harbor.Example.NET:443/storefront/app:1.0";

pub const SIGNED_CANONICAL: &str = "harbor.example.net/storefront/app:1.0";

pub const UNSIGNED: &str = "harbor.example.net/storefront/evil:1.0";

pub fn signed_host() -> FakeHost {
    FakeHost::new().sign(SIGNED_CANONICAL, &key("p256.pub"))
}

pub fn scst_settings() -> Value {
    settings_file("scst-policy.yaml")
}

pub fn one_key(pattern: &str) -> Value {
    json!({"verification": {
        "keys": [{"name": "a", "publicKey": key("p256.pub")}],
        "images": [{"namePattern": pattern, "keys": [{"name": "a"}]}]
    }})
}

/// The same key in another PEM layout: other line lengths, CRLF, indented.
pub fn rewrapped(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut out = "-----BEGIN PUBLIC KEY-----\r\n".to_string();
    for chunk in body.as_bytes().chunks(40) {
        out.push_str("  ");
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out.push_str("-----END PUBLIC KEY-----\r\n");
    out
}

/// Runs `check` on every kind the policy covers, from the one table the
/// policy reads them from ([`COVERED_KINDS`]), each on its own so that a
/// failing kind hides no other: the test then fails naming every kind that failed.
pub fn check_every_kind(check: fn(&str)) {
    let failed: Vec<&str> = COVERED_KINDS
        .iter()
        .map(|covered| covered.kind)
        .filter(|kind| std::panic::catch_unwind(|| check(kind)).is_err())
        .collect();
    assert!(failed.is_empty(), "failed for {}", failed.join(", "));
}

/// The checks every covered kind must pass, one test each
/// (`every_kind::<check>`), run on every kind by [`check_every_kind`].
#[macro_export]
macro_rules! for_every_kind {
    ($($check:ident),* $(,)?) => {
        mod every_kind {
            $(
                #[test]
                fn $check() {
                    $crate::common::check_every_kind(super::$check)
                }
            )*
        }
    };
}
