//! Admission: the waPC entry points. `validate` reads the request
//! ([`request`]), the settings (or the cluster's ClusterImagePolicies,
//! [`cluster_rules`]), finds
//! the images and has [`decision`] judge them, then answers ([`response`]),
//! stamping and pinning what it admits ([`mutation`]); writes through status
//! subresources only go through [`status_guard`], and what an UPDATE changes
//! is read in [`update`].
//!
//! The request is read where it lies: the object stays JSON text, from which
//! the images are located and into which the mutation is written.

mod cluster_rules;
mod owner;
mod request;
mod response;
mod status_guard;
mod update;

pub use owner::CONTROLLERS;
pub use response::ValidationResponse;

use crate::decision::{self, judge, VerifiedSite};
use crate::host::Host;
use crate::messages;
use crate::mutation::{self, Changes, Pin};
use crate::record::{Entry, Grounds, Holder, Stamp, Status};
use crate::rules::{ClusterSource, PinDigests, Policy, RuleSource, Rules};
use crate::settings::cluster_policy;
use crate::settings::{parse_proven_settings, parse_settings};
use crate::workload::object::{Annotations, Object};
use crate::workload::{api_group, find_images};
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use request::{bad_request, Payload, Rejection, Request};
use response::{non_empty, response};
use std::collections::{BTreeMap, BTreeSet};
use update::OldObject;

pub const AUDIT_ANNOTATION: &str = "image-policy";
const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";
const STATUS: &str = "status";

/// No settings at all (empty or `null`) is `{}`: no rules.
fn settings_text(settings_json: &str) -> &str {
    match settings_json.trim() {
        "" | "null" => "{}",
        text => text,
    }
}

