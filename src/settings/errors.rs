//! Settings mistakes: where each is (the path of the field) and what is
//! wrong, with every message written once, here; and every mistake of one
//! document together ([`SettingsErrors`]), so that one refusal names them
//! all. Their text is what `validate_settings` answers and what a denial
//! names; tests match the variants.

use crate::image::glob::GlobError;
use crate::image::pattern::PatternError;
use std::fmt;
use thiserror::Error;

/// A mistake in the settings (or in the ClusterImagePolicy's spec).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SettingsError {
    /// The field, e.g. `verification.images[0].threshold`; empty when the
    /// mistake is in how settings combine.
    pub path: String,
    pub problem: Problem,
}

impl SettingsError {
    pub fn at(path: impl Into<String>, problem: Problem) -> Self {
        SettingsError {
            path: path.into(),
            problem,
        }
    }

    /// The mistake seen one level up, from `at` (a field's name, or an
    /// index `[i]`): its path, and a path its problem names, start there.
    /// Paths are added on the way up, so a part names only its own fields.
    pub(crate) fn within(mut self, at: &str) -> Self {
        self.path = joined(at, &self.path);
        if let Problem::UnknownKey { keys_at, .. } = &mut self.problem {
            *keys_at = joined(at, keys_at);
        }
        self
    }
}

/// `path` below `at`: `at.path`, or `at[i]` for an index.
pub(crate) fn joined(at: &str, path: &str) -> String {
    match (at, path) {
        (at, "") => at.to_string(),
        ("", path) => path.to_string(),
        (at, path) if path.starts_with('[') => format!("{at}{path}"),
        (at, path) => format!("{at}.{path}"),
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.as_str(), &self.problem) {
            ("", problem) => write!(f, "{problem}"),
            // Reads as a sentence: "spec.verification is missing".
            (path, Problem::Missing) => write!(f, "{path} is missing"),
            (path, problem) => write!(f, "{path}: {problem}"),
        }
    }
}

/// The most mistakes one refusal names, after the first.
pub const MAX_MORE_MISTAKES: usize = 9;
/// The most bytes the mistakes after the first take in a refusal.
pub const MAX_MORE_BYTES: usize = 2048;

/// Every mistake found in one document, in the order they are found: the
/// first is the one a reader that stopped at the first mistake would name.
/// Shown joined by `; `, the first whole and the others bounded
/// ([`MAX_MORE_MISTAKES`], [`MAX_MORE_BYTES`]), then how many more there are.
/// A document that cannot be read (an unknown field, a wrong type) has one:
/// reading stops there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsErrors(Vec<SettingsError>);

impl SettingsErrors {
    /// Every mistake, the first first.
    pub fn mistakes(&self) -> &[SettingsError] {
        &self.0
    }

    pub(crate) fn push(&mut self, mistake: SettingsError) {
        self.0.push(mistake);
    }

    /// Every mistake seen one level up ([`SettingsError::within`]).
    pub(crate) fn within(self, at: &str) -> Self {
        SettingsErrors(self.0.into_iter().map(|m| m.within(at)).collect())
    }

    /// Notes the mistakes of a part; its value, when it has no mistake.
    pub(crate) fn take<T>(&mut self, result: Result<T, impl Into<SettingsErrors>>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(mistakes) => {
                self.0.extend(mistakes.into().0);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `value` when no mistake was noted, else the mistakes.
    pub(crate) fn or_ok<T>(self, value: impl FnOnce() -> T) -> Result<T, SettingsErrors> {
        match self.0.is_empty() {
            true => Ok(value()),
            false => Err(self),
        }
    }
}

impl From<SettingsError> for SettingsErrors {
    fn from(mistake: SettingsError) -> Self {
        SettingsErrors(vec![mistake])
    }
}

impl fmt::Display for SettingsErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((first, rest)) = self.0.split_first() else {
            return Ok(());
        };
        write!(f, "{first}")?;
        let (mut shown, mut bytes) = (0, 0);
        for mistake in rest {
            let text = mistake.to_string();
            bytes += text.len() + 2;
            if shown == MAX_MORE_MISTAKES || bytes > MAX_MORE_BYTES {
                break;
            }
            write!(f, "; {text}")?;
            shown += 1;
        }
        match rest.len() - shown {
            0 => Ok(()),
            more => write!(f, "; ... and {more} more"),
        }
    }
}

impl std::error::Error for SettingsErrors {}

