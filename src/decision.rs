//! Decision: turns the outcome of every image into admit or deny, in the
//! sentences of [`crate::messages`], and the status recorded on the
//! resource; the bounds of a response.

use crate::host::Host;
use crate::image::reference::ImageRef;
use crate::messages::{
    admitted_on_warning, bundle_warning, ignored_secret_warning, no_match_warning,
    not_signed_message, over_limit_message, refused_message, unmatched_allowed_warning,
    unmatched_denied_message, unnamed_registry_message, unreadable_image_message,
};
use crate::record::Entry;
use crate::rules::{Policy, Rules, UnmatchedImages};
use crate::text::cut;
use crate::verification::{Outcome, Verifier};
use crate::workload::ImageSite;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

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

/// What became of one image site.
#[derive(Debug, Clone)]
pub(crate) enum SiteOutcome {
    /// A key verified its image (or its owner's record vouched for it);
    /// `warned`: an entry in warn mode failed it all the same.
    Verified {
        verified: Rc<Verified>,
        warned: bool,
    },
    /// Admitted only because unmatched images are allowed.
    Unmatched,
    /// Admitted by a `static: {action: pass}` authority alone.
    StaticAllowed,
    /// Admitted although it failed, in warn mode.
    Warned,
    /// Failed only because its registry could not be reached (or answered
    /// a server error): the image as read, and the cause.
    Unreachable(ImageRef, String),
    /// Failed for any other reason, or not judged (past the limit).
    Failed,
}

/// What became of every image site of a request, in order, and what the
/// response says of them.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub sites: Vec<(ImageSite, SiteOutcome)>,
    /// One sentence per failed image, in the order the images appear.
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    /// Whether some image is covered by an entry that cannot be applied
    /// (a configuration error: answered with code 500).
    pub refused: bool,
}

impl Verdict {
    fn add(&mut self, site: &ImageSite, outcome: SiteOutcome) {
        self.sites.push((site.clone(), outcome));
    }

    /// A failed site; its sentence is said for the image's first site only.
    fn fail(
        &mut self,
        site: &ImageSite,
        outcome: SiteOutcome,
        first: bool,
        sentence: impl FnOnce() -> String,
    ) {
        self.add(site, outcome);
        if first {
            self.failures.push(sentence());
        }
    }

    fn any(&self, found: impl Fn(&SiteOutcome) -> bool) -> bool {
        self.sites.iter().any(|(_, outcome)| found(outcome))
    }

    /// Whether the request failed, and only for registry outages.
    pub fn failed_only_for_outages(&self) -> bool {
        !self.failures.is_empty() && !self.any(|o| matches!(o, SiteOutcome::Failed))
    }

