//! Settings: the `spec` of an SCST-Sign ClusterImagePolicy plus a few keys of
//! ours ([`scst`]), verify-image-signatures' settings
//! ([`verify_image_signatures`]), or policy-controller's ClusterImagePolicies
//! ([`policy_controller`]), read strictly ([`strict_json`]) and compiled
//! into the one model verification reads ([`crate::rules`]); also the
//! ClusterImagePolicy read from the cluster ([`cluster_policy`]) and every
//! mistake's message ([`errors`]).
//!
//! policy-server runs every request in a fresh instance of the module and
//! never calls `validate` with settings that `validate_settings` refused. So
//! the full proof (every key and certificate decoded, errors with their path)
//! runs when the policy loads ([`parse_settings`]); a request reads the same
//! settings again without decoding key material ([`parse_proven_settings`]),
//! still refusing anything it cannot read.

pub mod cluster_policy;
pub mod errors;
pub(crate) mod keys;
pub(crate) mod policy_controller;
pub(crate) mod scst;
pub mod strict_json;
pub(crate) mod verify_image_signatures;

use crate::rules::{ClusterSource, PinDigests, Policy, RuleSource, UnmatchedImages, WarnScope};
use errors::{Problem, SettingsError};
use keys::Checks;
use policy_controller::{compile_policies, RawClusterImagePolicy};
use scst::{compile_verification, RawVerification};
use serde::Deserialize;
use strict_json::{from_json_strict, not_null};
use verify_image_signatures::{compile_signatures, RawSignature};

pub(crate) const DEFAULT_ANNOTATION_PREFIX: &str = "image-policy.signing";
/// Host verifications one request may cause. Far above any real workload
/// (a Pod with 30 distinct images and 3 keys each needs at most 90), low
/// enough that a request listing thousands of images cannot turn the policy
/// into a load generator against the registry.
pub(crate) const DEFAULT_MAX_VERIFICATIONS_PER_REQUEST: usize = 100;

/// The settings document: either shape's keys, and the ones both share.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSettings {
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) verification: Option<RawVerification>,
    /// SCST-Sign's install value, under its current and former names.
    #[serde(alias = "allow_unmatched_images", alias = "warn_on_unmatched")]
    pub(crate) allow_unmatched_images: Option<bool>,
    pub(crate) pin_digests: Option<PinDigests>,
    pub(crate) annotation_prefix: Option<String>,
    /// Read the rules from the cluster's `image-policy` ClusterImagePolicy.
    /// (`null` is false: Kubewarden's UI writes it for the other shape.)
    pub(crate) cluster_image_policy: Option<bool>,
    pub(crate) max_verifications_per_request: Option<usize>,
    /// Ask the host only about images of registries a pattern names (no
    /// `*` alone standing for "any registry").
    pub(crate) named_registries_only: Option<bool>,
    /// verify-image-signatures' rules, instead of `verification`.
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) signatures: Option<Vec<RawSignature>>,
    /// verify-image-signatures' pinning switch (default true: every kind).
    pub(crate) modify_images_with_digest: Option<bool>,
    /// Seal records, and let a controller's child ride out a registry
    /// outage on its owner's sealed record.
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) outage_fallback: Option<RawOutageFallback>,
    /// Which ClusterImagePolicies cluster mode reads (default SCST-Sign's
    /// `signing.apps.tanzu.vmware.com/v1beta1`).
    pub(crate) cluster_image_policy_api_version: Option<String>,
    /// policy-controller's ClusterImagePolicies, as resources.
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) cluster_image_policies: Option<Vec<RawClusterImagePolicy>>,
    /// policy-controller's `no-match-policy`: deny (default), warn or allow.
    pub(crate) no_match_policy: Option<String>,
    /// Where failures only warn.
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) warn: Option<RawWarn>,
}

/// `warn`: every namespace, or the ones listed.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawWarn {
    #[serde(default)]
    pub all_namespaces: bool,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// The apiVersions cluster mode reads: SCST-Sign's (current, then earlier
/// name) and policy-controller's.
pub const CLUSTER_API_VERSIONS: [&str; 4] = [
    cluster_policy::API_VERSION,
    cluster_policy::EARLIER_API_VERSION,
    policy_controller::API_VERSIONS[0],
    policy_controller::API_VERSIONS[1],
];

/// `outageFallback`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOutageFallback {
    /// The key records are sealed with (HMAC-SHA256): a secret only the
    /// policy's settings hold. Required (`null`, as the UI writes an
    /// unanswered field, is missing too).
    #[serde(default)]
    pub record_key: Option<String>,
}

