//! Development host for the signed-images policy.
//!
//! * [`host::PolicyHost`] runs a policy module over waPC, like the Kubewarden
//!   policy-server, answering its host calls with [`capabilities::Capabilities`]:
//!   cosign verification against real registries, manifest digests, and
//!   Kubernetes resources read from a directory.
//! * [`registry::TestRegistry`] runs a throw-away local OCI registry.
//! * [`fixtures::generate`] pushes test images with cosign-format signatures.

pub mod capabilities;
pub mod fixtures;
pub mod host;
pub mod kube;
pub mod oci;
pub mod registry;
pub mod response;

pub use capabilities::{Capabilities, HostCall, HostConfig};
pub use host::PolicyHost;
pub use response::admission_response;