    /// The sites that failed only for an outage: each with its image and cause.
    pub fn unreachable(&self) -> Vec<(ImageSite, ImageRef, String)> {
        self.sites
            .iter()
            .filter_map(|(site, outcome)| match outcome {
                SiteOutcome::Unreachable(image, cause) => {
                    Some((site.clone(), image.clone(), cause.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The sites whose image was verified (or vouched for).
    pub fn verified(&self) -> Vec<VerifiedSite> {
        self.sites
            .iter()
            .filter_map(|(site, outcome)| match outcome {
                SiteOutcome::Verified { verified, .. } => Some(VerifiedSite {
                    site: site.clone(),
                    verified: Rc::clone(verified),
                }),
                _ => None,
            })
            .collect()
    }

    /// Whether some site was admitted although an entry failed it (warn mode).
    pub fn warned(&self) -> bool {
        self.any(|o| {
            matches!(
                o,
                SiteOutcome::Warned | SiteOutcome::Verified { warned: true, .. }
            )
        })
    }

    pub fn unmatched(&self) -> bool {
        self.any(|o| matches!(o, SiteOutcome::Unmatched))
    }

    pub fn static_allowed(&self) -> bool {
        self.any(|o| matches!(o, SiteOutcome::StaticAllowed))
    }

    /// Its owner's record vouched for the sites that failed only for an
    /// outage: they count as verified, the failures are gone.
    pub fn vouched(&mut self, vouched: Vec<VerifiedSite>, warnings: Vec<String>) {
        self.failures.clear();
        for found in vouched {
            if let Some((_, outcome)) = self.sites.iter_mut().find(|(site, outcome)| {
                *site == found.site && matches!(outcome, SiteOutcome::Unreachable(..))
            }) {
                *outcome = SiteOutcome::Verified {
                    verified: found.verified,
                    warned: false,
                };
            }
        }
        self.warnings.extend(warnings);
    }

    /// The sites admitted without a signature verified in this request,
    /// each with why, as a message says it.
    pub fn unverified(&self) -> Vec<(ImageSite, &'static str)> {
        let why = |wanted: fn(&SiteOutcome) -> bool, why: &'static str| {
            self.sites
                .iter()
                .filter(move |(_, outcome)| wanted(outcome))
                .map(move |(site, _)| (site.clone(), why))
        };
        why(
            |o| matches!(o, SiteOutcome::Unmatched),
            "matches no image policy",
        )
        .chain(why(
            |o| matches!(o, SiteOutcome::StaticAllowed),
            "passed only a static policy",
        ))
        .chain(why(
            |o| {
                matches!(
                    o,
                    SiteOutcome::Warned | SiteOutcome::Verified { warned: true, .. }
                )
            },
            "failed verification and was admitted on a warning",
        ))
        .collect()
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
        for (_, outcome) in &mut self.sites {
            if matches!(outcome, SiteOutcome::Failed | SiteOutcome::Unreachable(..)) {
                *outcome = SiteOutcome::Warned;
            }
        }
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
        let image_name = site.image.as_str();
        let (image, outcome) = match judgement {
            Judged::Read(image, outcome) => (image, outcome),
            Judged::Unreadable(reason) => {
                verdict.fail(site, SiteOutcome::Failed, first, || {
                    unreadable_image_message(image_name, reason)
                });
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
                let verified = verified_images.entry(image_name).or_insert_with(|| {
                    Rc::new(Verified {
                        image: image.clone(),
                        digest: digest.clone(),
                        keys: keys.join(", "),
                        owner: None,
                        bundle: *bundle,
                    })
                });
                let verified = Rc::clone(verified);
                verdict.add(
                    site,
                    SiteOutcome::Verified {
                        verified,
                        warned: !warned.is_empty(),
                    },
                );
                if *bundle && first {
                    verdict.warnings.push(bundle_warning(image_name));
                }
                // Pinned and recorded for the entries it passed, and
                // admitted on a warning for those in warn mode it failed.
                if !warned.is_empty() && first {
                    let failure =
                        format!("{} {}", not_signed_message(image_name), warned.join("; "));
                    verdict.warnings.push(admitted_on_warning(&failure));
                }
            }
            Outcome::NotVerified {
                reasons,
                ignored_secrets,
                unreachable,
            } => {
                let reasons = reasons.join("; ");
                let outcome = match unreachable {
                    true => SiteOutcome::Unreachable(image.clone(), reasons.clone()),
                    false => SiteOutcome::Failed,
                };
                verdict.fail(site, outcome, first, || {
                    format!("{} {reasons}", not_signed_message(image_name))
                });
                if first {
                    for secret in ignored_secrets {
                        let warning = ignored_secret_warning(image_name, secret);
                        verdict.warnings.push(warning);
                    }
                }
            }
            Outcome::Unmatched if unmatched == UnmatchedImages::Deny => {
                verdict.fail(site, SiteOutcome::Failed, first, || {
                    unmatched_denied_message(image_name)
                });
            }
            Outcome::Unmatched => {
                verdict.add(site, SiteOutcome::Unmatched);
                let warning = match unmatched {
                    UnmatchedImages::AdmitWithWarning => {
                        Some(unmatched_allowed_warning(image_name))
                    }
                    UnmatchedImages::Warn => Some(no_match_warning(image_name)),
                    UnmatchedImages::Admit | UnmatchedImages::Deny => None,
                };
                if let (Some(warning), true) = (warning, first) {
                    verdict.warnings.push(warning);
                }
            }
            Outcome::UnnamedRegistry => {
                verdict.fail(site, SiteOutcome::Failed, first, || {
                    unnamed_registry_message(image_name, &image.registry)
                });
            }
            Outcome::StaticPass => verdict.add(site, SiteOutcome::StaticAllowed),
            Outcome::Warned { reasons } => {
                verdict.add(site, SiteOutcome::Warned);
                if first {
                    let failure =
                        format!("{} {}", not_signed_message(image_name), reasons.join("; "));
                    verdict.warnings.push(admitted_on_warning(&failure));
                }
            }
            Outcome::Refused { reason } => {
                verdict.refused = true;
                verdict.fail(site, SiteOutcome::Failed, first, || {
                    refused_message(image_name, reason)
                });
            }
            Outcome::OverLimit { limit } => {
                // First: it says why the request was not checked to the end,
                // and a long denial is cut after its first lines.
                for rest in &sites[i..] {
                    verdict.add(rest, SiteOutcome::Failed);
                }
                verdict
                    .failures
                    .insert(0, over_limit_message(image_name, *limit));
                break;
            }
        }
    }
    verdict
}
