//! A controller's child created during a registry outage, admitted on its
//! owner's record: a Pod a ReplicaSet scales up, a Job a CronJob starts, the
//! ReplicaSet of a rollout. Only when every image that failed, failed only
//! because its registry could not be reached, and only with the digests its
//! owner's sealed record holds for exactly those images under the same rules.
//! Anything short of that denies as if the owner had no record.

use crate::admission::request::Request;
use crate::decision::{Verified, VerifiedSite};
use crate::host::reasons::condensed_reason;
use crate::host::Host;
use crate::image::reference::{is_valid_digest, ImageRef};
use crate::messages::{owner_vouched_warning, OwnerRecordUnused as Unused};
use crate::record::{Holder, Recorded};
use crate::rules::{Policy, Rules};
use crate::workload::ImageSite;
use serde_json::Value;
use std::collections::BTreeSet;
use std::rc::Rc;

/// Each kind a controller creates, with its controller's apiVersion and
/// kind: the owners the policy may read (policy-metadata.yml's
/// `contextAwareResources` lists them).
pub const CONTROLLERS: [(&str, &str, &str); 7] = [
    ("Pod", "apps/v1", "ReplicaSet"),
    ("Pod", "batch/v1", "Job"),
    ("Pod", "apps/v1", "StatefulSet"),
    ("Pod", "apps/v1", "DaemonSet"),
    ("Pod", "v1", "ReplicationController"),
    ("ReplicaSet", "apps/v1", "Deployment"),
    ("Job", "batch/v1", "CronJob"),
];

/// Whether objects of `kind` may own a child the fallback admits.
pub(crate) fn may_own(kind: &str) -> bool {
    CONTROLLERS.iter().any(|(_, _, owner)| *owner == kind)
}

/// The controller named by an object's `ownerReferences`.
struct Controller {
    api_version: &'static str,
    kind: &'static str,
    name: String,
    uid: String,
}

impl Controller {
    /// The reference with `controller: true`, when it names a controller of
    /// `kind`; `None` for an object no controller of ours made.
    fn of(kind: &str, object: &Value) -> Option<Controller> {
        let references = object.pointer("/metadata/ownerReferences")?.as_array()?;
        let reference = references
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
        let text = |field: &str| reference.get(field).and_then(Value::as_str);
        let (_, api_version, owner_kind) = CONTROLLERS.iter().find(|(child, api, owner)| {
            *child == kind && Some(*api) == text("apiVersion") && Some(*owner) == text("kind")
        })?;
        Some(Controller {
            api_version,
            kind: owner_kind,
            name: text("name").filter(|name| !name.is_empty())?.to_string(),
            uid: text("uid").filter(|uid| !uid.is_empty())?.to_string(),
        })
    }
}

/// The images an owner's record vouched for, and a warning per image.
pub(crate) struct Vouched {
    pub verified: Vec<VerifiedSite>,
    pub warnings: Vec<String>,
}

/// Admits the `unreachable` sites (every one that failed, each with its
/// cause) of a CREATE on its controller's record: `None` when the object
/// has no controller this applies to, `Err` saying why the record does not
/// serve. One cluster read, made only here.
pub(crate) fn vouch<H: Host>(
    host: &H,
    request: &Request,
    object_text: &str,
    policy: &Policy,
    rules: &Rules,
    unreachable: &[(ImageSite, ImageRef, String)],
) -> Option<Result<Vouched, String>> {
    let key = policy.record_key.as_deref()?;
    let object: Value = serde_json::from_str(object_text).ok()?;
    let controller = Controller::of(&request.kind, &object)?;
    let owner = Owner {
        controller,
        prefix: &policy.annotation_prefix,
        key,
        accept_bundles: policy.accept_keyless_bundles,
    };
    Some(owner.vouch(host, request, rules, unreachable))
}

/// The controller a child names, and how its record is read.
struct Owner<'a> {
    controller: Controller,
    prefix: &'a str,
    key: &'a [u8],
    /// Whether an entry verified through a cosign 3 bundle still counts.
    accept_bundles: bool,
}

impl Owner<'_> {
    fn vouch<H: Host>(
        &self,
        host: &H,
        request: &Request,
        rules: &Rules,
        unreachable: &[(ImageSite, ImageRef, String)],
    ) -> Result<Vouched, String> {
        let controller = &self.controller;
        let owner_name = format!("{}/{}", controller.kind, controller.name);
        let owner = host
            .get_resource(
                controller.api_version,
                controller.kind,
                &request.namespace,
                &controller.name,
            )
            .map_err(|e| {
                let reason = condensed_reason(&e);
                Unused::Unreadable {
                    owner: &owner_name,
                    reason: &reason,
                }
                .to_string()
            })?;
        let uid = owner.pointer("/metadata/uid").and_then(Value::as_str);
        if uid != Some(controller.uid.as_str()) {
            return Err(Unused::AnotherObject {
                owner: &owner_name,
                uid: &controller.uid,
            }
            .to_string());
        }
        let holder = Holder {
            kind: controller.kind,
            namespace: &request.namespace,
            name: &controller.name,
        };
        let record = owner
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .and_then(|annotations| Recorded::read(annotations, self.prefix))
            .ok_or_else(|| Unused::NoRecord { owner: &owner_name }.to_string())?;
        record
            .vouches(rules.fingerprint(), self.key, holder)
            .map_err(|why| {
                Unused::DoesNotCount {
                    owner: &owner_name,
                    why: &why,
                }
                .to_string()
            })?;

        let mut vouched = Vouched {
            verified: Vec::with_capacity(unreachable.len()),
            warnings: Vec::new(),
        };
        let mut warned = BTreeSet::new();
        for (site, image, cause) in unreachable {
            let entry = record
                .entry_for(&site.image)
                .filter(|entry| is_valid_digest(&entry.digest))
                .filter(|entry| self.accept_bundles || !entry.bundle)
                .ok_or_else(|| {
                    Unused::DoesNotList {
                        owner: &owner_name,
                        image: &site.image,
                    }
                    .to_string()
                })?;
            if warned.insert(site.image.as_str()) {
                vouched.warnings.push(owner_vouched_warning(
                    &site.image,
                    cause,
                    &owner_name,
                    &entry.digest,
                ));
            }
            vouched.verified.push(VerifiedSite {
                site: site.clone(),
                verified: Rc::new(Verified {
                    image: image.clone(),
                    digest: entry.digest,
                    keys: entry.keys,
                    owner: Some(owner_name.clone()),
                    bundle: entry.bundle,
                }),
            });
        }
        Ok(vouched)
    }
}
