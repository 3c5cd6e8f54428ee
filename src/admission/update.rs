//! What an UPDATE changes. An image an UPDATE leaves exactly as the old
//! object ran it, in the same place, runs nothing new: it is not verified
//! again (so a registry outage or a rotated key never blocks a label,
//! finalizer or replicas edit), not pinned anew, and keeps the entry the old
//! object's record holds for it. Through `pods/ephemeralcontainers`, what
//! may be added to a Pod whose record cannot be updated.

use crate::admission::owner;
use crate::admission::request::{bad_request, Rejection, Request};
use crate::messages;
use crate::record::{Entry, Holder, Recorded, Status, STATUS_ANNOTATION};
use crate::rules::{Policy, Rules};
use crate::workload::ImageSite;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The old object of an UPDATE (`None` on CREATE, or when the request
/// carries none: every image is then new).
pub(crate) struct OldObject(Option<Value>);

impl OldObject {
    pub fn read(request: &Request) -> Result<OldObject, Rejection> {
        match request.old_object {
            Some(old) if request.operation == "UPDATE" => serde_json::from_str(old)
                .map(|old| OldObject(Some(old)))
                .map_err(|e| bad_request(format!("request.oldObject: {e}"))),
            _ => Ok(OldObject(None)),
        }
    }

    /// Whether the old object ran this very image string at the site.
    fn runs(&self, site: &ImageSite) -> bool {
        let old = self.0.as_ref().and_then(|old| old.pointer(&site.pointer()));
        old.and_then(Value::as_str) == Some(site.image.as_str())
    }

    /// The sites the request writes anew, then those it leaves unchanged.
    pub fn split(&self, sites: Vec<ImageSite>) -> (Vec<ImageSite>, Vec<ImageSite>) {
        sites.into_iter().partition(|site| !self.runs(site))
    }

    fn annotations(&self) -> Option<&Map<String, Value>> {
        self.0
            .as_ref()?
            .pointer("/metadata/annotations")?
            .as_object()
    }

    /// Whether the old object's name was generated (`generateName`).
    fn generated_name(&self) -> bool {
        let generate_name = self
            .0
            .as_ref()
            .and_then(|o| o.pointer("/metadata/generateName"));
        let prefix = generate_name.and_then(Value::as_str).unwrap_or_default();
        !prefix.is_empty() && self.name().starts_with(prefix)
    }

    /// The old object's `metadata.name`, empty when it has none.
    pub fn name(&self) -> &str {
        let name = self
            .0
            .as_ref()
            .and_then(|old| old.pointer("/metadata/name"));
        name.and_then(Value::as_str).unwrap_or_default()
    }

    /// The entries the old object's record holds for the images the
    /// request leaves unchanged, and whether some unchanged image has none
    /// (no record, a record under other rules or not sealed for this object,
    /// an image it does not list, or a tag it lists that pinning should have
    /// pinned).
    pub fn carried(
        &self,
        unchanged: &[ImageSite],
        policy: &Policy,
        rules: &Rules,
        holder: Holder,
        pins_apply: bool,
    ) -> (Vec<Entry>, bool) {
        if unchanged.is_empty() {
            return (Vec::new(), false);
        }
        // Without a record key no record counts: nothing unsealed is carried.
        let Some(key) = policy.record_key.as_deref() else {
            return (Vec::new(), true);
        };
        // A record written on CREATE before the API server generated the
        // name (generateName) was sealed without one. Carried only where no
        // child can ride on it: a Pod owns nothing ([`owner::CONTROLLERS`]).
        let unnamed = Holder { name: "", ..holder };
        let sealed_unnamed = !owner::may_own(holder.kind) && self.generated_name();
        let record = self
            .annotations()
            .and_then(|annotations| Recorded::read(annotations, &policy.annotation_prefix))
            .filter(|record| {
                record.vouches(rules.fingerprint(), key, holder).is_ok()
                    || sealed_unnamed && record.vouches(rules.fingerprint(), key, unnamed).is_ok()
            });
        let Some(record) = record else {
            return (Vec::new(), true);
        };
        let mut entries = Vec::new();
        let mut kept = BTreeSet::new();
        let mut unrecorded = false;
        for site in unchanged {
            let entry = record.entry_for(&site.image);
            // Taken on the host's word only while the settings say so.
            let entry = entry.filter(|e| policy.accept_keyless_bundles || !e.bundle);
            match entry {
                Some(_) if pins_apply && !site.image.contains('@') => unrecorded = true,
                Some(entry) => {
                    if kept.insert(entry.image.clone()) {
                        entries.push(entry);
                    }
                }
                None => unrecorded = true,
            }
        }
        (entries, unrecorded)
    }
}

/// Through `pods/ephemeralcontainers` the API server keeps only the ephemeral
/// containers, so the record cannot follow: on a Pod recorded as verified,
/// an image the request adds that passed unverified (unmatched, by a static
/// policy or on a warning) would leave the
/// record false, so it is denied. (Verified ephemeral images keep the record
/// true; `verified-images` keeps listing what was verified when the Pod was
/// written.) `unverified` holds only images the request adds.
///
/// The record is the stored one, the old object's: the API server drops
/// every metadata change this subresource's body makes, so the body's own
/// record says nothing. Without an old object to read it from, the Pod is
/// taken as recorded verified.
pub(crate) fn stale_record_failures(
    policy: &Policy,
    old: &OldObject,
    unverified: &[(ImageSite, &str)],
) -> Vec<String> {
    if unverified.is_empty() {
        return Vec::new();
    }
    let status = format!("{}/{}", policy.annotation_prefix, STATUS_ANNOTATION);
    let recorded_verified = match &old.0 {
        None => true,
        Some(_) => {
            let recorded = old.annotations().and_then(|a| a.get(&status));
            let recorded = recorded.and_then(Value::as_str).unwrap_or_default();
            [Status::Verified, Status::OwnerVerified]
                .iter()
                .any(|claim| claim.as_str() == recorded)
        }
    };
    if !recorded_verified {
        return Vec::new();
    }
    let mut reported = BTreeSet::new();
    unverified
        .iter()
        .filter(|(site, _)| reported.insert(site.image.as_str()))
        .map(|(site, why)| messages::unverified_ephemeral_message(&site.image, why, &status))
        .collect()
}
