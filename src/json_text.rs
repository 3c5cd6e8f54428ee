//! Reading and editing JSON text in place, knowing nothing of what it holds.
//! An object is read without building a tree of it (only the members asked
//! for are located; everything else is skipped unread), and an edited text
//! is the same text with the few tokens that change replaced, so every other
//! byte, known field or not, stays as sent.
//!
//! policy-server evaluates every request in a fresh module instance, so this
//! is per-request work: parsing a whole object into `serde_json::Value` and
//! writing it back costs more than the policy's own decision.

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

/// The members of a JSON object named by `names`, in that order, each read
/// where it lies; `None` for a member that is missing (a present `null` is
/// `Some("null")`, so the two can be told apart: inserting a member that is
/// present as `null` would duplicate it). Other members are skipped unread;
/// a name given twice is an error, as it is to the API server. `at` names
/// the object in errors.
pub(crate) fn members<'a>(
    object: &'a RawValue,
    names: &[&str],
    at: &str,
) -> Result<Vec<Option<&'a RawValue>>, String> {
    let mut deserializer = serde_json::Deserializer::from_str(object.get());
    Members { names }
        .deserialize(&mut deserializer)
        .map_err(|e| format!("{at}: {e}"))
}

/// The seed that reads [`members`].
struct Members<'n> {
    names: &'n [&'n str],
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = vec![None; self.names.len()];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|name| *name == key.0) {
                Some(i) if found[i].is_some() => {
                    return Err(de::Error::custom(format!("duplicate field `{}`", key.0)))
                }
                Some(i) => found[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A member's name, borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(name)))
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Deserializes a field that is present, `null` included, as `Some`: with
/// `#[serde(default)]`, a missing field stays `None`.
pub(crate) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// The JSON type of a value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Null,
    Object,
    Array,
    String,
    Other,
}

pub(crate) fn type_of(value: &RawValue) -> Type {
    match value.get().as_bytes().first() {
        Some(b'n') => Type::Null,
        Some(b'{') => Type::Object,
        Some(b'[') => Type::Array,
        Some(b'"') => Type::String,
        _ => Type::Other,
    }
}

/// The items of a JSON array; `at` names it in errors.
pub(crate) fn items<'a>(array: &'a RawValue, at: &str) -> Result<Vec<&'a RawValue>, String> {
    serde_json::from_str(array.get()).map_err(|e| format!("{at}: {e}"))
}

/// The text of a JSON string token.
pub(crate) fn string(value: &RawValue) -> Result<String, String> {
    serde_json::from_str(value.get()).map_err(|e| e.to_string())
}

/// Where `inner`, a value read out of `outer`, lies in `outer`'s text.
pub(crate) fn span(outer: &RawValue, inner: &RawValue) -> Result<Range<usize>, String> {
    let start = (inner.get().as_ptr() as usize).wrapping_sub(outer.get().as_ptr() as usize);
    let end = start.wrapping_add(inner.get().len());
    if start > end || end > outer.get().len() {
        return Err("a value was read from outside the object".to_string());
    }
    Ok(start..end)
}

/// True when the object token (`{...}`) has no member.
pub(crate) fn is_empty_object(object: &RawValue) -> bool {
    let text = object.get();
    text.len() >= 2 && text[1..text.len() - 1].trim().is_empty()
}

/// One replacement of a range of the text; an empty range inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

/// The text with the edits applied. Edits must not overlap.
pub(crate) fn apply_edits(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
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
    fn missing_and_null_members_are_told_apart() {
        let object = raw(r#"{"metadata": null, "other": {"spec": 1}}"#);
        let found = members(&object, &["metadata", "spec"], "object").unwrap();
        assert_eq!(found[0].map(RawValue::get), Some("null"));
        assert!(found[1].is_none(), "nested members are not this level's");
    }

    #[test]
    fn duplicate_members_are_refused_and_escaped_names_read() {
        let object = raw(r#"{"spec": {}, "spec": {}}"#);
        assert!(members(&object, &["spec"], "object")
            .unwrap_err()
            .contains("duplicate field `spec`"));
        let escaped = raw(r#"{"sp\u0065c": 1}"#);
        assert_eq!(
            members(&escaped, &["spec"], "object").unwrap()[0].map(RawValue::get),
            Some("1")
        );
        assert!(members(&raw("[]"), &["spec"], "object")
            .unwrap_err()
            .starts_with("object: "));
    }

    #[test]
    fn spans_point_at_the_token() {
        let object = raw(r#"{"spec": {"image": "a\"b"}}"#);
        let spec = members(&object, &["spec"], "object").unwrap()[0].unwrap();
        let image = members(spec, &["image"], "spec").unwrap()[0].unwrap();
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
