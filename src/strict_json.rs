//! Strict JSON reading for settings and cluster resources: unknown fields are
//! errors (the types say `deny_unknown_fields`), and an error names the path
//! of the field, not a position in JSON the host built from the user's YAML.

use crate::settings_error::{Problem, SettingsError};
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