/// The shortest record key accepted: 256 bits of a random key's text.
pub(crate) const MIN_RECORD_KEY_BYTES: usize = 32;

/// Reads settings JSON strictly, proving every key; errors name the path of
/// the bad field. `validate_settings` answers with this.
pub fn parse_settings(json: &str) -> Result<Policy, SettingsError> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Full)
}

/// Reads settings that [`parse_settings`] accepted when the policy loaded,
/// without decoding key material or parsing patterns again. Still strict: settings it cannot
/// read are an error, never "no rules".
pub(crate) fn parse_proven_settings(json: &str) -> Result<Policy, SettingsError> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Proven)
}

fn compile_settings(mut raw: RawSettings, checks: Checks) -> Result<Policy, SettingsError> {
    let record_key = record_key(raw.outage_fallback.take())?;
    let warn = warn_scope(raw.warn.take())?;
    if let Some(signatures) = raw.signatures.take() {
        return compile_verify_image_signatures(raw, signatures, record_key, warn, checks);
    }
    let annotation_prefix = annotation_prefix(raw.annotation_prefix)?;
    if raw.modify_images_with_digest.is_some() {
        return Err(SettingsError::at(
            "modifyImagesWithDigest",
            Problem::OnlyWithSignatures,
        ));
    }
    let cluster = match (
        raw.cluster_image_policy,
        raw.cluster_image_policy_api_version,
    ) {
        (Some(true), version) => Some(cluster_source(version)?),
        (_, None) => None,
        (_, Some(_)) => {
            return Err(SettingsError::at(
                "clusterImagePolicyApiVersion",
                Problem::OnlyInClusterMode,
            ))
        }
    };
    let inline_policies = raw.cluster_image_policies.take();
    let inline_policy_controller = inline_policies.is_some();
    let rules = match (cluster, raw.verification, inline_policies) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(SettingsError::at("", Problem::ClusterAndInlineRules))
        }
        (None, Some(_), Some(_)) => {
            return Err(SettingsError::at(
                "clusterImagePolicies",
                Problem::NotWithVerification,
            ))
        }
        (Some(source), None, None) => RuleSource::Cluster(source),
        (None, Some(verification), None) => {
            RuleSource::Inline(compile_verification(verification, "verification", checks)?)
        }
        (None, None, Some(policies)) => {
            RuleSource::Inline(compile_policies(policies, "clusterImagePolicies", checks)?)
        }
        (None, None, None) => RuleSource::NoRules,
    };
    let policy_controller_rules = match &rules {
        RuleSource::Cluster(ClusterSource::PolicyController(_)) => true,
        RuleSource::Inline(_) => inline_policy_controller,
        _ => false,
    };
    let unmatched_images = match (
        policy_controller_rules,
        raw.no_match_policy,
        raw.allow_unmatched_images,
    ) {
        (true, _, Some(_)) => {
            return Err(SettingsError::at(
                "allowUnmatchedImages",
                Problem::NotWithPolicyController,
            ))
        }
        (true, policy, None) => no_match_policy(policy.as_deref())?,
        (false, Some(_), _) => {
            return Err(SettingsError::at(
                "noMatchPolicy",
                Problem::OnlyWithPolicyController,
            ))
        }
        (false, None, Some(true)) => UnmatchedImages::AdmitWithWarning,
        (false, None, _) => UnmatchedImages::Deny,
    };
    Ok(Policy {
        rules,
        unmatched_images,
        pin_digests: raw.pin_digests.unwrap_or_default(),
        annotation_prefix,
        max_verifications: max_verifications(raw.max_verifications_per_request)?,
        named_registries_only: raw.named_registries_only.unwrap_or(false),
        record_key,
        warn,
    })
}

/// `clusterImagePolicyApiVersion`, one of [`CLUSTER_API_VERSIONS`].
fn cluster_source(version: Option<String>) -> Result<ClusterSource, SettingsError> {
    let Some(version) = version else {
        return Ok(ClusterSource::ScstSign(cluster_policy::API_VERSION));
    };
    let known = CLUSTER_API_VERSIONS
        .into_iter()
        .find(|known| *known == version)
        .ok_or_else(|| {
            SettingsError::at(
                "clusterImagePolicyApiVersion",
                Problem::NotOneOf(version.clone(), &CLUSTER_API_VERSIONS),
            )
        })?;
    Ok(match known.starts_with(policy_controller::GROUP) {
        true => ClusterSource::PolicyController(known),
        false => ClusterSource::ScstSign(known),
    })
}

