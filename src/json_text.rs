//! Reading and editing JSON text in place, knowing nothing of what it holds.
//! An object is read without building a tree of it (only the members asked
//! for are located; everything else is skipped unread), and an edited text
//! is the same text with the few tokens that change replaced, so every other
//! byte, known field or not, stays as sent.
//!
//! policy-server evaluates every request in a fresh module instance, so this
//! is per-request work: parsing a whole object into `serde_json::Value` and
//! writing it back costs more than the policy's own decision.

use std::fmt::Display;
use std::ops::Range;

// The text read here is the host's, a value of the request the waPC payload
// carried: serde_json read it whole once (as a `RawValue`), so it is valid
// JSON, and a value's bounds are found by its brackets and quotes alone.
// Every read is still bounds-checked: a text that is not JSON is an error,
// never a panic.

/// The members of a JSON object named by `names`, in that order, each the
/// text of its value where it lies; `None` for a member that is missing (a
/// present `null` is `Some("null")`, so the two can be told apart:
/// inserting a member that is present as `null` would duplicate it). Other
/// members are skipped unread; a name given twice is an error, as it is to
/// the API server. `at` names the object in errors (written only then).
pub(crate) fn members<'a>(
    object: &'a str,
    names: &[&str],
    at: &dyn Display,
) -> Result<Vec<Option<&'a str>>, String> {
    let mut found = vec![None; names.len()];
    visit_members(object, names, at, &mut |n, value| {
        let end = value_end(value.as_bytes(), 0).ok_or_else(|| format!("{at}: not JSON"))?;
        found[n] = Some(&value[..end]);
        Ok(end)
    })?;
    Ok(found)
}

/// Reads the object at the start of `text` (which may run on past it),
/// handing the value of each member named in `names` to `visit` as the text
/// from the value's start on: `visit` reads what it needs of it and says
/// how long the value is, so that a caller descending into a member scans
/// it once. Other members are skipped. Returns the object's length. A name
/// given twice is an error, as it is to the API server.
pub(crate) fn visit_members<'a>(
    text: &'a str,
    names: &[&str],
    at: &dyn Display,
    visit: &mut dyn FnMut(usize, &'a str) -> Result<usize, String>,
) -> Result<usize, String> {
    let b = text.as_bytes();
    let broken = || format!("{at}: not a JSON object");
    if b.first() != Some(&b'{') {
        return Err(format!(
            "{at}: invalid type: {}, expected an object",
            described(text)
        ));
    }
    let mut seen = vec![false; names.len()];
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        let key_end = string_end(b, i).ok_or_else(broken)?;
        let key = name(&text[i..key_end]).ok_or_else(broken)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(broken());
        }
        let start = skip_ws(b, i + 1);
        let length = match names.iter().position(|name| *name == key) {
            Some(n) if seen[n] => return Err(format!("{at}: duplicate field `{key}`")),
            Some(n) => {
                seen[n] = true;
                visit(n, &text[start..])?
            }
            None => value_end(b, start).ok_or_else(broken)? - start,
        };
        i = skip_ws(b, start + length);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return Err(broken()),
        }
    }
}

/// Reads the array at the start of `text` as [`visit_members`] reads an
/// object: each item, by its index, to `visit`, which says how long it is.
/// Returns the array's length.
pub(crate) fn visit_items<'a>(
    text: &'a str,
    at: &dyn Display,
    visit: &mut dyn FnMut(usize, &'a str) -> Result<usize, String>,
) -> Result<usize, String> {
    let b = text.as_bytes();
    let broken = || format!("{at}: not a JSON array");
    if b.first() != Some(&b'[') {
        return Err(format!(
            "{at}: invalid type: {}, expected a list",
            described(text)
        ));
    }
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b']') {
        return Ok(i + 1);
    }
    let mut index = 0;
    loop {
        let length = visit(index, &text[i..])?;
        i = skip_ws(b, i + length);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Ok(i + 1),
            _ => return Err(broken()),
        }
        index += 1;
    }
}

/// The length of the value at the start of `text` (which may run on past it).
pub(crate) fn value_length(text: &str) -> Result<usize, String> {
    value_end(text.as_bytes(), 0).ok_or_else(|| "not JSON".to_string())
}

