//! Admission: reads the waPC `validate` payload, runs the policy and builds
//! the Kubewarden ValidationResponse.
//!
//! The request is read where it lies: the object stays JSON text, from which
//! the images are located and into which the mutation is written.

use crate::cluster_policy;
use crate::decision::{self, judge, Status, VerifiedSite};
use crate::host::Host;
use crate::mutation::{self, Changes, Pin, Stamp};
use crate::raw_json::{self, Annotations, Object, Type};
use crate::settings::{
    parse_proven_settings, parse_settings, PinDigests, Policy, RuleSource, Rules,
};
use crate::workload::{api_group, find_images, ImageSite};
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const AUDIT_ANNOTATION: &str = "image-policy";
const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";
const STATUS: &str = "status";

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    request: &'a RawValue,
    #[serde(borrow)]
    settings: Option<&'a RawValue>,
}

/// Kubewarden's ValidationResponse, with the mutated object as JSON text.
#[derive(Debug, Default)]
pub struct ValidationResponse {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    /// JSON text: the request's object with the changes spliced in.
    pub mutated_object: Option<String>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

impl ValidationResponse {
    /// The response as the host reads it. The mutated object is written as
    /// the text it is: valid by construction (the host's own JSON with
    /// serialized values spliced in), so it is not parsed again here.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.mutated_object.as_ref().map_or(0, String::len));
        out.extend_from_slice(if self.accepted {
            br#"{"accepted":true"#
        } else {
            br#"{"accepted":false"#
        });
        field(&mut out, "message", &self.message);
        field(&mut out, "code", &self.code);
        if let Some(object) = &self.mutated_object {
            out.extend_from_slice(br#","mutated_object":"#);
            out.extend_from_slice(object.as_bytes());
        }
        field(&mut out, "audit_annotations", &self.audit_annotations);
        field(&mut out, "warnings", &self.warnings);
        out.push(b'}');
        out
    }
}

/// `,"name":value` when the value is set.
fn field<T: Serialize>(out: &mut Vec<u8>, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        out.extend_from_slice(format!(",\"{name}\":").as_bytes());
        // Strings, numbers and maps of strings always serialize.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

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

struct Rejection {
    message: String,
    code: u16,
}

fn bad_request(message: String) -> Rejection {
    Rejection {
        message: format!("cannot read the admission request: {message}"),
        code: 400,
    }
}

/// The fields of an AdmissionRequest the policy reads, located but not yet
/// read (`None`: missing; a present `null` is `Some("null")`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields<'a> {
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    operation: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    namespace: Option<&'a RawValue>,
    #[serde(
        default,
        borrow,
        deserialize_with = "raw_json::present",
        alias = "sub_resource"
    )]
    sub_resource: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    object: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    old_object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KindFields<'a> {
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    group: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_json::present")]
    kind: Option<&'a RawValue>,
}

/// The parts of an AdmissionRequest the policy reads.
struct Request<'a> {
    operation: String,
    group: String,
    kind: String,
    namespace: String,
    sub_resource: String,
    /// The object, as JSON text.
    object: Option<&'a RawValue>,
    old_object: Option<&'a RawValue>,
}

