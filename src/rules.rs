//! The compiled rules: what both shapes of settings (and a ClusterImagePolicy
//! read from the cluster) become, and what decision and verification read.

use crate::image::pattern::NamePattern;
use crate::trust::roots::TrustRoot;
use serde::Deserialize;
use sha2::{Digest, Sha256};
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
    /// `outageFallback`: seal records with this key, and admit a
    /// controller's child on its owner's sealed record when the registry
    /// cannot be reached. `None`: off.
    pub record_key: Option<Vec<u8>>,
}

/// Compiled `verification` (or `signatures`): keys by index, patterns ready to match.
#[derive(Debug)]
pub struct Rules {
    /// The rules, hashed ([`Rules::new`]): a record made under other rules
    /// does not vouch under these.
    pub(crate) fingerprint: String,
    pub(crate) excluded_namespaces: BTreeSet<String>,
    pub(crate) keys: Vec<NamedKey>,
    pub(crate) images: Vec<ImageRule>,
    pub(crate) entries_needed: EntriesNeeded,
}

impl Rules {
    pub(crate) fn new(
        excluded_namespaces: BTreeSet<String>,
        keys: Vec<NamedKey>,
        images: Vec<ImageRule>,
        entries_needed: EntriesNeeded,
    ) -> Rules {
        let mut rules = Rules {
            fingerprint: String::new(),
            excluded_namespaces,
            keys,
            images,
            entries_needed,
        };
        rules.fingerprint = rules.hash();
        rules
    }

    /// SHA-256 over everything that decides whether an image passes, in
    /// hex, 128 bits: any change to the rules changes it; how the settings
    /// were written (layout, key order, a default spelled out) does not.
    fn hash(&self) -> String {
        let mut hash = Fields(Sha256::new());
        hash.text(match self.entries_needed {
            EntriesNeeded::Any => "any entry",
            EntriesNeeded::Every => "every entry",
        });
        hash.count(self.excluded_namespaces.len());
        for namespace in &self.excluded_namespaces {
            hash.text(namespace);
        }
        hash.count(self.keys.len());
        for key in &self.keys {
            hash.text(&key.name);
            // The root as the host is asked about it: every field it checks.
            let question = key.root.question("", None);
            hash.text(&serde_json::to_string(&question).unwrap_or_default());
        }
        hash.count(self.images.len());
        for image in &self.images {
            hash.text(&image.pattern.source);
            hash.count(image.keys.len());
            for &key in &image.keys {
                hash.count(key);
            }
            hash.count(image.threshold);
            let annotations = image.annotations.iter().flatten();
            hash.count(annotations.clone().count());
            for (name, value) in annotations {
                hash.text(name);
                hash.text(value);
            }
        }
        let digest = hash.0.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A hash fed field by field, each length-prefixed so no two sequences of
/// fields feed the same bytes.
struct Fields(Sha256);

impl Fields {
    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
    }

    fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.update(text.as_bytes());
    }
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
