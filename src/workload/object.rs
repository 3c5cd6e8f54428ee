//! A Kubernetes object as JSON text: its `metadata` and `spec` located once
//! and shared by everything that looks into it, and its annotations read
//! where they lie (what the mutation needs to write them and the status
//! guard to compare them).

use crate::json_text::{self, members, Type};
use serde_json::{Map, Value};

/// An object's text with its `metadata` and `spec` located.
pub(crate) struct Object<'a> {
    pub text: &'a str,
    pub metadata: Option<&'a str>,
    pub spec: Option<&'a str>,
}

impl<'a> Object<'a> {
    /// Reads a JSON object; `at` names it in errors.
    #[inline(never)] // a phase of scripts/profile.sh
    pub fn read(text: &'a str, at: &str) -> Result<Object<'a>, String> {
        if json_text::type_of(text) != Type::Object {
            return Err(format!("{at} must be an object"));
        }
        let [metadata, spec] = members(text, &["metadata", "spec"], &at)?[..] else {
            unreachable!("two names, two members")
        };
        Ok(Object {
            text,
            metadata,
            spec,
        })
    }

    /// The object's annotations; `at` names the object in errors (empty for
    /// the object itself: `metadata must be an object`).
    pub fn annotations(&self, at: &str) -> Result<Annotations<'a>, String> {
        let metadata_at = match at {
            "" => "metadata".to_string(),
            at => format!("{at}.metadata"),
        };
        let metadata = match self.metadata {
            None => return Ok(Annotations::NoMetadata(None)),
            Some(metadata) => match json_text::type_of(metadata) {
                Type::Null => return Ok(Annotations::NoMetadata(Some(metadata))),
                Type::Object => metadata,
                _ => return Err(format!("{metadata_at} must be an object")),
            },
        };
        let annotations_at = format!("{metadata_at}.annotations");
        let Some(annotations) = members(metadata, &["annotations"], &metadata_at)?[0] else {
            return Ok(Annotations::Missing(metadata));
        };
        let names_and_values = match json_text::type_of(annotations) {
            Type::Null => Map::new(),
            Type::Object => {
                serde_json::from_str(annotations).map_err(|e| format!("{annotations_at}: {e}"))?
            }
            _ => return Err(format!("{annotations_at} must be an object")),
        };
        Ok(Annotations::Present(annotations, names_and_values))
    }
}

impl Object<'_> {
    /// The object's `metadata.name`, empty when it has none (a name the API
    /// server generates later); `at` names the object in errors.
    pub fn name(&self, at: &str) -> Result<String, String> {
        let Some(metadata) = self
            .metadata
            .filter(|m| json_text::type_of(m) == Type::Object)
        else {
            return Ok(String::new());
        };
        match members(metadata, &["name"], &format!("{at}.metadata"))?[0] {
            Some(name) if json_text::type_of(name) == Type::String => json_text::string(name),
            Some(name) if json_text::type_of(name) != Type::Null => {
                Err(format!("{at}.metadata.name must be a string"))
            }
            _ => Ok(String::new()),
        }
    }
}

/// Where an object's `metadata.annotations` stands.
pub(crate) enum Annotations<'a> {
    /// No `metadata`, or `metadata: null` (that value, to replace).
    NoMetadata(Option<&'a str>),
    /// `metadata` without `annotations` (the metadata, to insert into).
    Missing(&'a str),
    /// `annotations`, `null` or an object, and the names and values it holds.
    Present(&'a str, Map<String, Value>),
}
