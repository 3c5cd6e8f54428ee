use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::Value;
use signed_images_devhost::response::{admission_request, admission_response, parse_json_or_yaml};
use signed_images_devhost::{fixtures, HostConfig, PolicyHost};

/// Runs a Kubewarden waPC policy locally, like `kwctl run`.
#[derive(Parser)]
#[command(name = "devhost", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the settings, then evaluate one admission request.
    Run {
        #[command(flatten)]
        settings: SettingsArgs,
        /// AdmissionReview or bare AdmissionRequest (JSON or YAML).
        #[arg(long, short = 'r')]
        request_path: PathBuf,
        /// Registry reached over plain HTTP (repeatable).
        #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
        insecure_registries: Vec<String>,
        /// Directory of Kubernetes resources answering the kubernetes capabilities.
        #[arg(long)]
        resources_dir: Option<PathBuf>,
        /// Print the host calls made by the policy to stderr.
        #[arg(long)]
        show_host_calls: bool,
        /// Policy module (.wasm).
        policy: PathBuf,
    },
    /// Validate the settings only.
    ValidateSettings {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Policy module (.wasm).
        policy: PathBuf,
    },
    /// Push signed test images to a plain-HTTP registry and write DIR/fixtures.json.
    Fixtures {
        /// Registry address, HOST:PORT.
        #[arg(long)]
        registry: String,
        /// Directory receiving the keys, certificates and fixtures.json.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct SettingsArgs {
    /// Settings file (JSON or YAML).
    #[arg(long, short = 's', conflicts_with = "settings_json")]
    settings_path: Option<PathBuf>,
    /// Settings as a JSON string.
    #[arg(long)]
    settings_json: Option<String>,
}

impl SettingsArgs {
    fn load(&self) -> Result<Value> {
        match (&self.settings_path, &self.settings_json) {
            (Some(path), _) => parse_json_or_yaml(&read(path)?, "the settings"),
            (None, Some(text)) => {
                serde_json::from_str(text).context("--settings-json is not valid JSON")
            }
            (None, None) => Ok(Value::Object(Default::default())),
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            settings,
            request_path,
            insecure_registries,
            resources_dir,
            show_host_calls,
            policy,
        } => {
            let settings = settings.load()?;
            let request =
                admission_request(parse_json_or_yaml(&read(&request_path)?, "the request")?)?;
            let host = PolicyHost::new(
                &policy,
                HostConfig {
                    insecure_registries,
                    resources_dir,
                    wasmtime_cache_dir: default_cache_dir(),
                },
            )?;
            let verdict = host.validate_settings(&settings)?;
            if !settings_valid(&verdict)? {
                eprintln!("invalid settings: {}", settings_message(&verdict));
                return Ok(ExitCode::from(1));
            }
            let validation = host.validate(&request, &settings)?;
            if show_host_calls {
                for call in host.call_log() {
                    let status = if call.ok { "ok" } else { "error" };
                    eprintln!("host call {} [{status}] {}", call.capability, call.payload);
                }
            }
            let response = admission_response(&request, &validation)?;
            println!("{}", serde_json::to_string_pretty(&response)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ValidateSettings { settings, policy } => {
            let settings = settings.load()?;
            let host = PolicyHost::new(
                &policy,
                HostConfig {
                    wasmtime_cache_dir: default_cache_dir(),
                    ..Default::default()
                },
            )?;
            let verdict = host.validate_settings(&settings)?;
            println!("{}", serde_json::to_string_pretty(&verdict)?);
            Ok(if settings_valid(&verdict)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Fixtures { registry, out } => {
            let generated = fixtures::generate(&registry, &out)?;
            eprintln!(
                "pushed {} images to {}; wrote {}",
                generated.images.len(),
                registry,
                out.join("fixtures.json").display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn settings_valid(verdict: &Value) -> Result<bool> {
    match verdict.get("valid").and_then(Value::as_bool) {
        Some(valid) => Ok(valid),
        None => bail!("validate_settings returned no boolean `valid`: {verdict}"),
    }
}

fn settings_message(verdict: &Value) -> String {
    match verdict.get("message") {
        Some(Value::String(message)) => message.clone(),
        _ => "(no message)".to_string(),
    }
}

/// Compiled modules are cached under `$XDG_CACHE_HOME` (or `~/.cache`); set
/// `DEVHOST_NO_CACHE` to disable.
fn default_cache_dir() -> Option<PathBuf> {
    if std::env::var_os("DEVHOST_NO_CACHE").is_some() {
        return None;
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("signed-images-devhost").join("wasmtime"))
}