/// policy-controller's `no-match-policy`: deny unless said otherwise.
fn no_match_policy(setting: Option<&str>) -> Result<UnmatchedImages, SettingsError> {
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

/// `warn`: exactly one of `allNamespaces: true` or a list of namespaces.
fn warn_scope(setting: Option<RawWarn>) -> Result<WarnScope, SettingsError> {
    let Some(warn) = setting else {
        return Ok(WarnScope::Nowhere);
    };
    match (warn.all_namespaces, warn.namespaces.is_empty()) {
        (true, true) => Ok(WarnScope::Everywhere),
        (false, false) => {
            let mut namespaces = std::collections::BTreeSet::new();
            for (i, namespace) in warn.namespaces.into_iter().enumerate() {
                if namespace.trim().is_empty() {
                    return Err(SettingsError::at(
                        format!("warn.namespaces[{i}]"),
                        Problem::EmptyNamespace,
                    ));
                }
                namespaces.insert(namespace);
            }
            Ok(WarnScope::Namespaces(namespaces))
        }
        _ => Err(SettingsError::at(
            "warn",
            Problem::ExactlyOneOf(&["allNamespaces: true", "namespaces"]),
        )),
    }
}

fn record_key(setting: Option<RawOutageFallback>) -> Result<Option<Vec<u8>>, SettingsError> {
    let Some(RawOutageFallback { record_key }) = setting else {
        return Ok(None);
    };
    let record_key = record_key.ok_or(SettingsError::at(
        "outageFallback.recordKey",
        Problem::Missing,
    ))?;
    if record_key.len() < MIN_RECORD_KEY_BYTES {
        return Err(SettingsError::at(
            "outageFallback.recordKey",
            Problem::RecordKeyTooShort(record_key.len()),
        ));
    }
    Ok(Some(record_key.into_bytes()))
}

/// verify-image-signatures' settings, read as that policy reads them: every
/// matching entry must pass, unmatched images are admitted, and
/// `modifyImagesWithDigest` (default true) pins every kind. Its settings
/// never mix with ours: the keys only SCST-Sign's shape has are refused.
fn compile_verify_image_signatures(
    raw: RawSettings,
    signatures: Vec<RawSignature>,
    record_key: Option<Vec<u8>>,
    warn: WarnScope,
    checks: Checks,
) -> Result<Policy, SettingsError> {
    let ours_only = [
        ("verification", raw.verification.is_some()),
        ("clusterImagePolicy", raw.cluster_image_policy.is_some()),
        (
            "clusterImagePolicyApiVersion",
            raw.cluster_image_policy_api_version.is_some(),
        ),
        ("clusterImagePolicies", raw.cluster_image_policies.is_some()),
        ("noMatchPolicy", raw.no_match_policy.is_some()),
        ("allowUnmatchedImages", raw.allow_unmatched_images.is_some()),
        ("pinDigests", raw.pin_digests.is_some()),
    ];
    if let Some((field, _)) = ours_only.iter().find(|(_, set)| *set) {
        return Err(SettingsError::at(*field, Problem::NotWithSignatures));
    }
    Ok(Policy {
        rules: RuleSource::Inline(compile_signatures(signatures, checks)?),
        unmatched_images: UnmatchedImages::Admit,
        pin_digests: match raw.modify_images_with_digest {
            Some(false) => PinDigests::Never,
            _ => PinDigests::All,
        },
        annotation_prefix: annotation_prefix(raw.annotation_prefix)?,
        max_verifications: max_verifications(raw.max_verifications_per_request)?,
        named_registries_only: raw.named_registries_only.unwrap_or(false),
        record_key,
        warn,
    })
}

fn annotation_prefix(setting: Option<String>) -> Result<String, SettingsError> {
    let prefix = setting.unwrap_or_else(|| DEFAULT_ANNOTATION_PREFIX.to_string());
    if !is_dns_subdomain(&prefix) {
        return Err(SettingsError::at(
            "annotationPrefix",
            Problem::NotADnsSubdomain(prefix),
        ));
    }
    Ok(prefix)
}

fn max_verifications(setting: Option<usize>) -> Result<usize, SettingsError> {
    match setting.unwrap_or(DEFAULT_MAX_VERIFICATIONS_PER_REQUEST) {
        0 => Err(SettingsError::at(
            "maxVerificationsPerRequest",
            Problem::Zero,
        )),
        limit => Ok(limit),
    }
}

/// An annotation prefix is a DNS subdomain (RFC 1123), as Kubernetes requires.
fn is_dns_subdomain(prefix: &str) -> bool {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    !prefix.is_empty() && prefix.len() <= 253 && prefix.split('.').all(valid_label)
}
