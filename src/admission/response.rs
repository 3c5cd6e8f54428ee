//! The response: Kubewarden's ValidationResponse, written by hand around
//! the mutated object, which is JSON text already.

use crate::decision;
use serde::Serialize;
use std::collections::BTreeMap;

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
    #[inline(never)] // a phase of scripts/profile.sh
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

pub(crate) fn response(
    accepted: bool,
    message: Option<String>,
    code: Option<u16>,
) -> ValidationResponse {
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
pub(crate) fn non_empty(warnings: Vec<String>) -> Option<Vec<String>> {
    (!warnings.is_empty()).then(|| decision::bounded_warnings(warnings))
}
