//! Mutation: writes the verification metadata and digest pins into the
//! request's own JSON, so every other field (known or not) is kept as sent.

use crate::decision::{Status, VerifiedSite};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const STATUS_ANNOTATION: &str = "status";
pub const VERIFIED_IMAGES_ANNOTATION: &str = "verified-images";

/// What to change on the object.
#[derive(Debug, Default)]
pub struct Changes {
    /// `(prefix, status, verified sites)`: `None` leaves metadata alone.
    pub metadata: Option<(String, Status, Vec<VerifiedSite>)>,
    /// `(JSON pointer, new image reference)`.
    pub pins: Vec<(String, String)>,
}

/// `<prefix>/verified-images`: each verified reference to its digest and key.
pub fn verified_images_json(verified: &[VerifiedSite]) -> String {
    let entries: BTreeMap<&str, Value> = verified
        .iter()
        .map(|v| {
            (
                v.site.image.as_str(),
                json!({"digest": v.digest, "key": v.key}),
            )
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "{}".to_string())
}

/// Returns the mutated object, or `None` when nothing would change.
pub fn apply(object: &Value, changes: &Changes) -> Result<Option<Value>, String> {
    let mut mutated = object.clone();
    if let Some((prefix, status, verified)) = &changes.metadata {
        let annotations = annotations_mut(&mut mutated)?;
        annotations.insert(
            format!("{prefix}/{STATUS_ANNOTATION}"),
            Value::String(status.as_str().to_string()),
        );
        annotations.insert(
            format!("{prefix}/{VERIFIED_IMAGES_ANNOTATION}"),
            Value::String(verified_images_json(verified)),
        );
    }
    for (pointer, image) in &changes.pins {
        let slot = mutated
            .pointer_mut(pointer)
            .ok_or_else(|| format!("cannot pin the image at {pointer}: the field is gone"))?;
        *slot = Value::String(image.clone());
    }
    Ok((mutated != *object).then_some(mutated))
}

fn annotations_mut(object: &mut Value) -> Result<&mut Map<String, Value>, String> {
    let root = object
        .as_object_mut()
        .ok_or("the object is not a JSON object")?;
    let metadata = root.entry("metadata").or_insert_with(|| json!({}));
    if metadata.is_null() {
        *metadata = json!({});
    }
    let metadata = metadata
        .as_object_mut()
        .ok_or("metadata must be an object")?;
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    annotations
        .as_object_mut()
        .ok_or_else(|| "metadata.annotations must be an object".to_string())
}
