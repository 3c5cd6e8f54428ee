//! The `oci` host capabilities: cosign signature verification (`v2/verify`)
//! and manifest digests (`v1/manifest_digest`).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, bail, Context, Result};
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use sigstore::cosign::verification_constraint::{
    AnnotationVerifier, CertificateVerifier, PublicKeyVerifier, VerificationConstraint,
    VerificationConstraintVec,
};
use sigstore::cosign::{verify_constraints, ClientBuilder, CosignCapabilities, SignatureLayer};
use sigstore::registry::{Auth, OciReference};

/// Registry access settings shared by the OCI capabilities.
#[derive(Clone, Debug, Default)]
pub struct OciSettings {
    /// `host:port` entries reached over plain HTTP instead of HTTPS.
    pub insecure_registries: Vec<String>,
}

impl OciSettings {
    fn sigstore_config(&self) -> sigstore::registry::ClientConfig {
        sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::HttpsExcept(
                self.insecure_registries.clone(),
            ),
            ..Default::default()
        }
    }

    fn oci_client(&self) -> oci_client::Client {
        oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                self.insecure_registries.clone(),
            ),
            ..Default::default()
        })
    }
}

/// `oci/v1/manifest_digest`: digest of the manifest (or index) served for `image`.
pub async fn manifest_digest(settings: &OciSettings, image: &str) -> Result<String> {
    let reference: oci_client::Reference = image
        .parse()
        .with_context(|| format!("invalid image reference {image:?}"))?;
    settings
        .oci_client()
        .fetch_manifest_digest(&reference, &oci_client::secrets::RegistryAuth::Anonymous)
        .await
        .with_context(|| format!("cannot fetch the manifest digest of {image}"))
}

/// `oci/v2/verify`: verifies the cosign signatures of an image.
pub async fn verify(
    settings: &OciSettings,
    input: SigstoreVerificationInputV2,
) -> Result<VerificationResponse> {
    match input {
        SigstoreVerificationInputV2::SigstorePubKeyVerify {
            image,
            pub_keys,
            annotations,
        } => verify_pub_keys(settings, &image, &pub_keys, annotations).await,
        SigstoreVerificationInputV2::SigstoreCertificateVerify {
            image,
            certificate,
            certificate_chain,
            require_rekor_bundle,
            annotations,
        } => {
            verify_certificate(
                settings,
                &image,
                &certificate,
                certificate_chain,
                require_rekor_bundle,
                annotations,
            )
            .await
        }
        SigstoreVerificationInputV2::SigstoreKeylessVerify { image, .. }
        | SigstoreVerificationInputV2::SigstoreKeylessPrefixVerify { image, .. }
        | SigstoreVerificationInputV2::SigstoreGithubActionsVerify { image, .. } => bail!(
            "keyless verification of {image} needs the public Sigstore infrastructure \
             (Fulcio/Rekor trust root), which this development host does not reach"
        ),
    }
}

/// Every key must be matched by a signature layer that also carries the
/// required annotations. This is what the Kubewarden policy-server does: it
/// turns the key list of one request into an "allOf" verification.
async fn verify_pub_keys(
    settings: &OciSettings,
    image: &str,
    pub_keys: &[String],
    annotations: Option<BTreeMap<String, String>>,
) -> Result<VerificationResponse> {
    if pub_keys.is_empty() {
        bail!("at least one public key is required to verify {image}");
    }
    let mut constraints: VerificationConstraintVec = Vec::new();
    for (index, key) in pub_keys.iter().enumerate() {
        let verifier = PublicKeyVerifier::try_from(key.as_bytes())
            .map_err(|e| anyhow!("public key #{} is not usable: {e}", index + 1))?;
        constraints.push(Box::new(KeyAndAnnotations {
            label: format!("public key #{} of {}", index + 1, pub_keys.len()),
            key: verifier,
            annotations: annotations
                .clone()
                .map(|annotations| AnnotationVerifier { annotations }),
        }));
    }
    let (digest, layers) = fetch_signature_layers(settings, image).await?;
    check_constraints(image, &digest, &layers, &constraints, None)?;
    Ok(VerificationResponse {
        is_trusted: true,
        digest,
    })
}

