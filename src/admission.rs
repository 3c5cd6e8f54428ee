//! Admission: reads the waPC `validate` payload, runs the policy and builds
//! the Kubewarden ValidationResponse.

use crate::cluster_policy;
use crate::decision::{self, judge, Status, VerifiedSite};
use crate::mutation::{self, Changes};
use crate::settings::{
    parse_proven_settings, parse_settings, PinDigests, Policy, RuleSource, Rules,
};
use crate::verification::Host;
use crate::workload::{api_group, find_images};
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

pub const AUDIT_ANNOTATION: &str = "image-policy";
const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

#[derive(Deserialize)]
struct Payload<'a> {
    request: Value,
    #[serde(borrow)]
    settings: Option<&'a RawValue>,
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
        .and_then(|text| parse_settings(settings_text(text)));
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

/// The parts of an AdmissionRequest the policy reads.
struct Request<'a> {
    operation: &'a str,
    group: &'a str,
    kind: &'a str,
    namespace: &'a str,
    sub_resource: &'a str,
    old_object: Option<&'a Value>,
}

impl<'a> Request<'a> {
    fn read(request: &'a Value) -> Result<Request<'a>, Rejection> {
        if !request.is_object() {
            return Err(bad_request("request must be an object".to_string()));
        }
        let text = |field: &str, pointer: &str| match request.pointer(pointer) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Err(bad_request(format!("{field} is missing"))),
            Some(_) => Err(bad_request(format!("{field} must be a string"))),
        };
        let optional_text = |field: &str, pointer: &str| match request.pointer(pointer) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Ok(""),
            Some(_) => Err(bad_request(format!("{field} must be a string"))),
        };
        Ok(Request {
            operation: text("request.operation", "/operation")?,
            group: text("request.kind.group", "/kind/group")?,
            kind: text("request.kind.kind", "/kind/kind")?,
            namespace: optional_text("request.namespace", "/namespace")?,
            sub_resource: match request.get("subResource") {
                Some(_) => optional_text("request.subResource", "/subResource")?,
                None => optional_text("request.sub_resource", "/sub_resource")?,
            },
            old_object: request.get("oldObject").filter(|o| o.is_object()),
        })
    }
}

fn evaluate<H: Host>(payload: &[u8], host: &H) -> Result<ValidationResponse, Rejection> {
    let mut payload: Payload = serde_json::from_slice(payload).map_err(|e| {
        bad_request(format!(
            "the payload is not {{\"request\", \"settings\"}} JSON: {e}"
        ))
    })?;
    // The object is taken out of the request, so that the mutation writes
    // into it instead of into a copy.
    let object = match payload.request.get_mut("object") {
        Some(object) => object.take(),
        None => Value::Null,
    };
    let request = Request::read(&payload.request)?;

    let covered = api_group(request.kind) == Some(request.group);
    let checked_operation = matches!(request.operation, "CREATE" | "UPDATE");
    let checked_subresource = matches!(request.sub_resource, "" | EPHEMERAL_CONTAINERS);
    if !covered || !checked_operation || !checked_subresource {
        return Ok(response(true, None, None));
    }
    if !object.is_object() {
        return Err(bad_request("request.object must be an object".to_string()));
    }

    let settings = settings_text(payload.settings.map_or("", |raw| raw.get()));
    let policy = parse_proven_settings(settings).map_err(|e| Rejection {
        message: format!("the policy settings are invalid: {e}"),
        code: 500,
    })?;

    let cluster_rules: Option<Rules> = match &policy.rules {
        RuleSource::Cluster => {
            cluster_policy::load(host).map_err(|message| Rejection { message, code: 500 })?
        }
        _ => None,
    };
    let rules: &Rules = match (&policy.rules, &cluster_rules) {
        (RuleSource::Inline(rules), _) => rules,
        (RuleSource::Cluster, Some(rules)) => rules,
        (RuleSource::None, _) | (RuleSource::Cluster, None) => {
            let warning = decision::NO_POLICY_WARNING.to_string();
            return finish(
                &policy,
                &request,
                object,
                Status::NoPolicy,
                Vec::new(),
                vec![warning],
                None,
            );
        }
    };

    if rules.excluded_namespaces.contains(request.namespace) {
        let note = decision::excluded_message(request.namespace);
        return finish(
            &policy,
            &request,
            object,
            Status::Excluded,
            Vec::new(),
            Vec::new(),
            Some(note),
        );
    }

    let sites = find_images(request.kind, &object).map_err(bad_request)?;
    let verdict = judge(&sites, rules, policy.allow_unmatched_images, host);
    if !verdict.failures.is_empty() {
        let mut denied = response(false, Some(verdict.failures.join("\n")), Some(403));
        denied.warnings = non_empty(verdict.warnings);
        return Ok(denied);
    }
    let status = verdict.status();
    finish(
        &policy,
        &request,
        object,
        status,
        verdict.verified,
        verdict.warnings,
        None,
    )
}

/// Admits the request, stamping the status and pinning digests as configured.
fn finish(
    policy: &Policy,
    request: &Request,
    object: Value,
    status: Status,
    verified: Vec<VerifiedSite>,
    warnings: Vec<String>,
    audit_note: Option<String>,
) -> Result<ValidationResponse, Rejection> {
    let pins = pins(policy.pin_digests, request, &verified);
    // Through pods/ephemeralcontainers the API server keeps only the ephemeral
    // containers, so metadata written there would be dropped.
    let metadata = (request.sub_resource.is_empty())
        .then(|| (policy.annotation_prefix.clone(), status, verified));
    let changes = Changes { metadata, pins };
    let mutated = mutation::apply(object, &changes).map_err(bad_request)?;

    let mut admitted = response(true, None, None);
    admitted.mutated_object = mutated;
    admitted.warnings = non_empty(warnings);
    admitted.audit_annotations =
        audit_note.map(|note| HashMap::from([(AUDIT_ANNOTATION.to_string(), note)]));
    Ok(admitted)
}

/// Verified tag references to rewrite as `name:tag@digest`. On UPDATE only
/// images the request changes are pinned, so objects created before the
/// policy can still be updated (most pod fields are immutable).
fn pins(
    pin_digests: PinDigests,
    request: &Request,
    verified: &[VerifiedSite],
) -> Vec<(String, String)> {
    let applies = match pin_digests {
        PinDigests::Never => false,
        PinDigests::Pods => request.kind == "Pod",
        PinDigests::All => true,
    };
    if !applies {
        return Vec::new();
    }
    verified
        .iter()
        .filter(|v| v.image.digest.is_none())
        .filter(|v| {
            let old = request
                .old_object
                .and_then(|old| old.pointer(&v.site.pointer));
            request.operation == "CREATE" || old != Some(&Value::String(v.site.image.clone()))
        })
        .map(|v| (v.site.pointer.clone(), v.image.pinned(&v.digest)))
        .collect()
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

fn non_empty(warnings: Vec<String>) -> Option<Vec<String>> {
    (!warnings.is_empty()).then_some(warnings)
}
