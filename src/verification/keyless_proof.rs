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

use crate::host::reasons::Cause;
use crate::host::Host;
use crate::image::reference::ImageRef;
use crate::trust::keys::certificate_identity;
use crate::trust::roots::TrustRoot;
use crate::verification::session::Session;
use crate::verification::signatures::{certificates, Layer};

/// 1 to 3 above, on the `.sig` manifest of `image` at `digest`, which the
/// host trusted a keyless signature of: its reads and questions go through
/// the request's session (shared caches, counted against its limit).
/// `None` when the request's limit is reached first.
pub(super) fn prove_signed<H: Host>(
    session: &mut Session<'_, H>,
    image: &ImageRef,
    root: &TrustRoot,
    digest: &str,
    annotations_required: bool,
) -> Option<Result<(), Cause>> {
    let repository = format!("{}/{}", image.registry, image.repository);
    let layers = match session.signature_layers(image, digest)? {
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
    let pinned = format!("{repository}@{digest}");
    for (pem, subject) in pems.into_iter().zip(subjects) {
        let signs = session.certificate_signs(&pinned, &pem, digest)?;
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
