//! Test images and cosign-format signatures, pushed to a plain-HTTP registry.
//!
//! Signatures are produced here, independently of sigstore's signing code:
//! an OCI image manifest at tag `sha256-<hex>.sig` whose layers are
//! simple-signing payloads, each carrying its signature (and, for
//! certificate signatures, the certificate and chain) as layer annotations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures_util::future::try_join_all;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// The one-platform images tagged `v1` (`multiarch` is an index).
pub const SINGLE_ARCH_IMAGES: [&str; 10] = [
    "signed-a",
    "signed-b",
    "signed-ab",
    "unsigned",
    "annotated",
    "cert-signed",
    "tampered",
    "wrong-digest",
    "rsa-signed",
    "ed25519-signed",
];

/// Annotations carried by the `annotated` image's signature.
pub const ANNOTATED_WITH: [(&str, &str); 2] = [("env", "prod"), ("team", "payments")];

/// An image pushed by [`generate`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FixtureImage {
    /// `127.0.0.1:PORT/name:v1`
    #[serde(rename = "ref")]
    pub reference: String,
    /// Digest of the manifest (or index) tagged `v1`.
    pub digest: String,
}

/// The content of `fixtures.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fixtures {
    pub registry: String,
    /// Public keys (PEM, SPKI) by name: `a`, `b`, `rsa`, `ed25519`.
    pub keys: BTreeMap<String, PathBuf>,
    /// Certificates (PEM) by name: `root`, `intermediate`, `leaf`, `chain`
    /// (intermediate followed by root).
    pub certs: BTreeMap<String, PathBuf>,
    pub images: BTreeMap<String, FixtureImage>,
}

impl Fixtures {
    /// Reads a `fixtures.json` written by [`generate`].
    pub fn load(path: &Path) -> Result<Fixtures> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    pub fn image(&self, name: &str) -> Result<&FixtureImage> {
        self.images
            .get(name)
            .ok_or_else(|| anyhow!("no fixture image named {name}"))
    }

    /// The image reference, `127.0.0.1:PORT/name:v1`.
    pub fn image_ref(&self, name: &str) -> Result<String> {
        Ok(self.image(name)?.reference.clone())
    }

    pub fn digest(&self, name: &str) -> Result<String> {
        Ok(self.image(name)?.digest.clone())
    }

    /// The PEM public key named `name`.
    pub fn key_pem(&self, name: &str) -> Result<String> {
        read_named(&self.keys, name, "key")
    }

    /// The PEM certificate(s) named `name`.
    pub fn cert_pem(&self, name: &str) -> Result<String> {
        read_named(&self.certs, name, "certificate")
    }
}

fn read_named(map: &BTreeMap<String, PathBuf>, name: &str, what: &str) -> Result<String> {
    let path = map
        .get(name)
        .ok_or_else(|| anyhow!("no fixture {what} named {name}"))?;
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Generates the keys and certificates into `out`, pushes the images to
/// `registry` (`host:port`, plain HTTP), signs them and writes
/// `out/fixtures.json`.
pub fn generate(registry: &str, out: &Path) -> Result<Fixtures> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out.canonicalize()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fixtures = runtime.block_on(generate_async(registry, &out))?;
    std::fs::write(
        out.join("fixtures.json"),
        serde_json::to_string_pretty(&fixtures)? + "\n",
    )?;
    Ok(fixtures)
}

