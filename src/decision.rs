//! Decision: turns the outcome of every image into admit or deny, with
//! SCST-Sign's exact sentences, and the status recorded on the resource.

use crate::host::Host;
use crate::image::reference::ImageRef;
use crate::record::{Entry, Status};
use crate::rules::{Policy, Rules, UnmatchedImages};
use crate::text::cut;
use crate::verification::{Outcome, Verifier};
use crate::workload::ImageSite;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// SCST-Sign's warning when there is no `image-policy`, naming the group
/// of the apiVersion it was looked for in.
pub(crate) fn no_policy_warning(api_version: &str) -> String {
    let group = api_version.split('/').next().unwrap_or_default();
    format!("clusterimagepolicies.{group} \"image-policy\" not found. Image policy enforcement was not applied.")
}

pub(crate) fn excluded_message(namespace: &str) -> String {
    format!("{namespace} is excluded. The ImagePolicy will not be applied.")
}

pub(crate) fn unmatched_denied_message(image: &str) -> String {
    format!("Could not verify against any image policies for container image: {image}.")
}

pub(crate) fn unmatched_allowed_warning(image: &str) -> String {
    format!("{image} did not match any image policies. Container will be created as AllowUnmatchedImages flag is true.")
}

pub(crate) fn no_match_warning(image: &str) -> String {
    format!("{image} matches no ClusterImagePolicy; admitted (noMatchPolicy: warn).")
}

pub(crate) fn over_limit_message(image: &str, limit: usize) -> String {
    format!(
        "The image: {image} was not verified: the request needs more than {limit} signature \
         verifications, the most the policy makes for one request (maxVerificationsPerRequest)."
    )
}

/// Given only when an image fails, so that an operator who relied on the
/// entry's `secretRef` for a private registry learns why.
pub(crate) fn ignored_secret_warning(image: &str, secret: &str) -> String {
    format!(
        "{image}: the secretRef {secret} of its image policy is not used; the policy-server reads \
         registries with its own credentials (the PolicyServer's imagePullSecret)."
    )
}

/// Through `pods/ephemeralcontainers` the API server keeps no metadata
/// change, so a Pod recorded as verified would keep saying so;
/// `status_annotation` is the record's name.
pub(crate) fn unverified_ephemeral_message(
    image: &str,
    why: &str,
    status_annotation: &str,
) -> String {
    format!(
        "The image: {image} {why}, and the Pod is recorded as {}: an \
         ephemeral container cannot change that record ({status_annotation}), so only verified images can be added to it.",
        Status::Verified.as_str(),
    )
}

/// Why a child created during a registry outage could not ride it out on
/// its owner's record (its denial follows as if there were none).
pub(crate) fn owner_record_unused_warning(why: &str) -> String {
    let why = why.trim_end_matches('.');
    format!(
        "The registry could not be reached, and the owner's record cannot stand in for it: {why}."
    )
}

pub(crate) fn unnamed_registry_message(image: &str, registry: &str) -> String {
    format!(
        "The image: {image} was not verified: no image policy names its registry {registry}, and the \
         policy asks only about registries a pattern names (namedRegistriesOnly)."
    )
}

/// An image admitted on a cosign 3 bundle the host vouched for.
pub(crate) fn bundle_warning(image: &str) -> String {
    format!(
        "{image}: verified through a cosign 3 signature bundle that the host vouched for and the \
         policy cannot check itself (acceptKeylessBundles: true); pinned to the digest the host verified."
    )
}

/// A failure that warn mode turned into a warning.
pub(crate) fn admitted_on_warning(failure: &str) -> String {
    format!("Admitted on a warning (mode: warn): {failure}")
}

pub(crate) fn refused_message(image: &str, reason: &str) -> String {
    format!("The image: {image} cannot be checked: {reason}")
}

pub(crate) fn not_signed_message(image: &str) -> String {
    format!("The image: {image} is not signed.")
}

/// The most one image's line of a denial, or one warning, holds (an image
/// reference may be long, an entry may list many keys).
pub const MAX_LINE_BYTES: usize = 1024;
/// The most a whole denial message holds; the images past it are counted.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// The most warnings a response carries; the rest are counted.
pub const MAX_WARNINGS: usize = 10;

/// A line cut to [`MAX_LINE_BYTES`], marked when it was cut.
fn bounded_line(line: &str) -> String {
    match cut(line, MAX_LINE_BYTES) {
        kept if kept.len() == line.len() => line.to_string(),
        kept => format!("{kept}…"),
    }
}

