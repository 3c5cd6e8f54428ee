//! sigstore policy-controller's ClusterImagePolicy (`policy.sigstore.dev`,
//! v1beta1 and v1alpha1, one schema), in the settings as `kubectl get -o
//! yaml` prints it, or read from the cluster: each policy whose globs match
//! an image must pass ([`EntriesNeeded::Every`]), each through any one of its
//! authorities (a public key, a keyless identity, exact or as regular
//! expressions, or a static pass or fail), in enforce or warn mode.
//!
//! What the host cannot check is refused by name, never skipped: CUE and
//! Rego policies, attestations, signatures stored elsewhere, keys in KMS or
//! Secrets, trust roots other than the host's own, `match`.

use crate::image::glob::Glob;
use crate::rules::{EntriesNeeded, ImagePattern, ImageRule, NamedKey, Rules, UnmatchedImages};
use crate::settings::checks::Checks;
use crate::settings::errors::{Problem, SettingsError, SettingsErrors};
use crate::settings::strict_json::from_json_strict;
use crate::trust::keys::check_public_key;
use crate::trust::roots::{IdentityMatch, TrustRoot};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const GROUP: &str = "policy.sigstore.dev";
pub const API_VERSIONS: [&str; 2] = [
    "policy.sigstore.dev/v1beta1",
    "policy.sigstore.dev/v1alpha1",
];
/// The Fulcio and Rekor that policy-controller fills in when none is
/// written: the public-good instance, which the host's trust root stands for.
const DEFAULT_FULCIO: &str = "https://fulcio.sigstore.dev";
const DEFAULT_REKOR: &str = "https://rekor.sigstore.dev";

/// policy-controller's top-level keys in the settings, as written.
#[derive(Debug, Default)]
pub struct PolicyControllerKeys {
    /// ClusterImagePolicies, as resources.
    pub(crate) cluster_image_policies: Option<Vec<RawClusterImagePolicy>>,
    /// `no-match-policy`: deny (default), warn or allow.
    pub(crate) no_match_policy: Option<String>,
}

