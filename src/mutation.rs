//! Mutation: writes the verification metadata and digest pins into the
//! request's own JSON text, so every other field (known or not) is kept as sent.

use crate::json_text::{self, Edit, Type};
use crate::record::Stamp;
use crate::workload::object::{Annotations, Object};
use serde_json::{Map, Value};
use std::ops::Range;

/// What to change on the object.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// The record to write; `None` leaves metadata alone.
    pub metadata: Option<Stamp>,
    pub pins: Vec<Pin>,
}

/// An image string to rewrite: where its token lies in the object's text,
/// and the pinned reference that replaces it.
#[derive(Debug)]
pub(crate) struct Pin {
    pub span: Range<usize>,
    pub image: String,
}

/// The annotations to set (`Some`) or remove (`None`), by full name.
type Wanted = [(String, Option<String>)];

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
    if let Some(stamp) = &changes.metadata {
        edits.extend(annotations_edit(object, &stamp.annotations())?);
    }
    if edits.is_empty() {
        return Ok(None);
    }
    json_text::apply_edits(object.text, edits).map(Some)
}

/// The edit that makes `metadata.annotations` hold the wanted annotations,
/// creating `metadata` and `annotations` as needed; `None` when they already do.
fn annotations_edit(object: &Object, wanted: &Wanted) -> Result<Option<Edit>, String> {
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
        && wanted.iter().all(|(name, value)| {
            existing.get(name).map(Value::as_str) == value.as_deref().map(Some)
        });
    if unchanged {
        return Ok(None);
    }
    Ok(Some(Edit {
        range: json_text::span(object.text, annotations)?,
        text: object_text(existing, wanted),
    }))
}

/// A JSON object with `wanted` set over (or removed from) `existing`.
fn object_text(mut existing: Map<String, Value>, wanted: &Wanted) -> String {
    for (name, value) in wanted {
        match value {
            Some(value) => existing.insert(name.clone(), Value::String(value.clone())),
            None => existing.remove(name),
        };
    }
    Value::Object(existing).to_string()
}

/// Inserts `"name":value` as the first member of `object` (which lacks it).
fn insert_member(object: &str, name: &str, value: &str) -> Edit {
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
    use crate::record::Status;
    use serde_json::json;

    fn stamp(object: &str) -> Result<Option<Value>, String> {
        let text = object.to_string();
        let object = Object::read(&text, "object")?;
        let changes = Changes {
            metadata: Some(Stamp::new("p", Status::NoPolicy, &[], None, None)),
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
            // A fingerprint or seal the new record does not carry is removed.
            (
                r#"{"metadata": {"annotations": {"p/rules": "r", "p/seal": "00"}}}"#,
                json!({"metadata": {"annotations": stamped(json!({}))}}),
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
        let raw = text.to_string();
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
