//! ClusterImagePolicies read through the host on every evaluation: SCST-Sign's
//! `image-policy`, as its webhook did, or every policy-controller one.

use crate::host::reasons::condensed_reason;
use crate::host::Host;
use crate::rules::{ClusterSource, Rules};
use crate::settings::errors::{Problem, SettingsError};
use crate::settings::keys::Checks;
use crate::settings::policy_controller::compile_cluster_policies;
use crate::settings::scst::{compile_verification, RawVerification};
use crate::settings::strict_json::from_json_strict;
use serde::Deserialize;
use serde_json::Value;

pub const API_VERSION: &str = "signing.apps.tanzu.vmware.com/v1beta1";
/// SCST-Sign's group before it was renamed; the same schema.
pub const EARLIER_API_VERSION: &str = "signing.run.tanzu.vmware.com/v1alpha1";
pub const KIND: &str = "ClusterImagePolicy";
pub(crate) const NAME: &str = "image-policy";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    verification: Option<RawVerification>,
}

/// The rules of the cluster's ClusterImagePolicies, `None` when SCST-Sign's
/// `image-policy` does not exist. Read once per request and checked fully every time: the resources
/// can change between requests, and no load-time check ever saw them.
pub(crate) fn load<H: Host>(host: &H, source: ClusterSource) -> Result<Option<Rules>, String> {
    match source {
        ClusterSource::ScstSign(api_version) => load_scst_sign(host, api_version),
        // None is not "no policy" here: as in policy-controller, an image
        // no policy covers is decided by the no-match policy (deny unless
        // said otherwise), however many policies there are.
        ClusterSource::PolicyController(api_version) => {
            let items = list(host, api_version, "", "ClusterImagePolicies")?;
            Ok(Some(compile_cluster_policies(&items)))
        }
    }
}

/// The items of a List the host read.
fn list<H: Host>(
    host: &H,
    api_version: &str,
    field_selector: &str,
    what: &str,
) -> Result<Vec<Value>, String> {
    let list = host
        .list_all_resources(api_version, KIND, field_selector)
        .map_err(|e| {
            format!(
                "cannot read {what} ({api_version}): {}",
                condensed_reason(&e)
            )
        })?;
    match list.get("items").and_then(Value::as_array) {
        Some(items) => Ok(items.clone()),
        None => Err(format!(
            "cannot read {what} ({api_version}): the host's answer has no items list"
        )),
    }
}

/// SCST-Sign's `image-policy`. An invalid resource is an error that says
/// which field is wrong.
fn load_scst_sign<H: Host>(host: &H, api_version: &str) -> Result<Option<Rules>, String> {
    let what = format!("ClusterImagePolicy {NAME:?}");
    let items = list(host, api_version, &format!("metadata.name={NAME}"), &what)?;
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