impl<'a> Request<'a> {
    fn read(request: &'a RawValue) -> Result<Request<'a>, Rejection> {
        if raw_json::type_of(request) != Type::Object {
            return Err(bad_request("request must be an object".to_string()));
        }
        let fields: RequestFields = serde_json::from_str(request.get())
            .map_err(|e| bad_request(format!("request: {e}")))?;
        let kind: KindFields = match fields.kind {
            Some(kind) if raw_json::type_of(kind) == Type::Object => {
                serde_json::from_str(kind.get())
                    .map_err(|e| bad_request(format!("request.kind: {e}")))?
            }
            _ => KindFields {
                group: None,
                kind: None,
            },
        };
        Ok(Request {
            operation: text(fields.operation, "request.operation")?,
            group: text(kind.group, "request.kind.group")?,
            kind: text(kind.kind, "request.kind.kind")?,
            namespace: optional_text(fields.namespace, "request.namespace")?,
            sub_resource: optional_text(fields.sub_resource, "request.subResource")?,
            object: fields.object.filter(|o| raw_json::type_of(o) != Type::Null),
            old_object: fields
                .old_object
                .filter(|o| raw_json::type_of(o) == Type::Object),
        })
    }
}

fn text(value: Option<&RawValue>, field: &str) -> Result<String, Rejection> {
    match value.map(|v| (raw_json::type_of(v), v)) {
        None | Some((Type::Null, _)) => Err(bad_request(format!("{field} is missing"))),
        Some((Type::String, v)) => {
            raw_json::string(v).map_err(|e| bad_request(format!("{field}: {e}")))
        }
        Some(_) => Err(bad_request(format!("{field} must be a string"))),
    }
}

fn optional_text(value: Option<&RawValue>, field: &str) -> Result<String, Rejection> {
    match value {
        Some(v) if raw_json::type_of(v) != Type::Null => text(Some(v), field),
        _ => Ok(String::new()),
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
            return guard_status_write(&request, parse_settings_for_request(&payload)?)
        }
        _ => return Ok(response(true, None, None)),
    }
    let object = match request.object {
        Some(text) => Object::read(text, "request.object").map_err(bad_request)?,
        None => return Err(bad_request("request.object must be an object".to_string())),
    };

    let policy = parse_settings_for_request(&payload)?;

    let cluster_rules: Option<Rules> = match &policy.rules {
        RuleSource::Cluster => {
            cluster_policy::load(host).map_err(|message| Rejection { message, code: 500 })?
        }
        _ => None,
    };
    let rules: &Rules = match (&policy.rules, &cluster_rules) {
        (RuleSource::Inline(rules), _) => rules,
        (RuleSource::Cluster, Some(rules)) => rules,
        (RuleSource::NoRules, _) | (RuleSource::Cluster, None) => {
            let admitted = Admitted {
                warnings: vec![decision::NO_POLICY_WARNING.to_string()],
                ..Admitted::unverified(Status::NoPolicy)
            };
            return finish(&policy, &request, &object, admitted);
        }
    };

    if rules.excluded_namespaces.contains(&request.namespace) {
        let admitted = Admitted {
            audit_note: Some(decision::excluded_message(&request.namespace)),
            ..Admitted::unverified(Status::Excluded)
        };
        return finish(&policy, &request, &object, admitted);
    }

    let sites = find_images(&request.kind, &object).map_err(bad_request)?;
    let verdict = judge(&sites, rules, &policy, host);
    let status = verdict.status();
    let mut failures = verdict.failures;
    if failures.is_empty() && request.sub_resource == EPHEMERAL_CONTAINERS {
        failures = stale_record_failures(&policy, &request, &object, &verdict.unmatched)?;
    }
    if !failures.is_empty() {
        let mut denied = response(false, Some(decision::denial_message(&failures)), Some(403));
        denied.warnings = non_empty(verdict.warnings);
        return Ok(denied);
    }
    let admitted = Admitted {
        status,
        verified: verdict.verified,
        warnings: verdict.warnings,
        audit_note: None,
    };
    finish(&policy, &request, &object, admitted)
}