async fn generate_async(registry: &str, out: &Path) -> Result<Fixtures> {
    let key_a = SignerKey::ecdsa()?;
    let key_b = SignerKey::ecdsa()?;
    let key_rsa = SignerKey::rsa()?;
    let key_ed25519 = SignerKey::ed25519()?;

    let mut keys = BTreeMap::new();
    for (name, key) in [
        ("a", &key_a),
        ("b", &key_b),
        ("rsa", &key_rsa),
        ("ed25519", &key_ed25519),
    ] {
        let path = out.join(format!("key-{name}.pub"));
        std::fs::write(&path, key.public_pem()?)?;
        keys.insert(name.to_string(), path);
    }

    let pki = TestPki::new()?;
    let mut certs = BTreeMap::new();
    for (name, pem) in [
        ("root", pki.root_pem.clone()),
        ("intermediate", pki.intermediate_pem.clone()),
        ("leaf", pki.leaf_pem.clone()),
        ("chain", format!("{}{}", pki.intermediate_pem, pki.root_pem)),
    ] {
        let path = out.join(format!("{name}.pem"));
        std::fs::write(&path, pem)?;
        certs.insert(name.to_string(), path);
    }

    let pusher = Pusher::new(registry);
    let nonce = hex::encode(random_bytes(8)?);

    // The images are independent: push them concurrently.
    let single = try_join_all(SINGLE_ARCH_IMAGES.iter().map(|name| async {
        let (digest, _) = pusher.push_image(name, &nonce, "amd64", Some("v1")).await?;
        Ok::<_, anyhow::Error>((name.to_string(), pusher.fixture(name, digest)))
    }));
    let multiarch = pusher.push_multiarch("multiarch", &nonce);
    let (single, multiarch) = futures_util::future::try_join(single, multiarch).await?;
    let mut images: BTreeMap<String, FixtureImage> = single.into_iter().collect();
    images.insert(
        "multiarch".to_string(),
        pusher.fixture("multiarch", multiarch),
    );

    let digest = |name: &str| images[name].digest.clone();
    let annotated_with: BTreeMap<String, String> = ANNOTATED_WITH
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A signature layer of `key` over the payload naming `name`'s digest.
    let layer = |name: &str, key: &SignerKey, optional: Option<&BTreeMap<String, String>>| {
        SignatureLayerSpec::signed(pusher.payload(name, &digest(name), optional), key)
    };

    // (image, its signature layers)
    let mut signatures: Vec<(&str, Vec<SignatureLayerSpec>)> = vec![
        ("signed-a", vec![layer("signed-a", &key_a, None)?]),
        ("signed-b", vec![layer("signed-b", &key_b, None)?]),
        (
            "signed-ab",
            vec![
                layer("signed-ab", &key_a, None)?,
                layer("signed-ab", &key_b, None)?,
            ],
        ),
        (
            "annotated",
            vec![layer("annotated", &key_a, Some(&annotated_with))?],
        ),
        ("multiarch", vec![layer("multiarch", &key_a, None)?]),
        ("rsa-signed", vec![layer("rsa-signed", &key_rsa, None)?]),
        (
            "ed25519-signed",
            vec![layer("ed25519-signed", &key_ed25519, None)?],
        ),
    ];

    // Certificate signature: leaf key, certificate and chain as annotations.
    let mut cert_layer = layer("cert-signed", &pki.leaf_key, None)?;
    cert_layer
        .annotations
        .insert(CERTIFICATE_ANNOTATION.to_string(), pki.leaf_pem.clone());
    cert_layer.annotations.insert(
        CHAIN_ANNOTATION.to_string(),
        format!("{}{}", pki.intermediate_pem, pki.root_pem),
    );
    signatures.push(("cert-signed", vec![cert_layer]));

    // Tampered: a valid signature left on a payload that was replaced.
    let mut tampered = layer("tampered", &key_a, None)?;
    let forged: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
    tampered.payload = pusher.payload("tampered", &digest("tampered"), Some(&forged));
    signatures.push(("tampered", vec![tampered]));

    // Wrong digest: the signature of signed-a copied next to another image.
    signatures.push(("wrong-digest", vec![layer("signed-a", &key_a, None)?]));

    try_join_all(
        signatures
            .into_iter()
            .map(|(name, layers)| pusher.push_signature(name, digest(name), layers)),
    )
    .await?;

    Ok(Fixtures {
        registry: registry.to_string(),
        keys,
        certs,
        images,
    })
}

/// A key that signs payloads the way cosign does.
pub enum SignerKey {
    /// ECDSA P-256, SHA-256, ASN.1 DER signature.
    Ecdsa(p256::ecdsa::SigningKey),
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa(PKey<Private>),
    /// Ed25519 over the payload bytes.
    Ed25519(PKey<Private>),
}

impl SignerKey {
    pub fn ecdsa() -> Result<SignerKey> {
        loop {
            let bytes = random_bytes(32)?;
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                return Ok(SignerKey::Ecdsa(key));
            }
        }
    }

    pub fn rsa() -> Result<SignerKey> {
        let rsa = openssl::rsa::Rsa::generate(2048)?;
        Ok(SignerKey::Rsa(PKey::from_rsa(rsa)?))
    }

    pub fn ed25519() -> Result<SignerKey> {
        Ok(SignerKey::Ed25519(PKey::generate_ed25519()?))
    }

    /// The public key as PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Result<String> {
        match self {
            SignerKey::Ecdsa(key) => Ok(key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| anyhow!("cannot encode the public key: {e}"))?),
            SignerKey::Rsa(key) | SignerKey::Ed25519(key) => {
                Ok(String::from_utf8(key.public_key_to_pem()?)?)
            }
        }
    }

    pub fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        match self {
            SignerKey::Ecdsa(key) => {
                let signature: p256::ecdsa::Signature = key.sign(payload);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            SignerKey::Rsa(key) => {
                let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
                signer.update(payload)?;
                Ok(signer.sign_to_vec()?)
            }
            SignerKey::Ed25519(key) => {
                let mut signer = openssl::sign::Signer::new_without_digest(key)?;
                Ok(signer.sign_oneshot_to_vec(payload)?)
            }
        }
    }
}

