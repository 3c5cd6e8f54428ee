//! Settings: the `spec` of an SCST-Sign ClusterImagePolicy plus a few keys of
//! ours, or verify-image-signatures' `signatures` (see [`crate::peer_settings`]),
//! read strictly and compiled into a [`Policy`].
//!
//! policy-server runs every request in a fresh instance of the module and
//! never calls `validate` with settings that `validate_settings` refused. So
//! the full proof (every key and certificate decoded, errors with their path)
//! runs when the policy loads ([`parse_settings`]); a request reads the same
//! settings again without decoding key material ([`parse_proven_settings`]),
//! still refusing anything it cannot read.

use crate::matching::NamePattern;
use crate::peer_settings::{compile_signatures, RawSignature};
use crate::settings_error::{KeyProblem, Problem, SettingsError};
use crate::strict_json::{from_json_strict, not_null};
use crate::trust_roots::{check_certificate, check_public_key, TrustRoot};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_ANNOTATION_PREFIX: &str = "image-policy.signing";
/// Host verifications one request may cause. Far above any real workload
/// (a Pod with 30 distinct images and 3 keys each needs at most 90), low
/// enough that a request listing thousands of images cannot turn the policy
/// into a load generator against the registry.
pub const DEFAULT_MAX_VERIFICATIONS_PER_REQUEST: usize = 100;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSettings {
    #[serde(default, deserialize_with = "not_null")]
    pub verification: Option<RawVerification>,
    /// SCST-Sign's install value, under its current and former names.
    #[serde(alias = "allow_unmatched_images", alias = "warn_on_unmatched")]
    pub allow_unmatched_images: Option<bool>,
    pub pin_digests: Option<PinDigests>,
    pub annotation_prefix: Option<String>,
    /// Read the rules from the cluster's `image-policy` ClusterImagePolicy.
    /// (`null` is false: Kubewarden's UI writes it for the other shape.)
    pub cluster_image_policy: Option<bool>,
    pub max_verifications_per_request: Option<usize>,
    /// Ask the host only about images of registries a pattern names (no
    /// `*` alone standing for "any registry").
    pub named_registries_only: Option<bool>,
    /// verify-image-signatures' rules, instead of `verification`.
    #[serde(default, deserialize_with = "not_null")]
    pub signatures: Option<Vec<RawSignature>>,
    /// verify-image-signatures' pinning switch (default true: every kind).
    pub modify_images_with_digest: Option<bool>,
}