/// waPC `validate_settings`.
pub fn validate_settings(payload: &[u8]) -> SettingsValidationResponse {
    let result = std::str::from_utf8(payload)
        .map_err(|_| "settings are not UTF-8 JSON".to_string())
        .and_then(|text| parse_settings(settings_text(text)).map_err(|e| e.to_string()));
    match result {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}

/// waPC `validate`: never fails; every problem becomes a denial that says why.
pub fn validate<H: Host>(payload: &[u8], host: &H) -> ValidationResponse {
    match evaluate(payload, host) {
        Ok(response) => response,
        Err(Rejection { message, code }) => response(false, Some(message), Some(code)),
    }
}

fn evaluate<H: Host>(payload: &[u8], host: &H) -> Result<ValidationResponse, Rejection> {
    let payload: Payload = serde_json::from_slice(payload).map_err(|e| {
        bad_request(format!(
            "the payload is not {{\"request\", \"settings\"}} JSON: {e}"
        ))
    })?;
    let request = Request::read(payload.request)?;

    let covered = api_group(&request.kind) == Some(request.group.as_str());
    let checked_operation = matches!(request.operation.as_str(), "CREATE" | "UPDATE");
    if !covered || !checked_operation {
        return Ok(response(true, None, None));
    }
    match request.sub_resource.as_str() {
        "" | EPHEMERAL_CONTAINERS => {}
        STATUS if request.operation == "UPDATE" => {
            return status_guard::guard_status_write(
                &request,
                parse_settings_for_request(&payload)?,
            )
        }
        _ => return Ok(response(true, None, None)),
    }
    let object = match request.object {
        Some(text) => Object::read(text, "request.object").map_err(bad_request)?,
        None => return Err(bad_request("request.object must be an object".to_string())),
    };

    let policy = parse_settings_for_request(&payload)?;

    let cluster_rules: Option<Rules> = match &policy.rules {
        RuleSource::Cluster(source) => cluster_rules::load(host, *source)
            .map_err(|message| Rejection { message, code: 500 })?,
        _ => None,
    };
    let rules: &Rules = match (&policy.rules, &cluster_rules) {
        (RuleSource::Inline(rules), _) => rules,
        (RuleSource::Cluster(_), Some(rules)) => rules,
        (RuleSource::NoRules, _) | (RuleSource::Cluster(_), None) => {
            let api_version = match policy.rules {
                RuleSource::Cluster(ClusterSource::ScstSign(api_version)) => api_version,
                _ => cluster_policy::API_VERSION,
            };
            let admitted = Admitted {
                warnings: vec![messages::no_policy_warning(api_version)],
                ..Admitted::unverified(Status::NoPolicy)
            };
            return finish(&policy, &request, &object, admitted);
        }
    };

    if rules.excluded_namespaces.contains(&request.namespace) {
        let admitted = Admitted {
            audit_note: Some(messages::excluded_message(&request.namespace)),
            ..Admitted::unverified(Status::Excluded)
        };
        return finish(&policy, &request, &object, admitted);
    }

    // An UPDATE verifies only the images it writes anew.
    let old = OldObject::read(&request)?;
    let (changed, unchanged) = old.split(find_images(&request.kind, &object).map_err(bad_request)?);
    let mut verdict = judge(&changed, rules, &policy, host);
    let mut owner_vouched = false;
    if verdict.failed_only_for_outages() && request.operation == "CREATE" {
        match owner::vouch(
            host,
            &request,
            object.text,
            &policy,
            rules,
            &verdict.unreachable(),
        ) {
            Some(Ok(vouched)) => {
                verdict.vouched(vouched.verified, vouched.warnings);
                owner_vouched = true;
            }
            Some(Err(why)) => verdict
                .warnings
                .push(messages::owner_record_unused_warning(&why)),
            None => {}
        }
    }
    if policy.warn.covers(&request.namespace) {
        verdict.warn_only();
    }
    let unverified = verdict.unverified();
    let mut failures = std::mem::take(&mut verdict.failures);
    if failures.is_empty() && request.sub_resource == EPHEMERAL_CONTAINERS {
        failures = update::stale_record_failures(&policy, &old, &unverified);
    }
    if !failures.is_empty() {
        // A policy that cannot be applied is the operator's error, not the workload's.
        let code = if verdict.refused { 500 } else { 403 };
        let mut denied = response(false, Some(decision::denial_message(&failures)), Some(code));
        denied.warnings = non_empty(verdict.warnings);
        return Ok(denied);
    }
    let holder = Holder {
        kind: &request.kind,
        namespace: &request.namespace,
        name: old.name(),
    };
    let pins_apply = policy.pin_digests.applies_to(&request.kind);
    let (carried, unrecorded) = old.carried(&unchanged, &policy, rules, holder, pins_apply);
    // An entry its owner's record vouched for stays that until the image is
    // verified for this object itself.
    let owner_vouched = owner_vouched || carried.iter().any(|entry| entry.owner.is_some());
    let admitted = Admitted {
        status: Status::of_images(Grounds {
            warned: verdict.warned(),
            unrecorded_unchanged: unrecorded,
            unmatched: verdict.unmatched(),
            static_allowed: verdict.static_allowed(),
            owner_vouched,
        }),
        verified: verdict.verified(),
        carried,
        rules: Some(rules),
        warnings: verdict.warnings,
        audit_note: None,
    };
    finish(&policy, &request, &object, admitted)
}

#[inline(never)] // a phase of scripts/profile.sh
fn parse_settings_for_request(payload: &Payload) -> Result<Policy, Rejection> {
    let settings = settings_text(payload.settings.map_or("", |raw| raw.get()));
    parse_proven_settings(settings).map_err(|e| Rejection {
        message: format!("the policy settings are invalid: {e}"),
        code: 500,
    })
}

/// What an admitted request is stamped and answered with.
struct Admitted<'r> {
    status: Status,
    /// Verified in this request (or vouched for by the owner's record):
    /// recorded, and pinned where pinning applies.
    verified: Vec<VerifiedSite>,
    /// Entries an UPDATE keeps from the old object's record.
    carried: Vec<Entry>,
    /// The rules that applied (the record names their fingerprint); `None`
    /// when none did.
    rules: Option<&'r Rules>,
    warnings: Vec<String>,
    /// SCST-Sign's note for excluded namespaces, as an audit annotation.
    audit_note: Option<String>,
}