/// One layer of a `.sig` manifest.
pub struct SignatureLayerSpec {
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl SignatureLayerSpec {
    pub fn signed(payload: Vec<u8>, key: &SignerKey) -> Result<SignatureLayerSpec> {
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload)?);
        let mut annotations = BTreeMap::new();
        annotations.insert(SIGNATURE_ANNOTATION.to_string(), signature);
        Ok(SignatureLayerSpec {
            payload,
            annotations,
        })
    }
}

/// The simple-signing payload cosign signs.
pub fn simple_signing_payload(
    docker_reference: &str,
    digest: &str,
    optional: Option<&BTreeMap<String, String>>,
) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": digest },
            "type": "cosign container image signature",
        },
        "optional": optional,
    });
    serde_json::to_vec(&payload).expect("a JSON value always serializes")
}

/// Pushes blobs and manifests to a plain-HTTP registry.
struct Pusher {
    registry: String,
    client: oci_client::Client,
}

impl Pusher {
    fn new(registry: &str) -> Pusher {
        Pusher {
            registry: registry.to_string(),
            client: oci_client::Client::new(oci_client::client::ClientConfig {
                protocol: oci_client::client::ClientProtocol::Http,
                ..Default::default()
            }),
        }
    }

    fn fixture(&self, repo: &str, digest: String) -> FixtureImage {
        FixtureImage {
            reference: format!("{}/{}:v1", self.registry, repo),
            digest,
        }
    }

    fn payload(
        &self,
        repo: &str,
        digest: &str,
        optional: Option<&BTreeMap<String, String>>,
    ) -> Vec<u8> {
        simple_signing_payload(&format!("{}/{}", self.registry, repo), digest, optional)
    }

    fn reference(&self, repo: &str, tag_or_digest: &str) -> oci_client::Reference {
        if tag_or_digest.starts_with("sha256:") {
            oci_client::Reference::with_digest(
                self.registry.clone(),
                repo.to_string(),
                tag_or_digest.to_string(),
            )
        } else {
            oci_client::Reference::with_tag(
                self.registry.clone(),
                repo.to_string(),
                tag_or_digest.to_string(),
            )
        }
    }

    /// Uploads a blob and returns its descriptor (without media type).
    async fn push_blob(&self, repo: &str, data: Vec<u8>) -> Result<Value> {
        let digest = sha256_digest(&data);
        let size = data.len();
        self.client
            .push_blob(&self.reference(repo, "v1"), data, &digest)
            .await
            .with_context(|| format!("cannot push a blob to {}/{repo}", self.registry))?;
        Ok(json!({ "digest": digest, "size": size }))
    }

    /// Uploads a manifest under `tag_or_digest` and returns its digest and size.
    async fn push_manifest(
        &self,
        repo: &str,
        tag_or_digest: &str,
        manifest: &Value,
        media_type: &str,
    ) -> Result<(String, usize)> {
        let body = serde_json::to_vec(manifest)?;
        let digest = sha256_digest(&body);
        let size = body.len();
        self.client
            .push_manifest_raw(
                &self.reference(repo, tag_or_digest),
                body,
                http::HeaderValue::from_str(media_type)?,
            )
            .await
            .with_context(|| {
                format!(
                    "cannot push the manifest {}/{repo}:{tag_or_digest}",
                    self.registry
                )
            })?;
        Ok((digest, size))
    }

