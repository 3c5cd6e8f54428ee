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

/// Applies the changes to the object; `None` when nothing changed (the
/// annotations already say the same and the images are already pinned).
pub fn apply(mut object: Value, changes: &Changes) -> Result<Option<Value>, String> {
    let mut changed = false;
    if let Some((prefix, status, verified)) = &changes.metadata {
        let annotations = annotations_mut(&mut object)?;
        changed |= set_annotation(
            annotations,
            format!("{prefix}/{STATUS_ANNOTATION}"),
            status.as_str().to_string(),
        );
        changed |= set_annotation(
            annotations,
            format!("{prefix}/{VERIFIED_IMAGES_ANNOTATION}"),
            verified_images_json(verified),
        );
    }
    for (pointer, image) in &changes.pins {
        let slot = object
            .pointer_mut(pointer)
            .ok_or_else(|| format!("cannot pin the image at {pointer}: the field is gone"))?;
        if slot.as_str() != Some(image.as_str()) {
            *slot = Value::String(image.clone());
            changed = true;
        }
    }
    Ok(changed.then_some(object))
}

/// Sets an annotation; whether that changed it.
fn set_annotation(annotations: &mut Map<String, Value>, name: String, value: String) -> bool {
    if annotations.get(&name).and_then(Value::as_str) == Some(value.as_str()) {
        return false;
    }
    annotations.insert(name, Value::String(value));
    true
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