/// `spec.verification` of a ClusterImagePolicy.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawVerification {
    pub exclude: Option<RawExclude>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub images: Vec<RawImage>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExclude {
    pub resources: Option<RawExcludeResources>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExcludeResources {
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKey {
    pub name: String,
    pub public_key: Option<String>,
    pub keyless: Option<RawKeyless>,
    pub github_actions: Option<RawGithubActions>,
    pub certificate: Option<String>,
    pub certificate_chain: Option<Vec<String>>,
    pub require_rekor_bundle: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKeyless {
    pub issuer: String,
    pub subject: Option<String>,
    /// verify-image-signatures' settings spell it `url_prefix`.
    #[serde(alias = "url_prefix")]
    pub url_prefix: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawGithubActions {
    pub owner: String,
    pub repo: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawImage {
    pub name_pattern: String,
    #[serde(default)]
    pub keys: Vec<RawKeyRef>,
    #[serde(default, deserialize_with = "not_null")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Accepted so SCST-Sign policies load; the policy-server's own
    /// credentials are used to read registries.
    pub secret_ref: Option<RawSecretRef>,
    /// How many distinct keys of the entry must verify an image (default 1).
    #[serde(default, deserialize_with = "not_null")]
    pub threshold: Option<usize>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawKeyRef {
    pub name: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawSecretRef {
    pub name: String,
    pub namespace: Option<String>,
}

/// Which verified images are rewritten to `name:tag@digest`.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PinDigests {
    Never,
    /// Only Pods: pinning Deployments and the like makes GitOps tools see drift.
    #[default]
    Pods,
    All,
}

/// Where the verification rules come from.
#[derive(Debug)]
pub enum RuleSource {
    /// No rules at all: admit everything with SCST-Sign's warning.
    NoRules,
    Inline(Rules),
    /// The `image-policy` ClusterImagePolicy, read on every evaluation.
    Cluster,
}

/// What becomes of an image that no entry's pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedImages {
    /// SCST-Sign's default: denied.
    Deny,
    /// SCST-Sign's `allow_unmatched_images: true`: admitted with a warning.
    AdmitWithWarning,
    /// verify-image-signatures: admitted; images no entry names are not its business.
    Admit,
}

/// The validated settings, ready for admission.
#[derive(Debug)]
pub struct Policy {
    pub rules: RuleSource,
    pub unmatched_images: UnmatchedImages,
    pub pin_digests: PinDigests,
    pub annotation_prefix: String,
    /// Most host verifications one request may cause; past it, deny.
    pub max_verifications: usize,
    /// Refuse, before any host call, an image whose registry no pattern
    /// names: a `*` pattern then never sends the host to a registry the
    /// operator did not name (one that never answers ties up a worker).
    pub named_registries_only: bool,
}

/// Compiled `verification` (or `signatures`): keys by index, patterns ready to match.
#[derive(Debug)]
pub struct Rules {
    pub excluded_namespaces: BTreeSet<String>,
    pub keys: Vec<NamedKey>,
    pub images: Vec<ImageRule>,
    pub entries_needed: EntriesNeeded,
}

/// Which of the entries whose patterns match an image it must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntriesNeeded {
    /// SCST-Sign: one is enough (with threshold 1 everywhere, any key of any
    /// matching entry).
    Any,
    /// verify-image-signatures: every matching entry.
    Every,
}

#[derive(Debug)]
pub struct NamedKey {
    pub name: String,
    pub root: TrustRoot,
    /// The first key of [`Rules::keys`] whose signature could also satisfy
    /// this one (itself when there is none): keys with one signer count once
    /// towards a threshold ([`TrustRoot::may_share_signer`]).
    pub signer: usize,
}

#[derive(Debug)]
pub struct ImageRule {
    pub pattern: NamePattern,
    /// Indexes into [`Rules::keys`], distinct, in the order the entry lists them.
    pub keys: Vec<usize>,
    /// How many of `keys` must verify an image: 1 (any-of) to all of them.
    pub threshold: usize,
    pub annotations: Option<BTreeMap<String, String>>,
    /// The entry's `secretRef` as `namespace/name` (or `name`): accepted for
    /// SCST-Sign, never used (the host reads registries with its own
    /// credentials); named in a warning when an image it covers fails.
    pub ignored_secret: Option<String>,
}

/// How much [`compile_verification`] proves of what it compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Decode every key and certificate and parse every pattern: settings
    /// the policy loads with, and a ClusterImagePolicy read from the cluster
    /// (nobody checked it before).
    Full,
    /// The settings passed [`Checks::Full`] when the policy loaded: the key
    /// material goes to the host as the operator wrote it, and the patterns
    /// are not parsed as image references again.
    Proven,
}

/// Reads settings JSON strictly, proving every key; errors name the path of
/// the bad field. `validate_settings` answers with this.
pub fn parse_settings(json: &str) -> Result<Policy, SettingsError> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Full)
}

/// Reads settings that [`parse_settings`] accepted when the policy loaded,
/// without decoding key material or parsing patterns again. Still strict: settings it cannot
/// read are an error, never "no rules".
pub fn parse_proven_settings(json: &str) -> Result<Policy, SettingsError> {
    let raw: RawSettings = from_json_strict(json, "")?;
    compile_settings(raw, Checks::Proven)
}

pub fn compile_settings(mut raw: RawSettings, checks: Checks) -> Result<Policy, SettingsError> {
    if let Some(signatures) = raw.signatures.take() {
        return compile_peer_settings(raw, signatures, checks);
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
    })
}

