//! Strict JSON reading for settings and cluster resources: unknown fields are
//! errors (the types say `deny_unknown_fields`), and an error names the path
//! of the field, not a position in JSON the host built from the user's YAML.

use crate::settings::errors::{Problem, SettingsError};
use serde::Deserialize;

/// Deserialises JSON so that an error names the field's path below `root`.
pub fn from_json_strict<'a, T: Deserialize<'a>>(
    json: &'a str,
    root: &str,
) -> Result<T, SettingsError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| path_error(e, root))
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>, root: &str) -> SettingsError {
    let path = match (root, e.path().to_string().as_str()) {
        (root, ".") => root.to_string(),
        ("", path) => path.to_string(),
        (root, path) => format!("{root}.{path}"),
    };
    // serde_json adds "at line L column C" of the JSON the host built from
    // the YAML the user wrote: the path says more.
    let message = e.inner().to_string();
    let message = message.split(" at line ").next().unwrap_or_default();
    SettingsError::at(path, Problem::Unreadable(message.to_string()))
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
