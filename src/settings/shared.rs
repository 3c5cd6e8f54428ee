//! The keys every shape of the settings shares (`annotationPrefix`,
//! `maxVerificationsPerRequest`, `outageFallback`, `warn`,
//! `acceptKeylessBundles`), each read and checked here whatever the shape.

use crate::rules::{PinDigests, Rules, WarnScope};
use crate::settings::errors::{Problem, SettingsError, SettingsErrors};
use serde::Deserialize;

/// The shared keys every shape reads first, before its own: `outageFallback`
/// and `warn`. `None`: a mistake, already noted.
pub(super) struct Shared {
    pub record_key: Option<Option<Vec<u8>>>,
    pub warn: Option<WarnScope>,
}

impl Shared {
    pub fn read(
        outage_fallback: Option<RawOutageFallback>,
        warn: Option<RawWarn>,
        mistakes: &mut SettingsErrors,
    ) -> Shared {
        Shared {
            record_key: mistakes.take(record_key(outage_fallback)),
            warn: mistakes.take(warn_scope(warn)),
        }
    }
}

pub(crate) const DEFAULT_ANNOTATION_PREFIX: &str = "image-policy.signing";
/// Host verifications one request may cause. Far above any real workload
/// (a Pod with 30 distinct images and 3 keys each needs at most 90), low
/// enough that a request listing thousands of images cannot turn the policy
/// into a load generator against the registry.
pub(crate) const DEFAULT_MAX_VERIFICATIONS_PER_REQUEST: usize = 100;

/// The keys every shape shares, as written.
#[derive(Debug, Default)]
pub struct SharedKeys {
    pub(crate) annotation_prefix: Option<String>,
    pub(crate) max_verifications_per_request: Option<usize>,
    /// Ask the host only about images of registries a pattern names (no
    /// `*` alone standing for "any registry").
    pub(crate) named_registries_only: Option<bool>,
    /// Seal records, and let a controller's child ride out a registry
    /// outage on its owner's sealed record.
    pub(crate) outage_fallback: Option<RawOutageFallback>,
    /// Where failures only warn.
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
            Problem::RecordKeyTooShort {
                length: record_key.len(),
                min: MIN_RECORD_KEY_BYTES,
            },
        ));
    }
    Ok(Some(record_key.into_bytes()))
}

/// `acceptKeylessBundles` (default false): never with an entry that requires
/// signature annotations, which the host never reads from a bundle, so the
/// setting would silently not apply there.
pub(super) fn accept_keyless_bundles(
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
pub(super) fn fallback_without_pins(
    record_key: &Option<Option<Vec<u8>>>,
    pin_digests: PinDigests,
    setting: &'static str,
) -> Option<SettingsError> {
    let fallback = matches!(record_key, Some(Some(_)));
    (fallback && pin_digests == PinDigests::Never)
        .then(|| SettingsError::at("outageFallback", Problem::FallbackWithoutPins(setting)))
}

pub(super) fn annotation_prefix(setting: Option<String>) -> Result<String, SettingsError> {
    let prefix = setting.unwrap_or_else(|| DEFAULT_ANNOTATION_PREFIX.to_string());
    if !is_dns_subdomain(&prefix) {
        return Err(SettingsError::at(
            "annotationPrefix",
            Problem::NotADnsSubdomain(prefix),
        ));
    }
    Ok(prefix)
}

pub(super) fn max_verifications(setting: Option<usize>) -> Result<usize, SettingsError> {
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
