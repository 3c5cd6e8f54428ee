//! Verification: asks the host whether an image is signed by enough keys of
//! the entries whose patterns match it (N of M per entry; one entry or every
//! entry, as the rules say), each distinct question at most once per request.
//! A keyless answer counts only once [`keyless_proof`] has checked it against
//! the image's signatures.

pub mod bundles;
pub mod keyless_proof;
mod session;
pub mod signatures;

use crate::host::reasons::Cause;
use crate::host::Host;
use crate::image::reference::ImageRef;
use crate::messages::{bundle_note, no_bundle_index_note};
use crate::rules::{EntriesNeeded, ImageRule, Rules};
use crate::trust::keys::{certificate_identity, certificate_public_key, public_key_spki};
use crate::trust::roots::TrustRoot;
use crate::verification::bundles::{
    fallback_tag, is_signature_bundle, read_fallback_index, FallbackIndex, MAX_IMAGES_NOTED,
    MAX_REFERRERS_READ,
};
use crate::verification::keyless_proof::prove_signed;
use crate::verification::session::Session;
use crate::verification::signatures::{certificates, Layer};
use std::collections::BTreeMap;

/// What became of one distinct image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Enough keys verified it; `digest` is what their signatures cover.
    /// `warned`: the reasons of the entries in warn mode that failed it
    /// (admitted with a warning, and still pinned and recorded: a warn-mode
    /// failure never costs an enforced verification its digest).
    /// `bundle`: some key's answer rests on a cosign 3 bundle the host
    /// vouched for, which the module could not check (`acceptKeylessBundles`).
    Verified {
        digest: String,
        keys: Vec<String>,
        warned: Vec<String>,
        bundle: bool,
    },
    /// Patterns matched but not enough keys verified it; the reasons say
    /// which key failed and why. `ignored_secrets`: the `secretRef`s of the
    /// matching entries, which the policy does not use (named in a warning).
    /// `unreachable`: every key that failed, failed only because the
    /// registry could not be reached or answered a server error.
    NotVerified {
        reasons: Vec<String>,
        ignored_secrets: Vec<String>,
        unreachable: bool,
    },
    /// No pattern matches the image.
    Unmatched,
    /// Verifying it would take the request past its verification limit.
    OverLimit { limit: usize },
    /// Every matching entry passed, but only through a `static: {action:
    /// pass}` authority: admitted, with no signature and so no digest.
    StaticPass,
    /// No entry in enforce mode failed, but some in warn mode did (the
    /// reasons): admitted with a warning, not pinned.
    Warned { reasons: Vec<String> },
    /// A matching entry cannot be applied: refused, with its reason.
    Refused { reason: String },
    /// Only patterns for any registry match it, and the policy asks the
    /// host only about registries a pattern names.
    UnnamedRegistry,
}

/// What one matching entry made of an image.
enum EntryOutcome {
    /// `digest`: what its keys verified; `None` for a static pass. `bundle`:
    /// some of them on a cosign 3 bundle, on the host's word.
    Passed {
        digest: Option<String>,
        keys: Vec<usize>,
        bundle: bool,
    },
    Failed {
        reasons: Vec<String>,
        unreachable: bool,
    },
    OverLimit,
}

/// One host question about an image: a key, with the signature annotations
/// the entry requires.
type Question<'r> = (usize, Option<&'r BTreeMap<String, String>>);

/// A key's answer that counts: the digest its signature covers, and whether
/// it rests on a cosign 3 bundle the host vouched for (no `.sig` signature at
/// that digest, taken on the host's word with `acceptKeylessBundles`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Vouched {
    digest: String,
    bundle: bool,
}

impl Vouched {
    fn signed(digest: String) -> Self {
        Vouched {
            digest,
            bundle: false,
        }
    }
}

