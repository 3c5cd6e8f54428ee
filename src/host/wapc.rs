//! The Kubewarden host as the module reaches it: waPC host calls.

use crate::host::Host;
use kubewarden_policy_sdk::host_capabilities::oci::ManifestDigestResponse;
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde_json::{json, Value};
use wapc_guest::prelude::*;

/// The Kubewarden host, reached through waPC host calls.
pub(crate) struct WapcHost;

impl WapcHost {
    /// One host call, its answer read as `T`.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        namespace: &str,
        operation: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, String> {
        let message = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        // waPC frames the host's words as "Host error: ...", and the
        // policy-evaluator adds "Callback evaluation failure: ": keep the words.
        let answer = host_call("kubewarden", namespace, operation, &message).map_err(|e| {
            let text = e.to_string();
            let text = text.strip_prefix("Host error: ").unwrap_or(&text);
            let text = text
                .strip_prefix("Callback evaluation failure: ")
                .unwrap_or(text);
            text.trim().to_string()
        })?;
        serde_json::from_slice(&answer).map_err(|e| format!("unreadable answer from the host: {e}"))
    }
}

impl Host for WapcHost {
    fn verify(
        &self,
        question: &SigstoreVerificationInputV2,
    ) -> Result<VerificationResponse, String> {
        self.call("oci", "v2/verify", question)
    }

    fn list_all_resources(
        &self,
        api_version: &str,
        kind: &str,
        field_selector: &str,
    ) -> Result<Value, String> {
        let request = json!({
            "api_version": api_version,
            "kind": kind,
            "label_selector": null,
            "field_selector": field_selector,
            "field_masks": null,
        });
        self.call("kubernetes", "list_resources_all", &request)
    }

    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        let request = json!({
            "api_version": api_version,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "disable_cache": false,
            "field_masks": null,
        });
        self.call("kubernetes", "get_resource", &request)
    }

    fn oci_manifest(&self, image: &str) -> Result<Value, String> {
        self.call("oci", "v1/oci_manifest", &image)
    }

    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        let answer: ManifestDigestResponse = self.call("oci", "v1/manifest_digest", &image)?;
        Ok(answer.digest)
    }
}
