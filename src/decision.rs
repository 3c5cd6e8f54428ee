//! Decision: turns the outcome of every image into admit or deny, with
//! SCST-Sign's exact sentences, and the status recorded on the resource.

use crate::host::Host;
use crate::reference::ImageRef;
use crate::settings::{Rules, UnmatchedImages};
use crate::verification::{Outcome, Verifier};
use crate::workload::ImageSite;
use std::collections::BTreeSet;

pub const NO_POLICY_WARNING: &str = "clusterimagepolicies.signing.apps.tanzu.vmware.com \"image-policy\" not found. Image policy enforcement was not applied.";

pub fn excluded_message(namespace: &str) -> String {
    format!("{namespace} is excluded. The ImagePolicy will not be applied.")
}

pub fn unmatched_denied_message(image: &str) -> String {
    format!("Could not verify against any image policies for container image: {image}.")
}

pub fn unmatched_allowed_warning(image: &str) -> String {
    format!("{image} did not match any image policies. Container will be created as AllowUnmatchedImages flag is true.")
}

pub fn over_limit_message(image: &str, limit: usize) -> String {
    format!(
        "The image: {image} was not verified: the request needs more than {limit} signature \
         verifications, the most the policy makes for one request (maxVerificationsPerRequest)."
    )
}

/// Given only when an image fails, so that an operator who relied on the
/// entry's `secretRef` for a private registry learns why.
pub fn ignored_secret_warning(image: &str, secret: &str) -> String {
    format!(
        "{image}: the secretRef {secret} of its image policy is not used; the policy-server reads \
         registries with its own credentials (the PolicyServer's imagePullSecret)."
    )
}

pub fn not_signed_message(image: &str) -> String {
    format!("The image: {image} is not signed.")
}

/// The verification status written to `<prefix>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Verified,
    Excluded,
    UnmatchedAllowed,
    NoPolicy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Excluded => "excluded",
            Status::UnmatchedAllowed => "unmatched-allowed",
            Status::NoPolicy => "no-policy",
        }
    }
}

/// An image site whose image a key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSite {
    pub site: ImageSite,
    pub image: ImageRef,
    pub digest: String,
    /// The names of the keys that verified it, comma-separated.
    pub keys: String,
}

#[derive(Debug, Default)]
pub struct Verdict {
    /// One sentence per failed image, in the order the images appear.
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    pub verified: Vec<VerifiedSite>,
    pub unmatched_allowed: bool,
}

impl Verdict {
    pub fn status(&self) -> Status {
        if self.unmatched_allowed {
            Status::UnmatchedAllowed
        } else {
            Status::Verified
        }
    }
}

/// Verifies every image site against the rules. Each distinct image is
/// reported once however many containers run it.
/// Past the verification limit nothing more is asked and the request is
/// denied: a truncated check must never pass for a complete one.
pub fn judge<H: Host>(
    sites: &[ImageSite],
    rules: &Rules,
    unmatched: UnmatchedImages,
    max_verifications: usize,
    host: &H,
) -> Verdict {
    let mut verifier = Verifier::new(host, rules, max_verifications);
    let mut verdict = Verdict::default();
    let mut reported = BTreeSet::new();
    for site in sites {
        let image = match ImageRef::parse(&site.image) {
            Ok(image) => image,
            Err(reason) => {
                if reported.insert(site.image.clone()) {
                    verdict.failures.push(format!(
                        "The image: {} cannot be verified: {reason}.",
                        site.image
                    ));
                }
                continue;
            }
        };
        match verifier.verify(&image) {
            Outcome::Verified { digest, keys } => verdict.verified.push(VerifiedSite {
                site: site.clone(),
                image,
                digest,
                keys: keys.join(", "),
            }),
            Outcome::NotVerified {
                reasons,
                ignored_secrets,
            } => {
                if reported.insert(site.image.clone()) {
                    verdict.failures.push(format!(
                        "{} {}",
                        not_signed_message(&site.image),
                        reasons.join("; ")
                    ));
                    for secret in &ignored_secrets {
                        let warning = ignored_secret_warning(&site.image, secret);
                        verdict.warnings.push(warning);
                    }
                }
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::Admit => {
                verdict.unmatched_allowed = true;
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::AdmitWithWarning => {
                verdict.unmatched_allowed = true;
                if reported.insert(site.image.clone()) {
                    verdict
                        .warnings
                        .push(unmatched_allowed_warning(&site.image));
                }
            }
            Outcome::Unmatched => {
                if reported.insert(site.image.clone()) {
                    verdict.failures.push(unmatched_denied_message(&site.image));
                }
            }
            Outcome::OverLimit { limit } => {
                verdict
                    .failures
                    .push(over_limit_message(&site.image, limit));
                break;
            }
        }
    }
    verdict
}