/// Per-request verifier. Outcomes are remembered by canonical reference and
/// the answers for one image by question, so every (image, key, annotations)
/// question reaches the host at most once per request, and at most `limit`
/// questions reach it in all (the checks of keyless answers included: every
/// call goes through the request's [`Session`]).
pub(crate) struct Verifier<'a, H: Host> {
    session: Session<'a, H>,
    rules: &'a Rules,
    named_registries_only: bool,
    /// `acceptKeylessBundles`: a keyless answer with no `.sig` signature at
    /// its digest counts, on the host's word.
    accept_keyless_bundles: bool,
    /// Images whose fallback tag was read ([`MAX_IMAGES_NOTED`] at most).
    noted: usize,
    outcomes: BTreeMap<String, Outcome>,
}

impl<'a, H: Host> Verifier<'a, H> {
    pub fn new(
        host: &'a H,
        rules: &'a Rules,
        limit: usize,
        named_registries_only: bool,
        accept_keyless_bundles: bool,
    ) -> Self {
        Verifier {
            session: Session::new(host, limit),
            rules,
            named_registries_only,
            accept_keyless_bundles,
            noted: 0,
            outcomes: BTreeMap::new(),
        }
    }

    /// Verifies an image against the entries whose patterns match it: one
    /// satisfied entry is enough, or every one must be, as the rules say
    /// ([`EntriesNeeded`]); an entry is satisfied when `threshold` of its keys
    /// verify the image.
    pub fn verify(&mut self, image: &ImageRef) -> Outcome {
        let canonical = image.canonical();
        if let Some(known) = self.outcomes.get(&canonical) {
            return known.clone();
        }
        let outcome = self.verify_uncached(image, &canonical);
        self.outcomes.insert(canonical, outcome.clone());
        outcome
    }