    /// A one-layer image; returns the manifest digest and size.
    async fn push_image(
        &self,
        repo: &str,
        nonce: &str,
        arch: &str,
        tag: Option<&str>,
    ) -> Result<(String, usize)> {
        let content = format!("fixture {repo} {arch} {nonce}\n");
        let layer = self
            .push_blob(repo, tar_with_one_file("fixture.txt", content.as_bytes()))
            .await?;
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": { "Labels": { "dev.devhost.fixture": repo } },
            "rootfs": { "type": "layers", "diff_ids": [layer["digest"]] },
        });
        let config = self.push_blob(repo, serde_json::to_vec(&config)?).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": with_media_type(config, OCI_CONFIG),
            "layers": [with_media_type(layer, OCI_LAYER_TAR)],
        });
        let body = serde_json::to_vec(&manifest)?;
        let digest = sha256_digest(&body);
        let tag = tag.map(str::to_string).unwrap_or_else(|| digest.clone());
        self.push_manifest(repo, &tag, &manifest, OCI_MANIFEST)
            .await
    }

    /// An index of an amd64 and an arm64 image, tagged `v1`; returns the index digest.
    async fn push_multiarch(&self, repo: &str, nonce: &str) -> Result<String> {
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let (manifest_digest, size) = self.push_image(repo, nonce, arch, None).await?;
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": size,
                "platform": { "architecture": arch, "os": "linux" },
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        });
        Ok(self.push_manifest(repo, "v1", &index, OCI_INDEX).await?.0)
    }

    /// Pushes the cosign signature manifest `sha256-<hex>.sig` for `digest`.
    async fn push_signature(
        &self,
        repo: &str,
        digest: String,
        layers: Vec<SignatureLayerSpec>,
    ) -> Result<()> {
        let Some(hex) = digest.strip_prefix("sha256:") else {
            bail!("unexpected digest {digest}");
        };
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in layers {
            let descriptor = self.push_blob(repo, layer.payload).await?;
            diff_ids.push(descriptor["digest"].clone());
            let mut descriptor = with_media_type(descriptor, SIMPLE_SIGNING);
            descriptor["annotations"] = serde_json::to_value(&layer.annotations)?;
            descriptors.push(descriptor);
        }
        let config = json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        let config = self.push_blob(repo, serde_json::to_vec(&config)?).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": with_media_type(config, OCI_CONFIG),
            "layers": descriptors,
        });
        self.push_manifest(repo, &format!("sha256-{hex}.sig"), &manifest, OCI_MANIFEST)
            .await?;
        Ok(())
    }
}

fn with_media_type(mut descriptor: Value, media_type: &str) -> Value {
    descriptor["mediaType"] = Value::String(media_type.to_string());
    descriptor
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(bytes)
}

/// An uncompressed tar archive holding one regular file.
fn tar_with_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let checksum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
    archive.resize(archive.len() + 1024, 0);
    archive
}

/// P-256 key usable by rcgen to sign certificates.
struct CertKey {
    key: p256::ecdsa::SigningKey,
    public: Vec<u8>,
}

impl CertKey {
    fn new() -> Result<CertKey> {
        let SignerKey::Ecdsa(key) = SignerKey::ecdsa()? else {
            unreachable!("SignerKey::ecdsa returns an ECDSA key")
        };
        let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        Ok(CertKey { key, public })
    }
}

impl rcgen::PublicKeyData for CertKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CertKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        let signature: p256::ecdsa::Signature = self.key.sign(msg);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// A positive 16-byte serial number.
fn serial_number() -> Result<rcgen::SerialNumber> {
    let mut bytes = random_bytes(16)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// Root CA -> intermediate CA -> code-signing leaf.
struct TestPki {
    root_pem: String,
    intermediate_pem: String,
    leaf_pem: String,
    leaf_key: SignerKey,
}

impl TestPki {
    fn new() -> Result<TestPki> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyUsagePurpose, SanType,
        };

        let root_key = CertKey::new()?;
        let mut root = CertificateParams::default();
        root.serial_number = Some(serial_number()?);
        root.distinguished_name
            .push(DnType::CommonName, "devhost test root CA");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root.self_signed(&root_key)?;

        let intermediate_key = CertKey::new()?;
        let mut intermediate = CertificateParams::default();
        intermediate.serial_number = Some(serial_number()?);
        intermediate
            .distinguished_name
            .push(DnType::CommonName, "devhost test intermediate CA");
        intermediate.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        intermediate.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let intermediate_cert =
            intermediate.signed_by(&intermediate_key, &Issuer::from_params(&root, &root_key))?;

        let leaf_key = CertKey::new()?;
        let mut leaf = CertificateParams::default();
        leaf.serial_number = Some(serial_number()?);
        leaf.distinguished_name
            .push(DnType::CommonName, "devhost test signer");
        leaf.subject_alt_names = vec![SanType::Rfc822Name("signer@devhost.test".try_into()?)];
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let leaf_cert = leaf.signed_by(
            &leaf_key,
            &Issuer::from_params(&intermediate, &intermediate_key),
        )?;

        Ok(TestPki {
            root_pem: root_cert.pem(),
            intermediate_pem: intermediate_cert.pem(),
            leaf_pem: leaf_cert.pem(),
            leaf_key: SignerKey::Ecdsa(leaf_key.key),
        })
    }
}
