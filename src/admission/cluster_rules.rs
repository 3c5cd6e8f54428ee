//! The rules read from the cluster on every evaluation (`clusterImagePolicy:
//! true`): one `kubernetes/list_resources_all` call, whose items the
//! settings compile ([`cluster_policy`], [`policy_controller`]).

use crate::host::reasons::condensed_reason;
use crate::host::Host;
use crate::rules::{ClusterSource, Rules};
use crate::settings::cluster_policy::{self, KIND, NAME};
use crate::settings::policy_controller;
use serde_json::Value;

/// The rules of the cluster's ClusterImagePolicies, `None` when SCST-Sign's
/// `image-policy` does not exist. The error is a denial's message.
pub(crate) fn load<H: Host>(host: &H, source: ClusterSource) -> Result<Option<Rules>, String> {
    match source {
        ClusterSource::ScstSign(api_version) => {
            let what = format!("ClusterImagePolicy {NAME:?}");
            let items = list(host, api_version, &format!("metadata.name={NAME}"), &what)?;
            cluster_policy::scst_sign_rules(&items)
        }
        // None is not "no policy" here: as in policy-controller, an image
        // no policy covers is decided by the no-match policy (deny unless
        // said otherwise), however many policies there are.
        ClusterSource::PolicyController(api_version) => {
            let items = list(host, api_version, "", "ClusterImagePolicies")?;
            Ok(Some(policy_controller::compile_cluster_policies(&items)))
        }
    }
}

/// The items of the List the host read.
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