/// The denial message: one line per failed image, in order, at most
/// [`MAX_MESSAGE_BYTES`] in all, then `... and N more images`.
pub(crate) fn denial_message(failures: &[String]) -> String {
    // Room for the closing count, whatever N.
    const TAIL: usize = 40;
    let mut message = String::new();
    for (i, failure) in failures.iter().enumerate() {
        let line = bounded_line(failure);
        if message.len() + line.len() + 1 > MAX_MESSAGE_BYTES - TAIL {
            message.push_str(&format!("\n... and {} more images", failures.len() - i));
            break;
        }
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&line);
    }
    message
}

/// At most [`MAX_WARNINGS`] warnings of at most [`MAX_LINE_BYTES`] each, the
/// last one counting those left out.
pub(crate) fn bounded_warnings(warnings: Vec<String>) -> Vec<String> {
    let count = warnings.len();
    let mut kept: Vec<String> = warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(|w| bounded_line(w))
        .collect();
    if count > MAX_WARNINGS {
        kept.push(format!("... and {} more warnings", count - MAX_WARNINGS));
    }
    kept
}

/// An image site whose image a key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedSite {
    pub site: ImageSite,
    /// What was verified, shared by every site that runs the image.
    pub verified: Rc<Verified>,
}

/// An image a key verified (or its owner's record vouched for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub image: ImageRef,
    pub digest: String,
    /// The names of the keys that verified it, comma-separated.
    pub keys: String,
    /// `Kind/name` of the owner whose record vouched for it during a
    /// registry outage; `None` when the host verified it in this request.
    pub owner: Option<String>,
    /// Verified through a cosign 3 bundle, on the host's word.
    pub bundle: bool,
}