/// A member name: the string token's text, read for escapes only if it
/// has any.
fn name(token: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = token.get(1..token.len().checked_sub(1)?)?;
    match inner.contains('\\') {
        false => Some(inner.into()),
        true => serde_json::from_str::<String>(token).ok().map(Into::into),
    }
}

/// How serde names a value's type in its errors.
fn described(value: &str) -> &'static str {
    match type_of(value) {
        Type::Null => "null",
        Type::Object => "map",
        Type::Array => "sequence",
        Type::String => "string",
        Type::Other => "a number or boolean",
    }
}

fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while b
        .get(at)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The offset just past the string token whose quote is at `at`. (The
/// scans below look for the few bytes that matter with `position`, the
/// tightest loop: every request's object is scanned a few times.)
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        i += b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\')?;
        match b[i] {
            b'"' => return Some(i + 1),
            _ => i += 2,
        }
    }
}

/// The offset just past the value that starts at `at`.
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                i += b
                    .get(i..)?
                    .iter()
                    .position(|&c| matches!(c, b'"' | b'{' | b'[' | b'}' | b']'))?;
                match b[i] {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    _ => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                }
                i += 1;
            }
        }
        // A number, `true`, `false` or `null`: up to what ends a value.
        _ => {
            let mut i = at;
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
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

pub(crate) fn type_of(value: &str) -> Type {
    match value.as_bytes().first() {
        Some(b'n') => Type::Null,
        Some(b'{') => Type::Object,
        Some(b'[') => Type::Array,
        Some(b'"') => Type::String,
        _ => Type::Other,
    }
}

/// The text of a JSON string token, its escapes read.
pub(crate) fn string(value: &str) -> Result<String, String> {
    match name(value) {
        Some(text) if value.starts_with('"') => Ok(text.into_owned()),
        _ => serde_json::from_str(value).map_err(|e| e.to_string()),
    }
}

/// Where `inner`, a value read out of `outer`, lies in `outer`'s text.
pub(crate) fn span(outer: &str, inner: &str) -> Result<Range<usize>, String> {
    let start = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    let end = start.wrapping_add(inner.len());
    if start > end || end > outer.len() {
        return Err("a value was read from outside the object".to_string());
    }
    Ok(start..end)
}

/// True when the object token (`{...}`) has no member.
pub(crate) fn is_empty_object(object: &str) -> bool {
    let text = object;
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

    fn raw(text: &str) -> &str {
        text
    }

    #[test]
    fn missing_and_null_members_are_told_apart() {
        let object = raw(r#"{"metadata": null, "other": {"spec": 1}}"#);
        let found = members(object, &["metadata", "spec"], &"object").unwrap();
        assert_eq!(found[0], Some("null"));
        assert!(found[1].is_none(), "nested members are not this level's");
    }

    #[test]
    fn duplicate_members_are_refused_and_escaped_names_read() {
        let object = raw(r#"{"spec": {}, "spec": {}}"#);
        assert!(members(object, &["spec"], &"object")
            .unwrap_err()
            .contains("duplicate field `spec`"));
        let escaped = raw(r#"{"sp\u0065c": 1}"#);
        assert_eq!(
            members(escaped, &["spec"], &"object").unwrap()[0],
            Some("1")
        );
        assert!(members(raw("[]"), &["spec"], &"object")
            .unwrap_err()
            .starts_with("object: "));
    }

    #[test]
    fn spans_point_at_the_token() {
        let object = raw(r#"{"spec": {"image": "a\"b"}}"#);
        let spec = members(object, &["spec"], &"object").unwrap()[0].unwrap();
        let image = members(spec, &["image"], &"spec").unwrap()[0].unwrap();
        let range = span(object, image).unwrap();
        assert_eq!(&object[range], r#""a\"b""#);
        assert_eq!(string(image).unwrap(), "a\"b");
        assert!(span(image, object).is_err());
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
        assert_eq!(type_of(raw("null")), Type::Null);
        assert_eq!(type_of(raw("[1]")), Type::Array);
        assert_eq!(type_of(raw("\"s\"")), Type::String);
        assert_eq!(type_of(raw("7")), Type::Other);
        assert!(is_empty_object(raw("{ }")));
        assert!(!is_empty_object(raw(r#"{"a":1}"#)));
    }
}
