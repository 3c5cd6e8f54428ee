//! Mutation: writes the verification metadata and digest pins into the
//! request's own JSON text, so every other field (known or not) is kept as sent.

use crate::decision::{Status, VerifiedSite};
use crate::json_text::{self, Edit, Type};
use crate::workload::object::{Annotations, Object};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::ops::Range;

pub(crate) const STATUS_ANNOTATION: &str = "status";
pub(crate) const VERIFIED_IMAGES_ANNOTATION: &str = "verified-images";

/// What to change on the object.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// The annotations to write; `None` leaves metadata alone.
    pub metadata: Option<Stamp>,
    pub pins: Vec<Pin>,
}

/// The verification record written under `<prefix>/`.
#[derive(Debug)]
pub(crate) struct Stamp {
    pub prefix: String,
    pub status: Status,
    pub verified: Vec<VerifiedSite>,
}

/// An image string to rewrite: where its token lies in the object's text,
/// and the pinned reference that replaces it.
#[derive(Debug)]
pub(crate) struct Pin {
    pub span: Range<usize>,
    pub image: String,
}

/// `<prefix>/verified-images`: each verified reference to its digest and key.
pub(crate) fn verified_images_json(verified: &[VerifiedSite]) -> String {
    // serde_json's own map (ordered by name), inserted one by one: another map
    // type, or collecting (which sorts first), would add code to the module.
    let mut entries = Map::new();
    for v in verified {
        entries.insert(
            v.site.image.clone(),
            json!({"digest": v.digest, "key": v.keys}),
        );
    }
    Value::Object(entries).to_string()
}

/// The object (JSON text) with the changes applied; `None` when nothing
/// changes (the annotations already say the same and no image is pinned).
pub(crate) fn apply(object: &Object, changes: &Changes) -> Result<Option<String>, String> {
    let mut edits: Vec<Edit> = changes
        .pins
        .iter()
        .map(|pin| Edit {
            range: pin.span.clone(),
            text: Value::String(pin.image.clone()).to_string(),
        })
        .collect();
    if let Some(Stamp {
        prefix,
        status,
        verified,
    }) = &changes.metadata
    {
        let wanted = [
            (
                format!("{prefix}/{STATUS_ANNOTATION}"),
                status.as_str().to_string(),
            ),
            (
                format!("{prefix}/{VERIFIED_IMAGES_ANNOTATION}"),
                verified_images_json(verified),
            ),
        ];
        edits.extend(annotations_edit(object, wanted)?);
    }
    if edits.is_empty() {
        return Ok(None);
    }
    json_text::apply_edits(object.text.get(), edits).map(Some)
}

