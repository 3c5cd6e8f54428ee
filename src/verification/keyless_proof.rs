//! The host's keyless answer, checked before it counts.
//!
//! For keyless and GitHub Actions questions the host trusts an image when
//! some layer of its `.sig` manifest names the digest and carries a
//! certificate that chains to a trusted CA and a bundle a trusted log signed,
//! but it never checks that layer's signature against the certificate: a
//! certificate and bundle copied from any genuine signature of the identity
//! (they are public beside every image it signed) make it answer "trusted"
//! for an image nobody signed. So the module reads the same `.sig` manifest
//! (`oci/v1/oci_manifest`) and requires that
//!
//! 1. some certificate in it claims the identity asked about, read as the
//!    host reads it, and
//! 2. every certificate in it signed a layer that names the digest: asked of
//!    the host as a `certificate` question (which does check the layer's
//!    signature with the certificate's key, and nothing about its issuer).
//!
//! A copied certificate then fails 2, and without it the host says no.
//!
//! When the entry requires signature annotations, the host checks the
//! identity and the annotations on one layer, but still not that layer's
//! signature: a layer whose payload carries the annotations, beside a
//! genuine layer's certificate, chain and bundle and a signature nobody
//! made, would pass both. So then
//!
//! 3. every layer whose certificate claims the identity must be the
//!    signature its Rekor bundle logged: the bundle's hashedrekord entry
//!    names that layer's payload digest, signature and certificate. Rekor
//!    logs an entry only once the signature verifies with the certificate's
//!    key, and the host verified the bundle's timestamp with the log's key,
//!    so such a layer's payload, annotations included, was signed by the
//!    identity. (A layer with a bundle nobody logged is no layer to the
//!    host: it refuses the bundle.)

use crate::host::reasons::{Cause, NO_SIGNATURES};
use crate::host::Host;
use crate::image::reference::ImageRef;
use crate::trust::der::base64_decode;
use crate::trust::keys::{certificate_identity, public_key_spki};
use crate::trust::roots::TrustRoot;
use crate::verification::{trusted_digest, Verifier, Vouched};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde_json::Value;

/// The most layers of one `.sig` manifest the policy reads: real ones hold
/// one per signature; an attacker's could hold thousands.
pub const MAX_SIGNATURE_LAYERS: usize = 32;
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

