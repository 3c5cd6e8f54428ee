//! Verification: asks the host whether an image is signed by enough keys of
//! the entries whose patterns match it (N of M per entry; one entry or every
//! entry, as the rules say), each distinct question at most once per request.

pub mod keyless_proof;

use crate::host::reasons::Cause;
use crate::host::Host;
use crate::image::reference::{is_valid_digest, ImageRef};
use crate::rules::{EntriesNeeded, ImageRule, Rules};
use crate::trust::keys::{certificate_identity, certificate_public_key};
use crate::trust::roots::TrustRoot;
use crate::verification::keyless_proof::{certificates, layers, signature_tag, Layer};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use std::collections::BTreeMap;

/// What became of one distinct image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Enough keys verified it; `digest` is what their signatures cover.
    Verified { digest: String, keys: Vec<String> },
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
    /// Only patterns for any registry match it, and the policy asks the
    /// host only about registries a pattern names.
    UnnamedRegistry,
}

/// What one matching entry made of an image.
enum EntryOutcome {
    Passed {
        digest: String,
        keys: Vec<usize>,
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

/// Per-request verifier. Outcomes are remembered by canonical reference and
/// the answers for one image by question, so every (image, key, annotations)
/// question reaches the host at most once per request, and at most `limit`
/// questions reach it in all (the checks of keyless answers included).
pub(crate) struct Verifier<'a, H: Host> {
    host: &'a H,
    rules: &'a Rules,
    limit: usize,
    named_registries_only: bool,
    asked: usize,
    outcomes: BTreeMap<String, Outcome>,
    /// The layers of each `.sig` manifest read, by its reference.
    signatures: BTreeMap<String, Result<Vec<Layer>, Cause>>,
    /// Whether a certificate signs the image at a digest: (`repo@digest`, PEM).
    certificate_checks: BTreeMap<(String, String), Result<(), Cause>>,
}

impl<'a, H: Host> Verifier<'a, H> {
    pub fn new(host: &'a H, rules: &'a Rules, limit: usize, named_registries_only: bool) -> Self {
        Verifier {
            host,
            rules,
            limit,
            named_registries_only,
            asked: 0,
            outcomes: BTreeMap::new(),
            signatures: BTreeMap::new(),
            certificate_checks: BTreeMap::new(),
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
        let mut answers: Vec<(Question<'a>, Result<String, Cause>)> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        // Whether every entry that failed, failed only for an outage.
        let mut unreachable = true;
        let mut passed: Option<(String, Vec<usize>)> = None;
        for &rule in &matching {
            match self.check_entry(rule, image, canonical, &mut answers) {
                EntryOutcome::OverLimit => return Outcome::OverLimit { limit: self.limit },
                EntryOutcome::Passed { digest, keys } => {
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
            },
            None => not_verified(reasons, unreachable),
        }
    }

    /// Asks an entry's keys in order until `threshold` verified the image or
    /// it can no longer be reached; answers already given for this image are reused.
    fn check_entry(
        &mut self,
        rule: &'a ImageRule,
        image: &ImageRef,
        canonical: &str,
        answers: &mut Vec<(Question<'a>, Result<String, Cause>)>,
    ) -> EntryOutcome {
        let needed = rule.threshold;
        let keys = &self.rules.keys;
        let mut verified: Vec<usize> = Vec::new();
        // The signers of the keys that verified: a key whose signer is among
        // them cannot add to the count, so it is not asked.
        let mut signers: Vec<usize> = Vec::new();
        let mut digest: Option<String> = None;
        let mut reasons = Vec::new();
        // Whether every key that failed, failed only for an outage.
        let mut unreachable = true;
        let mut not_asked = Vec::new();
        for (tried, &key) in rule.keys.iter().enumerate() {
            let name = &keys[key].name;
            if signers.len() == needed {
                break;
            }
            let mut reachable = signers.clone();
            for &later in &rule.keys[tried..] {
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
                (Ok(found), Some(pinned), _) if *pinned != found => {
                    unreachable = false;
                    reasons.push(format!(
                        "key {name}: the signature covers {found}, but the image is pinned to {pinned}"
                    ))
                }
                (Ok(found), _, Some(first)) if *first != found => {
                    unreachable = false;
                    reasons.push(format!(
                        "key {name}: the signature covers {found}, but another key's covers {first}"
                    ))
                }
                (Ok(found), _, _) => {
                    digest = Some(found);
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
                digest,
                keys: verified,
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
                    rule.pattern.source
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

    /// Counts one host call against the limit; `None` when none is left.
    fn spend(&mut self) -> Option<()> {
        if self.asked == self.limit {
            return None;
        }
        self.asked += 1;
        Some(())
    }

    /// One host question, and for a keyless root the check of its answer
    /// ([`keyless_proof`]); a host error, an untrusted answer, a
    /// missing digest or a failed check all count as "this key does not
    /// verify". `None` when the request's limit is reached first.
    fn ask(
        &mut self,
        image: &ImageRef,
        canonical: &str,
        key: usize,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Option<Result<String, Cause>> {
        self.spend()?;
        let root = &self.rules.keys[key].root;
        let digest = trusted_digest(self.host, &root.question(canonical, annotations));
        match (digest, root) {
            (Ok(digest), root) if root.is_keyless() => Some(
                self.prove_keyless(image, key, &digest, annotations.is_some())?
                    .map(|()| digest),
            ),
            (Ok(digest), TrustRoot::Certificate { certificate, .. }) if annotations.is_some() => {
                let certificate = certificate.clone();
                Some(
                    self.prove_annotations_signed(image, &certificate, &digest, annotations)?
                        .map(|()| digest),
                )
            }
            (answer, _) => Some(answer),
        }
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
        self.spend()?;
        let question = TrustRoot::PublicKey(public_key).question(
            &format!("{}/{}@{digest}", image.registry, image.repository),
            annotations,
        );
        Some(match trusted_digest(self.host, &question) {
            Ok(found) if found == digest => Ok(()),
            Err(cause) if cause.unreachable => Err(cause),
            _ => Err(Cause::firm(
                "no signature made with the certificate's key carries the required annotations \
                 (a layer that names them is not signed by it)",
            )),
        })
    }

    /// The host trusted a keyless signature of `image` at `digest`: that
    /// counts only when the `.sig` manifest holds a certificate claiming the
    /// identity and every certificate in it signed the digest.
    fn prove_keyless(
        &mut self,
        image: &ImageRef,
        key: usize,
        digest: &str,
        annotations_required: bool,
    ) -> Option<Result<(), Cause>> {
        let repository = format!("{}/{}", image.registry, image.repository);
        let tag = signature_tag(&repository, digest);
        let read = match self.signatures.get(&tag) {
            Some(known) => known.clone(),
            None => {
                self.spend()?;
                let read = self
                    .host
                    .oci_manifest(&tag)
                    .map_err(|e| Cause::of_host_error(&e).within("cannot read its signatures: "))
                    .and_then(|manifest| layers(&manifest).map_err(Cause::firm));
                self.signatures.insert(tag, read.clone());
                read
            }
        };
        let layers = match read {
            Ok(layers) => layers,
            Err(reason) => return Some(Err(reason)),
        };
        let pems = certificates(&layers);
        let mut subjects = Vec::with_capacity(pems.len());
        let mut claiming: Vec<&str> = Vec::new();
        for pem in &pems {
            match certificate_identity(pem) {
                Ok(identity) => {
                    if self.rules.keys[key].root.claimed_by(&identity) {
                        claiming.push(pem);
                    }
                    subjects.push(identity.subject.unwrap_or_default());
                }
                Err(e) => {
                    return Some(Err(Cause::firm(format!(
                        "cannot read the certificate of one of its signatures ({e}), so the host's answer cannot be checked"
                    ))))
                }
            }
        }
        if claiming.is_empty() {
            return Some(Err(Cause::firm(
                "no certificate among its signatures claims this identity, so the host's answer is not backed by one",
            )));
        }
        // The host read the required annotations from a layer claiming the
        // identity, whose signature it did not check (3 in keyless_proof).
        let unlogged = |layer: &Layer| {
            let claims = layer.certificate.as_deref();
            claims.is_some_and(|pem| claiming.contains(&pem)) && !layer.logged()
        };
        if annotations_required && layers.iter().any(unlogged) {
            return Some(Err(Cause::firm(
                "a signature claiming this identity is not the one its Rekor entry logged (its payload or signature was replaced), so the required annotations cannot be trusted",
            )));
        }
        let pems = pems.clone();
        let pinned = format!("{repository}@{digest}");
        for (pem, subject) in pems.into_iter().zip(subjects) {
            let check = (pinned.clone(), pem);
            let signs = match self.certificate_checks.get(&check) {
                Some(known) => known.clone(),
                None => {
                    self.spend()?;
                    let question = SigstoreVerificationInputV2::SigstoreCertificateVerify {
                        image: pinned.clone(),
                        certificate: check.1.clone().into_bytes(),
                        certificate_chain: None,
                        require_rekor_bundle: false,
                        annotations: None,
                    };
                    let signs = match trusted_digest(self.host, &question) {
                        Ok(found) if found == digest => Ok(()),
                        Ok(found) => Err(Cause::firm(format!("it covers {found}"))),
                        Err(cause) => Err(cause),
                    };
                    self.certificate_checks.insert(check, signs.clone());
                    signs
                }
            };
            match signs {
                // The check could not be made: an outage, not a forgery.
                Err(cause) if cause.unreachable => return Some(Err(cause)),
                Err(_) => {
                    return Some(Err(Cause::firm(format!(
                        "its signatures carry a certificate for {subject:?} that signs none of them (copied from another signature?)"
                    ))))
                }
                Ok(()) => {}
            }
        }
        Some(Ok(()))
    }
}

/// The digest the host trusted for a question; a host error, an untrusted
/// answer or a malformed digest is the cause it does not count.
fn trusted_digest<H: Host>(
    host: &H,
    question: &SigstoreVerificationInputV2,
) -> Result<String, Cause> {
    match host.verify(question) {
        Ok(response) if !response.is_trusted => Err(Cause::firm(
            "the host reported the signature as not trusted",
        )),
        Ok(response) if !is_valid_digest(&response.digest) => Err(Cause::firm(format!(
            "the host returned no valid digest for the verified image ({:?})",
            response.digest
        ))),
        Ok(response) => Ok(response.digest),
        // Condensed at once: the rest of a host error is not kept.
        Err(error) => Err(Cause::of_host_error(&error)),
    }
}