/// The edit that makes `metadata.annotations` hold the wanted annotations,
/// creating `metadata` and `annotations` as needed; `None` when they already do.
fn annotations_edit(
    object: &Object,
    wanted: [(String, String); 2],
) -> Result<Option<Edit>, String> {
    let (annotations, existing) = match object.annotations("")? {
        Annotations::NoMetadata(None) => {
            let annotations = object_text(Map::new(), wanted);
            return Ok(Some(insert_member(
                object.text,
                "metadata",
                &format!(r#"{{"annotations":{annotations}}}"#),
            )));
        }
        Annotations::NoMetadata(Some(null)) => {
            let annotations = object_text(Map::new(), wanted);
            return Ok(Some(Edit {
                range: json_text::span(object.text, null)?,
                text: format!(r#"{{"annotations":{annotations}}}"#),
            }));
        }
        Annotations::Missing(metadata) => {
            let edit = insert_member(metadata, "annotations", &object_text(Map::new(), wanted));
            return Ok(Some(shift(
                edit,
                json_text::span(object.text, metadata)?.start,
            )));
        }
        Annotations::Present(annotations, existing) => (annotations, existing),
    };
    let unchanged = json_text::type_of(annotations) == Type::Object
        && wanted
            .iter()
            .all(|(name, value)| existing.get(name).and_then(Value::as_str) == Some(value));
    if unchanged {
        return Ok(None);
    }
    Ok(Some(Edit {
        range: json_text::span(object.text, annotations)?,
        text: object_text(existing, wanted),
    }))
}

/// A JSON object with `wanted` set over `existing`.
fn object_text(mut existing: Map<String, Value>, wanted: [(String, String); 2]) -> String {
    for (name, value) in wanted {
        existing.insert(name, Value::String(value));
    }
    Value::Object(existing).to_string()
}

/// Inserts `"name":value` as the first member of `object` (which lacks it).
fn insert_member(object: &RawValue, name: &str, value: &str) -> Edit {
    let separator = if json_text::is_empty_object(object) {
        ""
    } else {
        ","
    };
    Edit {
        range: 1..1,
        text: format!("{}:{value}{separator}", Value::String(name.to_string())),
    }
}

/// An edit of a value inside the object, moved to the object's coordinates.
fn shift(edit: Edit, by: usize) -> Edit {
    Edit {
        range: edit.range.start + by..edit.range.end + by,
        text: edit.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(object: &str) -> Result<Option<Value>, String> {
        let text = RawValue::from_string(object.to_string()).unwrap();
        let object = Object::read(&text, "object")?;
        let changes = Changes {
            metadata: Some(Stamp {
                prefix: "p".to_string(),
                status: Status::NoPolicy,
                verified: Vec::new(),
            }),
            pins: Vec::new(),
        };
        Ok(apply(&object, &changes)?.map(|text| serde_json::from_str(&text).unwrap()))
    }

    fn stamped(rest: Value) -> Value {
        let mut annotations = json!({"p/status": "no-policy", "p/verified-images": "{}"});
        annotations
            .as_object_mut()
            .unwrap()
            .extend(rest.as_object().unwrap().clone());
        annotations
    }

    #[test]
    fn annotations_are_written_wherever_metadata_stands() {
        for (object, expected) in [
            (
                r#"{}"#,
                json!({"metadata": {"annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"kind": "Pod"}"#,
                json!({"kind": "Pod", "metadata": {"annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"metadata": null}"#,
                json!({"metadata": {"annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"metadata": { }}"#,
                json!({"metadata": {"annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"metadata": {"name": "x"}}"#,
                json!({"metadata": {"name": "x", "annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"metadata": {"annotations": null}}"#,
                json!({"metadata": {"annotations": stamped(json!({}))}}),
            ),
            (
                r#"{"metadata": {"annotations": {"team": "a", "p/status": "verified"}}}"#,
                json!({"metadata": {"annotations": stamped(json!({"team": "a"}))}}),
            ),
        ] {
            assert_eq!(stamp(object).unwrap(), Some(expected), "{object}");
        }
    }

    #[test]
    fn nothing_changes_when_the_annotations_already_say_it() {
        let object = r#"{"metadata": {"annotations": {"p/status": "no-policy", "p/verified-images": "{}"}}}"#;
        assert_eq!(stamp(object).unwrap(), None);
    }

    #[test]
    fn metadata_of_the_wrong_type_is_an_error() {
        assert_eq!(
            stamp(r#"{"metadata": 1}"#).unwrap_err(),
            "metadata must be an object"
        );
        assert_eq!(
            stamp(r#"{"metadata": {"annotations": []}}"#).unwrap_err(),
            "metadata.annotations must be an object"
        );
    }

    #[test]
    fn pins_replace_the_image_token_only() {
        let text = r#"{"spec": {"containers": [{"image": "a:1", "x": "a:1"}]}}"#;
        let raw = RawValue::from_string(text.to_string()).unwrap();
        let object = Object::read(&raw, "object").unwrap();
        let start = text.find(r#""a:1""#).unwrap();
        let changes = Changes {
            metadata: None,
            pins: vec![Pin {
                span: start..start + 5,
                image: "a:1@sha256:00".to_string(),
            }],
        };
        assert_eq!(
            apply(&object, &changes).unwrap().unwrap(),
            r#"{"spec": {"containers": [{"image": "a:1@sha256:00", "x": "a:1"}]}}"#
        );
    }
}
