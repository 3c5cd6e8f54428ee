//! signed-images-policy: a Kubewarden policy that admits workloads only when
//! every image they run carries a cosign signature from a trusted key, with
//! the rules of an SCST-Sign ClusterImagePolicy.
//!
//! Everything but the waPC glue below is plain Rust, testable on the host.

pub mod admission;
pub mod cluster_policy;
pub mod decision;
pub mod host;
pub mod key_material;
pub mod keyless_proof;
pub mod matching;
pub mod mutation;
pub mod peer_settings;
pub mod raw_json;
pub mod reference;
pub mod settings;
pub mod settings_error;
pub mod strict_json;
pub mod trust_roots;
pub mod verification;
pub mod workload;

#[cfg(target_arch = "wasm32")]
mod guest {
    use crate::admission;
    use crate::host::Host;
    use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
    use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
    use kubewarden_policy_sdk::protocol_version_guest;
    use serde_json::{json, Value};
    use wapc_guest::prelude::*;

    #[no_mangle]
    pub extern "C" fn wapc_init() {
        register_function("validate", validate);
        register_function("validate_settings", validate_settings);
        register_function("protocol_version", protocol_version_guest);
    }

    fn validate(payload: &[u8]) -> CallResult {
        Ok(admission::validate(payload, &WapcHost).to_json())
    }

    fn validate_settings(payload: &[u8]) -> CallResult {
        Ok(serde_json::to_vec(&admission::validate_settings(payload))?)
    }

    /// The Kubewarden host, reached through waPC host calls.
    struct WapcHost;

    impl WapcHost {
        fn call(
            &self,
            namespace: &str,
            operation: &str,
            body: &impl serde::Serialize,
        ) -> Result<Vec<u8>, String> {
            let message = serde_json::to_vec(body).map_err(|e| e.to_string())?;
            // waPC frames the host's words as "Host error: ...", and the
            // policy-evaluator adds "Callback evaluation failure: ": keep the words.
            host_call("kubewarden", namespace, operation, &message).map_err(|e| {
                let text = e.to_string();
                let text = text.strip_prefix("Host error: ").unwrap_or(&text);
                let text = text
                    .strip_prefix("Callback evaluation failure: ")
                    .unwrap_or(text);
                text.trim().to_string()
            })
        }
    }

    impl Host for WapcHost {
        fn verify(
            &self,
            question: &SigstoreVerificationInputV2,
        ) -> Result<VerificationResponse, String> {
            let answer = self.call("oci", "v2/verify", question)?;
            serde_json::from_slice(&answer)
                .map_err(|e| format!("unreadable answer from the host: {e}"))
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
            let answer = self.call("kubernetes", "list_resources_all", &request)?;
            serde_json::from_slice(&answer)
                .map_err(|e| format!("unreadable answer from the host: {e}"))
        }

        fn oci_manifest(&self, image: &str) -> Result<Value, String> {
            let answer = self.call("oci", "v1/oci_manifest", &image)?;
            serde_json::from_slice(&answer)
                .map_err(|e| format!("unreadable answer from the host: {e}"))
        }
    }
}
