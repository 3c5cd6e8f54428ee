//! Verification: asks the host whether an image is signed by one of the keys
//! of its matching entries, each distinct question at most once per request.

use crate::reference::{is_valid_digest, ImageRef};
use crate::settings::Rules;
use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use serde_json::Value;
use std::collections::BTreeMap;

/// The Kubewarden host capabilities the policy uses. The wasm build answers
/// them over waPC; tests answer them with a fake.
pub trait Host {
    /// `kubewarden/oci/v2/verify`.
    fn verify(
        &self,
        question: &SigstoreVerificationInputV2,
    ) -> Result<VerificationResponse, String>;
    /// `kubewarden/kubernetes/list_resources_all`, returning the List object.
    fn list_all_resources(
        &self,
        api_version: &str,
        kind: &str,
        field_selector: &str,
    ) -> Result<Value, String>;
}

/// What became of one distinct image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A key verified it; `digest` is what the signature covers.
    Verified { digest: String, key: String },
    /// Patterns matched but no key verified it; one reason per key tried.
    NotVerified { reasons: Vec<String> },
    /// No `namePattern` matches the image.
    Unmatched,
    /// Verifying it would take the request past its verification limit.
    OverLimit { limit: usize },
}

/// Per-request verifier. Outcomes are remembered by canonical reference, and
/// the keys of one image are deduplicated, so every (image, key, annotations)
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

    /// Verifies an image, trying the keys of every matching entry in order
    /// and stopping at the first that verifies it (any-of).
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
        let mut candidates: Vec<(usize, Option<&BTreeMap<String, String>>)> = Vec::new();
        for rule in self
            .rules
            .images
            .iter()
            .filter(|r| r.pattern.matches(image))
        {
            for &key in &rule.keys {
                let candidate = (key, rule.annotations.as_ref());
                if !candidates.contains(&candidate) {
                    candidates.push(candidate);
                }
            }
        }
        if candidates.is_empty() {
            return Outcome::Unmatched;
        }

        let mut reasons = Vec::with_capacity(candidates.len());
        for (key, annotations) in candidates {
            if self.asked == self.limit {
                return Outcome::OverLimit { limit: self.limit };
            }
            self.asked += 1;
            let key_name = &self.rules.keys[key].name;
            match self.ask(canonical, key, annotations) {
                Ok(digest) => match &image.digest {
                    Some(pinned) if *pinned != digest => reasons.push(format!(
                        "key {key_name}: the signature covers {digest}, but the image is pinned to {pinned}"
                    )),
                    _ => return Outcome::Verified { digest, key: key_name.clone() },
                },
                Err(reason) => reasons.push(format!("key {key_name}: {reason}")),
            }
        }
        Outcome::NotVerified { reasons }
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
