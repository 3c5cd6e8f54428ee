//! The compiled rules: what both shapes of settings (and a ClusterImagePolicy
//! read from the cluster) become, and what decision and verification read.

use crate::image::pattern::NamePattern;
use crate::trust::roots::TrustRoot;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

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
    pub(crate) excluded_namespaces: BTreeSet<String>,
    pub(crate) keys: Vec<NamedKey>,
    pub(crate) images: Vec<ImageRule>,
    pub(crate) entries_needed: EntriesNeeded,
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
    pub(crate) name: String,
    pub(crate) root: TrustRoot,
    /// The first key of [`Rules::keys`] whose signature could also satisfy
    /// this one (itself when there is none): keys with one signer count once
    /// towards a threshold ([`TrustRoot::may_share_signer`]).
    pub(crate) signer: usize,
}

#[derive(Debug)]
pub struct ImageRule {
    pub(crate) pattern: NamePattern,
    /// Indexes into [`Rules::keys`], distinct, in the order the entry lists them.
    pub(crate) keys: Vec<usize>,
    /// How many of `keys` must verify an image: 1 (any-of) to all of them.
    pub(crate) threshold: usize,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
    /// The entry's `secretRef` as `namespace/name` (or `name`): accepted for
    /// SCST-Sign, never used (the host reads registries with its own
    /// credentials); named in a warning when an image it covers fails.
    pub(crate) ignored_secret: Option<String>,
}
