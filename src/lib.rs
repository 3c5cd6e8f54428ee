//! signed-images-policy: a Kubewarden policy that admits workloads only when
//! every image they run carries a cosign signature from a trusted key, with
//! the rules of an SCST-Sign ClusterImagePolicy (or verify-image-signatures'
//! settings, or policy-controller's ClusterImagePolicies).
//!
//! The flow runs one way: the waPC entry points below call [`admission`],
//! which reads the request and the [`settings`] (compiled into [`rules`]),
//! finds the images of the [`workload`], has [`decision`] judge them (it
//! reads each [`image`] reference and asks [`verification`], which matches
//! the rules' patterns and asks the [`host`] about each [`trust`] root), then
//! has [`mutation`] write the verdict into the request's own JSON text
//! ([`json_text`]). Settings make no host call: in cluster mode [`admission`]
//! reads the ClusterImagePolicies and [`settings`] compile what it read.
//! Everything but the waPC glue is plain Rust, tested on the host target with
//! a fake host.

pub mod admission;
pub mod decision;
mod fields;
pub mod host;
pub mod image;
mod json_text;
mod messages;
mod mutation;
mod record;
pub mod rules;
pub mod settings;
mod text;
pub mod trust;
pub mod verification;
pub mod workload;

#[cfg(target_arch = "wasm32")]
mod guest {
    use crate::admission;
    use crate::host::wapc::WapcHost;
    use kubewarden_policy_sdk::protocol_version_guest;
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
}
