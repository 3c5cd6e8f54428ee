//! Reading and editing JSON text in place. The admission object is read
//! without building a tree of it (only the fields the policy needs are
//! located; everything else is skipped unread), and the mutated object is the
//! same text with the few tokens that change replaced, so every other byte,
//! known field or not, stays as sent.
//!
//! policy-server evaluates every request in a fresh module instance, so this
//! is per-request work: parsing a whole object into `serde_json::Value` and
//! writing it back costs more than the policy's own decision.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::ops::Range;

/// The fields the policy looks for, at any level of an object. `None` is a
/// missing field; a present `null` is `Some("null")`, so the two can be told
/// apart (inserting a field that is present as `null` would duplicate it).
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Fields<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    pub metadata: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub annotations: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub spec: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub template: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub job_template: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub containers: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub init_containers: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub ephemeral_containers: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub volumes: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub image: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub reference: Option<&'a RawValue>,
}

/// A JSON object's text with its top-level fields located, read once and
/// shared by everything that looks into it.
pub struct Object<'a> {
    pub text: &'a RawValue,
    pub fields: Fields<'a>,
}

impl<'a> Object<'a> {
    /// Reads a JSON object; `at` names it in errors.
    pub fn read(text: &'a RawValue, at: &str) -> Result<Object<'a>, String> {
        if type_of(text) != Type::Object {
            return Err(format!("{at} must be an object"));
        }
        Ok(Object {
            text,
            fields: Fields::of(text, at)?,
        })
    }
}

/// Where an object's `metadata.annotations` stands, read where it lies: what
/// the mutation needs to write them and the status guard to compare them.
pub enum Annotations<'a> {
    /// No `metadata`, or `metadata: null` (that value, to replace).
    NoMetadata(Option<&'a RawValue>),
    /// `metadata` without `annotations` (the metadata, to insert into).
    Missing(&'a RawValue),
    /// `annotations`, `null` or an object, and the names and values it holds.
    Present(&'a RawValue, Map<String, Value>),
}

impl<'a> Object<'a> {
    /// The object's annotations; `at` names the object in errors (empty for
    /// the object itself: `metadata must be an object`).
    pub fn annotations(&self, at: &str) -> Result<Annotations<'a>, String> {
        let metadata_at = match at {
            "" => "metadata".to_string(),
            at => format!("{at}.metadata"),
        };
        let metadata = match self.fields.metadata {
            None => return Ok(Annotations::NoMetadata(None)),
            Some(metadata) => match type_of(metadata) {
                Type::Null => return Ok(Annotations::NoMetadata(Some(metadata))),
                Type::Object => metadata,
                _ => return Err(format!("{metadata_at} must be an object")),
            },
        };
        let annotations_at = format!("{metadata_at}.annotations");
        let Some(annotations) = Fields::of(metadata, &metadata_at)?.annotations else {
            return Ok(Annotations::Missing(metadata));
        };
        let names_and_values = match type_of(annotations) {
            Type::Null => Map::new(),
            Type::Object => serde_json::from_str(annotations.get())
                .map_err(|e| format!("{annotations_at}: {e}"))?,
            _ => return Err(format!("{annotations_at} must be an object")),
        };
        Ok(Annotations::Present(annotations, names_and_values))
    }
}

/// Deserializes a field that is present, `null` included, as `Some`: with
/// `#[serde(default)]`, a missing field stays `None`.
pub fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> Fields<'a> {
    /// The named fields of a JSON object; `at` names it in errors.
    pub fn of(object: &'a RawValue, at: &str) -> Result<Fields<'a>, String> {
        serde_json::from_str(object.get()).map_err(|e| format!("{at}: {e}"))
    }

    /// The field a pod spec path goes through.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        match name {
            "spec" => self.spec,
            "template" => self.template,
            "jobTemplate" => self.job_template,
            "containers" => self.containers,
            "initContainers" => self.init_containers,
            "ephemeralContainers" => self.ephemeral_containers,
            _ => None,
        }
    }
}

/// The JSON type of a value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Null,
    Object,
    Array,
    String,
    Other,
}

pub fn type_of(value: &RawValue) -> Type {
    match value.get().as_bytes().first() {
        Some(b'n') => Type::Null,
        Some(b'{') => Type::Object,
        Some(b'[') => Type::Array,
        Some(b'"') => Type::String,
        _ => Type::Other,
    }
}