impl VerifiedSite {
    /// Its entry in the record.
    pub fn entry(&self) -> Entry {
        let verified = &*self.verified;
        Entry {
            image: self.site.image.clone(),
            digest: verified.digest.clone(),
            keys: verified.keys.clone(),
            owner: verified.owner.clone(),
            bundle: verified.bundle,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// One sentence per failed image, in the order the images appear.
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    pub verified: Vec<VerifiedSite>,
    /// The sites admitted only because unmatched images are allowed.
    pub unmatched: Vec<ImageSite>,
    /// The sites admitted by a `static: {action: pass}` authority alone.
    pub static_allowed: Vec<ImageSite>,
    /// The sites admitted although an entry in warn mode failed them.
    pub warned: Vec<ImageSite>,
    /// Whether some image is covered by an entry that cannot be applied
    /// (a configuration error: answered with code 500).
    pub refused: bool,
    /// The sites whose image failed only because its registry could not be
    /// reached (or answered a server error), each with the cause.
    pub unreachable: Vec<(ImageSite, ImageRef, String)>,
    /// Whether some image failed for any other reason.
    pub firm_failure: bool,
    /// The sites whose image failed (or was not judged, past the limit).
    pub failed: Vec<ImageSite>,
}

impl Verdict {
    /// Whether the request failed, and only for registry outages.
    pub fn failed_only_for_outages(&self) -> bool {
        !self.failures.is_empty() && !self.firm_failure
    }

    /// The sites admitted without a signature verified in this request,
    /// each with why, as a message says it.
    pub fn unverified(&self) -> Vec<(ImageSite, &'static str)> {
        let why = |sites: &[ImageSite], why: &'static str| {
            sites
                .iter()
                .map(move |site| (site.clone(), why))
                .collect::<Vec<_>>()
        };
        let mut unverified = why(&self.unmatched, "matches no image policy");
        unverified.extend(why(&self.static_allowed, "passed only a static policy"));
        unverified.extend(why(
            &self.warned,
            "failed verification and was admitted on a warning",
        ));
        unverified
    }

    /// Warn mode for the whole request: every failure becomes a warning.
    /// A refusal stays (the policy itself cannot be applied).
    pub fn warn_only(&mut self) {
        if self.refused {
            return;
        }
        for failure in self.failures.drain(..) {
            self.warnings.push(admitted_on_warning(&failure));
        }
        self.warned.append(&mut self.failed);
        self.unreachable.clear();
        self.firm_failure = false;
    }
}

/// What one written image came to: the reference it reads as, and its
/// outcome, or why it does not read.
enum Judged {
    Read(ImageRef, Outcome),
    Unreadable(String),
}

/// Verifies every image site against the rules. Each written image is read
/// and judged once, and reported once, however many containers run it.
/// Past the verification limit nothing more is asked and the request is
/// denied: a truncated check must never pass for a complete one.
#[inline(never)] // a phase of scripts/profile.sh
pub(crate) fn judge<H: Host>(
    sites: &[ImageSite],
    rules: &Rules,
    policy: &Policy,
    host: &H,
) -> Verdict {
    let unmatched = policy.unmatched_images;
    let mut verifier = Verifier::new(
        host,
        rules,
        policy.max_verifications,
        policy.named_registries_only,
        policy.accept_keyless_bundles,
    );
    // In the order the images first appear; none past the one over the limit.
    let mut judged: BTreeMap<&str, Judged> = BTreeMap::new();
    for site in sites {
        if judged.contains_key(site.image.as_str()) {
            continue;
        }
        let judgement = match ImageRef::parse(&site.image) {
            Ok(image) => {
                let outcome = verifier.verify(&image);
                Judged::Read(image, outcome)
            }
            Err(reason) => Judged::Unreadable(reason.to_string()),
        };
        let over = matches!(judgement, Judged::Read(_, Outcome::OverLimit { .. }));
        judged.insert(&site.image, judgement);
        if over {
            break;
        }
    }
    let mut verdict = Verdict::default();
    // The sites of a verified image share what was verified.
    let mut verified_images: BTreeMap<&str, Rc<Verified>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (i, site) in sites.iter().enumerate() {
        let Some(judgement) = judged.get(site.image.as_str()) else {
            break;
        };
        // Whether this is the image's first site: messages name it once.
        let first = seen.insert(site.image.as_str());
        let (image, outcome) = match judgement {
            Judged::Read(image, outcome) => (image, outcome),
            Judged::Unreadable(reason) => {
                verdict.firm_failure = true;
                verdict.failed.push(site.clone());
                if first {
                    verdict.failures.push(format!(
                        "The image: {} cannot be verified: {reason}.",
                        site.image
                    ));
                }
                continue;
            }
        };
        match outcome {
            Outcome::Verified {
                digest,
                keys,
                warned,
                bundle,
            } => {
                let verified = verified_images.entry(&site.image).or_insert_with(|| {
                    Rc::new(Verified {
                        image: image.clone(),
                        digest: digest.clone(),
                        keys: keys.join(", "),
                        owner: None,
                        bundle: *bundle,
                    })
                });
                verdict.verified.push(VerifiedSite {
                    site: site.clone(),
                    verified: Rc::clone(verified),
                });
                if *bundle && first {
                    verdict.warnings.push(bundle_warning(&site.image));
                }
                // Pinned and recorded for the entries it passed, and
                // admitted on a warning for those in warn mode it failed.
                if !warned.is_empty() {
                    verdict.warned.push(site.clone());
                    if first {
                        let failure =
                            format!("{} {}", not_signed_message(&site.image), warned.join("; "));
                        verdict.warnings.push(admitted_on_warning(&failure));
                    }
                }
            }
            Outcome::NotVerified {
                reasons,
                ignored_secrets,
                unreachable,
            } => {
                verdict.failed.push(site.clone());
                let reasons = reasons.join("; ");
                if *unreachable {
                    verdict
                        .unreachable
                        .push((site.clone(), image.clone(), reasons.clone()));
                } else {
                    verdict.firm_failure = true;
                }
                if first {
                    verdict
                        .failures
                        .push(format!("{} {reasons}", not_signed_message(&site.image),));
                    for secret in ignored_secrets {
                        let warning = ignored_secret_warning(&site.image, secret);
                        verdict.warnings.push(warning);
                    }
                }
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::Admit => {
                verdict.unmatched.push(site.clone());
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::AdmitWithWarning => {
                verdict.unmatched.push(site.clone());
                if first {
                    verdict
                        .warnings
                        .push(unmatched_allowed_warning(&site.image));
                }
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::Warn => {
                verdict.unmatched.push(site.clone());
                if first {
                    verdict.warnings.push(no_match_warning(&site.image));
                }
            }
            Outcome::Unmatched => {
                verdict.firm_failure = true;
                verdict.failed.push(site.clone());
                if first {
                    verdict.failures.push(unmatched_denied_message(&site.image));
                }
            }
            Outcome::UnnamedRegistry => {
                verdict.firm_failure = true;
                verdict.failed.push(site.clone());
                if first {
                    verdict
                        .failures
                        .push(unnamed_registry_message(&site.image, &image.registry));
                }
            }
            Outcome::StaticPass => verdict.static_allowed.push(site.clone()),
            Outcome::Warned { reasons } => {
                verdict.warned.push(site.clone());
                if first {
                    let failure =
                        format!("{} {}", not_signed_message(&site.image), reasons.join("; "));
                    verdict.warnings.push(admitted_on_warning(&failure));
                }
            }
            Outcome::Refused { reason } => {
                verdict.firm_failure = true;
                verdict.failed.push(site.clone());
                verdict.refused = true;
                if first {
                    verdict.failures.push(refused_message(&site.image, reason));
                }
            }
            Outcome::OverLimit { limit } => {
                // First: it says why the request was not checked to the end,
                // and a long denial is cut after its first lines.
                verdict.firm_failure = true;
                verdict.failed.extend(sites[i..].iter().cloned());
                verdict
                    .failures
                    .insert(0, over_limit_message(&site.image, *limit));
                break;
            }
        }
    }
    verdict
}