/// Why a key does not go with the shape the settings are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OtherShape {
    #[error(
        "clusterImagePolicy: true and verification cannot be set together: the rules come either \
         from the cluster's ClusterImagePolicy or from the settings"
    )]
    ClusterAndInlineRules,
    #[error(
        "cannot be set together with signatures: the settings are either verify-image-signatures' \
         (signatures, modifyImagesWithDigest) or SCST-Sign's (verification, ...)"
    )]
    NotWithSignatures,
    #[error(
        "goes with signatures (verify-image-signatures' settings); with verification, use pinDigests"
    )]
    OnlyWithSignatures,
    #[error("goes with clusterImagePolicy: true")]
    OnlyInClusterMode,
    #[error(
        "cannot be set together with verification: the rules are either SCST-Sign's \
         (verification) or policy-controller's (clusterImagePolicies)"
    )]
    NotWithVerification,
    #[error(
        "goes with SCST-Sign's rules; with policy-controller's ClusterImagePolicies, use noMatchPolicy"
    )]
    NotWithPolicyController,
    #[error(
        "goes with policy-controller's ClusterImagePolicies (clusterImagePolicies, or \
         clusterImagePolicyApiVersion: policy.sigstore.dev/...); with SCST-Sign's rules, use allowUnmatchedImages"
    )]
    OnlyWithPolicyController,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// What the strict reader said (unknown field, wrong type, ...).
    #[error("{0}")]
    Unreadable(String),
    /// Shown as "<path> is missing".
    #[error("is missing")]
    Missing,
    #[error("must not be empty")]
    Empty,
    #[error("must be at least 1")]
    Zero,
    #[error(
        "is {length} bytes long; a record key needs at least {min} (a random secret, e.g. `openssl rand -base64 32`)"
    )]
    RecordKeyTooShort { length: usize, min: usize },
    /// A key written with another shape's settings (the table of
    /// `settings::SHAPE_KEYS` says which).
    #[error("{0}")]
    OtherShape(OtherShape),
    #[error("{0:?} is not a DNS subdomain (lowercase letters, digits, '-' and '.')")]
    NotADnsSubdomain(String),
    #[error("namespace must not be empty")]
    EmptyNamespace,
    #[error("key name must not be empty")]
    EmptyKeyName,
    #[error("key name {0:?} is defined twice")]
    DuplicateKeyName(String),
    #[error("the entry for {0:?} lists no key, so no image could ever pass it")]
    NoKeys(String),
    #[error("key {name:?} is not defined in {keys_at}")]
    UnknownKey { name: String, keys_at: String },
    #[error("annotation name {0:?} must not be empty")]
    EmptyAnnotationName(String),
    #[error(
        "{threshold} keys must verify, but the entry names only {keys} distinct key{} (keys with the \
         same key material, or keyless identities one signature can satisfy, count once)",
        if *keys == 1 { "" } else { "s" }
    )]
    ThresholdAboveKeys { threshold: usize, keys: usize },
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Key(#[from] KeyProblem),
    #[error("must list at least one entry")]
    NoEntries,
    #[error("must list at least one")]
    EmptyList,
    #[error(
        "exactly one of pubKeys, keyless, keylessPrefix, githubActions or certificates must be set"
    )]
    NotOneKindOfKey,
    #[error("certificateChain and requireRekorBundle go with certificates")]
    ChainWithoutCertificates,
    #[error("every entry needs issuer and {0}, and nothing else")]
    KeylessFields(&'static str),
    #[error(
        "cannot be set together with {0}: a Pod admitted on its owner's record during a registry \
         outage must run the digest the record vouches for, which only pinning makes it do; \
         leave pinning on (Pods at least)"
    )]
    FallbackWithoutPins(&'static str),
    #[error(
        "cannot be set together with signature annotations (the entry for {0:?} requires them): \
         the host reads no annotations from a cosign 3 bundle, so an image it covers could never \
         pass through one"
    )]
    BundlesWithAnnotations(String),
    #[error("ClusterImagePolicy {0:?} is listed twice")]
    DuplicatePolicyName(String),
    #[error("{value:?} is not one of {}", .1.join(", "), value = .0)]
    NotOneOf(String, &'static [&'static str]),
    #[error("exactly one of {} must be set", .0.join(", "))]
    ExactlyOneOf(&'static [&'static str]),
    #[error("is not supported: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Glob(#[from] GlobError),
}

/// What is wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyProblem {
    #[error("exactly one of publicKey, keyless, githubActions or certificate must be set")]
    NotOneSource,
    #[error("certificateChain and requireRekorBundle go with certificate")]
    ChainWithoutCertificate,
    #[error("publicKey: {0}")]
    PublicKey(String),
    #[error("keyless.issuer: {0:?} is not a URL")]
    IssuerNotAUrl(String),
    #[error("keyless: exactly one of subject or urlPrefix must be set")]
    NotSubjectOrPrefix,
    #[error(
        "keyless.urlPrefix: {0:?} is not an http(s) URL the host can read (e.g. https://github.com/my-org/)"
    )]
    UrlPrefixNotAUrl(String),
    #[error("{0} must not be empty (leave the field out if it is not wanted)")]
    EmptyIdentity(&'static str),
    #[error("certificateChain: must list at least one certificate when set")]
    EmptyChain,
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("certificateChain[{index}]: {reason}")]
    ChainCertificate { index: usize, reason: String },
}
