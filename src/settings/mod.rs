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

use crate::rules::{
    ClusterSource, PinDigests, Policy, RuleSource, Rules, UnmatchedImages, WarnScope,
};
use errors::{Problem, SettingsError, SettingsErrors};
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
    /// Take the host's keyless answer for an image with no `.sig`
    /// signature (a cosign 3 bundle, Kubewarden 1.36 and later).
    pub(crate) accept_keyless_bundles: Option<bool>,
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
    let record_key = mistakes.take(record_key(raw.outage_fallback.take()));
    let warn = mistakes.take(warn_scope(raw.warn.take()));
    if let Some(signatures) = raw.signatures.take() {
        return compile_verify_image_signatures(
            raw,
            signatures,
            (record_key, warn),
            checks,
            mistakes,
        );
    }
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

/// A list of namespaces (at `at`) as a set; an empty name is a mistake.
pub(crate) fn namespace_set(
    namespaces: Vec<String>,
    at: &str,
    mistakes: &mut SettingsErrors,
) -> std::collections::BTreeSet<String> {
    let mut set = std::collections::BTreeSet::new();
    for (i, namespace) in namespaces.into_iter().enumerate() {
        if namespace.trim().is_empty() {
            mistakes.push(SettingsError::at(
                format!("{at}[{i}]"),
                Problem::EmptyNamespace,
            ));
        }
        set.insert(namespace);
    }
    set
}

/// `warn`: exactly one of `allNamespaces: true` or a list of namespaces.
fn warn_scope(setting: Option<RawWarn>) -> Result<WarnScope, SettingsErrors> {
    let Some(warn) = setting else {
        return Ok(WarnScope::Nowhere);
    };
    match (warn.all_namespaces, warn.namespaces.is_empty()) {
        (true, true) => Ok(WarnScope::Everywhere),
        (false, false) => {
            let mut mistakes = SettingsErrors::default();
            let namespaces = namespace_set(warn.namespaces, "warn.namespaces", &mut mistakes);
            mistakes.or_ok(|| WarnScope::Namespaces(namespaces))
        }
        _ => Err(SettingsError::at(
            "warn",
            Problem::ExactlyOneOf(&["allNamespaces: true", "namespaces"]),
        )
        .into()),
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
/// `shared` holds the record key and warn scope read before (`None`: a
/// mistake, already in `mistakes`).
fn compile_verify_image_signatures(
    raw: RawSettings,
    signatures: Vec<RawSignature>,
    shared: (Option<Option<Vec<u8>>>, Option<WarnScope>),
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
    if let Some(mistake) = fallback_without_pins(&shared.0, pin_digests, no_pins) {
        mistakes.push(mistake);
    }
    let accept_keyless_bundles = mistakes.take(accept_keyless_bundles(
        raw.accept_keyless_bundles,
        rules.as_ref(),
    ));
    let (
        (Some(record_key), Some(warn)),
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

/// `acceptKeylessBundles` (default false): never with an entry that requires
/// signature annotations, which the host never reads from a bundle, so the
/// setting would silently not apply there.
fn accept_keyless_bundles(
    setting: Option<bool>,
    rules: Option<&Rules>,
) -> Result<bool, SettingsError> {
    let accept = setting.unwrap_or(false);
    let annotated = rules.and_then(|rules| rules.images.iter().find(|i| i.annotations.is_some()));
    match (accept, annotated) {
        (true, Some(entry)) => Err(SettingsError::at(
            "acceptKeylessBundles",
            Problem::BundlesWithAnnotations(entry.pattern.source()),
        )),
        _ => Ok(accept),
    }
}

/// A child admitted on its owner's record must run the digest the record
/// vouches for, and only pinning makes it: `outageFallback` with no pinning
/// (`setting` says how it was turned off) is a mistake.
fn fallback_without_pins(
    record_key: &Option<Option<Vec<u8>>>,
    pin_digests: PinDigests,
    setting: &'static str,
) -> Option<SettingsError> {
    let fallback = matches!(record_key, Some(Some(_)));
    (fallback && pin_digests == PinDigests::Never)
        .then(|| SettingsError::at("outageFallback", Problem::FallbackWithoutPins(setting)))
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
