//! verify-image-signatures' settings (`signatures:`), read as that policy
//! reads them and compiled into the same [`Rules`] as SCST-Sign's: each entry
//! becomes an image rule whose keys must all verify (N of N), and every entry
//! whose pattern matches an image must pass ([`EntriesNeeded::Every`]).
//!
//! As strict as our own settings: unknown fields, an entry with no or two
//! kinds of key, empty lists and key material that does not parse are refused
//! when the policy loads.

use crate::image::pattern::NamePattern;
use crate::rules::{EntriesNeeded, ImagePattern, ImageRule, NamedKey, PinDigests, Rules};
use crate::settings::checks::Checks;
use crate::settings::errors::{Problem, SettingsError, SettingsErrors};
use crate::settings::keys::{check_annotations, compile_key, RawGithubActions, RawKey, RawKeyless};
use crate::settings::strict_json::not_null;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One entry of `signatures`: an image pattern and exactly one kind of key.
/// `keyless` entries are `{issuer, subject}`, `keylessPrefix` entries
/// `{issuer, urlPrefix}` (verify-image-signatures spells it `url_prefix`;
/// both are read).
/// verify-image-signatures' top-level keys, as written.
#[derive(Debug, Default)]
pub struct SignaturesKeys {
    /// The rules, instead of `verification`.
    pub(crate) signatures: Option<Vec<RawSignature>>,
    /// The pinning switch (default true: every kind).
    pub(crate) modify_images_with_digest: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSignature {
    pub image: String,
    pub pub_keys: Option<Vec<String>>,
    pub keyless: Option<Vec<RawKeyless>>,
    pub keyless_prefix: Option<Vec<RawKeyless>>,
    pub github_actions: Option<RawGithubActions>,
    pub certificates: Option<Vec<String>>,
    pub certificate_chain: Option<Vec<String>>,
    pub require_rekor_bundle: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Compiles `signatures`, naming every mistake found. A key listed by
/// several entries is one key, so the host is asked about it once per image.
pub(crate) fn compile_signatures(
    signatures: Vec<RawSignature>,
    checks: Checks,
) -> Result<Rules, SettingsErrors> {
    if signatures.is_empty() {
        return Err(SettingsError::at("signatures", Problem::NoEntries).into());
    }
    let mut mistakes = SettingsErrors::default();
    let mut keys: Vec<NamedKey> = Vec::new();
    let mut images = Vec::with_capacity(signatures.len());
    for (i, entry) in signatures.into_iter().enumerate() {
        let path = format!("signatures[{i}]");
        let pattern = if entry.image.trim().is_empty() {
            mistakes.push(SettingsError::at(format!("{path}.image"), Problem::Empty));
            None
        } else {
            match checks {
                Checks::Full => mistakes.take(
                    NamePattern::compile(&entry.image)
                        .map_err(|e| SettingsError::at(format!("{path}.image"), e.into())),
                ),
                Checks::Proven => Some(NamePattern::compile_proven(&entry.image)),
            }
        };
        if let Some(annotations) = &entry.annotations {
            mistakes.take(check_annotations(&path, annotations));
        }
        let annotations = entry.annotations.clone().filter(|a| !a.is_empty());
        let mut indexes = Vec::new();
        let entry_keys = entry_keys(&path, entry, &mut mistakes);
        for (name, raw) in entry_keys {
            let root = match compile_key(raw, checks) {
                Ok(root) => root,
                Err(problems) => {
                    for problem in problems {
                        mistakes.push(SettingsError::at(name.clone(), problem.into()));
                    }
                    continue;
                }
            };
            let index = match keys.iter().position(|key| key.root == root) {
                Some(index) => index,
                None => {
                    // All of an entry's keys must verify: each counts for itself.
                    keys.push(NamedKey {
                        name,
                        root,
                        signer: keys.len(),
                    });
                    keys.len() - 1
                }
            };
            if !indexes.contains(&index) {
                indexes.push(index);
            }
        }
        if let Some(pattern) = pattern {
            let threshold = indexes.len();
            images.push(ImageRule {
                annotations,
                ..ImageRule::signed_by(ImagePattern::Name(pattern), indexes, threshold)
            });
        }
    }
    mistakes.or_ok(|| Rules::new(BTreeSet::new(), keys, images, EntriesNeeded::Every))
}

/// The keys of one entry, each named by its path (`signatures[0].pubKeys[1]`),
/// in our key shape so that they are checked exactly as ours are; the
/// entry's own mistakes are noted in `mistakes`.
fn entry_keys(
    path: &str,
    entry: RawSignature,
    mistakes: &mut SettingsErrors,
) -> Vec<(String, RawKey)> {
    let kinds = [
        ("pubKeys", entry.pub_keys.is_some()),
        ("keyless", entry.keyless.is_some()),
        ("keylessPrefix", entry.keyless_prefix.is_some()),
        ("githubActions", entry.github_actions.is_some()),
        ("certificates", entry.certificates.is_some()),
    ];
    let kind = match kinds.iter().filter(|(_, set)| *set).collect::<Vec<_>>()[..] {
        [(kind, _)] => Some(*kind),
        _ => None,
    };
    if kind.is_none() {
        mistakes.push(SettingsError::at(path, Problem::NotOneKindOfKey));
    }
    if kind != Some("certificates")
        && (entry.certificate_chain.is_some() || entry.require_rekor_bundle.is_some())
    {
        mistakes.push(SettingsError::at(path, Problem::ChainWithoutCertificates));
    }
    let Some(kind) = kind else {
        return Vec::new();
    };
    // Each key named by its place in the entry's list (of the one kind set).
    let single = kind == "githubActions";
    let mut keys: Vec<(String, RawKey)> = Vec::new();
    let mut add = |i: usize, key: RawKey| {
        let name = match single {
            true => format!("{path}.{kind}"),
            false => format!("{path}.{kind}[{i}]"),
        };
        keys.push((name.clone(), RawKey { name, ..key }));
    };
    if let Some(github) = entry.github_actions {
        let key = RawKey {
            github_actions: Some(github),
            ..RawKey::default()
        };
        add(0, key);
    }
    for (i, public_key) in entry.pub_keys.into_iter().flatten().enumerate() {
        let key = RawKey {
            public_key: Some(public_key),
            ..RawKey::default()
        };
        add(i, key);
    }
    let mut fields_told = false;
    for (i, (identity, wanted)) in entry
        .keyless
        .into_iter()
        .flatten()
        .map(|k| (k, "subject"))
        .chain(
            entry
                .keyless_prefix
                .into_iter()
                .flatten()
                .map(|k| (k, "urlPrefix")),
        )
        .enumerate()
    {
        // Each list has its own field: a keyless entry with a urlPrefix
        // would otherwise be read as a prefix match.
        let has = if wanted == "subject" {
            &identity.subject
        } else {
            &identity.url_prefix
        };
        if has.is_none() || identity.subject.is_some() == identity.url_prefix.is_some() {
            // One message for the list, however many of its entries are wrong.
            if !fields_told {
                mistakes.push(SettingsError::at(
                    format!("{path}.{kind}"),
                    Problem::KeylessFields(wanted),
                ));
            }
            fields_told = true;
            continue;
        }
        let key = RawKey {
            keyless: Some(identity),
            ..RawKey::default()
        };
        add(i, key);
    }
    for (i, certificate) in entry.certificates.into_iter().flatten().enumerate() {
        let key = RawKey {
            certificate: Some(certificate),
            certificate_chain: entry.certificate_chain.clone(),
            require_rekor_bundle: entry.require_rekor_bundle,
            ..RawKey::default()
        };
        add(i, key);
    }
    if keys.is_empty() && !fields_told {
        mistakes.push(SettingsError::at(
            format!("{path}.{kind}"),
            Problem::EmptyList,
        ));
    }
    keys
}

/// verify-image-signatures' `modifyImagesWithDigest` (default true): every
/// kind pinned, or none.
pub(super) fn pin_digests(modify_images_with_digest: Option<bool>) -> PinDigests {
    match modify_images_with_digest {
        Some(false) => PinDigests::Never,
        _ => PinDigests::All,
    }
}
