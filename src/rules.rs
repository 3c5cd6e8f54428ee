//! The compiled rules: what both shapes of settings (and a ClusterImagePolicy
//! read from the cluster) become, and what decision and verification read.

use crate::fields::{hex, Fields};
use crate::image::glob::Glob;
use crate::image::pattern::NamePattern;
use crate::image::reference::ImageRef;
use crate::trust::roots::TrustRoot;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::cell::OnceCell;
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

impl PinDigests {
    /// Whether pinning rewrites the images of `kind`.
    pub fn applies_to(self, kind: &str) -> bool {
        match self {
            PinDigests::Never => false,
            PinDigests::Pods => kind == "Pod",
            PinDigests::All => true,
        }
    }
}

/// Where the verification rules come from.
#[derive(Debug)]
pub enum RuleSource {
    /// No rules at all: admit everything with SCST-Sign's warning.
    NoRules,
    Inline(Rules),
    /// ClusterImagePolicies read from the cluster on every evaluation.
    Cluster(ClusterSource),
}

/// Which ClusterImagePolicies cluster mode reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterSource {
    /// SCST-Sign's `image-policy`, of this apiVersion
    /// (`signing.apps.tanzu.vmware.com/v1beta1` or its earlier
    /// `signing.run.tanzu.vmware.com/v1alpha1`).
    ScstSign(&'static str),
    /// Every policy-controller ClusterImagePolicy of this apiVersion.
    PolicyController(&'static str),
}

/// Where failures are only warnings (`warn`): no namespace, some, or all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WarnScope {
    #[default]
    Nowhere,
    Namespaces(BTreeSet<String>),
    Everywhere,
}

impl WarnScope {
    pub fn covers(&self, namespace: &str) -> bool {
        match self {
            WarnScope::Nowhere => false,
            WarnScope::Namespaces(namespaces) => namespaces.contains(namespace),
            WarnScope::Everywhere => true,
        }
    }
}

/// What becomes of an image that no entry's pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedImages {
    /// SCST-Sign's default: denied.
    Deny,
    /// SCST-Sign's `allow_unmatched_images: true`: admitted with a warning.
    AdmitWithWarning,
    /// verify-image-signatures, and policy-controller's `noMatchPolicy:
    /// allow`: admitted; images no entry names are not its business.
    Admit,
    /// policy-controller's `noMatchPolicy: warn`: admitted with a warning.
    Warn,
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
    /// Where an image that fails is admitted with a warning instead.
    pub warn: WarnScope,
    /// `acceptKeylessBundles`: a keyless answer the host gave with no `.sig`
    /// signature at its digest (a cosign 3 bundle, Kubewarden 1.36 and
    /// later) counts, on the host's word.
    pub accept_keyless_bundles: bool,
}

