//! Settings: the `spec` of an SCST-Sign ClusterImagePolicy plus a few keys of
//! ours ([`scst`]), or verify-image-signatures' settings
//! ([`verify_image_signatures`]), read strictly ([`strict_json`]) and compiled
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
pub(crate) mod scst;
pub mod strict_json;
pub(crate) mod verify_image_signatures;

use crate::rules::{PinDigests, Policy, RuleSource, UnmatchedImages};
use errors::{Problem, SettingsError};
use keys::Checks;
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
}

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
    if let Some(signatures) = raw.signatures.take() {
        return compile_verify_image_signatures(raw, signatures, record_key, checks);
    }
    let annotation_prefix = annotation_prefix(raw.annotation_prefix)?;
    if raw.modify_images_with_digest.is_some() {
        return Err(SettingsError::at(
            "modifyImagesWithDigest",
            Problem::OnlyWithSignatures,
        ));
    }
    let rules = match (raw.cluster_image_policy.unwrap_or(false), raw.verification) {
        (true, Some(_)) => return Err(SettingsError::at("", Problem::ClusterAndInlineRules)),
        (true, None) => RuleSource::Cluster,
        (false, Some(verification)) => {
            RuleSource::Inline(compile_verification(verification, "verification", checks)?)
        }
        (false, None) => RuleSource::NoRules,
    };
    Ok(Policy {
        rules,
        unmatched_images: match raw.allow_unmatched_images {
            Some(true) => UnmatchedImages::AdmitWithWarning,
            _ => UnmatchedImages::Deny,
        },
        pin_digests: raw.pin_digests.unwrap_or_default(),
        annotation_prefix,
        max_verifications: max_verifications(raw.max_verifications_per_request)?,
        named_registries_only: raw.named_registries_only.unwrap_or(false),
        record_key,
    })
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
    checks: Checks,
) -> Result<Policy, SettingsError> {
    let ours_only = [
        ("verification", raw.verification.is_some()),
        ("clusterImagePolicy", raw.cluster_image_policy.is_some()),
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
