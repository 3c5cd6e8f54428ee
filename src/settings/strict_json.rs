//! Strict JSON reading for settings and cluster resources: unknown fields are
//! errors (the types say `deny_unknown_fields`), and an error names the path
//! of the field, not a position in JSON the host built from the user's YAML.

use crate::settings::errors::{joined, Problem, SettingsError};
use serde::Deserialize;

/// Deserialises JSON so that an error names the field's path below `root`.
/// The path is found only when there is an error, from where the parser
/// stopped ([`path_at`]): reading settings that are right costs no more
/// than reading them.
pub fn from_json_strict<'a, T: Deserialize<'a>>(
    json: &'a str,
    root: &str,
) -> Result<T, SettingsError> {
    serde_json::from_str(json).map_err(|e| path_error(&e, json, root))
}

fn path_error(e: &serde_json::Error, json: &str, root: &str) -> SettingsError {
    // serde_json finds a field missing at the `}` of its object.
    let missing = e.to_string().starts_with("missing field");
    // A syntax error (an enum given neither a string nor an object) is
    // placed one past the byte serde_json looked at without reading it.
    let offset = offset_of(json, e.line(), e.column());
    let offset = match e.is_syntax() || e.is_eof() {
        true => offset.saturating_sub(1),
        false => offset,
    };
    let path = path_at(json, offset, missing);
    let path = joined(root, &path);
    // serde_json adds "at line L column C" of the JSON the host built from
    // the YAML the user wrote: the path says more.
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or_default();
    SettingsError::at(path, Problem::Unreadable(message.to_string()))
}

/// The byte offset of serde_json's 1-based line and 0-based byte column.
fn offset_of(json: &str, line: usize, column: usize) -> usize {
    let start = match line {
        0 | 1 => 0,
        line => json
            .match_indices('\n')
            .nth(line - 2)
            .map_or(json.len(), |(at, _)| at + 1),
    };
    (start + column).min(json.len())
}

/// One level of the JSON being walked: an object and the member whose key
/// was read last, or an array and the element being read.
enum Level {
    Object(Option<String>),
    Array(usize),
}

impl Level {
    fn push_to(&self, path: &mut String) {
        match self {
            Level::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Level::Array(index) => path.push_str(&format!("[{index}]")),
            Level::Object(None) => {}
        }
    }
}

/// The path (`spec.keys[0].name`) of the value the parser was reading when
/// it stopped at `offset`. serde_json stops just after the token it could
/// not accept (a key, a value); an error the types raise themselves (a field
/// `missing`, a value refused) it places where it stopped once it tried to
/// end the object, which, for the object's last member, is past its `}`: the
/// object's own path for a missing field, its last member's for the others
/// (past a `]`, an array's own error: its length).
pub(crate) fn path_at(json: &str, offset: usize, missing: bool) -> String {
    let bytes = json.as_bytes();
    let mut levels: Vec<Level> = Vec::new();
    // The level the last `}` or `]` closed, and where it ended.
    let mut closed: Option<(Level, usize)> = None;
    let mut at = 0;
    // Whether the next string in an object is a key.
    let mut expect_key = false;
    while at < offset {
        match bytes[at] {
            b'{' => {
                levels.push(Level::Object(None));
                expect_key = true;
            }
            b'[' => {
                levels.push(Level::Array(0));
                expect_key = false;
            }
            b'}' | b']' => {
                closed = levels.pop().map(|level| (level, at + 1));
                expect_key = false;
            }
            b',' => match levels.last_mut() {
                Some(Level::Array(index)) => *index += 1,
                Some(Level::Object(key)) => {
                    *key = None;
                    expect_key = true;
                }
                None => {}
            },
            b'"' => {
                let (text, end) = string_at(json, at);
                if expect_key {
                    if let Some(Level::Object(key)) = levels.last_mut() {
                        *key = Some(text);
                    }
                    expect_key = false;
                }
                at = end;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    let mut path = String::new();
    match closed {
        // Stopped just past a `}` (or `]`): an error of its last member, or
        // of the object itself for a missing field.
        Some((level, end)) if end == offset => {
            levels.iter().for_each(|l| l.push_to(&mut path));
            if !missing && matches!(level, Level::Object(_)) {
                level.push_to(&mut path);
            }
        }
        // Stopped at a `}`: a field of that object is missing.
        _ if missing && bytes.get(offset) == Some(&b'}') => {
            let outer = levels.len().saturating_sub(1);
            levels[..outer].iter().for_each(|l| l.push_to(&mut path));
        }
        _ => levels.iter().for_each(|l| l.push_to(&mut path)),
    }
    path
}

/// The text of the JSON string starting at `start` (its quote), with its
/// escapes read, and the offset just after its closing quote.
fn string_at(json: &str, start: usize) -> (String, usize) {
    let end = {
        let bytes = json.as_bytes();
        let mut at = start + 1;
        while at < bytes.len() && bytes[at] != b'"' {
            at += if bytes[at] == b'\\' { 2 } else { 1 };
        }
        (at + 1).min(bytes.len())
    };
    let quoted = json.get(start..end).unwrap_or_default();
    let text = serde_json::from_str::<String>(quoted)
        .unwrap_or_else(|_| quoted.trim_matches('"').to_string());
    (text, end)
}

/// An optional field that may be left out but not set to `null`. For the
/// rules keys a `null` (a key whose contents are all commented out) would
/// otherwise read as "not set": no rules, no required annotations, a
/// threshold of one, each less checking than the operator wrote down.
pub(crate) fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "must not be null: give it a value or leave the field out",
        )),
    }
}

/// A value read as [`not_null`] reads it, where a map's value is read by
/// hand (`map.next_value::<NotNull<T>>()`).
pub(crate) struct NotNull<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NotNull<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        not_null(deserializer).map(NotNull)
    }
}
