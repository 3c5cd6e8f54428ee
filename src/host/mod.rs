//! The host: the Kubewarden capabilities the policy calls, behind a trait so
//! that the decision logic runs on the host target with a fake; the waPC
//! host that answers them in the module ([`wapc`]); and the reading of the
//! host's errors ([`reasons`]).

pub mod reasons;
#[cfg(target_arch = "wasm32")]
pub(crate) mod wapc;

use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde_json::Value;

/// The Kubewarden host capabilities the policy uses. The wasm build answers
/// them over waPC; tests answer them with a fake.
pub trait Host {
    /// `kubewarden/oci/v2/verify`.
    fn verify(
        &self,
        question: &SigstoreVerificationInputV2,
    ) -> Result<VerificationResponse, String>;
    /// `kubewarden/kubernetes/list_resources_all`, returning the List object.
    fn list_all_resources(
        &self,
        api_version: &str,
        kind: &str,
        field_selector: &str,
    ) -> Result<Value, String>;
    /// `kubewarden/oci/v1/oci_manifest`: the manifest `image` names, as the
    /// registry serves it (the host caches successes for 60 s).
    fn oci_manifest(&self, image: &str) -> Result<Value, String>;
    /// `kubewarden/oci/v1/manifest_digest`: the digest a tag names now.
    fn manifest_digest(&self, image: &str) -> Result<String, String>;
    /// `kubewarden/kubernetes/get_resource`: one namespaced object (the host
    /// caches answers for 5 s).
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String>;
}
