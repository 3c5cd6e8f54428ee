//! What an UPDATE changes: the images it writes anew decide what is pinned
//! and, through `pods/ephemeralcontainers`, what may be added to a Pod whose
//! record cannot be updated.

use crate::admission::request::{bad_request, Rejection, Request};
use crate::decision::{self, Status, VerifiedSite};
use crate::mutation::{Pin, STATUS_ANNOTATION};
use crate::rules::{PinDigests, Policy};
use crate::workload::object::{Annotations, Object};
use crate::workload::ImageSite;
use serde_json::Value;

/// Through `pods/ephemeralcontainers` the API server keeps only the ephemeral
/// containers, so the record cannot follow: on a Pod recorded as verified,
/// an image the request adds that passed only as unmatched would leave the
/// record false, so it is denied. (Verified ephemeral images keep the record
/// true; `verified-images` keeps listing what was verified when the Pod was
/// written.)
pub(crate) fn stale_record_failures(
    policy: &Policy,
    request: &Request,
    object: &Object,
    unmatched: &[ImageSite],
) -> Result<Vec<String>, Rejection> {
    if unmatched.is_empty() {
        return Ok(Vec::new());
    }
    let status = format!("{}/{}", policy.annotation_prefix, STATUS_ANNOTATION);
    let recorded = match object.annotations("request.object").map_err(bad_request)? {
        Annotations::Present(_, annotations) => annotations.get(&status).cloned(),
        Annotations::NoMetadata(_) | Annotations::Missing(_) => None,
    };
    if recorded.as_ref().and_then(Value::as_str) != Some(Status::Verified.as_str()) {
        return Ok(Vec::new());
    }
    let old = OldImages::read(request)?;
    let mut failures: Vec<String> = Vec::new();
    for site in unmatched.iter().filter(|site| old.changed(site)) {
        let message = decision::unmatched_ephemeral_message(&site.image, &status);
        if !failures.contains(&message) {
            failures.push(message);
        }
    }
    Ok(failures)
}

/// The old object of an UPDATE, read only when a decision needs to know
/// which images the request changes.
struct OldImages(Option<Value>);

impl OldImages {
    fn read(request: &Request) -> Result<OldImages, Rejection> {
        match request.old_object {
            Some(old) if request.operation == "UPDATE" => serde_json::from_str(old.get())
                .map(|old| OldImages(Some(old)))
                .map_err(|e| bad_request(format!("request.oldObject: {e}"))),
            _ => Ok(OldImages(None)),
        }
    }

    /// Whether the request writes another image at the site than the old
    /// object had there (always, on CREATE).
    fn changed(&self, site: &ImageSite) -> bool {
        let old = self.0.as_ref().and_then(|old| old.pointer(&site.pointer));
        old.and_then(Value::as_str) != Some(site.image.as_str())
    }
}

/// Verified tag references to rewrite as `name:tag@digest`. On UPDATE only
/// images the request changes are pinned, so objects created before the
/// policy can still be updated (most pod fields are immutable).
pub(crate) fn pins(
    pin_digests: PinDigests,
    request: &Request,
    verified: &[VerifiedSite],
) -> Result<Vec<Pin>, Rejection> {
    let applies = match pin_digests {
        PinDigests::Never => false,
        PinDigests::Pods => request.kind == "Pod",
        PinDigests::All => true,
    };
    let mut candidates = verified
        .iter()
        .filter(|v| applies && v.image.digest.is_none())
        .peekable();
    if candidates.peek().is_none() {
        return Ok(Vec::new());
    }
    // The old object is read only when an UPDATE has images to pin.
    let old = OldImages::read(request)?;
    Ok(candidates
        .filter(|v| old.changed(&v.site))
        .map(|v| Pin {
            span: v.site.span.clone(),
            image: v.image.pinned(&v.digest),
        })
        .collect())
}