/// The items of a JSON array; `at` names it in errors.
pub fn items<'a>(array: &'a RawValue, at: &str) -> Result<Vec<&'a RawValue>, String> {
    serde_json::from_str(array.get()).map_err(|e| format!("{at}: {e}"))
}

/// The text of a JSON string token.
pub fn string(value: &RawValue) -> Result<String, String> {
    serde_json::from_str(value.get()).map_err(|e| e.to_string())
}

/// Where `inner`, a value read out of `outer`, lies in `outer`'s text.
pub fn span(outer: &RawValue, inner: &RawValue) -> Result<Range<usize>, String> {
    let start = (inner.get().as_ptr() as usize).wrapping_sub(outer.get().as_ptr() as usize);
    let end = start.wrapping_add(inner.get().len());
    if start > end || end > outer.get().len() {
        return Err("a value was read from outside the object".to_string());
    }
    Ok(start..end)
}

/// True when the object token (`{...}`) has no member.
pub fn is_empty_object(object: &RawValue) -> bool {
    let text = object.get();
    text.len() >= 2 && text[1..text.len() - 1].trim().is_empty()
}

/// One replacement of a range of the text; an empty range inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

/// The text with the edits applied. Edits must not overlap.
pub fn apply_edits(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    // Edit ranges never share a start and end, so an unstable sort is exact
    // (and smaller in the module than the stable one).
    edits.sort_unstable_by_key(|edit| (edit.range.start, edit.range.end));
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    let mut copied = 0;
    for edit in &edits {
        if edit.range.start < copied || edit.range.end > text.len() {
            return Err("two changes to the object overlap".to_string());
        }
        out.push_str(&text[copied..edit.range.start]);
        out.push_str(&edit.text);
        copied = edit.range.end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn missing_and_null_fields_are_told_apart() {
        let object = raw(r#"{"metadata": null, "other": {"spec": 1}}"#);
        let fields = Fields::of(&object, "object").unwrap();
        assert_eq!(fields.metadata.map(RawValue::get), Some("null"));
        assert!(fields.spec.is_none(), "nested fields are not this level's");
    }

    #[test]
    fn duplicate_fields_are_refused() {
        let object = raw(r#"{"spec": {}, "spec": {}}"#);
        assert!(Fields::of(&object, "object")
            .unwrap_err()
            .contains("duplicate field `spec`"));
    }

    #[test]
    fn spans_point_at_the_token() {
        let object = raw(r#"{"spec": {"image": "a\"b"}}"#);
        let spec = Fields::of(&object, "object").unwrap().spec.unwrap();
        let image = Fields::of(spec, "spec").unwrap().image.unwrap();
        let range = span(&object, image).unwrap();
        assert_eq!(&object.get()[range], r#""a\"b""#);
        assert_eq!(string(image).unwrap(), "a\"b");
        assert!(span(image, &object).is_err());
    }

    #[test]
    fn edits_replace_and_insert() {
        let text = r#"{"a": "x", "b": 1}"#;
        let edited = apply_edits(
            text,
            vec![
                Edit {
                    range: 16..17,
                    text: "2".to_string(),
                },
                Edit {
                    range: 1..1,
                    text: r#""z": 0, "#.to_string(),
                },
                Edit {
                    range: 6..9,
                    text: r#""y""#.to_string(),
                },
            ],
        )
        .unwrap();
        assert_eq!(edited, r#"{"z": 0, "a": "y", "b": 2}"#);
        let overlapping = vec![
            Edit {
                range: 1..5,
                text: String::new(),
            },
            Edit {
                range: 3..6,
                text: String::new(),
            },
        ];
        assert!(apply_edits(text, overlapping).is_err());
    }

    #[test]
    fn types_and_empty_objects() {
        assert_eq!(type_of(&raw("null")), Type::Null);
        assert_eq!(type_of(&raw("[1]")), Type::Array);
        assert_eq!(type_of(&raw("\"s\"")), Type::String);
        assert_eq!(type_of(&raw("7")), Type::Other);
        assert!(is_empty_object(&raw("{ }")));
        assert!(!is_empty_object(&raw(r#"{"a":1}"#)));
    }
}