async fn verify_certificate(
    settings: &OciSettings,
    image: &str,
    certificate: &[u8],
    certificate_chain: Option<Vec<Vec<u8>>>,
    require_rekor_bundle: bool,
    annotations: Option<BTreeMap<String, String>>,
) -> Result<VerificationResponse> {
    let chain: Option<Vec<sigstore::registry::Certificate>> = certificate_chain.map(|chain| {
        chain
            .into_iter()
            .map(|data| sigstore::registry::Certificate {
                encoding: sigstore::registry::CertificateEncoding::Pem,
                data,
            })
            .collect()
    });
    let verifier =
        CertificateVerifier::from_pem(certificate, require_rekor_bundle, chain.as_deref())
            .map_err(|e| anyhow!("the certificate cannot be used to verify {image}: {e}"))?;
    let mut constraints: VerificationConstraintVec = vec![Box::new(Named {
        label: format!(
            "signed by the given certificate{}",
            if require_rekor_bundle {
                " with a Rekor bundle"
            } else {
                ""
            }
        ),
        inner: verifier,
    })];
    if let Some(annotations) = annotations {
        constraints.push(Box::new(Named {
            label: format!("annotations {annotations:?}"),
            inner: AnnotationVerifier { annotations },
        }));
    }
    let (digest, layers) = fetch_signature_layers(settings, image).await?;
    let hint = (require_rekor_bundle && layers.iter().all(|l| l.bundle.is_none()))
        .then_some("a Rekor bundle is required, and no signature layer has one");
    check_constraints(image, &digest, &layers, &constraints, hint)?;
    Ok(VerificationResponse {
        is_trusted: true,
        digest,
    })
}

/// Resolves the image digest, then reads the signature layers stored under the
/// cosign `sha256-<hex>.sig` tag. Layers whose payload names another digest
/// are dropped by sigstore.
async fn fetch_signature_layers(
    settings: &OciSettings,
    image: &str,
) -> Result<(String, Vec<SignatureLayer>)> {
    let reference: OciReference = image
        .parse()
        .map_err(|e| anyhow!("invalid image reference {image:?}: {e}"))?;
    let mut client = ClientBuilder::default()
        .with_oci_client_config(settings.sigstore_config())
        .build()
        .map_err(|e| anyhow!("cannot build the cosign client: {e}"))?;
    let (signature_ref, digest) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .map_err(|e| anyhow!("cannot resolve the digest of {image}: {e}"))?;
    let pinned = OciReference::with_digest(
        reference.registry().to_string(),
        reference.repository().to_string(),
        digest.clone(),
    );
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &pinned)
        .await
        .map_err(|e| anyhow!("cannot read the signatures of {image}: {e}"))?;
    if layers.is_empty() {
        bail!(
            "no signature found for image {image} ({digest}): no cosign signature layer \
             at {signature_ref} is valid for this digest"
        );
    }
    Ok((digest, layers))
}

fn check_constraints(
    image: &str,
    digest: &str,
    layers: &[SignatureLayer],
    constraints: &VerificationConstraintVec,
    hint: Option<&str>,
) -> Result<()> {
    verify_constraints(layers, constraints.iter()).map_err(|e| {
        let unsatisfied: Vec<String> = e
            .unsatisfied_constraints
            .iter()
            .map(|c| format!("{c:?}"))
            .collect();
        let mut message = format!(
            "no signature of {image} ({digest}) satisfies the constraints: {} \
             ({} signature layer(s) found)",
            unsatisfied.join("; "),
            layers.len()
        );
        if let Some(hint) = hint {
            message.push_str(": ");
            message.push_str(hint);
        }
        anyhow!(message)
    })
}

/// One public key, plus the annotations the same signature must carry.
struct KeyAndAnnotations {
    label: String,
    key: PublicKeyVerifier,
    annotations: Option<AnnotationVerifier>,
}

impl fmt::Debug for KeyAndAnnotations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.annotations {
            Some(a) => write!(f, "{} with annotations {:?}", self.label, a.annotations),
            None => write!(f, "{}", self.label),
        }
    }
}

impl VerificationConstraint for KeyAndAnnotations {
    fn verify(&self, layer: &SignatureLayer) -> sigstore::errors::Result<bool> {
        if !self.key.verify(layer)? {
            return Ok(false);
        }
        match &self.annotations {
            Some(a) => a.verify(layer),
            None => Ok(true),
        }
    }
}

/// A constraint shown by a short label in error messages.
struct Named<T> {
    label: String,
    inner: T,
}

impl<T> fmt::Debug for Named<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl<T: VerificationConstraint> VerificationConstraint for Named<T> {
    fn verify(&self, layer: &SignatureLayer) -> sigstore::errors::Result<bool> {
        self.inner.verify(layer)
    }
}
