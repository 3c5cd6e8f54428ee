//! The request: the waPC `validate` payload and the parts of its
//! AdmissionRequest the policy reads, located in the text and read on demand;
//! a request that cannot be read is a [`Rejection`] that names the field.

use crate::json_text::{self, members, Type};
use crate::messages::unreadable_request_message;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
pub(crate) struct Payload<'a> {
    #[serde(borrow)]
    pub request: &'a RawValue,
    #[serde(borrow)]
    pub settings: Option<&'a RawValue>,
}

/// Why a request is answered with a denial before any decision: a code and
/// a message that says why.
pub(crate) struct Rejection {
    pub message: String,
    pub code: u16,
}

pub(crate) fn bad_request(message: String) -> Rejection {
    Rejection {
        message: unreadable_request_message(&message),
        code: 400,
    }
}

/// The parts of an AdmissionRequest the policy reads.
pub(crate) struct Request<'a> {
    pub operation: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub sub_resource: String,
    /// The object, as JSON text.
    pub object: Option<&'a str>,
    pub old_object: Option<&'a str>,
}

impl<'a> Request<'a> {
    #[inline(never)] // a phase of scripts/profile.sh
    pub fn read(request: &'a RawValue) -> Result<Request<'a>, Rejection> {
        let request = request.get();
        if json_text::type_of(request) != Type::Object {
            return Err(bad_request("request must be an object".to_string()));
        }
        // `subResource`, or `sub_resource` as kwctl's own requests spell it.
        let [operation, kind, namespace, sub_resource, sub_resource_snake, object, old_object] =
            members(
                request,
                &[
                    "operation",
                    "kind",
                    "namespace",
                    "subResource",
                    "sub_resource",
                    "object",
                    "oldObject",
                ],
                &"request",
            )
            .map_err(bad_request)?[..]
        else {
            unreachable!("seven names, seven members")
        };
        let (group, kind_name) = match kind {
            Some(kind) if json_text::type_of(kind) == Type::Object => {
                let found =
                    members(kind, &["group", "kind"], &"request.kind").map_err(bad_request)?;
                (found[0], found[1])
            }
            _ => (None, None),
        };
        Ok(Request {
            operation: text(operation, "request.operation")?,
            group: text(group, "request.kind.group")?,
            kind: text(kind_name, "request.kind.kind")?,
            namespace: optional_text(namespace, "request.namespace")?,
            sub_resource: optional_text(
                sub_resource.or(sub_resource_snake),
                "request.subResource",
            )?,
            object: object.filter(|o| json_text::type_of(o) != Type::Null),
            old_object: old_object.filter(|o| json_text::type_of(o) == Type::Object),
        })
    }
}

fn text(value: Option<&str>, field: &str) -> Result<String, Rejection> {
    match value.map(|v| (json_text::type_of(v), v)) {
        None | Some((Type::Null, _)) => Err(bad_request(format!("{field} is missing"))),
        Some((Type::String, v)) => {
            json_text::string(v).map_err(|e| bad_request(format!("{field}: {e}")))
        }
        Some(_) => Err(bad_request(format!("{field} must be a string"))),
    }
}

fn optional_text(value: Option<&str>, field: &str) -> Result<String, Rejection> {
    match value {
        Some(v) if json_text::type_of(v) != Type::Null => text(Some(v), field),
        _ => Ok(String::new()),
    }
}