// The check runs inside the per-request verifier: its reads and questions
// share the verifier's caches and count against the request's limit.
impl<H: Host> Verifier<'_, H> {
    /// The host trusted a keyless signature of `image` at `digest`: that
    /// counts only when the `.sig` manifest holds a certificate claiming the
    /// identity and every certificate in it signed the digest (1 to 3 above).
    /// With no `.sig` signature at that digest, the host (Kubewarden 1.36
    /// and later) vouched for a cosign 3 bundle, which counts only with
    /// `acceptKeylessBundles` and no annotations required, on its word.
    pub(super) fn prove_keyless(
        &mut self,
        image: &ImageRef,
        root: &TrustRoot,
        digest: String,
        annotations_required: bool,
    ) -> Option<Result<Vouched, Cause>> {
        let proven = self.prove_signed(image, root, &digest, annotations_required)?;
        Some(match proven {
            Ok(()) => Ok(Vouched::signed(digest)),
            Err(cause) if !cause.is_no_signatures() => Err(cause),
            Err(_) if self.accept_keyless_bundles && !annotations_required => Ok(Vouched {
                digest,
                bundle: true,
            }),
            Err(_) => Err(Cause::firm(format!(
                "the host vouched for it with no .sig signature at {digest} (a cosign 3 bundle, which \
                 Kubewarden 1.36 and later verify), which the policy takes on the host's word only with \
                 acceptKeylessBundles: true and no annotations required"
            ))),
        })
    }

    /// 1 to 3 above, on the `.sig` manifest at `digest`.
    fn prove_signed(
        &mut self,
        image: &ImageRef,
        root: &TrustRoot,
        digest: &str,
        annotations_required: bool,
    ) -> Option<Result<(), Cause>> {
        let repository = format!("{}/{}", image.registry, image.repository);
        let layers = match self.signature_layers(image, digest)? {
            Ok(layers) => layers,
            Err(reason) => return Some(Err(reason)),
        };
        let pems = certificates(&layers);
        let mut subjects = Vec::with_capacity(pems.len());
        let mut claiming: Vec<&str> = Vec::new();
        for pem in &pems {
            match certificate_identity(pem) {
                Ok(identity) => {
                    if root.claimed_by(&identity) {
                        claiming.push(pem);
                    }
                    subjects.push(identity.subject.unwrap_or_default());
                }
                Err(e) => {
                    return Some(Err(Cause::firm(format!(
                        "cannot read the certificate of one of its signatures ({e}), so the host's answer cannot be checked"
                    ))))
                }
            }
        }
        // 1: an answer no certificate here backs came from elsewhere.
        if claiming.is_empty() {
            return Some(Err(Cause::firm(
                "no certificate among its signatures claims this identity, so the host's answer is not backed by one",
            )));
        }
        // The host read the required annotations from a layer claiming the
        // identity, whose signature it did not check (3 above).
        let unlogged = |layer: &Layer| {
            let claims = layer.certificate.as_deref();
            claims.is_some_and(|pem| claiming.contains(&pem)) && !layer.logged()
        };
        if annotations_required && layers.iter().any(unlogged) {
            return Some(Err(Cause::firm(
                "a signature claiming this identity is not the one its Rekor entry logged (its payload or signature was replaced), so the required annotations cannot be trusted",
            )));
        }
        // 2: a certificate copied beside a signature it did not make signs nothing here.
        let pems = pems.clone();
        let pinned = format!("{repository}@{digest}");
        for (pem, subject) in pems.into_iter().zip(subjects) {
            let check = (pinned.clone(), pem);
            let signs = match self.certificate_checks.get(&check) {
                Some(known) => known.clone(),
                None => {
                    self.spend()?;
                    let question = SigstoreVerificationInputV2::SigstoreCertificateVerify {
                        image: pinned.clone(),
                        certificate: check.1.clone().into_bytes(),
                        certificate_chain: None,
                        require_rekor_bundle: false,
                        annotations: None,
                    };
                    let signs = match trusted_digest(self.host, &question) {
                        Ok(found) if found == digest => Ok(()),
                        Ok(found) => Err(Cause::firm(format!("it covers {found}"))),
                        Err(cause) => Err(cause),
                    };
                    self.certificate_checks.insert(check, signs.clone());
                    signs
                }
            };
            match signs {
                // The check could not be made: an outage, not a forgery.
                Err(cause) if cause.unreachable => return Some(Err(cause)),
                Err(_) => {
                    return Some(Err(Cause::firm(format!(
                        "its signatures carry a certificate for {subject:?} that signs none of them (copied from another signature?)"
                    ))))
                }
                Ok(()) => {}
            }
        }
        Some(Ok(()))
    }

    /// The layers of the image's `.sig` manifest at `digest`, read once per
    /// request (identities written as regular expressions are looked for in
    /// them too); `None` when the request's limit is reached first.
    pub(super) fn signature_layers(
        &mut self,
        image: &ImageRef,
        digest: &str,
    ) -> Option<Result<Vec<Layer>, Cause>> {
        let repository = format!("{}/{}", image.registry, image.repository);
        let tag = signature_tag(&repository, digest);
        if let Some(known) = self.signatures.get(&tag) {
            return Some(known.clone());
        }
        self.spend()?;
        let read = self
            .host
            .oci_manifest(&tag)
            .map_err(|e| match Cause::of_host_error(&e) {
                // The host's own words when it finds no `.sig` tag.
                missing if missing.is_missing_manifest() => Cause::firm(NO_SIGNATURES),
                cause => cause.within("cannot read its signatures: "),
            })
            .and_then(|manifest| layers(&manifest).map_err(Cause::firm));
        self.signatures.insert(tag, read.clone());
        Some(read)
    }
}

/// The tag cosign writes an image's signatures under: `sha256-<hex>.sig`.
fn signature_tag(registry_and_repository: &str, digest: &str) -> String {
    format!(
        "{registry_and_repository}:{}.sig",
        digest.replacen(':', "-", 1)
    )
}

/// One layer of a `.sig` manifest, as far as the policy reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    /// Its certificate (PEM, as written), if it carries one.
    pub certificate: Option<String>,
    /// The layer's descriptor, read further only where annotations are required.
    descriptor: Value,
}

impl Layer {
    /// The public key (its SubjectPublicKeyInfo) that the layer's Rekor
    /// bundle says made this very signature: the hashedrekord entry of the
    /// layer's payload digest and signature, which names the key that
    /// signed it (cosign logs a key's signatures by default). Read, not
    /// verified: the host checks the signature, and this only says which key
    /// to ask first.
    pub fn logged_key(&self) -> Option<Vec<u8>> {
        let pem = logged_signer(&self.descriptor)?;
        public_key_spki(std::str::from_utf8(&pem).ok()?)
    }

    /// Whether its Rekor bundle logs this very layer: its payload's digest,
    /// its signature and its certificate (3 above).
    pub fn logged(&self) -> bool {
        let certificate = self.certificate.as_deref();
        certificate.is_some_and(|pem| logs_this_layer(&self.descriptor, pem).is_some())
    }
}

/// The layers of a `.sig` manifest, in order.
fn layers(manifest: &Value) -> Result<Vec<Layer>, String> {
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("the signature manifest has no layers list")?;
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(format!(
            "the signature manifest has {} layers, more than the {MAX_SIGNATURE_LAYERS} the policy reads",
            layers.len()
        ));
    }
    layers
        .iter()
        .map(|layer| {
            let certificate = match layer.pointer("/annotations/dev.sigstore.cosign~1certificate") {
                Some(Value::String(pem)) => Some(pem.clone()),
                None => None,
                Some(_) => return Err(format!("a layer's {CERTIFICATE_ANNOTATION} is not text")),
            };
            Ok(Layer {
                certificate,
                descriptor: layer.clone(),
            })
        })
        .collect()
}

