//! The cluster's `image-policy` ClusterImagePolicy, read through the host on
//! every evaluation, as SCST-Sign's webhook did.

use crate::settings::{compile_verification, from_json_strict, RawVerification, Rules};
use crate::verification::Host;
use lazy_static::lazy_static;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub const API_VERSION: &str = "signing.apps.tanzu.vmware.com/v1beta1";
pub const KIND: &str = "ClusterImagePolicy";
pub const NAME: &str = "image-policy";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    verification: Option<RawVerification>,
}

lazy_static! {
    /// The resource is read on every request; it is compiled again only when
    /// its spec changes.
    static ref COMPILED_SPEC: Mutex<Option<(String, Arc<Rules>)>> = Mutex::new(None);
}

/// The rules of the cluster's ClusterImagePolicy, `None` when it does not
/// exist. An invalid resource is an error that says which field is wrong.
pub fn load<H: Host>(host: &H) -> Result<Option<Arc<Rules>>, String> {
    let list = host
        .list_all_resources(API_VERSION, KIND, &format!("metadata.name={NAME}"))
        .map_err(|e| format!("cannot read ClusterImagePolicy {NAME:?}: {e}"))?;
    let items = list.get("items").and_then(Value::as_array).ok_or_else(|| {
        format!("cannot read ClusterImagePolicy {NAME:?}: the host's answer has no items list")
    })?;
    let Some(resource) = items
        .iter()
        .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(NAME))
    else {
        return Ok(None);
    };
    let spec = resource.get("spec").cloned().unwrap_or(Value::Null);
    let spec_text = spec.to_string();

    let mut cache = COMPILED_SPEC.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((text, rules)) = cache.as_ref() {
        if *text == spec_text {
            return Ok(Some(rules.clone()));
        }
    }
    let rules = Arc::new(compile_spec(&spec_text).map_err(|e| {
        format!("ClusterImagePolicy {NAME:?} is invalid, so every image is refused until it is fixed: {e}")
    })?);
    *cache = Some((spec_text, rules.clone()));
    Ok(Some(rules))
}

/// Compiles a ClusterImagePolicy `spec`, naming bad fields from `spec.`.
pub fn compile_spec(spec_json: &str) -> Result<Rules, String> {
    let spec: Spec = from_json_strict(spec_json, "spec")?;
    let verification = spec.verification.ok_or("spec.verification is missing")?;
    compile_verification(verification, "spec.verification")
}
