//! Writes through a covered kind's `status` subresource: they may not
//! change the policy's own annotations.

use crate::admission::request::{bad_request, Rejection, Request};
use crate::admission::response::{response, ValidationResponse};
use crate::decision;
use crate::messages::status_write_message;
use crate::rules::Policy;
use crate::workload::object::{Annotations, Object};
use serde_json::{Map, Value};

/// A write through a `status` subresource: the API server keeps the
/// annotations it carries but ignores the spec, so the images are not
/// checked here; the policy's own annotations must stay as they were, or a
/// status writer could stamp `verified` on anything.
pub(crate) fn guard_status_write(
    request: &Request,
    policy: Policy,
) -> Result<ValidationResponse, Rejection> {
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
    let message = status_write_message(&prefix, &request.kind, &changed);
    Ok(response(
        false,
        Some(decision::denial_message(&[message])),
        Some(403),
    ))
}

/// The annotations of `object`, empty when it has none (missing or `null`);
/// a `metadata` or `annotations` of another type is an unreadable request,
/// as it is on the admission path (`mutation`).
fn annotations(object: Option<&str>, at: &str) -> Result<Map<String, Value>, Rejection> {
    let Some(object) = object else {
        return Ok(Map::new());
    };
    let object = Object::read(object, at).map_err(bad_request)?;
    match object.annotations(at).map_err(bad_request)? {
        Annotations::Present(_, names_and_values) => Ok(names_and_values),
        Annotations::NoMetadata(_) | Annotations::Missing(_) => Ok(Map::new()),
    }
}
