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

/// The distinct certificates (PEM, as written) the layers of a `.sig`
/// manifest carry, in layer order.
pub(crate) fn certificates(manifest: &Value) -> Result<Vec<String>, String> {
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
    let mut certificates: Vec<String> = Vec::new();
    for layer in layers {
        match layer.pointer("/annotations/dev.sigstore.cosign~1certificate") {
            Some(Value::String(pem)) if !certificates.contains(pem) => {
                certificates.push(pem.clone())
            }
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("a layer's {CERTIFICATE_ANNOTATION} is not text")),
        }
    }
    Ok(certificates)
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
        assert_eq!(certificates(&manifest).unwrap(), ["a", "b"]);
        let many = json!({"layers": vec![layer(None); MAX_SIGNATURE_LAYERS + 1]});
        assert!(certificates(&many)
            .unwrap_err()
            .contains("more than the 32"));
        assert!(certificates(&json!({"manifests": []})).is_err());
        let not_text = json!({"layers": [{"annotations": {"dev.sigstore.cosign/certificate": 1}}]});
        assert!(certificates(&not_text).is_err());
    }
}
