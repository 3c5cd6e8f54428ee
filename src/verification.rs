//! Verification: asks the host whether an image is signed by enough keys of
//! the entries whose patterns match it (N of M per entry; one entry or every
//! entry, as the rules say), each distinct question at most once per request.

use crate::host::Host;
use crate::reference::{is_valid_digest, ImageRef};
use crate::settings::{EntriesNeeded, ImageRule, Rules};
use std::collections::BTreeMap;

/// What became of one distinct image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Enough keys verified it; `digest` is what their signatures cover.
    Verified { digest: String, keys: Vec<String> },
    /// Patterns matched but not enough keys verified it; the reasons say
    /// which key failed and why. `ignored_secrets`: the `secretRef`s of the
    /// matching entries, which the policy does not use (named in a warning).
    NotVerified {
        reasons: Vec<String>,
        ignored_secrets: Vec<String>,
    },
    /// No pattern matches the image.
    Unmatched,
    /// Verifying it would take the request past its verification limit.
    OverLimit { limit: usize },
}

/// What one matching entry made of an image.
enum EntryOutcome {
    Passed { digest: String, keys: Vec<usize> },
    Failed { reasons: Vec<String> },
    OverLimit,
}

/// One host question about an image: a key, with the signature annotations
/// the entry requires.
type Question<'r> = (usize, Option<&'r BTreeMap<String, String>>);

/// Per-request verifier. Outcomes are remembered by canonical reference and
/// the answers for one image by question, so every (image, key, annotations)
/// question reaches the host at most once per request, and at most `limit`
/// questions reach it in all.
pub struct Verifier<'a, H: Host> {
    host: &'a H,
    rules: &'a Rules,
    limit: usize,
    asked: usize,
    outcomes: BTreeMap<String, Outcome>,
}

impl<'a, H: Host> Verifier<'a, H> {
    pub fn new(host: &'a H, rules: &'a Rules, limit: usize) -> Self {
        Verifier {
            host,
            rules,
            limit,
            asked: 0,
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
        let not_verified = |reasons: Vec<String>| {
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
            }
        };
        let mut answers: Vec<(Question<'a>, Result<String, String>)> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut passed: Option<(String, Vec<usize>)> = None;
        for &rule in &matching {
            match self.check_entry(rule, image, canonical, &mut answers) {
                EntryOutcome::OverLimit => return Outcome::OverLimit { limit: self.limit },
                EntryOutcome::Passed { digest, keys } => {
                    let (first_digest, all_keys) =
                        passed.get_or_insert((digest.clone(), Vec::new()));
                    if *first_digest != digest {
                        return not_verified(vec![format!(
                            "the entries' keys verified different digests ({first_digest} and {digest})"
                        )]);
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
                EntryOutcome::Failed { reasons: failed } => {
                    for reason in failed {
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                    if rules.entries_needed == EntriesNeeded::Every {
                        return not_verified(reasons);
                    }
                }
            }
        }
        match passed {
            Some((digest, keys)) => Outcome::Verified {
                digest,
                keys: keys.iter().map(|&k| rules.keys[k].name.clone()).collect(),
            },
            None => not_verified(reasons),
        }
    }

    /// Asks an entry's keys in order until `threshold` verified the image or
    /// it can no longer be reached; answers already given for this image are reused.
    fn check_entry(
        &mut self,
        rule: &'a ImageRule,
        image: &ImageRef,
        canonical: &str,
        answers: &mut Vec<(Question<'a>, Result<String, String>)>,
    ) -> EntryOutcome {
        let needed = rule.threshold;
        let mut verified: Vec<usize> = Vec::new();
        let mut digest: Option<String> = None;
        let mut reasons = Vec::new();
        let mut not_asked = Vec::new();
        for (tried, &key) in rule.keys.iter().enumerate() {
            let name = &self.rules.keys[key].name;
            if verified.len() == needed {
                break;
            }
            if verified.len() + (rule.keys.len() - tried) < needed {
                not_asked.push(name.as_str());
                continue;
            }
            let question = (key, rule.annotations.as_ref());
            let answer = match answers.iter().find(|(asked, _)| *asked == question) {
                Some((_, answer)) => answer.clone(),
                None => {
                    if self.asked == self.limit {
                        return EntryOutcome::OverLimit;
                    }
                    self.asked += 1;
                    let answer = self.ask(canonical, key, rule.annotations.as_ref());
                    answers.push((question, answer.clone()));
                    answer
                }
            };
            match (answer, &image.digest, &digest) {
                (Ok(found), Some(pinned), _) if *pinned != found => reasons.push(format!(
                    "key {name}: the signature covers {found}, but the image is pinned to {pinned}"
                )),
                (Ok(found), _, Some(first)) if *first != found => reasons.push(format!(
                    "key {name}: the signature covers {found}, but another key's covers {first}"
                )),
                (Ok(found), _, _) => {
                    digest = Some(found);
                    verified.push(key);
                }
                (Err(reason), _, _) => reasons.push(format!("key {name}: {reason}")),
            }
        }
        match digest {
            Some(digest) if verified.len() >= needed => EntryOutcome::Passed {
                digest,
                keys: verified,
            },
            _ if needed == 1 => EntryOutcome::Failed { reasons },
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
                reasons.insert(0, count);
                EntryOutcome::Failed { reasons }
            }
        }
    }

    /// One host question; a host error, an untrusted answer or a missing
    /// digest all count as "this key does not verify".
    fn ask(
        &self,
        canonical: &str,
        key: usize,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Result<String, String> {
        let question = self.rules.keys[key].root.question(canonical, annotations);
        match self.host.verify(&question) {
            Ok(response) if !response.is_trusted => {
                Err("the host reported the signature as not trusted".to_string())
            }
            Ok(response) if !is_valid_digest(&response.digest) => Err(format!(
                "the host returned no valid digest for the verified image ({:?})",
                response.digest
            )),
            Ok(response) => Ok(response.digest),
            Err(error) => Err(error),
        }
    }
}
