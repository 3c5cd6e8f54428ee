//! SCST-Sign's shape: the `spec.verification` of a ClusterImagePolicy (in
//! the settings, or read from the cluster), compiled into [`Rules`]: named
//! keys, and image entries any of (or `threshold` of) whose keys may verify
//! the images their pattern matches.

use crate::image::pattern::NamePattern;
use crate::rules::{
    EntriesNeeded, ImagePattern, ImageRule, NamedKey, PinDigests, Rules, UnmatchedImages,
};
use crate::settings::checks::Checks;
use crate::settings::errors::{Problem, SettingsError, SettingsErrors};
use crate::settings::keys::{check_annotations, compile_key, RawKey};
use crate::settings::shared::namespace_set;
use crate::settings::strict_json::not_null;
use serde::Deserialize;
use std::collections::BTreeMap;

/// SCST-Sign's top-level keys in the settings (and `pinDigests`, ours,
/// which every shape but verify-image-signatures' reads), as written.
#[derive(Debug, Default)]
pub struct ScstKeys {
    pub(crate) verification: Option<RawVerification>,
    /// SCST-Sign's install value, under its current and former names.
    pub(crate) allow_unmatched_images: Option<bool>,
    pub(crate) pin_digests: Option<PinDigests>,
}

/// `spec.verification` of a ClusterImagePolicy.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawVerification {
    pub exclude: Option<RawExclude>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub images: Vec<RawImage>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExclude {
    pub resources: Option<RawExcludeResources>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExcludeResources {
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawImage {
    pub name_pattern: String,
    #[serde(default)]
    pub keys: Vec<RawKeyRef>,
    #[serde(default, deserialize_with = "not_null")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Accepted so SCST-Sign policies load; the policy-server's own
    /// credentials are used to read registries.
    pub secret_ref: Option<RawSecretRef>,
    /// How many distinct keys of the entry must verify an image (default 1).
    #[serde(default, deserialize_with = "not_null")]
    pub threshold: Option<usize>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeyRef {
    pub name: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecretRef {
    pub name: String,
    pub namespace: Option<String>,
}

/// Validates and compiles a `verification` block; the errors name every
/// mistake found, each at its path within the block (the caller adds where
/// the block is).
pub(crate) fn compile_verification(
    raw: RawVerification,
    checks: Checks,
) -> Result<Rules, SettingsErrors> {
    let mut mistakes = SettingsErrors::default();
    let excluded = raw.exclude.and_then(|e| e.resources).map(|r| r.namespaces);
    let excluded_namespaces = namespace_set(
        excluded.unwrap_or_default(),
        "exclude.resources.namespaces",
        &mut mistakes,
    );

    // Each name's index in `keys`; `None` for a key with mistakes, so that
    // the entries naming it are not also told it is undefined.
    let mut by_name: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut keys: Vec<NamedKey> = Vec::with_capacity(raw.keys.len());
    for (i, key) in raw.keys.into_iter().enumerate() {
        let path = format!("keys[{i}]");
        let name = key.name.clone();
        let named = !name.trim().is_empty();
        if !named {
            mistakes.push(SettingsError::at(
                format!("{path}.name"),
                Problem::EmptyKeyName,
            ));
        }
        let first = !by_name.contains_key(&name);
        if named && !first {
            mistakes.push(SettingsError::at(
                format!("{path}.name"),
                Problem::DuplicateKeyName(name.clone()),
            ));
        }
        let index = match compile_key(key, checks) {
            Ok(root) => {
                keys.push(NamedKey {
                    name: name.clone(),
                    root,
                    signer: keys.len(),
                });
                Some(keys.len() - 1)
            }
            Err(problems) => {
                for problem in problems {
                    mistakes.push(SettingsError::at(
                        format!("{path} ({name})"),
                        problem.into(),
                    ));
                }
                None
            }
        };
        if first {
            by_name.insert(name, index);
        }
    }
    // Only a threshold above one counts signers; the comparison decodes key
    // material, so it is not done for policies that never need it.
    if raw
        .images
        .iter()
        .any(|image| image.threshold.unwrap_or(1) > 1)
    {
        group_signers(&mut keys);
    }

    let mut images = Vec::with_capacity(raw.images.len());
    for (i, image) in raw.images.into_iter().enumerate() {
        let path = format!("images[{i}]");
        let pattern = match checks {
            Checks::Full => mistakes.take(
                NamePattern::compile(&image.name_pattern)
                    .map_err(|e| SettingsError::at(format!("{path}.namePattern"), e.into())),
            ),
            Checks::Proven => Some(NamePattern::compile_proven(&image.name_pattern)),
        };
        if image.keys.is_empty() {
            mistakes.push(SettingsError::at(
                format!("{path}.keys"),
                Problem::NoKeys(image.name_pattern.clone()),
            ));
        }
        // Whether every key the entry names compiled: only then can its
        // signers be counted against the threshold.
        let mut all_keys = !image.keys.is_empty();
        let mut key_indexes = Vec::with_capacity(image.keys.len());
        for (j, key_ref) in image.keys.iter().enumerate() {
            match by_name.get(&key_ref.name) {
                Some(Some(index)) if !key_indexes.contains(index) => key_indexes.push(*index),
                Some(Some(_)) => {}
                Some(None) => all_keys = false,
                None => {
                    all_keys = false;
                    mistakes.push(SettingsError::at(
                        format!("{path}.keys[{j}].name"),
                        Problem::UnknownKey {
                            name: key_ref.name.clone(),
                            keys_at: "keys".to_string(),
                        },
                    ));
                }
            }
        }
        if let Some(annotations) = &image.annotations {
            mistakes.take(check_annotations(&path, annotations));
        }
        if let Some(secret) = &image.secret_ref {
            if secret.name.is_empty() {
                mistakes.push(SettingsError::at(
                    format!("{path}.secretRef.name"),
                    Problem::Empty,
                ));
            }
        }
        let threshold = image.threshold.unwrap_or(1);
        let checked = match all_keys {
            true => check_threshold(threshold, &key_indexes, &keys),
            false if threshold == 0 => Err(Problem::Zero),
            false => Ok(threshold),
        };
        let threshold = mistakes.take(
            checked.map_err(|problem| SettingsError::at(format!("{path}.threshold"), problem)),
        );
        if let (Some(pattern), Some(threshold)) = (pattern, threshold) {
            images.push(ImageRule {
                annotations: image.annotations.filter(|a| !a.is_empty()),
                ignored_secret: image.secret_ref.map(|secret| match secret.namespace {
                    Some(namespace) => format!("{namespace}/{}", secret.name),
                    None => secret.name,
                }),
                ..ImageRule::signed_by(ImagePattern::Name(pattern), key_indexes, threshold)
            });
        }
    }
    mistakes.or_ok(|| Rules::new(excluded_namespaces, keys, images, EntriesNeeded::Any))
}

/// Sets each key's [`NamedKey::signer`] to the first key that may share its
/// signer, directly or through others.
fn group_signers(keys: &mut [NamedKey]) {
    for i in 0..keys.len() {
        for j in 0..i {
            if keys[i].root.may_share_signer(&keys[j].root) {
                let (from, to) = (
                    keys[i].signer.max(keys[j].signer),
                    keys[i].signer.min(keys[j].signer),
                );
                for key in keys.iter_mut() {
                    if key.signer == from {
                        key.signer = to;
                    }
                }
            }
        }
    }
}

/// N of M: at least one key, and no more than the distinct signers among the
/// entry's keys (two names for one key count once).
fn check_threshold(
    threshold: usize,
    entry_keys: &[usize],
    keys: &[NamedKey],
) -> Result<usize, Problem> {
    if threshold == 0 {
        return Err(Problem::Zero);
    }
    let signers: std::collections::BTreeSet<usize> =
        entry_keys.iter().map(|&k| keys[k].signer).collect();
    if threshold > signers.len() {
        return Err(Problem::ThresholdAboveKeys {
            threshold,
            keys: signers.len(),
        });
    }
    Ok(threshold)
}

/// SCST-Sign's `allowUnmatchedImages`: an image no pattern matches is
/// admitted with SCST-Sign's warning, or (the default) denied.
pub(super) fn unmatched_images(allow: Option<bool>) -> UnmatchedImages {
    match allow {
        Some(true) => UnmatchedImages::AdmitWithWarning,
        _ => UnmatchedImages::Deny,
    }
}
