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

pub(crate) mod checks;
pub mod cluster_policy;
pub mod errors;
pub(crate) mod keys;
pub(crate) mod policy_controller;
pub(crate) mod scst;
pub(crate) mod shared;
pub mod strict_json;
pub(crate) mod verify_image_signatures;

use crate::rules::{ClusterSource, PinDigests, Policy, RuleSource, UnmatchedImages};
use checks::Checks;
use errors::{Problem, SettingsError, SettingsErrors};
use policy_controller::{compile_policies, RawClusterImagePolicy};
use scst::{compile_verification, RawVerification};
use serde::Deserialize;
use shared::{
    accept_keyless_bundles, annotation_prefix, fallback_without_pins, max_verifications,
    RawOutageFallback, RawWarn, Shared,
};
use strict_json::{from_json_strict, not_null};
use verify_image_signatures::{compile_signatures, RawSignature};

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
    /// Take the host's keyless answer for an image with no `.sig`
    /// signature (a cosign 3 bundle, Kubewarden 1.36 and later).
    pub(crate) accept_keyless_bundles: Option<bool>,
}

/// The apiVersions cluster mode reads: SCST-Sign's (current, then earlier
/// name) and policy-controller's.
pub const CLUSTER_API_VERSIONS: [&str; 4] = [
    cluster_policy::API_VERSION,
    cluster_policy::EARLIER_API_VERSION,
    policy_controller::API_VERSIONS[0],
    policy_controller::API_VERSIONS[1],
];

/// Reads settings JSON strictly, proving every key; the error names every
/// mistake found, each with the path of its field (reading stops at the
/// first field it cannot read at all). `validate_settings` answers with this.
pub fn parse_settings(json: &str) -> Result<Policy, SettingsErrors> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Full)
}

/// Reads settings that [`parse_settings`] accepted when the policy loaded,
/// without decoding key material or parsing patterns again. Still strict: settings it cannot
/// read are an error, never "no rules".
pub(crate) fn parse_proven_settings(json: &str) -> Result<Policy, SettingsErrors> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Proven)
}

