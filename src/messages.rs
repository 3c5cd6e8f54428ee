//! Every sentence an operator reads from the policy: SCST-Sign's exact
//! sentences, and the policy's own for denials, warnings and audit notes.
//! The README's table of messages is checked against them (the tests below).
//! The causes inside a denial (a host's error condensed, a key's failure)
//! are written where they are found; the settings' mistakes are in
//! `settings::errors`.

use crate::record::Status;
use std::fmt::Display;

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

pub(crate) fn over_limit_message(image: &str, limit: impl Display) -> String {
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

pub(crate) fn unreadable_image_message(image: &str, reason: &str) -> String {
    format!("The image: {image} cannot be verified: {reason}.")
}

/// A write through a `status` subresource that changes the policy's own
/// annotations (`changed`: their names).
pub(crate) fn status_write_message(prefix: &str, kind: &str, changed: &[&str]) -> String {
    format!(
        "The annotations under {prefix} record this policy's verification and cannot be \
         changed through the {kind} status subresource (changed: {}).",
        changed.join(", ")
    )
}

/// An AdmissionRequest the policy cannot read (answered with code 400).
pub(crate) fn unreadable_request_message(detail: &str) -> String {
    format!("cannot read the admission request: {detail}")
}

/// A controller's child admitted on its owner's record during an outage.
pub(crate) fn owner_vouched_warning(image: &str, cause: &str, owner: &str, digest: &str) -> String {
    format!(
        "{image}: its registry could not be reached ({cause}); admitted on the record of its \
         owner {owner}, which verified it at {digest} under the same rules."
    )
}

/// Why an owner's record cannot stand in (the end of
/// [`owner_record_unused_warning`]).
pub(crate) enum OwnerRecordUnused<'a> {
    Unreadable { owner: &'a str, reason: &'a str },
    AnotherObject { owner: &'a str, uid: &'a str },
    NoRecord { owner: &'a str },
    DoesNotCount { owner: &'a str, why: &'a str },
    DoesNotList { owner: &'a str, image: &'a str },
}

impl std::fmt::Display for OwnerRecordUnused<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable { owner, reason } => {
                write!(f, "cannot read its owner {owner}: {reason}")
            }
            Self::AnotherObject { owner, uid } => write!(
                f,
                "its owner {owner} is another object than the one it names (uid {uid})"
            ),
            Self::NoRecord { owner } => {
                write!(f, "its owner {owner} carries no record of this policy")
            }
            Self::DoesNotCount { owner, why } => {
                write!(f, "the record of its owner {owner} does not count: {why}")
            }
            Self::DoesNotList { owner, image } => {
                write!(f, "the record of its owner {owner} does not list {image}")
            }
        }
    }
}

/// The note added to a denial for lack of a `.sig` signature when the
/// image's fallback tag `tag` holds a cosign 3 bundle.
pub(crate) fn bundle_note(tag: &str) -> String {
    format!(
        "it carries a cosign 3 signature bundle (tag {tag}), which this host cannot verify: \
         Kubewarden 1.36 and later verify keyless bundles (with acceptKeylessBundles), no host \
         verifies key-signed ones; sign with cosign's --new-bundle-format=false as well"
    )
}

/// The note when the fallback tag holds something that is no bundle index.
pub(crate) fn no_bundle_index_note(tag: &str, why: &str) -> String {
    format!("its tag {tag} is no cosign 3 bundle index ({why})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = include_str!("../README.md");

    /// The README's table of messages: each `code span` of its rows.
    fn documented() -> Vec<&'static str> {
        let table = README
            .split("## Messages")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has a Messages section");
        table
            .lines()
            .filter(|line| line.starts_with('|'))
            .flat_map(|line| line.split('`').skip(1).step_by(2))
            .collect()
    }

    /// Whether the README shows `sentence` (written with the README's
    /// placeholders): whole, or a span ending in `...` that it begins with,
    /// or a span that begins with it (a sentence the README continues).
    fn shown(sentence: &str) -> bool {
        documented().iter().any(|span| {
            let shortened = span
                .trim_end_matches("...")
                .trim_end_matches([',', ' ', ';']);
            *span == sentence
                || (span.ends_with("...")
                    && shortened.len() >= 20
                    && sentence.starts_with(shortened))
                || span.starts_with(sentence)
        })
    }

    #[test]
    fn every_sentence_is_in_the_readme_s_table_of_messages() {
        let sentences = [
            no_policy_warning("signing.apps.tanzu.vmware.com/v1beta1"),
            excluded_message("<namespace>"),
            unmatched_denied_message("<image>"),
            unmatched_allowed_warning("<image>"),
            no_match_warning("<image>"),
            not_signed_message("<image>"),
            format!("; {}", bundle_note("sha256-<hex>")),
            bundle_warning("<image>"),
            ignored_secret_warning("<image>", "<namespace>/<name>"),
            admitted_on_warning("<the denial's line>"),
            refused_message("<image>", "ClusterImagePolicy \"<name>\" asks for"),
            unreadable_image_message("<image>", "invalid image reference"),
            over_limit_message("<image>", "<N>"),
            unnamed_registry_message("<image>", "<registry>"),
            status_write_message("<prefix>/", "<Kind>", &["<names>"]),
            unverified_ephemeral_message("<image>", "matches no image policy", "<status>"),
            unreadable_request_message("<field>"),
            owner_vouched_warning("<image>", "<cause>", "<Kind>/<name>", "<digest>"),
            owner_record_unused_warning("<why>"),
        ];
        for sentence in &sentences {
            assert!(
                shown(sentence),
                "not in the README's Messages table: {sentence:?}"
            );
        }
    }

    #[test]
    fn the_check_finds_a_sentence_the_readme_does_not_show() {
        assert!(!shown("The image: <image> is signed."));
        assert!(!shown(&excluded_message("<other>")));
    }
}
