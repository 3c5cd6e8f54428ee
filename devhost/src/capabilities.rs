//! Dispatch of waPC host calls to the host capabilities, with a record of
//! every call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde::Serialize;
use serde_json::{json, Value};

use crate::kube::{self, GetResourceRequest, ListAllResourcesRequest};
use crate::oci::{self, OciSettings};

/// How the host reaches registries and where it finds Kubernetes resources.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// `host:port` of registries served over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Directory of resource files answering the `kubernetes` capabilities.
    /// Without it those calls fail, as if no cluster were configured.
    pub resources_dir: Option<PathBuf>,
    /// Directory where wasmtime caches compiled modules; `None` disables the cache.
    pub wasmtime_cache_dir: Option<PathBuf>,
}

/// One host call made by the module.
#[derive(Clone, Debug, Serialize)]
pub struct HostCall {
    /// `namespace/operation` for the `kubewarden` binding (`oci/v2/verify`),
    /// `binding/namespace/operation` otherwise.
    pub capability: String,
    /// The payload, as text.
    pub payload: String,
    /// Whether the host answered without error.
    pub ok: bool,
}

/// The host capabilities. [`Capabilities::call`] is what the waPC callback runs.
pub struct Capabilities {
    config: HostConfig,
    oci: OciSettings,
    runtime: tokio::runtime::Runtime,
    log: Mutex<Vec<HostCall>>,
}

impl Capabilities {
    pub fn new(config: HostConfig) -> Result<Capabilities> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot build the tokio runtime")?;
        Ok(Capabilities {
            oci: OciSettings {
                insecure_registries: config.insecure_registries.clone(),
            },
            config,
            runtime,
            log: Mutex::new(Vec::new()),
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Answers one host call and records it. Must not be called from inside
    /// a tokio runtime: the OCI capabilities block on the host's own runtime.
    pub fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        let capability = if binding == "kubewarden" {
            format!("{namespace}/{operation}")
        } else {
            format!("{binding}/{namespace}/{operation}")
        };
        let result = self.dispatch(binding, namespace, operation, payload);
        self.log.lock().unwrap().push(HostCall {
            capability,
            payload: String::from_utf8_lossy(payload).into_owned(),
            ok: result.is_ok(),
        });
        result
    }

    fn dispatch(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v2/verify") => {
                let input: SigstoreVerificationInputV2 = parse(payload, "oci/v2/verify")?;
                to_bytes(&self.verify(input)?)
            }
            ("kubewarden", "oci", "v1/manifest_digest") => {
                let image: String = parse(payload, "oci/v1/manifest_digest")?;
                to_bytes(&json!({ "digest": self.manifest_digest(&image)? }))
            }
            ("kubewarden", "kubernetes", "list_resources_all") => {
                let req: ListAllResourcesRequest = parse(payload, "kubernetes/list_resources_all")?;
                to_bytes(&self.list_resources_all(&req)?)
            }
            ("kubewarden", "kubernetes", "get_resource") => {
                let req: GetResourceRequest = parse(payload, "kubernetes/get_resource")?;
                to_bytes(&self.get_resource(&req)?)
            }
            ("kubewarden", "tracing", "log") => {
                print_guest_log(payload);
                Ok(Vec::new())
            }
            _ => bail!("unknown host capability {binding}/{namespace}/{operation}"),
        }
    }

    /// `oci/v2/verify`.
    pub fn verify(&self, input: SigstoreVerificationInputV2) -> Result<VerificationResponse> {
        self.runtime.block_on(oci::verify(&self.oci, input))
    }

    /// `oci/v1/manifest_digest`.
    pub fn manifest_digest(&self, image: &str) -> Result<String> {
        self.runtime
            .block_on(oci::manifest_digest(&self.oci, image))
    }

    /// `kubernetes/list_resources_all`.
    pub fn list_resources_all(&self, req: &ListAllResourcesRequest) -> Result<Value> {
        kube::list_resources_all(&self.resources()?, req)
    }

    /// `kubernetes/get_resource`.
    pub fn get_resource(&self, req: &GetResourceRequest) -> Result<Value> {
        kube::get_resource(&self.resources()?, req)
    }

    fn resources(&self) -> Result<Vec<Value>> {
        match &self.config.resources_dir {
            Some(dir) => kube::load_resources(dir),
            None => Err(anyhow!(
                "no Kubernetes cluster is configured: start the host with a resources directory"
            )),
        }
    }

    /// Number of calls per capability (`"oci/v2/verify" -> 2`).
    pub fn calls(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for call in self.log.lock().unwrap().iter() {
            *counts.entry(call.capability.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Every call made since the host was created (or since [`Capabilities::reset_calls`]).
    pub fn call_log(&self) -> Vec<HostCall> {
        self.log.lock().unwrap().clone()
    }

    pub fn reset_calls(&self) {
        self.log.lock().unwrap().clear();
    }
}

fn parse<T: serde::de::DeserializeOwned>(payload: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(payload).with_context(|| format!("invalid {what} payload"))
}

fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn print_guest_log(payload: &[u8]) {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(mut event)) => {
            let level = event.remove("level");
            let message = event.remove("message");
            let text = |v: Option<Value>| match v {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            };
            eprintln!(
                "policy log [{}] {} {}",
                text(level),
                text(message),
                Value::Object(event)
            );
        }
        _ => eprintln!("policy log {}", String::from_utf8_lossy(payload)),
    }
}