/// Every check runs, in the order a reader stopping at the first mistake
/// met them, and each mistake is noted as it is found; a part with a mistake
/// has no value, and the checks that depend on it are left out (a key that
/// cannot be read is not also "not defined").
fn compile_settings(mut raw: RawSettings, checks: Checks) -> Result<Policy, SettingsErrors> {
    let mut mistakes = SettingsErrors::default();
    let shared = Shared::read(raw.outage_fallback.take(), raw.warn.take(), &mut mistakes);
    if let Some(signatures) = raw.signatures.take() {
        return compile_verify_image_signatures(raw, signatures, shared, checks, mistakes);
    }
    let Shared { record_key, warn } = shared;
    let annotation_prefix = mistakes.take(annotation_prefix(raw.annotation_prefix));
    if raw.modify_images_with_digest.is_some() {
        mistakes.push(SettingsError::at(
            "modifyImagesWithDigest",
            Problem::OnlyWithSignatures,
        ));
    }
    // In cluster mode, the ClusterImagePolicies it reads (`None` inside when
    // the apiVersion is a mistake).
    let cluster = match (
        raw.cluster_image_policy,
        raw.cluster_image_policy_api_version,
    ) {
        (Some(true), version) => Some(mistakes.take(cluster_source(version))),
        (_, None) => None,
        (_, Some(_)) => {
            mistakes.push(SettingsError::at(
                "clusterImagePolicyApiVersion",
                Problem::OnlyInClusterMode,
            ));
            None
        }
    };
    let verification_written = raw.verification.is_some();
    let policies_written = raw.cluster_image_policies.is_some();
    let conflict = match (cluster.is_some(), verification_written, policies_written) {
        (true, true, _) | (true, _, true) => {
            Some(SettingsError::at("", Problem::ClusterAndInlineRules))
        }
        (false, true, true) => Some(SettingsError::at(
            "clusterImagePolicies",
            Problem::NotWithVerification,
        )),
        _ => None,
    };
    let conflict = match conflict {
        Some(mistake) => {
            mistakes.push(mistake);
            true
        }
        None => false,
    };
    // Whatever rules are written are compiled, so that their mistakes are
    // named too.
    let verification = raw
        .verification
        .take()
        .and_then(|v| mistakes.take(compile_verification(v, "verification", checks)));
    let policies = raw
        .cluster_image_policies
        .take()
        .and_then(|p| mistakes.take(compile_policies(p, "clusterImagePolicies", checks)));
    let rules = match (conflict, cluster) {
        (true, _) => None,
        (false, Some(source)) => source.map(RuleSource::Cluster),
        (false, None) if verification_written => verification.map(RuleSource::Inline),
        (false, None) if policies_written => policies.map(RuleSource::Inline),
        (false, None) => Some(RuleSource::NoRules),
    };
    // Whether the rules are policy-controller's; unknown when they conflict
    // or cluster mode's apiVersion is a mistake.
    let policy_controller_rules = match (conflict, cluster) {
        (true, _) => None,
        (false, Some(source)) => source.map(|s| matches!(s, ClusterSource::PolicyController(_))),
        (false, None) => Some(policies_written),
    };
    let unmatched_images = match (
        policy_controller_rules,
        raw.no_match_policy,
        raw.allow_unmatched_images,
    ) {
        (None, _, _) => None,
        (Some(true), _, Some(_)) => {
            mistakes.push(SettingsError::at(
                "allowUnmatchedImages",
                Problem::NotWithPolicyController,
            ));
            None
        }
        (Some(true), policy, None) => mistakes.take(no_match_policy(policy.as_deref())),
        (Some(false), Some(_), _) => {
            mistakes.push(SettingsError::at(
                "noMatchPolicy",
                Problem::OnlyWithPolicyController,
            ));
            None
        }
        (Some(false), None, Some(true)) => Some(UnmatchedImages::AdmitWithWarning),
        (Some(false), None, _) => Some(UnmatchedImages::Deny),
    };
    let max_verifications = mistakes.take(max_verifications(raw.max_verifications_per_request));
    let pin_digests = raw.pin_digests.unwrap_or_default();
    if let Some(mistake) = fallback_without_pins(&record_key, pin_digests, "pinDigests: never") {
        mistakes.push(mistake);
    }
    let inline = match &rules {
        Some(RuleSource::Inline(rules)) => Some(rules),
        _ => None,
    };
    let accept_keyless_bundles =
        mistakes.take(accept_keyless_bundles(raw.accept_keyless_bundles, inline));
    let (
        Some(record_key),
        Some(warn),
        Some(annotation_prefix),
        Some(rules),
        Some(unmatched_images),
        Some(max_verifications),
        Some(accept_keyless_bundles),
    ) = (
        record_key,
        warn,
        annotation_prefix,
        rules,
        unmatched_images,
        max_verifications,
        accept_keyless_bundles,
    )
    else {
        return Err(mistakes);
    };
    mistakes.or_ok(|| Policy {
        rules,
        unmatched_images,
        pin_digests,
        annotation_prefix,
        max_verifications,
        named_registries_only: raw.named_registries_only.unwrap_or(false),
        record_key,
        warn,
        accept_keyless_bundles,
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

/// verify-image-signatures' settings, read as that policy reads them: every
/// matching entry must pass, unmatched images are admitted, and
/// `modifyImagesWithDigest` (default true) pins every kind. Its settings
/// never mix with ours: the keys only SCST-Sign's shape has are refused.
fn compile_verify_image_signatures(
    raw: RawSettings,
    signatures: Vec<RawSignature>,
    shared: Shared,
    checks: Checks,
    mut mistakes: SettingsErrors,
) -> Result<Policy, SettingsErrors> {
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
    for (field, _) in ours_only.iter().filter(|(_, set)| *set) {
        mistakes.push(SettingsError::at(*field, Problem::NotWithSignatures));
    }
    let rules = mistakes.take(compile_signatures(signatures, checks));
    let annotation_prefix = mistakes.take(annotation_prefix(raw.annotation_prefix));
    let max_verifications = mistakes.take(max_verifications(raw.max_verifications_per_request));
    let pin_digests = match raw.modify_images_with_digest {
        Some(false) => PinDigests::Never,
        _ => PinDigests::All,
    };
    let no_pins = "modifyImagesWithDigest: false";
    if let Some(mistake) = fallback_without_pins(&shared.record_key, pin_digests, no_pins) {
        mistakes.push(mistake);
    }
    let accept_keyless_bundles = mistakes.take(accept_keyless_bundles(
        raw.accept_keyless_bundles,
        rules.as_ref(),
    ));
    let (
        Shared {
            record_key: Some(record_key),
            warn: Some(warn),
        },
        Some(rules),
        Some(annotation_prefix),
        Some(max_verifications),
        Some(accept_keyless_bundles),
    ) = (
        shared,
        rules,
        annotation_prefix,
        max_verifications,
        accept_keyless_bundles,
    )
    else {
        return Err(mistakes);
    };
    mistakes.or_ok(|| Policy {
        rules: RuleSource::Inline(rules),
        unmatched_images: UnmatchedImages::Admit,
        pin_digests,
        annotation_prefix,
        max_verifications,
        named_registries_only: raw.named_registries_only.unwrap_or(false),
        record_key,
        warn,
        accept_keyless_bundles,
    })
}
