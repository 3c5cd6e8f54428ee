//! Admission request/response helpers shaped like `kwctl run`.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Map, Value};

/// Returns the AdmissionRequest held by `document`, which is either a whole
/// `AdmissionReview` or a bare request.
pub fn admission_request(document: Value) -> Result<Value> {
    match document {
        Value::Object(mut map) => {
            let is_review = map.get("kind").and_then(Value::as_str) == Some("AdmissionReview");
            if is_review || (map.contains_key("request") && !map.contains_key("uid")) {
                match map.remove("request") {
                    Some(request @ Value::Object(_)) => Ok(request),
                    _ => bail!("the AdmissionReview has no request object"),
                }
            } else {
                Ok(Value::Object(map))
            }
        }
        _ => bail!("the admission request must be an object"),
    }
}

/// Turns a policy ValidationResponse into an AdmissionResponse like the one
/// `kwctl run` prints. When the policy mutates the object, `patch` holds the
/// base64 RFC 6902 patch from `request.object` to `mutated_object`, and the
/// non-standard `patchOps` field holds the same patch decoded.
pub fn admission_response(request: &Value, validation: &Value) -> Result<Value> {
    let accepted = validation
        .get("accepted")
        .and_then(Value::as_bool)
        .context("the validation response has no boolean `accepted`")?;
    let mut out = Map::new();
    out.insert(
        "uid".into(),
        request
            .get("uid")
            .cloned()
            .unwrap_or(Value::String(String::new())),
    );
    out.insert("allowed".into(), Value::Bool(accepted));

    if !accepted {
        let mut status = Map::new();
        for field in ["message", "code"] {
            if let Some(v) = validation.get(field).filter(|v| !v.is_null()) {
                status.insert(field.into(), v.clone());
            }
        }
        out.insert("status".into(), Value::Object(status));
    }

    if let Some(warnings) = validation.get("warnings").filter(|v| !v.is_null()) {
        out.insert("warnings".into(), warnings.clone());
    }
    if let Some(annotations) = validation.get("audit_annotations").filter(|v| !v.is_null()) {
        out.insert("auditAnnotations".into(), annotations.clone());
    }

    if let Some(mutated) = validation.get("mutated_object").filter(|v| !v.is_null()) {
        let original = request.get("object").cloned().unwrap_or(Value::Null);
        let patch = json_patch::diff(&original, mutated);
        let ops = serde_json::to_value(&patch)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&patch)?);
        out.insert("patchType".into(), json!("JSONPatch"));
        out.insert("patch".into(), Value::String(encoded));
        out.insert("patchOps".into(), ops);
    }
    Ok(Value::Object(out))
}

/// Parses JSON, or YAML when the text is not JSON.
pub fn parse_json_or_yaml(text: &str, what: &str) -> Result<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) => {
            serde_yaml::from_str(text).with_context(|| format!("{what} is neither JSON nor YAML"))
        }
    }
}