    fn verify_uncached(&mut self, image: &ImageRef, canonical: &str) -> Outcome {
        let rules = self.rules;
        let matching: Vec<&ImageRule> = rules
            .images
            .iter()
            .filter(|r| r.pattern.matches(image))
            .collect();
        if matching.is_empty() {
            return Outcome::Unmatched;
        }
        if self.named_registries_only
            && !rules
                .images
                .iter()
                .any(|r| r.pattern.names_registry(&image.registry))
        {
            return Outcome::UnnamedRegistry;
        }
        let not_verified = |reasons: Vec<String>, unreachable: bool| {
            let mut ignored_secrets: Vec<String> = Vec::new();
            for secret in matching
                .iter()
                .filter_map(|rule| rule.ignored_secret.as_ref())
            {
                if !ignored_secrets.contains(secret) {
                    ignored_secrets.push(secret.clone());
                }
            }
            Outcome::NotVerified {
                reasons,
                ignored_secrets,
                unreachable,
            }
        };
        // An entry that cannot be applied refuses before any host call.
        if let Some(reason) = matching.iter().find_map(|rule| rule.refused.clone()) {
            return Outcome::Refused { reason };
        }
        let mut answers: Vec<(Question<'a>, Result<Vouched, Cause>)> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        // The reasons of the entries in warn mode that failed.
        let mut warned: Vec<String> = Vec::new();
        // Whether every entry that failed, failed only for an outage.
        let mut unreachable = true;
        let mut passed: Option<(String, Vec<usize>)> = None;
        let mut on_bundle = false;
        let mut passed_statically = false;
        for &rule in &matching {
            match self.check_entry(rule, image, canonical, &mut answers) {
                EntryOutcome::OverLimit => {
                    return Outcome::OverLimit {
                        limit: self.session.limit(),
                    }
                }
                EntryOutcome::Passed { digest: None, .. } => passed_statically = true,
                EntryOutcome::Passed {
                    digest: Some(digest),
                    keys,
                    bundle,
                } => {
                    on_bundle |= bundle;
                    let (first_digest, all_keys) =
                        passed.get_or_insert((digest.clone(), Vec::new()));
                    if *first_digest != digest {
                        return not_verified(
                            vec![format!(
                            "the entries' keys verified different digests ({first_digest} and {digest})"
                        )],
                            false,
                        );
                    }
                    for key in keys {
                        if !all_keys.contains(&key) {
                            all_keys.push(key);
                        }
                    }
                    if rules.entries_needed == EntriesNeeded::Any {
                        break;
                    }
                }
                EntryOutcome::Failed {
                    reasons: failed, ..
                } if rule.warn => warned.extend(failed),
                EntryOutcome::Failed {
                    reasons: failed,
                    unreachable: outage,
                } => {
                    unreachable &= outage;
                    for reason in failed {
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                    if rules.entries_needed == EntriesNeeded::Every {
                        return not_verified(reasons, unreachable);
                    }
                }
            }
        }
        match passed {
            Some((digest, keys)) => Outcome::Verified {
                digest,
                keys: keys.iter().map(|&k| rules.keys[k].name.clone()).collect(),
                warned,
                bundle: on_bundle,
            },
            None if !warned.is_empty() && reasons.is_empty() => Outcome::Warned { reasons: warned },
            None if passed_statically => Outcome::StaticPass,
            None => {
                // No `.sig` signature at all: say whether a cosign 3 bundle
                // is there instead, which this host cannot read.
                let unsigned = answers
                    .iter()
                    .any(|(_, answer)| answer.as_ref().is_err_and(Cause::is_no_signatures));
                if unsigned {
                    if let Some(note) = self.bundle_note(image, canonical) {
                        reasons.push(note);
                    }
                }
                not_verified(reasons, unreachable)
            }
        }
    }

    /// One read of the image's fallback tag (and of its digest, unless the
    /// reference pins one, and of at most [`MAX_REFERRERS_READ`] referrer
    /// manifests where the index does not say which is a bundle), each
    /// counted against the request's limit: what it holds, said for a
    /// denial; `None` when it holds no bundle, cannot be read, or a limit
    /// is reached (the image is denied all the same).
    fn bundle_note(&mut self, image: &ImageRef, canonical: &str) -> Option<String> {
        if self.noted == MAX_IMAGES_NOTED {
            return None;
        }
        self.noted += 1;
        let digest = match &image.digest {
            Some(pinned) => pinned.clone(),
            None => {
                self.session.spend()?;
                self.session.read_digest(canonical).ok()?
            }
        };
        self.session.spend()?;
        let repository = format!("{}/{}", image.registry, image.repository);
        let tag = fallback_tag(&repository, &digest);
        let index = self.session.manifest(&tag)?;
        let tag_name = tag.rsplit(':').next().unwrap_or_default();
        let mut found = read_fallback_index(&index);
        if let FallbackIndex::Untyped(referrers) = found {
            found = FallbackIndex::NoBundle;
            for referrer in referrers.iter().take(MAX_REFERRERS_READ) {
                self.session.spend()?;
                let manifest = self.session.manifest(&format!("{repository}@{referrer}"));
                if manifest.is_some_and(|m| is_signature_bundle(&m)) {
                    found = FallbackIndex::Bundles(1);
                    break;
                }
            }
        }
        match found {
            FallbackIndex::Bundles(_) => Some(bundle_note(tag_name)),
            FallbackIndex::NoBundle | FallbackIndex::Untyped(_) => None,
            FallbackIndex::Unreadable(why) => Some(no_bundle_index_note(tag_name, &why)),
        }
    }

    /// Asks an entry's keys in order until `threshold` verified the image or
    /// it can no longer be reached; answers already given for this image are reused.
    fn check_entry(
        &mut self,
        rule: &'a ImageRule,
        image: &ImageRef,
        canonical: &str,
        answers: &mut Vec<(Question<'a>, Result<Vouched, Cause>)>,
    ) -> EntryOutcome {
        if rule.static_pass {
            return EntryOutcome::Passed {
                digest: None,
                keys: Vec::new(),
                bundle: false,
            };
        }
        let needed = rule.threshold;
        let keys = &self.rules.keys;
        let mut verified: Vec<usize> = Vec::new();
        // The signers of the keys that verified: a key whose signer is among
        // them cannot add to the count, so it is not asked.
        let mut signers: Vec<usize> = Vec::new();
        let mut digest: Option<String> = None;
        let mut on_bundle = false;
        let mut reasons: Vec<String> = rule
            .static_failures
            .iter()
            .map(|message| format!("disallowed by static policy: {message}"))
            .collect();
        // Whether every key that failed, failed only for an outage.
        let mut unreachable = reasons.is_empty();
        let mut not_asked = Vec::new();
        let order = self.key_order(rule, image, canonical);
        let order = order.as_deref().unwrap_or(&rule.keys);
        for (tried, &key) in order.iter().enumerate() {
            let name = &keys[key].name;
            if signers.len() == needed {
                break;
            }
            let mut reachable = signers.clone();
            for &later in &order[tried..] {
                if !reachable.contains(&keys[later].signer) {
                    reachable.push(keys[later].signer);
                }
            }
            if reachable.len() < needed || signers.contains(&keys[key].signer) {
                not_asked.push(name.as_str());
                continue;
            }
            let question = (key, rule.annotations.as_ref());
            let answer = match answers.iter().find(|(asked, _)| *asked == question) {
                Some((_, answer)) => answer.clone(),
                None => {
                    let Some(answer) = self.ask(image, canonical, key, rule.annotations.as_ref())
                    else {
                        return EntryOutcome::OverLimit;
                    };
                    answers.push((question, answer.clone()));
                    answer
                }
            };
            match (answer, &image.digest, &digest) {
                (Ok(Vouched { digest: found, .. }), Some(pinned), _) if *pinned != found => {
                    unreachable = false;
                    reasons.push(format!(
                        "key {name}: the signature covers {found}, but the image is pinned to {pinned}"
                    ))
                }
                (Ok(Vouched { digest: found, .. }), _, Some(first)) if *first != found => {
                    unreachable = false;
                    reasons.push(format!(
                        "key {name}: the signature covers {found}, but another key's covers {first}"
                    ))
                }
                (Ok(found), _, _) => {
                    on_bundle |= found.bundle;
                    digest = Some(found.digest);
                    verified.push(key);
                    signers.push(keys[key].signer);
                }
                (Err(cause), _, _) => {
                    unreachable &= cause.unreachable;
                    reasons.push(format!("key {name}: {}", cause.text))
                }
            }
        }
        match digest {
            Some(digest) if signers.len() >= needed => EntryOutcome::Passed {
                digest: Some(digest),
                keys: verified,
                bundle: on_bundle,
            },
            // An entry none of whose keys was asked did not fail for an outage.
            _ if needed == 1 => EntryOutcome::Failed {
                unreachable: unreachable && !reasons.is_empty(),
                reasons,
            },
            _ => {
                let names: Vec<&str> = verified
                    .iter()
                    .map(|&k| self.rules.keys[k].name.as_str())
                    .collect();
                let mut count = format!(
                    "{} of the {needed} keys that the entry for {:?} needs verified it",
                    verified.len(),
                    rule.pattern.source()
                );
                if !names.is_empty() {
                    count.push_str(&format!(" ({})", names.join(", ")));
                }
                if !not_asked.is_empty() {
                    count.push_str(&format!(", not asked: {}", not_asked.join(", ")));
                }
                let unreachable = unreachable && !reasons.is_empty();
                reasons.insert(0, count);
                EntryOutcome::Failed {
                    reasons,
                    unreachable,
                }
            }
        }
    }

    /// The entry's keys in the order to ask them, when the image's `.sig`
    /// manifest shows which of its public keys signed it: the Rekor entry a
    /// layer carries (cosign logs a key's signatures by default) names the
    /// key that made it. Those keys first, then the others in the entry's
    /// order. The host caches only its successes, so a key that did not sign
    /// costs a registry round trip each time it is asked; this spares it,
    /// and the host still decides (a key is only ever moved, so the answer
    /// never rests on this reading, which checks no signature). `None`, the
    /// entry's own order, for an entry of one key, one whose keys must all
    /// verify, or when no layer names one of its keys. Costs the digest
    /// (unless pinned) and the manifest, each a host call counted against
    /// the limit and read once per request; the host caches both.
    fn key_order(
        &mut self,
        rule: &ImageRule,
        image: &ImageRef,
        canonical: &str,
    ) -> Option<Vec<usize>> {
        let keys = &self.rules.keys;
        let public = |k: usize| match &keys[k].root {
            TrustRoot::PublicKey(pem) => Some(pem.as_str()),
            _ => None,
        };
        let publics = rule.keys.iter().filter(|&&k| public(k).is_some()).count();
        if publics < 2 || rule.threshold >= rule.keys.len() {
            return None;
        }
        let digest = match &image.digest {
            Some(pinned) => pinned.clone(),
            None => {
                if !self.session.knows_digest(canonical) {
                    self.session.spend()?;
                }
                self.session.read_digest(canonical).ok()?
            }
        };
        let layers = self.session.signature_layers(image, &digest)?.ok()?;
        let logged: Vec<Vec<u8>> = layers.iter().filter_map(Layer::logged_key).collect();
        let signed = |k: &usize| {
            public(*k)
                .and_then(public_key_spki)
                .is_some_and(|spki| logged.contains(&spki))
        };
        let (first, rest): (Vec<usize>, Vec<usize>) = rule.keys.iter().partition(|k| signed(k));
        (!first.is_empty()).then(|| [first, rest].concat())
    }

    /// One host question, and for a keyless root the check of its answer
    /// ([`Self::prove_keyless`]); a host error, an untrusted answer, a
    /// missing digest or a failed check all count as "this key does not
    /// verify". `None` when the request's limit is reached first.
    fn ask(
        &mut self,
        image: &ImageRef,
        canonical: &str,
        key: usize,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Option<Result<Vouched, Cause>> {
        self.session.spend()?;
        let root = &self.rules.keys[key].root;
        let Some(question) = root.question(canonical, annotations) else {
            return self.ask_matching(image, canonical, root, annotations);
        };
        let digest = self.session.trusted_digest(&question);
        match (digest, root) {
            (Ok(digest), root) if root.is_keyless() => {
                Some(self.prove_keyless(image, root, digest, annotations.is_some())?)
            }
            (Ok(digest), TrustRoot::Certificate { certificate, .. }) if annotations.is_some() => {
                let certificate = certificate.clone();
                Some(
                    self.prove_annotations_signed(image, &certificate, &digest, annotations)?
                        .map(|()| Vouched::signed(digest)),
                )
            }
            (answer, _) => Some(answer.map(Vouched::signed)),
        }
    }

    /// A keyless identity written as regular expressions: the host is asked
    /// about each identity that a certificate among the image's signatures
    /// claims and that matches, exactly, in the order the signatures list
    /// them, until one verifies; its answer is then checked as every keyless
    /// answer is ([`Self::prove_keyless`]). The call [`Self::ask`] counted
    /// pays for the digest; each further question and read counts too.
    fn ask_matching(
        &mut self,
        image: &ImageRef,
        canonical: &str,
        root: &TrustRoot,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Option<Result<Vouched, Cause>> {
        let digest = match &image.digest {
            Some(pinned) => Ok(pinned.clone()),
            None => self.session.read_digest(canonical),
        };
        let digest = match digest {
            Ok(digest) => digest,
            Err(cause) => return Some(Err(cause)),
        };
        let layers = match self.session.signature_layers(image, &digest)? {
            Ok(layers) => layers,
            Err(cause) => return Some(Err(cause)),
        };
        let mut candidates: Vec<TrustRoot> = Vec::new();
        for pem in certificates(&layers) {
            let Ok(identity) = certificate_identity(&pem) else {
                continue;
            };
            if let (true, Some(issuer), Some(subject)) = (
                root.claimed_by(&identity),
                identity.issuer,
                identity.subject,
            ) {
                let exact = TrustRoot::Keyless { issuer, subject };
                if !candidates.contains(&exact) {
                    candidates.push(exact);
                }
            }
        }
        let pinned = format!("{}/{}@{digest}", image.registry, image.repository);
        let mut last = Cause::firm(match root {
            TrustRoot::KeylessMatch { issuer, subject } => format!(
                "no certificate among its signatures claims an identity with {} and {}",
                issuer.describe("issuer"),
                subject.describe("subject")
            ),
            _ => "no certificate among its signatures claims the identity".to_string(),
        });
        for exact in candidates {
            // An exact identity always has a question of its own.
            let Some(question) = exact.question(&pinned, annotations) else {
                continue;
            };
            self.session.spend()?;
            let answer = match self.session.trusted_digest(&question) {
                Ok(found) if found == digest => {
                    self.prove_keyless(image, &exact, found, annotations.is_some())?
                }
                Ok(found) => Err(Cause::firm(format!(
                    "the signature covers {found}, but the image's digest is {digest}"
                ))),
                Err(cause) => Err(cause),
            };
            match answer {
                Ok(found) => return Some(Ok(found)),
                Err(cause) => last = cause,
            }
        }
        Some(Err(last))
    }

    /// The host trusted a keyless signature of `image` at `digest`: that
    /// counts only when the `.sig` manifest proves it ([`prove_signed`]).
    /// With no `.sig` signature at that digest, the host (Kubewarden 1.36
    /// and later) vouched for a cosign 3 bundle, which counts only with
    /// `acceptKeylessBundles` and no annotations required, on its word.
    fn prove_keyless(
        &mut self,
        image: &ImageRef,
        root: &TrustRoot,
        digest: String,
        annotations_required: bool,
    ) -> Option<Result<Vouched, Cause>> {
        let proven = prove_signed(
            &mut self.session,
            image,
            root,
            &digest,
            annotations_required,
        )?;
        Some(match proven {
            Ok(()) => Ok(Vouched::signed(digest)),
            Err(cause) if !cause.is_no_signatures() => Err(cause),
            Err(_) if self.accept_keyless_bundles && !annotations_required => Ok(Vouched {
                digest,
                bundle: true,
            }),
            Err(_) => Err(Cause::firm(format!(
                "the host vouched for it with no .sig signature at {digest} (a cosign 3 bundle, which \
                 Kubewarden 1.36 and later verify), which the policy takes on the host's word only with \
                 acceptKeylessBundles: true and no annotations required"
            ))),
        })
    }

    /// The host trusted a certificate key's signature of `image` at `digest`
    /// with the required annotations, but it checks the annotations on any
    /// layer, signed or not: they count only when a layer signed by the
    /// certificate's key carries them, which the host checks for a public
    /// key (the key and the annotations on one layer), so that is asked.
    fn prove_annotations_signed(
        &mut self,
        image: &ImageRef,
        certificate: &str,
        digest: &str,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Option<Result<(), Cause>> {
        let Some(public_key) = certificate_public_key(certificate) else {
            return Some(Err(Cause::firm(
                "cannot read the certificate's public key, so its annotations cannot be checked",
            )));
        };
        self.session.spend()?;
        let question = TrustRoot::PublicKey(public_key).question(
            &format!("{}/{}@{digest}", image.registry, image.repository),
            annotations,
        )?;
        Some(match self.session.trusted_digest(&question) {
            Ok(found) if found == digest => Ok(()),
            Err(cause) if cause.unreachable => Err(cause),
            _ => Err(Cause::firm(
                "no signature made with the certificate's key carries the required annotations \
                 (a layer that names them is not signed by it)",
            )),
        })
    }
}
