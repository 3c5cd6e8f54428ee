//! Loads a policy module with wasmtime and calls it over waPC, the way the
//! Kubewarden policy-server does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use wapc::WapcHost;
use wasmtime_provider::WasmtimeEngineProviderBuilder;

use crate::capabilities::{Capabilities, HostCall, HostConfig};

/// A loaded policy module.
pub struct PolicyHost {
    wapc: WapcHost,
    capabilities: Arc<Capabilities>,
}

impl PolicyHost {
    /// Compiles the module at `wasm_path` (a wasm32-wasip1 waPC guest).
    pub fn new(wasm_path: &Path, config: HostConfig) -> Result<PolicyHost> {
        let module = std::fs::read(wasm_path)
            .with_context(|| format!("cannot read {}", wasm_path.display()))?;
        let mut builder = WasmtimeEngineProviderBuilder::new().module_bytes(&module);
        if let Some(dir) = &config.wasmtime_cache_dir {
            builder = builder.enable_cache(Some(dir));
        }
        let engine = builder
            .build()
            .with_context(|| format!("cannot load {}", wasm_path.display()))?;

        let capabilities = Arc::new(Capabilities::new(config)?);
        let for_callback = Arc::clone(&capabilities);
        let wapc = WapcHost::new(
            Box::new(engine),
            Some(Box::new(
                move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                    for_callback
                        .call(binding, namespace, operation, payload)
                        .map_err(|e| format!("{e:#}").into())
                },
            )),
        )
        .with_context(|| format!("cannot start {}", wasm_path.display()))?;
        Ok(PolicyHost { wapc, capabilities })
    }

    /// Calls a guest function with a raw payload.
    pub fn call_guest(&self, function: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.wapc
            .call(function, payload)
            .map_err(|e| anyhow!("the policy failed in {function}: {e}"))
    }

    fn call_json(&self, function: &str, payload: &[u8]) -> Result<Value> {
        let answer = self.call_guest(function, payload)?;
        serde_json::from_slice(&answer).with_context(|| {
            format!(
                "{function} returned something that is not JSON: {}",
                String::from_utf8_lossy(&answer)
            )
        })
    }

    /// `protocol_version`, e.g. `"v1"`.
    pub fn protocol_version(&self) -> Result<String> {
        match self.call_json("protocol_version", b"")? {
            Value::String(version) => Ok(version),
            other => Err(anyhow!("unexpected protocol_version answer: {other}")),
        }
    }

    /// `validate_settings`: `{"valid": bool, "message": string|null}`.
    pub fn validate_settings(&self, settings: &Value) -> Result<Value> {
        self.call_json("validate_settings", &serde_json::to_vec(settings)?)
    }

    /// `validate`: the policy's ValidationResponse
    /// (`accepted`, `message`, `code`, `mutated_object`, `warnings`, `audit_annotations`).
    pub fn validate(&self, request: &Value, settings: &Value) -> Result<Value> {
        let payload = json!({ "request": request, "settings": settings });
        self.call_json("validate", &serde_json::to_vec(&payload)?)
    }

    /// The host capabilities, to inspect the calls made so far.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Number of host calls per capability (`"oci/v2/verify" -> n`).
    pub fn calls(&self) -> HashMap<String, usize> {
        self.capabilities.calls()
    }

    /// Every host call, in order, with its payload.
    pub fn call_log(&self) -> Vec<HostCall> {
        self.capabilities.call_log()
    }

    pub fn reset_calls(&self) {
        self.capabilities.reset_calls()
    }
}