/// Compiled `verification` (or `signatures`): keys by index, patterns ready to match.
#[derive(Debug)]
pub struct Rules {
    /// The rules, hashed ([`Rules::fingerprint`]) when a record is written
    /// or read: a record made under other rules does not vouch under these.
    fingerprint: OnceCell<String>,
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
        Rules {
            fingerprint: OnceCell::new(),
            excluded_namespaces,
            keys,
            images,
            entries_needed,
        }
    }

    /// The fingerprint: hashed once, the first time a record needs it.
    pub(crate) fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| self.hash())
    }

    /// SHA-256 over everything that decides whether an image passes, in
    /// hex, 128 bits: any change to the rules changes it; how the settings
    /// were written (layout, key order, a default spelled out) does not, nor
    /// the order their entries and an entry's keys are listed in (an image
    /// passes by the same entries whatever their order, and the host lists
    /// the cluster's ClusterImagePolicies in no stable order).
    #[inline(never)] // a phase of scripts/profile.sh
    fn hash(&self) -> String {
        // In a fixed order, each as often as it is written.
        let mut entries: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        for image in &self.images {
            *entries.entry(self.entry_hash(image)).or_default() += 1;
        }
        let mut hash = Fields(Sha256::new());
        hash.text(match self.entries_needed {
            EntriesNeeded::Any => "any entry",
            EntriesNeeded::Every => "every entry",
        });
        hash.count(self.excluded_namespaces.len());
        for namespace in &self.excluded_namespaces {
            hash.text(namespace);
        }
        hash.count(entries.len());
        for (entry, times) in &entries {
            hash.fixed(entry);
            hash.count(*times);
        }
        hex(&hash.0.finalize()[..16])
    }

    /// One entry, its keys by name and by the root the host is asked about
    /// (every field it checks), in a fixed order.
    fn entry_hash(&self, image: &ImageRule) -> [u8; 32] {
        let mut hash = Fields(Sha256::new());
        hash.text(&image.pattern.source());
        hash.text(image.policy.as_deref().unwrap_or_default());
        hash.count(usize::from(image.warn));
        hash.count(usize::from(image.static_pass));
        hash.count(image.static_failures.len());
        for message in &image.static_failures {
            hash.text(message);
        }
        hash.text(image.refused.as_deref().unwrap_or_default());
        // By name: an entry names each key once.
        let keys: BTreeMap<&str, &TrustRoot> = image
            .keys
            .iter()
            .map(|&k| (self.keys[k].name.as_str(), &self.keys[k].root))
            .collect();
        hash.count(keys.len());
        for (name, root) in keys {
            hash.text(name);
            root.fingerprint(&mut |field| hash.text(field));
        }
        hash.count(image.threshold);
        let annotations = image.annotations.iter().flatten();
        hash.count(annotations.clone().count());
        for (name, value) in annotations {
            hash.text(name);
            hash.text(value);
        }
        hash.0.finalize().into()
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

/// What an entry matches images with.
#[derive(Debug)]
pub enum ImagePattern {
    /// An SCST-Sign `namePattern` (verify-image-signatures' `image` too).
    Name(NamePattern),
    /// policy-controller's `images[].glob`s: any one of them.
    Globs(Vec<Glob>),
}

impl ImagePattern {
    pub fn matches(&self, image: &ImageRef) -> bool {
        match self {
            ImagePattern::Name(pattern) => pattern.matches(image),
            ImagePattern::Globs(globs) => globs.iter().any(|glob| glob.matches(image)),
        }
    }

    pub fn names_registry(&self, registry: &str) -> bool {
        match self {
            ImagePattern::Name(pattern) => pattern.names_registry(registry),
            ImagePattern::Globs(globs) => globs.iter().any(|glob| glob.names_registry(registry)),
        }
    }

    /// As the settings wrote it (globs joined with `, `).
    pub fn source(&self) -> String {
        match self {
            ImagePattern::Name(pattern) => pattern.source.clone(),
            ImagePattern::Globs(globs) => {
                let sources: Vec<&str> = globs.iter().map(|glob| glob.source.as_str()).collect();
                sources.join(", ")
            }
        }
    }
}

#[derive(Debug)]
pub struct ImageRule {
    pub(crate) pattern: ImagePattern,
    /// Indexes into [`Rules::keys`], distinct, in the order the entry lists them.
    pub(crate) keys: Vec<usize>,
    /// How many of `keys` must verify an image: 1 (any-of) to all of them.
    pub(crate) threshold: usize,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
    /// The entry's `secretRef` as `namespace/name` (or `name`): accepted for
    /// SCST-Sign, never used (the host reads registries with its own
    /// credentials); named in a warning when an image it covers fails.
    pub(crate) ignored_secret: Option<String>,
    /// The ClusterImagePolicy the entry is (policy-controller), named in
    /// its messages.
    pub(crate) policy: Option<String>,
    /// `mode: warn`: an image that fails the entry is admitted with a warning.
    pub(crate) warn: bool,
    /// A `static: {action: pass}` authority: the entry passes unasked.
    pub(crate) static_pass: bool,
    /// The messages of its `static: {action: fail}` authorities.
    pub(crate) static_failures: Vec<String>,
    /// Why the entry cannot be applied (a ClusterImagePolicy read from the
    /// cluster that asks for what the policy cannot check): every image it
    /// covers is refused with this reason.
    pub(crate) refused: Option<String>,
}

impl ImageRule {
    /// An entry that `threshold` of `keys` must satisfy, and nothing else.
    pub(crate) fn signed_by(pattern: ImagePattern, keys: Vec<usize>, threshold: usize) -> Self {
        ImageRule {
            pattern,
            keys,
            threshold,
            annotations: None,
            ignored_secret: None,
            policy: None,
            warn: false,
            static_pass: false,
            static_failures: Vec::new(),
            refused: None,
        }
    }
}
