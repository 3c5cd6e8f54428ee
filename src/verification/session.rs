//! One request's conversation with the host: every host call the
//! verification makes goes through here, counted against the request's
//! limit, and every read and check is answered at most once per request.
//! The flow ([`super`]) and the keyless proof ([`super::keyless_proof`])
//! share one session, so neither asks what the other already learned.

use crate::host::reasons::{Cause, NO_SIGNATURES};
use crate::host::Host;
use crate::image::reference::{is_valid_digest, ImageRef};
use crate::verification::signatures::{layers, signature_tag, Layer};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) struct Session<'a, H: Host> {
    host: &'a H,
    limit: usize,
    asked: usize,
    /// The layers of each `.sig` manifest read, by its reference.
    signatures: BTreeMap<String, Result<Vec<Layer>, Cause>>,
    /// Whether a certificate signs the image at a digest: (`repo@digest`, PEM).
    certificate_checks: BTreeMap<(String, String), Result<(), Cause>>,
    /// The digest each tag named, by canonical reference.
    digests: BTreeMap<String, Result<String, Cause>>,
}

impl<'a, H: Host> Session<'a, H> {
    pub fn new(host: &'a H, limit: usize) -> Self {
        Session {
            host,
            limit,
            asked: 0,
            signatures: BTreeMap::new(),
            certificate_checks: BTreeMap::new(),
            digests: BTreeMap::new(),
        }
    }

    /// The host calls one request may make (`maxVerificationsPerRequest`).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Counts one host call against the limit; `None` when none is left.
    pub fn spend(&mut self) -> Option<()> {
        if self.asked == self.limit {
            return None;
        }
        self.asked += 1;
        Some(())
    }

    /// The digest the host trusted for a question; a host error, an
    /// untrusted answer or a malformed digest is the cause it does not
    /// count. The caller counts the call.
    pub fn trusted_digest(&self, question: &SigstoreVerificationInputV2) -> Result<String, Cause> {
        match self.host.verify(question) {
            Ok(response) if !response.is_trusted => Err(Cause::firm(
                "the host reported the signature as not trusted",
            )),
            Ok(response) if !is_valid_digest(&response.digest) => Err(Cause::firm(format!(
                "the host returned no valid digest for the verified image ({:?})",
                response.digest
            ))),
            Ok(response) => Ok(response.digest),
            // Condensed at once: the rest of a host error is not kept.
            Err(error) => Err(Cause::of_host_error(&error)),
        }
    }

    /// Whether the digest is known already (no call to count for it).
    pub fn knows_digest(&self, canonical: &str) -> bool {
        self.digests.contains_key(canonical)
    }

    /// The digest a tag names now (`oci/v1/manifest_digest`), asked once per
    /// request; the caller counts the call.
    pub fn read_digest(&mut self, canonical: &str) -> Result<String, Cause> {
        if let Some(known) = self.digests.get(canonical) {
            return known.clone();
        }
        let digest = match self.host.manifest_digest(canonical) {
            Ok(digest) if is_valid_digest(&digest) => Ok(digest),
            Ok(digest) => Err(Cause::firm(format!(
                "the host returned no valid digest for the image ({digest:?})"
            ))),
            Err(e) => Err(Cause::of_host_error(&e).within("cannot read its digest: ")),
        };
        self.digests.insert(canonical.to_string(), digest.clone());
        digest
    }

    /// A manifest as the host reads it (`oci/v1/oci_manifest`), not kept;
    /// the caller counts the call.
    pub fn manifest(&self, reference: &str) -> Option<Value> {
        self.host.oci_manifest(reference).ok()
    }

    /// The layers of the image's `.sig` manifest at `digest`, read once per
    /// request and counted; `None` when the request's limit is reached first.
    pub fn signature_layers(
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

    /// Whether the certificate `pem` signed the image `pinned`
    /// (`repo@digest`) at `digest`: a `certificate` question, which checks
    /// a layer's signature with the certificate's key (and nothing about its
    /// issuer). Asked once per request and counted; `None` when the
    /// request's limit is reached first.
    pub fn certificate_signs(
        &mut self,
        pinned: &str,
        pem: &str,
        digest: &str,
    ) -> Option<Result<(), Cause>> {
        let check = (pinned.to_string(), pem.to_string());
        if let Some(known) = self.certificate_checks.get(&check) {
            return Some(known.clone());
        }
        self.spend()?;
        let question = SigstoreVerificationInputV2::SigstoreCertificateVerify {
            image: pinned.to_string(),
            certificate: pem.as_bytes().to_vec(),
            certificate_chain: None,
            require_rekor_bundle: false,
            annotations: None,
        };
        let signs = match self.trusted_digest(&question) {
            Ok(found) if found == digest => Ok(()),
            Ok(found) => Err(Cause::firm(format!("it covers {found}"))),
            Err(cause) => Err(cause),
        };
        self.certificate_checks.insert(check, signs.clone());
        Some(signs)
    }
}