/// The distinct certificates of the layers, in layer order.
pub(crate) fn certificates(layers: &[Layer]) -> Vec<String> {
    let mut certificates: Vec<String> = Vec::new();
    for pem in layers.iter().filter_map(|l| l.certificate.as_ref()) {
        // At most MAX_SIGNATURE_LAYERS of them.
        if !certificates.contains(pem) {
            certificates.push(pem.clone());
        }
    }
    certificates
}

/// The signer (PEM, as logged) of the layer's bundle's hashedrekord entry,
/// when that entry logs the layer's own payload digest and signature.
fn logged_signer(layer: &Value) -> Option<Vec<u8>> {
    let text = |at: &str| layer.pointer(at).and_then(Value::as_str);
    let bundle: Value =
        serde_json::from_str(text("/annotations/dev.sigstore.cosign~1bundle")?).ok()?;
    let body = base64_decode(bundle.pointer("/Payload/body")?.as_str()?).ok()?;
    let entry: Value = serde_json::from_slice(&body).ok()?;
    let logged = |at: &str| entry.pointer(at).and_then(Value::as_str);
    let payload_hex = text("/digest")?.strip_prefix("sha256:")?;
    let same = logged("/kind")? == "hashedrekord"
        && logged("/spec/data/hash/algorithm")? == "sha256"
        && logged("/spec/data/hash/value")? == payload_hex
        && logged("/spec/signature/content")?
            == text("/annotations/dev.cosignproject.cosign~1signature")?;
    same.then(|| base64_decode(logged("/spec/signature/publicKey/content")?).ok())?
}

/// `Some` when the layer's bundle is a hashedrekord entry of the layer's own
/// payload digest, signature and certificate `pem`.
fn logs_this_layer(layer: &Value, pem: &str) -> Option<()> {
    (logged_signer(layer)? == pem.as_bytes()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_signature_tag_is_cosigns() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            signature_tag("reg.io/team/app", &digest),
            format!("reg.io/team/app:sha256-{}.sig", "a".repeat(64))
        );
    }

    #[test]
    fn certificates_are_read_once_each_and_bounded() {
        let layer = |cert: Option<&str>| match cert {
            Some(cert) => json!({"annotations": {"dev.sigstore.cosign/certificate": cert}}),
            None => json!({"annotations": {"dev.cosignproject.cosign/signature": "x"}}),
        };
        let manifest =
            json!({"layers": [layer(Some("a")), layer(None), layer(Some("b")), layer(Some("a"))]});
        assert_eq!(certificates(&layers(&manifest).unwrap()), ["a", "b"]);
        let many = json!({"layers": vec![layer(None); MAX_SIGNATURE_LAYERS + 1]});
        assert!(layers(&many).unwrap_err().contains("more than the 32"));
        assert!(layers(&json!({"manifests": []})).is_err());
        let not_text = json!({"layers": [{"annotations": {"dev.sigstore.cosign/certificate": 1}}]});
        assert!(layers(&not_text).is_err());
    }

    /// A layer with `pem`, signature `sig` and payload digest `hex`, whose
    /// bundle logs `logged` (payload digest, signature, certificate).
    fn bundled(pem: &str, sig: &str, hex: &str, logged: (&str, &str, &str)) -> Value {
        let b64 = |text: &str| {
            // The test's own base64 encoder, independent of the decoder.
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = String::new();
            for chunk in text.as_bytes().chunks(3) {
                let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..4 {
                    out.push(if i <= chunk.len() {
                        ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
                    } else {
                        '='
                    });
                }
            }
            out
        };
        let (logged_hex, logged_sig, logged_pem) = logged;
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": logged_hex}},
            "signature": {"content": logged_sig, "publicKey": {"content": b64(logged_pem)}}}});
        let bundle = json!({"SignedEntryTimestamp": "x", "Payload": {"body": b64(&body.to_string()),
            "integratedTime": 1, "logIndex": 1, "logID": "x"}});
        json!({"digest": format!("sha256:{hex}"), "annotations": {
            "dev.sigstore.cosign/certificate": pem,
            "dev.cosignproject.cosign/signature": sig,
            "dev.sigstore.cosign/bundle": bundle.to_string()}})
    }

    #[test]
    fn a_layer_is_logged_only_when_its_bundle_names_its_payload_signature_and_certificate() {
        let (pem, sig, hex) = (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "c2ln",
            "ab12",
        );
        let other_pem = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        // Its own; another payload (annotations added), signature, certificate.
        for (logged, expected) in [
            ((hex, sig, pem), true),
            (("cd34", sig, pem), false),
            ((hex, "b3RoZXI=", pem), false),
            ((hex, sig, other_pem), false),
        ] {
            let manifest = json!({"layers": [bundled(pem, sig, hex, logged)]});
            assert_eq!(
                layers(&manifest).unwrap()[0].logged(),
                expected,
                "{logged:?}"
            );
        }
        let unbundled = json!({"layers": [{"digest": "sha256:ab12", "annotations": {
            "dev.sigstore.cosign/certificate": pem, "dev.cosignproject.cosign/signature": sig}}]});
        assert!(!layers(&unbundled).unwrap()[0].logged());
    }
}
