//! The `kubernetes` host capabilities, answered from a directory of
//! resource files instead of a cluster.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file in the directory holds Kubernetes
//! resources (YAML files may hold several documents separated by `---`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// Payload of `kubernetes/list_resources_all`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListAllResourcesRequest {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub label_selector: Option<String>,
    #[serde(default)]
    pub field_selector: Option<String>,
}

/// Payload of `kubernetes/get_resource`.
#[derive(Debug, Clone, Deserialize)]
pub struct GetResourceRequest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Reads every resource found in `dir`.
pub fn load_resources(dir: &Path) -> Result<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the resources directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();

    let mut resources = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = Value::deserialize(document)
                .with_context(|| format!("cannot parse {}", file.display()))?;
            match value {
                Value::Null => {}
                Value::Object(_) => resources.push(value),
                _ => bail!("{} holds a document that is not an object", file.display()),
            }
        }
    }
    Ok(resources)
}

/// `list_resources_all`: a `v1` `List` of the matching resources.
pub fn list_resources_all(resources: &[Value], req: &ListAllResourcesRequest) -> Result<Value> {
    let fields = parse_field_selector(req.field_selector.as_deref())?;
    let labels = parse_label_selector(req.label_selector.as_deref())?;
    let items: Vec<Value> = resources
        .iter()
        .filter(|r| is_of_type(r, &req.api_version, &req.kind))
        .filter(|r| {
            fields
                .iter()
                .all(|(path, expected)| str_at(r, path) == Some(expected.as_str()))
        })
        .filter(|r| {
            labels.iter().all(|(key, expected)| {
                r.pointer("/metadata/labels")
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_str)
                    == Some(expected.as_str())
            })
        })
        .cloned()
        .collect();
    Ok(json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        "items": items,
    }))
}

/// `get_resource`: the resource with the given name (and namespace, when given).
pub fn get_resource(resources: &[Value], req: &GetResourceRequest) -> Result<Value> {
    resources
        .iter()
        .find(|r| {
            is_of_type(r, &req.api_version, &req.kind)
                && str_at(r, "/metadata/name") == Some(req.name.as_str())
                && match &req.namespace {
                    Some(ns) if !ns.is_empty() => {
                        str_at(r, "/metadata/namespace") == Some(ns.as_str())
                    }
                    _ => true,
                }
        })
        .cloned()
        .ok_or_else(|| anyhow!("{} \"{}\" not found", req.kind, req.name))
}

fn is_of_type(resource: &Value, api_version: &str, kind: &str) -> bool {
    str_at(resource, "/apiVersion") == Some(api_version) && str_at(resource, "/kind") == Some(kind)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Supports comma-separated `metadata.name=X` and `metadata.namespace=X`
/// (`==` is accepted too). Returns JSON pointers with their expected values.
fn parse_field_selector(selector: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for term in split_terms(selector) {
        let (field, value) =
            split_equality(term).ok_or_else(|| anyhow!("unsupported field selector {term:?}"))?;
        let pointer = match field {
            "metadata.name" => "/metadata/name",
            "metadata.namespace" => "/metadata/namespace",
            _ => bail!(
                "unsupported field selector {term:?}: only metadata.name and \
                 metadata.namespace are supported"
            ),
        };
        out.push((pointer.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Supports comma-separated `key=value` terms.
fn parse_label_selector(selector: Option<&str>) -> Result<Vec<(String, String)>> {
    split_terms(selector)
        .map(|term| {
            split_equality(term)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    anyhow!("unsupported label selector {term:?}: only key=value is supported")
                })
        })
        .collect()
}

fn split_terms(selector: Option<&str>) -> impl Iterator<Item = &str> {
    selector
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn split_equality(term: &str) -> Option<(&str, &str)> {
    if term.contains("!=") {
        return None;
    }
    let (key, value) = term.split_once("==").or_else(|| term.split_once('='))?;
    let (key, value) = (key.trim(), value.trim());
    (!key.is_empty()).then_some((key, value))
}