impl Admitted<'_> {
    /// Admitted without asking the host about any image.
    fn unverified(status: Status) -> Self {
        Admitted {
            status,
            verified: Vec::new(),
            carried: Vec::new(),
            rules: None,
            warnings: Vec::new(),
            audit_note: None,
        }
    }
}

/// Whether the object carries an annotation under the prefix.
fn carries_record(object: &Object, prefix: &str) -> Result<bool, Rejection> {
    let annotations = object.annotations("").map_err(bad_request)?;
    Ok(match annotations {
        Annotations::Present(_, names) => names.keys().any(|name| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
        }),
        _ => false,
    })
}

/// Verified tag references to rewrite as `name:tag@digest`, where
/// `pin_digests` applies to `kind`. Only images the request writes anew are
/// verified, so only they are pinned: objects created before the policy can
/// still be updated (most pod fields are immutable).
fn pins(pin_digests: PinDigests, kind: &str, verified: &[VerifiedSite]) -> Vec<Pin> {
    if !pin_digests.applies_to(kind) {
        return Vec::new();
    }
    verified
        .iter()
        .filter(|v| v.verified.image.digest.is_none())
        .map(|v| Pin {
            span: v.site.span.clone(),
            image: v.verified.image.pinned(&v.verified.digest),
        })
        .collect()
}

/// Admits the request, stamping the record and pinning digests as configured.
#[inline(never)] // a phase of scripts/profile.sh
fn finish(
    policy: &Policy,
    request: &Request,
    object: &Object,
    admitted: Admitted,
) -> Result<ValidationResponse, Rejection> {
    let pins = pins(policy.pin_digests, &request.kind, &admitted.verified);
    // Through pods/ephemeralcontainers the API server keeps only the ephemeral
    // containers, so metadata written there would be dropped. A resource the
    // policy checked nothing of (no rules, an excluded namespace, images no
    // rule names) has nothing to record: it gets a record only to replace
    // one it carries, which could claim what did not happen.
    let nothing_checked = matches!(
        admitted.status,
        Status::NoPolicy | Status::Excluded | Status::UnmatchedAllowed
    ) && admitted.verified.is_empty()
        && admitted.carried.is_empty();
    let stamped = request.sub_resource.is_empty()
        && (!nothing_checked || carries_record(object, &policy.annotation_prefix)?);
    let metadata = if stamped {
        // One entry per image, however many containers run it.
        let mut recorded = BTreeSet::new();
        let mut entries: Vec<Entry> = admitted
            .verified
            .iter()
            .filter(|verified| recorded.insert(verified.site.image.as_str()))
            .map(VerifiedSite::entry)
            .collect();
        entries.extend(admitted.carried);
        // The rules' fingerprint is what a record is read back by (an
        // UPDATE carrying it, a child riding out an outage on it), and only a
        // sealed record is: it is hashed for a record key and a record that
        // holds an entry, and never otherwise.
        let rules = admitted
            .rules
            .filter(|_| !entries.is_empty() && policy.record_key.is_some())
            .map(Rules::fingerprint);
        let name = object.name("request.object").map_err(bad_request)?;
        let holder = Holder {
            kind: &request.kind,
            namespace: &request.namespace,
            name: &name,
        };
        let seal_for = policy.record_key.as_deref().map(|key| (key, holder));
        Some(Stamp::new(
            &policy.annotation_prefix,
            admitted.status,
            &entries,
            rules,
            seal_for,
        ))
    } else {
        None
    };
    let changes = Changes { metadata, pins };
    let mutated = mutation::apply(object, &changes).map_err(bad_request)?;

    let mut response = response(true, None, None);
    response.mutated_object = mutated;
    response.warnings = non_empty(admitted.warnings);
    response.audit_annotations = admitted.audit_note.map(|note| {
        let mut audit = BTreeMap::new();
        audit.insert(AUDIT_ANNOTATION.to_string(), note);
        audit
    });
    Ok(response)
}
