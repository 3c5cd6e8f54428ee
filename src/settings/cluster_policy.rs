//! The cluster's `image-policy` ClusterImagePolicy, read through the host on
//! every evaluation, as SCST-Sign's webhook did.

use crate::host::reasons::condensed_reason;
use crate::host::Host;
use crate::rules::Rules;
use crate::settings::errors::{Problem, SettingsError};
use crate::settings::keys::Checks;
use crate::settings::scst::{compile_verification, RawVerification};
use crate::settings::strict_json::from_json_strict;
use serde::Deserialize;
use serde_json::Value;

pub const API_VERSION: &str = "signing.apps.tanzu.vmware.com/v1beta1";
pub const KIND: &str = "ClusterImagePolicy";
pub(crate) const NAME: &str = "image-policy";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    verification: Option<RawVerification>,
}

/// The rules of the cluster's ClusterImagePolicy, `None` when it does not
/// exist. An invalid resource is an error that says which field is wrong.
/// Read once per request and checked fully every time: the resource can
/// change between requests, and no load-time check ever saw it.
pub(crate) fn load<H: Host>(host: &H) -> Result<Option<Rules>, String> {
    let list = host
        .list_all_resources(API_VERSION, KIND, &format!("metadata.name={NAME}"))
        .map_err(|e| {
            format!(
                "cannot read ClusterImagePolicy {NAME:?}: {}",
                condensed_reason(&e)
            )
        })?;
    let items = list.get("items").and_then(Value::as_array).ok_or_else(|| {
        format!("cannot read ClusterImagePolicy {NAME:?}: the host's answer has no items list")
    })?;
    let Some(resource) = items
        .iter()
        .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(NAME))
    else {
        return Ok(None);
    };
    let spec = resource.get("spec").unwrap_or(&Value::Null);
    // Read as text, like the settings, so one deserializer serves both.
    compile_spec(&spec.to_string()).map(Some).map_err(|e| {
        format!("ClusterImagePolicy {NAME:?} is invalid, so every image is refused until it is fixed: {e}")
    })
}

/// Compiles a ClusterImagePolicy `spec`, naming bad fields from `spec.`.
pub(crate) fn compile_spec(spec_json: &str) -> Result<Rules, SettingsError> {
    let spec: Spec = from_json_strict(spec_json, "spec")?;
    let verification = spec
        .verification
        .ok_or(SettingsError::at("spec.verification", Problem::Missing))?;
    compile_verification(verification, "spec.verification", Checks::Full)
}