/// verify-image-signatures' settings, read as that policy reads them: every
/// matching entry must pass, unmatched images are admitted, and
/// `modifyImagesWithDigest` (default true) pins every kind. Its settings
/// never mix with ours: the keys only SCST-Sign's shape has are refused.
fn compile_peer_settings(
    raw: RawSettings,
    signatures: Vec<RawSignature>,
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

/// Validates and compiles a `verification` block; `at` is its path for errors.
pub fn compile_verification(
    raw: RawVerification,
    at: &str,
    checks: Checks,
) -> Result<Rules, SettingsError> {
    let mut excluded_namespaces = BTreeSet::new();
    if let Some(resources) = raw.exclude.and_then(|e| e.resources) {
        for (i, namespace) in resources.namespaces.into_iter().enumerate() {
            if namespace.trim().is_empty() {
                return Err(SettingsError::at(
                    format!("{at}.exclude.resources.namespaces[{i}]"),
                    Problem::EmptyNamespace,
                ));
            }
            excluded_namespaces.insert(namespace);
        }
    }

    // Keys are found by name with a linear search: a policy names a few, and
    // a map type of its own would cost the module its code.
    let mut keys: Vec<NamedKey> = Vec::with_capacity(raw.keys.len());
    for (i, key) in raw.keys.into_iter().enumerate() {
        let path = format!("{at}.keys[{i}]");
        if key.name.trim().is_empty() {
            return Err(SettingsError::at(
                format!("{path}.name"),
                Problem::EmptyKeyName,
            ));
        }
        if keys.iter().any(|known| known.name == key.name) {
            return Err(SettingsError::at(
                format!("{path}.name"),
                Problem::DuplicateKeyName(key.name),
            ));
        }
        let name = key.name.clone();
        let root = compile_key(key, checks)
            .map_err(|e| SettingsError::at(format!("{path} ({name})"), e.into()))?;
        keys.push(NamedKey {
            name,
            root,
            signer: keys.len(),
        });
    }
    // Only a threshold above one counts signers; the comparison decodes key
    // material, so it is not done for policies that never need it.
    if raw
        .images
        .iter()
        .any(|image| image.threshold.unwrap_or(1) > 1)
    {
        group_signers(&mut keys);
    }

    let mut images = Vec::with_capacity(raw.images.len());
    for (i, image) in raw.images.into_iter().enumerate() {
        let path = format!("{at}.images[{i}]");
        let pattern = match checks {
            Checks::Full => NamePattern::compile(&image.name_pattern)
                .map_err(|e| SettingsError::at(format!("{path}.namePattern"), e.into()))?,
            Checks::Proven => NamePattern::compile_proven(&image.name_pattern),
        };
        if image.keys.is_empty() {
            return Err(SettingsError::at(
                format!("{path}.keys"),
                Problem::NoKeys(image.name_pattern),
            ));
        }
        let mut key_indexes = Vec::with_capacity(image.keys.len());
        for (j, key_ref) in image.keys.iter().enumerate() {
            let index = keys
                .iter()
                .position(|key| key.name == key_ref.name)
                .ok_or_else(|| {
                    SettingsError::at(
                        format!("{path}.keys[{j}].name"),
                        Problem::UnknownKey {
                            name: key_ref.name.clone(),
                            keys_at: format!("{at}.keys"),
                        },
                    )
                })?;
            if !key_indexes.contains(&index) {
                key_indexes.push(index);
            }
        }
        if let Some(annotations) = &image.annotations {
            check_annotations(&path, annotations)?;
        }
        if let Some(secret) = &image.secret_ref {
            if secret.name.is_empty() {
                return Err(SettingsError::at(
                    format!("{path}.secretRef.name"),
                    Problem::Empty,
                ));
            }
        }
        let threshold = check_threshold(image.threshold.unwrap_or(1), &key_indexes, &keys)
            .map_err(|problem| SettingsError::at(format!("{path}.threshold"), problem))?;
        images.push(ImageRule {
            pattern,
            keys: key_indexes,
            threshold,
            annotations: image.annotations.filter(|a| !a.is_empty()),
            ignored_secret: image.secret_ref.map(|secret| match secret.namespace {
                Some(namespace) => format!("{namespace}/{}", secret.name),
                None => secret.name,
            }),
        });
    }
    Ok(Rules {
        excluded_namespaces,
        entries_needed: EntriesNeeded::Any,
        keys,
        images,
    })
}

/// Signature annotations an entry requires: names must not be empty.
pub(crate) fn check_annotations(
    path: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(), SettingsError> {
    match annotations.keys().find(|k| k.is_empty()) {
        Some(empty) => Err(SettingsError::at(
            format!("{path}.annotations"),
            Problem::EmptyAnnotationName(empty.clone()),
        )),
        None => Ok(()),
    }
}

/// Sets each key's [`NamedKey::signer`] to the first key that may share its
/// signer, directly or through others.
fn group_signers(keys: &mut [NamedKey]) {
    for i in 0..keys.len() {
        for j in 0..i {
            if keys[i].root.may_share_signer(&keys[j].root) {
                let (from, to) = (
                    keys[i].signer.max(keys[j].signer),
                    keys[i].signer.min(keys[j].signer),
                );
                for key in keys.iter_mut() {
                    if key.signer == from {
                        key.signer = to;
                    }
                }
            }
        }
    }
}

/// N of M: at least one key, and no more than the distinct signers among the
/// entry's keys (two names for one key count once).
fn check_threshold(
    threshold: usize,
    entry_keys: &[usize],
    keys: &[NamedKey],
) -> Result<usize, Problem> {
    if threshold == 0 {
        return Err(Problem::Zero);
    }
    let mut signers: Vec<usize> = entry_keys.iter().map(|&k| keys[k].signer).collect();
    signers.sort_unstable();
    signers.dedup();
    if threshold > signers.len() {
        return Err(Problem::ThresholdAboveKeys {
            threshold,
            keys: signers.len(),
        });
    }
    Ok(threshold)
}

pub(crate) fn compile_key(key: RawKey, checks: Checks) -> Result<TrustRoot, KeyProblem> {
    let full = checks == Checks::Full;
    let sources = [
        key.public_key.is_some(),
        key.keyless.is_some(),
        key.github_actions.is_some(),
        key.certificate.is_some(),
    ];
    if sources.iter().filter(|set| **set).count() != 1 {
        return Err(KeyProblem::NotOneSource);
    }
    if key.certificate.is_none()
        && (key.certificate_chain.is_some() || key.require_rekor_bundle.is_some())
    {
        return Err(KeyProblem::ChainWithoutCertificate);
    }
    if let Some(pem) = key.public_key {
        if full {
            check_public_key(&pem).map_err(KeyProblem::PublicKey)?;
        }
        return Ok(TrustRoot::PublicKey(pem));
    }
    if let Some(keyless) = key.keyless {
        if !keyless.issuer.starts_with("https://") && !keyless.issuer.starts_with("http://") {
            return Err(KeyProblem::IssuerNotAUrl(keyless.issuer));
        }
        return match (keyless.subject, keyless.url_prefix) {
            (Some(subject), None) => Ok(TrustRoot::Keyless {
                issuer: keyless.issuer,
                subject: non_empty("keyless.subject", subject)?,
            }),
            (None, Some(url_prefix)) => Ok(TrustRoot::KeylessPrefix {
                issuer: keyless.issuer,
                url_prefix: check_url_prefix(non_empty("keyless.urlPrefix", url_prefix)?)?,
            }),
            _ => Err(KeyProblem::NotSubjectOrPrefix),
        };
    }
    if let Some(github) = key.github_actions {
        return Ok(TrustRoot::GithubActions {
            owner: non_empty("githubActions.owner", github.owner)?,
            repo: github
                .repo
                .map(|repo| non_empty("githubActions.repo", repo))
                .transpose()?,
        });
    }
    let certificate = key.certificate.unwrap_or_default();
    if key.certificate_chain.as_ref().is_some_and(Vec::is_empty) {
        return Err(KeyProblem::EmptyChain);
    }
    if full {
        check_certificate(&certificate).map_err(KeyProblem::Certificate)?;
        for (index, pem) in key.certificate_chain.iter().flatten().enumerate() {
            check_certificate(pem)
                .map_err(|reason| KeyProblem::ChainCertificate { index, reason })?;
        }
    }
    Ok(TrustRoot::Certificate {
        certificate,
        chain: key.certificate_chain,
        require_rekor_bundle: key.require_rekor_bundle.unwrap_or(true),
    })
}

/// An identity field that is present must say something: an empty one would
/// read as "any" to the host and widen the trust it stands for.
fn non_empty(field: &'static str, value: String) -> Result<String, KeyProblem> {
    if value.trim().is_empty() {
        return Err(KeyProblem::EmptyIdentity(field));
    }
    Ok(value)
}

/// A `urlPrefix` the host can read. The host parses it as a URL when it is
/// asked (and panics when that fails, so every such request would fail), so
/// every value its parser could reject is refused here: only `http://` or
/// `https://`, a host of letters, digits, `-` and `.`, an optional port and
/// a path of printable characters that need no escaping.
fn check_url_prefix(prefix: String) -> Result<String, KeyProblem> {
    let rest = prefix
        .strip_prefix("https://")
        .or_else(|| prefix.strip_prefix("http://"));
    let well_formed = rest.is_some_and(|rest| {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let label = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let port_ok = port.is_none_or(|p| {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        });
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !br#""<>\^`{|}#"#.contains(&b));
        host.split('.').all(label) && port_ok && path_ok
    });
    if !well_formed {
        return Err(KeyProblem::UrlPrefixNotAUrl(prefix));
    }
    Ok(prefix)
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
