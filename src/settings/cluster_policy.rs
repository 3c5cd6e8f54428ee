//! SCST-Sign's ClusterImagePolicy as the cluster holds it: where it is
//! (its apiVersions, kind and name) and how its `spec` is compiled. The
//! admission reads it through the host on every evaluation
//! ([`crate::admission`]); this module only compiles what was read.

use crate::rules::Rules;
use crate::settings::checks::Checks;
use crate::settings::errors::{Problem, SettingsError, SettingsErrors};
use crate::settings::scst::{compile_verification, RawVerification};
use crate::settings::strict_json::from_json_strict;
use serde::Deserialize;
use serde_json::Value;

pub const API_VERSION: &str = "signing.apps.tanzu.vmware.com/v1beta1";
/// SCST-Sign's group before it was renamed; the same schema.
pub const EARLIER_API_VERSION: &str = "signing.run.tanzu.vmware.com/v1alpha1";
pub const KIND: &str = "ClusterImagePolicy";
pub(crate) const NAME: &str = "image-policy";

/// Cluster mode's top-level keys in the settings, as written.
#[derive(Debug, Default)]
pub struct ClusterModeKeys {
    /// Read the rules from the cluster's ClusterImagePolicies. (`null` is
    /// false: Kubewarden's UI writes it for the other shapes.)
    pub(crate) cluster_image_policy: Option<bool>,
    /// Which ClusterImagePolicies cluster mode reads (default SCST-Sign's
    /// [`API_VERSION`]).
    pub(crate) cluster_image_policy_api_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    verification: Option<RawVerification>,
}

/// SCST-Sign's `image-policy` among the items of the List the host read:
/// its rules, `None` when it is not there. An invalid resource is an error
/// that says which field is wrong. Checked fully every time: the resource
/// can change between requests, and no load-time check ever saw it.
pub(crate) fn scst_sign_rules(items: &[Value]) -> Result<Option<Rules>, String> {
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

/// Compiles a ClusterImagePolicy `spec`, naming every bad field from `spec.`.
pub(crate) fn compile_spec(spec_json: &str) -> Result<Rules, SettingsErrors> {
    let spec: Spec = from_json_strict(spec_json, "spec")?;
    let verification = spec
        .verification
        .ok_or(SettingsError::at("spec.verification", Problem::Missing))?;
    compile_verification(verification, Checks::Full).map_err(|e| e.within("spec.verification"))
}
