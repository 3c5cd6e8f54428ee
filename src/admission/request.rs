//! The request: the waPC `validate` payload and the parts of its
//! AdmissionRequest the policy reads, located in the text and read on demand;
//! a request that cannot be read is a [`Rejection`] that names the field.

use crate::json_text::{self, Type};
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
        message: format!("cannot read the admission request: {message}"),
        code: 400,
    }
}

/// The fields of an AdmissionRequest the policy reads, located but not yet
/// read (`None`: missing; a present `null` is `Some("null")`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields<'a> {
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    operation: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    namespace: Option<&'a RawValue>,
    #[serde(
        default,
        borrow,
        deserialize_with = "json_text::present",
        alias = "sub_resource"
    )]
    sub_resource: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    object: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    old_object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KindFields<'a> {
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    group: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json_text::present")]
    kind: Option<&'a RawValue>,
}

/// The parts of an AdmissionRequest the policy reads.
pub(crate) struct Request<'a> {
    pub operation: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub sub_resource: String,
    /// The object, as JSON text.
    pub object: Option<&'a RawValue>,
    pub old_object: Option<&'a RawValue>,
}

impl<'a> Request<'a> {
    pub fn read(request: &'a RawValue) -> Result<Request<'a>, Rejection> {
        if json_text::type_of(request) != Type::Object {
            return Err(bad_request("request must be an object".to_string()));
        }
        let fields: RequestFields = serde_json::from_str(request.get())
            .map_err(|e| bad_request(format!("request: {e}")))?;
        let kind: KindFields = match fields.kind {
            Some(kind) if json_text::type_of(kind) == Type::Object => {
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
            object: fields
                .object
                .filter(|o| json_text::type_of(o) != Type::Null),
            old_object: fields
                .old_object
                .filter(|o| json_text::type_of(o) == Type::Object),
        })
    }
}

fn text(value: Option<&RawValue>, field: &str) -> Result<String, Rejection> {
    match value.map(|v| (json_text::type_of(v), v)) {
        None | Some((Type::Null, _)) => Err(bad_request(format!("{field} is missing"))),
        Some((Type::String, v)) => {
            json_text::string(v).map_err(|e| bad_request(format!("{field}: {e}")))
        }
        Some(_) => Err(bad_request(format!("{field} must be a string"))),
    }
}

fn optional_text(value: Option<&RawValue>, field: &str) -> Result<String, Rejection> {
    match value {
        Some(v) if json_text::type_of(v) != Type::Null => text(Some(v), field),
        _ => Ok(String::new()),
    }
}