/// Through `pods/ephemeralcontainers` the API server keeps only the ephemeral
/// containers, so the record cannot follow: on a Pod recorded as verified,
/// an image the request adds that passed only as unmatched would leave the
/// record false, so it is denied. (Verified ephemeral images keep the record
/// true; `verified-images` keeps listing what was verified when the Pod was
/// written.)
fn stale_record_failures(
    policy: &Policy,
    request: &Request,
    object: &Object,
    unmatched: &[ImageSite],
) -> Result<Vec<String>, Rejection> {
    if unmatched.is_empty() {
        return Ok(Vec::new());
    }
    let status = format!(
        "{}/{}",
        policy.annotation_prefix,
        mutation::STATUS_ANNOTATION
    );
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
        let message = decision::unmatched_ephemeral_message(&site.image, &policy.annotation_prefix);
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

fn parse_settings_for_request(payload: &Payload) -> Result<Policy, Rejection> {
    let settings = settings_text(payload.settings.map_or("", |raw| raw.get()));
    parse_proven_settings(settings).map_err(|e| Rejection {
        message: format!("the policy settings are invalid: {e}"),
        code: 500,
    })
}

/// A write through a `status` subresource: the API server keeps the
/// annotations it carries but ignores the spec, so the images are not
/// checked here; the policy's own annotations must stay as they were, or a
/// status writer could stamp `verified` on anything.
fn guard_status_write(request: &Request, policy: Policy) -> Result<ValidationResponse, Rejection> {
    let prefix = format!("{}/", policy.annotation_prefix);
    let new = annotations(request.object, "request.object")?;
    let old = annotations(request.old_object, "request.oldObject")?;
    let ours = |name: &&String| name.starts_with(&prefix);
    // Changed or added, then removed; each list in name order.
    let changed: Vec<&str> = new
        .iter()
        .filter(|(name, value)| ours(name) && old.get(*name) != Some(value))
        .chain(
            old.iter()
                .filter(|(name, _)| ours(name) && !new.contains_key(*name)),
        )
        .map(|(name, _)| name.as_str())
        .collect();
    if changed.is_empty() {
        return Ok(response(true, None, None));
    }
    let message = format!(
        "The annotations under {prefix} record this policy's verification and cannot be \
         changed through the {} status subresource (changed: {}).",
        request.kind,
        changed.join(", ")
    );
    Ok(response(
        false,
        Some(decision::denial_message(&[message])),
        Some(403),
    ))
}

/// The annotations of `object`, empty when it has none (missing or `null`);
/// a `metadata` or `annotations` of another type is an unreadable request,
/// as it is on the admission path (`mutation`).
fn annotations(object: Option<&RawValue>, at: &str) -> Result<Map<String, Value>, Rejection> {
    let Some(object) = object else {
        return Ok(Map::new());
    };
    let object = Object::read(object, at).map_err(bad_request)?;
    match object.annotations(at).map_err(bad_request)? {
        Annotations::Present(_, names_and_values) => Ok(names_and_values),
        Annotations::NoMetadata(_) | Annotations::Missing(_) => Ok(Map::new()),
    }
}

/// What an admitted request is stamped and answered with.
struct Admitted {
    status: Status,
    verified: Vec<VerifiedSite>,
    warnings: Vec<String>,
    /// SCST-Sign's note for excluded namespaces, as an audit annotation.
    audit_note: Option<String>,
}

impl Admitted {
    /// Admitted without asking the host about any image.
    fn unverified(status: Status) -> Self {
        Admitted {
            status,
            verified: Vec::new(),
            warnings: Vec::new(),
            audit_note: None,
        }
    }
}

/// Admits the request, stamping the status and pinning digests as configured.
fn finish(
    policy: &Policy,
    request: &Request,
    object: &Object,
    admitted: Admitted,
) -> Result<ValidationResponse, Rejection> {
    let pins = pins(policy.pin_digests, request, &admitted.verified)?;
    // Through pods/ephemeralcontainers the API server keeps only the ephemeral
    // containers, so metadata written there would be dropped.
    let metadata = (request.sub_resource.is_empty()).then(|| Stamp {
        prefix: policy.annotation_prefix.clone(),
        status: admitted.status,
        verified: admitted.verified,
    });
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

/// Verified tag references to rewrite as `name:tag@digest`. On UPDATE only
/// images the request changes are pinned, so objects created before the
/// policy can still be updated (most pod fields are immutable).
fn pins(
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

fn response(accepted: bool, message: Option<String>, code: Option<u16>) -> ValidationResponse {
    ValidationResponse {
        accepted,
        message,
        code,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

/// The warnings of a response, bounded; `None` when there are none.
fn non_empty(warnings: Vec<String>) -> Option<Vec<String>> {
    (!warnings.is_empty()).then(|| decision::bounded_warnings(warnings))
}