/// One ClusterImagePolicy resource. `metadata` and `status` are read as
/// `kubectl` prints them: only the name matters.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawClusterImagePolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: RawMetadata,
    pub spec: RawSpec,
    /// What policy-controller reported; read and left alone.
    #[serde(default, rename = "status")]
    pub _status: Option<IgnoredAny>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct RawMetadata {
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpec {
    #[serde(default)]
    images: Vec<RawImage>,
    #[serde(default)]
    authorities: Vec<RawAuthority>,
    mode: Option<String>,
    policy: Option<IgnoredAny>,
    #[serde(rename = "match")]
    match_resources: Option<IgnoredAny>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawImage {
    #[serde(default)]
    glob: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAuthority {
    name: Option<String>,
    key: Option<RawKeyRef>,
    keyless: Option<RawKeylessRef>,
    #[serde(rename = "static")]
    static_ref: Option<RawStatic>,
    source: Option<IgnoredAny>,
    ctlog: Option<RawTlog>,
    attestations: Option<IgnoredAny>,
    rfc3161timestamp: Option<IgnoredAny>,
    signature_format: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeyRef {
    secret_ref: Option<IgnoredAny>,
    data: Option<String>,
    kms: Option<String>,
    hash_algorithm: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeylessRef {
    url: Option<String>,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    #[serde(rename = "ca-cert")]
    ca_cert: Option<IgnoredAny>,
    trust_root_ref: Option<String>,
    #[serde(rename = "insecureIgnoreSCT")]
    insecure_ignore_sct: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdentity {
    issuer: Option<String>,
    subject: Option<String>,
    issuer_reg_exp: Option<String>,
    subject_reg_exp: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawStatic {
    action: String,
    message: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTlog {
    url: Option<String>,
    trust_root_ref: Option<String>,
}

/// The `clusterImagePolicies` of the settings: every policy must be one the
/// policy can apply, or the settings are refused with every mistake named.
pub(crate) fn compile_policies(
    policies: Vec<RawClusterImagePolicy>,
    checks: Checks,
) -> Result<Rules, SettingsErrors> {
    if policies.is_empty() {
        return Err(SettingsError::at("", Problem::EmptyList).into());
    }
    let mut mistakes = SettingsErrors::default();
    let mut names = BTreeSet::new();
    let mut keys = Vec::new();
    let mut images = Vec::new();
    for (i, policy) in policies.into_iter().enumerate() {
        let index = format!("[{i}]");
        if !names.insert(policy.metadata.name.clone()) {
            mistakes.push(SettingsError::at(
                format!("{index}.metadata.name"),
                Problem::DuplicatePolicyName(policy.metadata.name.clone()),
            ));
        }
        let compiled = compile_policy(policy, checks, &mut keys).map_err(|e| e.within(&index));
        if let Some(rule) = mistakes.take(compiled) {
            images.push(rule);
        }
    }
    mistakes.or_ok(|| Rules::new(BTreeSet::new(), keys, images, EntriesNeeded::Every))
}

/// The ClusterImagePolicies read from the cluster (the items of a List). A
/// policy that cannot be applied does not stop the others: it refuses the
/// images its globs cover (every image, when its globs cannot be read), with
/// every mistake of its own named. The host lists them in no stable order:
/// they are compiled by name, so replicas and restarts answer alike.
pub(crate) fn compile_cluster_policies(items: &[Value]) -> Rules {
    fn name_of(item: &Value) -> &str {
        item.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    let mut by_name: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for item in items {
        by_name.entry(name_of(item)).or_default().push(item);
    }
    let mut keys = Vec::new();
    let mut images = Vec::new();
    for item in by_name.into_values().flatten() {
        let name = name_of(item);
        let compiled = from_json_strict::<RawClusterImagePolicy>(&item.to_string(), "")
            .map_err(SettingsErrors::from)
            .and_then(|policy| compile_policy(policy, Checks::Full, &mut keys));
        match compiled {
            Ok(rule) => images.push(rule),
            Err(error) => {
                let globs: Option<Vec<Glob>> = item
                    .pointer("/spec/images")
                    .and_then(Value::as_array)
                    .filter(|images| !images.is_empty())
                    .and_then(|images| {
                        images
                            .iter()
                            .map(|image| {
                                let glob = image.get("glob").and_then(Value::as_str)?;
                                Glob::compile(glob).ok()
                            })
                            .collect()
                    });
                let every_image = || vec![Glob::compile("**").expect("`**` is a glob")];
                let mut rule = ImageRule::signed_by(
                    ImagePattern::Globs(globs.unwrap_or_else(every_image)),
                    Vec::new(),
                    1,
                );
                rule.policy = Some(name.to_string());
                rule.refused = Some(format!(
                    "ClusterImagePolicy {name:?} asks for what this policy cannot check, so the \
                     images it covers are refused until it is fixed: {error}"
                ));
                images.push(rule);
            }
        }
    }
    Rules::new(BTreeSet::new(), keys, images, EntriesNeeded::Every)
}

/// One policy; the errors name each mistake at its path within the policy
/// (the caller adds where the policy is).
fn compile_policy(
    policy: RawClusterImagePolicy,
    checks: Checks,
    keys: &mut Vec<NamedKey>,
) -> Result<ImageRule, SettingsErrors> {
    let mut mistakes = SettingsErrors::default();
    if !API_VERSIONS.contains(&policy.api_version.as_str()) {
        mistakes.push(SettingsError::at(
            "apiVersion",
            Problem::NotOneOf(policy.api_version, &API_VERSIONS),
        ));
    }
    if policy.kind != "ClusterImagePolicy" {
        mistakes.push(SettingsError::at(
            "kind",
            Problem::NotOneOf(policy.kind, &["ClusterImagePolicy"]),
        ));
    }
    let name = policy.metadata.name;
    if name.trim().is_empty() {
        mistakes.push(SettingsError::at("metadata.name", Problem::Missing));
    }
    let spec = policy.spec;
    let mut refuse = |field: &str, why: &'static str| {
        mistakes.push(SettingsError::at(field, Problem::Refused(why)))
    };
    if spec.policy.is_some() {
        refuse("spec.policy", REFUSED_POLICY);
    }
    if spec.match_resources.is_some() {
        refuse("spec.match", REFUSED_MATCH);
    }
    let warn = match spec.mode.as_deref() {
        None | Some("enforce") => false,
        Some("warn") => true,
        Some(other) => {
            mistakes.push(SettingsError::at(
                "spec.mode",
                Problem::NotOneOf(other.to_string(), &["enforce", "warn"]),
            ));
            false
        }
    };
    if spec.images.is_empty() {
        mistakes.push(SettingsError::at("spec.images", Problem::EmptyList));
    }
    let mut globs = Vec::with_capacity(spec.images.len());
    for (i, image) in spec.images.iter().enumerate() {
        match Glob::compile(&image.glob) {
            Ok(glob) => globs.push(glob),
            Err(e) => mistakes.push(SettingsError::at(
                format!("spec.images[{i}].glob"),
                Problem::Glob(e),
            )),
        }
    }
    if spec.authorities.is_empty() {
        mistakes.push(SettingsError::at("spec.authorities", Problem::EmptyList));
    }
    let mut rule = ImageRule::signed_by(ImagePattern::Globs(globs), Vec::new(), 1);
    rule.policy = Some(name.clone());
    rule.warn = warn;
    for (i, authority) in spec.authorities.into_iter().enumerate() {
        let path = format!("spec.authorities[{i}]");
        let label = format!(
            "{name}/{}",
            authority
                .name
                .clone()
                .unwrap_or_else(|| format!("authority-{i}"))
        );
        compile_authority(
            authority,
            &path,
            &label,
            checks,
            keys,
            &mut rule,
            &mut mistakes,
        );
    }
    mistakes.or_ok(|| rule)
}

const REFUSED_POLICY: &str = "CUE and Rego policies are not evaluated: this policy checks \
     signatures only; remove spec.policy, or enforce what it checks with a Kubewarden policy of its own";
const REFUSED_MATCH: &str = "resource selection is not supported: choose the resources with the \
     Kubewarden policy's rules and objectSelector, and remove spec.match";
const REFUSED_ATTESTATIONS: &str = "attestations are not verified: the host checks signatures only";
const REFUSED_SOURCE: &str =
    "signatures are read from the image's own repository only; remove source";
const REFUSED_KMS: &str = "the host cannot reach a KMS: write the public key in key.data";
const REFUSED_SECRET: &str = "keys are not read from Secrets: write the public key in key.data";
const REFUSED_HASH: &str = "the host verifies signatures made over SHA-256 only";
const REFUSED_TRUST_ROOT: &str = "the host verifies certificates and transparency-log entries \
     against its own sigstore trust root (the policy-server's), not one a policy names; leave the \
     field out (or write the public-good default) and configure the host's trust root";
const REFUSED_SCT: &str =
    "the host always checks the certificate's SCT; leave insecureIgnoreSCT out or false";
const REFUSED_TIMESTAMP: &str = "RFC 3161 timestamps are not checked by the host";
const REFUSED_KEY_TLOG: &str = "the host checks no transparency-log entry for a key's signatures, \
     which ctlog on a key authority requires; remove ctlog (the key's signatures are then taken without \
     a log entry), or sign keyless, whose log entries the host checks";
const REFUSED_BUNDLE: &str =
    "the host reads cosign's legacy signatures only (signatureFormat: legacy)";

/// Adds the authority to `rule` (its keys to `keys`), noting its mistakes.
fn compile_authority(
    authority: RawAuthority,
    path: &str,
    label: &str,
    checks: Checks,
    keys: &mut Vec<NamedKey>,
    rule: &mut ImageRule,
    mistakes: &mut SettingsErrors,
) {
    let refused = |field: &str, why: &'static str| {
        SettingsError::at(format!("{path}.{field}"), Problem::Refused(why))
    };
    // Each field the host cannot check, in the order a reader meets them.
    // On a key authority, `ctlog` asks for a transparency-log entry of the
    // key's signatures, which the host's public-key question never checks:
    // refused whole. On a keyless one the host always checks the log.
    let key_log = authority.key.is_some() && authority.ctlog.is_some();
    let ctlog = authority.ctlog.as_ref().filter(|_| !key_log);
    let refusals = [
        (
            authority.attestations.is_some(),
            "attestations",
            REFUSED_ATTESTATIONS,
        ),
        (authority.source.is_some(), "source", REFUSED_SOURCE),
        (
            authority.rfc3161timestamp.is_some(),
            "rfc3161timestamp",
            REFUSED_TIMESTAMP,
        ),
        (
            !matches!(
                authority.signature_format.as_deref(),
                None | Some("") | Some("legacy")
            ),
            "signatureFormat",
            REFUSED_BUNDLE,
        ),
        (key_log, "ctlog", REFUSED_KEY_TLOG),
        (
            ctlog.is_some_and(|ctlog| ctlog.trust_root_ref.is_some()),
            "ctlog.trustRootRef",
            REFUSED_TRUST_ROOT,
        ),
        (
            ctlog
                .and_then(|ctlog| ctlog.url.as_deref())
                .is_some_and(|url| !is_default(url, DEFAULT_REKOR)),
            "ctlog.url",
            REFUSED_TRUST_ROOT,
        ),
    ];
    for (_, field, why) in refusals.into_iter().filter(|(present, ..)| *present) {
        mistakes.push(refused(field, why));
    }
    let mut add_key = |root: TrustRoot, name: String| {
        rule.keys.push(keys.len());
        keys.push(NamedKey {
            name,
            root,
            signer: keys.len(),
        });
    };
    match (authority.key, authority.keyless, authority.static_ref) {
        (Some(key), None, None) => {
            // A key named elsewhere is refused with where to write it
            // instead: its data is then not also missing.
            let elsewhere = key.kms.is_some() || key.secret_ref.is_some();
            let refusals = [
                (key.kms.is_some(), "key.kms", REFUSED_KMS),
                (key.secret_ref.is_some(), "key.secretRef", REFUSED_SECRET),
                (
                    !matches!(
                        key.hash_algorithm.as_deref(),
                        None | Some("sha256") | Some("sha-256")
                    ),
                    "key.hashAlgorithm",
                    REFUSED_HASH,
                ),
            ];
            for (_, field, why) in refusals.into_iter().filter(|(present, ..)| *present) {
                mistakes.push(refused(field, why));
            }
            match key.data.filter(|data| !data.trim().is_empty()) {
                None if elsewhere => {}
                None => mistakes.push(SettingsError::at(
                    format!("{path}.key.data"),
                    Problem::Missing,
                )),
                Some(data) => {
                    let checked = match checks {
                        Checks::Full => check_public_key(&data),
                        Checks::Proven => Ok(()),
                    };
                    match checked {
                        Ok(()) => add_key(TrustRoot::PublicKey(data), label.to_string()),
                        Err(e) => mistakes.push(SettingsError::at(
                            format!("{path}.key.data"),
                            Problem::Unreadable(e),
                        )),
                    }
                }
            }
        }
        (None, Some(keyless), None) => {
            if keyless.ca_cert.is_some() {
                mistakes.push(refused("keyless.ca-cert", REFUSED_TRUST_ROOT));
            }
            if keyless.trust_root_ref.is_some() {
                mistakes.push(refused("keyless.trustRootRef", REFUSED_TRUST_ROOT));
            }
            if keyless
                .url
                .as_deref()
                .is_some_and(|url| !is_default(url, DEFAULT_FULCIO))
            {
                mistakes.push(refused("keyless.url", REFUSED_TRUST_ROOT));
            }
            if keyless.insecure_ignore_sct == Some(true) {
                mistakes.push(refused("keyless.insecureIgnoreSCT", REFUSED_SCT));
            }
            if keyless.identities.is_empty() {
                mistakes.push(SettingsError::at(
                    format!("{path}.keyless.identities"),
                    Problem::EmptyList,
                ));
            }
            let several = keyless.identities.len() > 1;
            for (j, identity) in keyless.identities.into_iter().enumerate() {
                let at = format!("{path}.keyless.identities[{j}]");
                let name = if several {
                    format!("{label}[{j}]")
                } else {
                    label.to_string()
                };
                let checked = checks == Checks::Full;
                if let Some(root) = mistakes.take(compile_identity(identity, &at, checked)) {
                    add_key(root, name);
                }
            }
        }
        (None, None, Some(action)) => match action.action.as_str() {
            "pass" => rule.static_pass = true,
            "fail" => rule
                .static_failures
                .push(format!("{label}: {}", action.message.unwrap_or_default())),
            other => mistakes.push(SettingsError::at(
                format!("{path}.static.action"),
                Problem::NotOneOf(other.to_string(), &["pass", "fail"]),
            )),
        },
        _ => mistakes.push(SettingsError::at(
            path,
            Problem::ExactlyOneOf(&["key", "keyless", "static"]),
        )),
    }
}

/// An identity: exactly one of `issuer`/`issuerRegExp` and one of
/// `subject`/`subjectRegExp` (an empty string is not written, as in Go).
/// Both exact: the host's own keyless question; otherwise a
/// [`TrustRoot::KeylessMatch`]. Both halves' mistakes are named.
fn compile_identity(
    identity: RawIdentity,
    at: &str,
    checked: bool,
) -> Result<TrustRoot, SettingsErrors> {
    let written = |value: Option<String>| value.filter(|v| !v.is_empty());
    let half =
        |exact: Option<String>, pattern: Option<String>, names: &'static [&'static str]| match (
            written(exact),
            written(pattern),
        ) {
            (Some(exact), None) => Ok(IdentityMatch::Exact(exact)),
            (None, Some(pattern)) => IdentityMatch::pattern(&pattern, checked).map_err(|e| {
                SettingsError::at(format!("{at}.{}", names[1]), Problem::Unreadable(e))
            }),
            _ => Err(SettingsError::at(at, Problem::ExactlyOneOf(names))),
        };
    let mut mistakes = SettingsErrors::default();
    let issuer = mistakes.take(half(
        identity.issuer,
        identity.issuer_reg_exp,
        &["issuer", "issuerRegExp"],
    ));
    let subject = mistakes.take(half(
        identity.subject,
        identity.subject_reg_exp,
        &["subject", "subjectRegExp"],
    ));
    let (Some(issuer), Some(subject)) = (issuer, subject) else {
        return Err(mistakes);
    };
    Ok(match (issuer, subject) {
        (IdentityMatch::Exact(issuer), IdentityMatch::Exact(subject)) => {
            TrustRoot::Keyless { issuer, subject }
        }
        (issuer, subject) => TrustRoot::KeylessMatch { issuer, subject },
    })
}

fn is_default(url: &str, default: &str) -> bool {
    url.trim_end_matches('/') == default
}

/// policy-controller's `no-match-policy` (the settings' `noMatchPolicy`):
/// deny unless said otherwise.
pub(super) fn no_match_policy(setting: Option<&str>) -> Result<UnmatchedImages, SettingsError> {
    match setting {
        None | Some("deny") => Ok(UnmatchedImages::Deny),
        Some("warn") => Ok(UnmatchedImages::Warn),
        Some("allow") => Ok(UnmatchedImages::Admit),
        Some(other) => Err(SettingsError::at(
            "noMatchPolicy",
            Problem::NotOneOf(other.to_string(), &["deny", "warn", "allow"]),
        )),
    }
}
