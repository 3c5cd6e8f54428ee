//! An image's `.sig` manifest, as far as the policy reads it: the tag cosign
//! writes signatures under, each layer's certificate, and the Rekor entry a
//! layer's bundle logs (which key or certificate made that very signature).
//! Read, never trusted: the host checks signatures, and what is read here
//! only says what to ask it and what its answers must agree with.

use crate::trust::der::base64_decode;
use crate::trust::keys::public_key_spki;
use serde_json::Value;

/// The most layers of one `.sig` manifest the policy reads: real ones hold
/// one per signature; an attacker's could hold thousands.
pub const MAX_SIGNATURE_LAYERS: usize = 32;
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// The tag cosign writes an image's signatures under: `sha256-<hex>.sig`.
pub(crate) fn signature_tag(registry_and_repository: &str, digest: &str) -> String {
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
    /// its signature and its certificate (what [`super::keyless_proof`]
    /// requires of a layer when annotations are required).
    pub fn logged(&self) -> bool {
        let certificate = self.certificate.as_deref();
        certificate.is_some_and(|pem| logs_this_layer(&self.descriptor, pem).is_some())
    }
}

/// The layers of a `.sig` manifest, in order.
pub(crate) fn layers(manifest: &Value) -> Result<Vec<Layer>, String> {
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
