//! verify-image-signatures' settings (`signatures:`), read as that policy
//! reads them and compiled into the same [`Rules`] as SCST-Sign's: each entry
//! becomes an image rule whose keys must all verify (N of N), and every entry
//! whose pattern matches an image must pass ([`EntriesNeeded::Every`]).
//!
//! As strict as our own settings: unknown fields, an entry with no or two
//! kinds of key, empty lists and key material that does not parse are refused
//! when the policy loads.

use crate::matching::NamePattern;
use crate::settings::{
    check_annotations, compile_key, Checks, EntriesNeeded, ImageRule, NamedKey, RawGithubActions,
    RawKey, RawKeyless, Rules,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One entry of `signatures`: an image pattern and exactly one kind of key.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSignature {
    pub image: String,
    pub pub_keys: Option<Vec<String>>,
    pub keyless: Option<Vec<RawKeylessInfo>>,
    pub keyless_prefix: Option<Vec<RawKeylessPrefixInfo>>,
    pub github_actions: Option<RawGithubActions>,
    pub certificates: Option<Vec<String>>,
    pub certificate_chain: Option<Vec<String>>,
    pub require_rekor_bundle: Option<bool>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawKeylessInfo {
    pub issuer: String,
    pub subject: String,
}

/// verify-image-signatures reads this with the SDK's field names
/// (`url_prefix`); `urlPrefix`, as everywhere else, is read too.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKeylessPrefixInfo {
    pub issuer: String,
    #[serde(alias = "url_prefix")]
    pub url_prefix: String,
}

/// Compiles `signatures`. A key listed by several entries is one key, so the
/// host is asked about it once per image.
pub fn compile_signatures(signatures: Vec<RawSignature>, checks: Checks) -> Result<Rules, String> {
    if signatures.is_empty() {
        return Err("signatures: must list at least one entry".to_string());
    }
    let mut keys: Vec<NamedKey> = Vec::new();
    let mut images = Vec::with_capacity(signatures.len());
    for (i, entry) in signatures.into_iter().enumerate() {
        let path = format!("signatures[{i}]");
        if entry.image.trim().is_empty() {
            return Err(format!("{path}.image: must not be empty"));
        }
        let pattern = match checks {
            Checks::Full => {
                NamePattern::compile(&entry.image).map_err(|e| format!("{path}.image: {e}"))?
            }
            Checks::Proven => NamePattern::compile_proven(&entry.image),
        };
        if let Some(annotations) = &entry.annotations {
            check_annotations(&path, annotations)?;
        }
        let annotations = entry.annotations.clone().filter(|a| !a.is_empty());
        let mut indexes = Vec::new();
        for (name, raw) in entry_keys(&path, entry)? {
            let root = compile_key(raw, checks).map_err(|e| format!("{name}: {e}"))?;
            let index = match keys.iter().position(|key| key.root == root) {
                Some(index) => index,
                None => {
                    keys.push(NamedKey { name, root });
                    keys.len() - 1
                }
            };
            if !indexes.contains(&index) {
                indexes.push(index);
            }
        }
        images.push(ImageRule {
            pattern,
            threshold: indexes.len(),
            keys: indexes,
            annotations,
            ignored_secret: None,
        });
    }
    Ok(Rules {
        excluded_namespaces: BTreeSet::new(),
        keys,
        images,
        entries_needed: EntriesNeeded::Every,
    })
}

/// The keys of one entry, each named by its path (`signatures[0].pubKeys[1]`),
/// in our key shape so that they are checked exactly as ours are.
fn entry_keys(path: &str, entry: RawSignature) -> Result<Vec<(String, RawKey)>, String> {
    let kinds = [
        entry.pub_keys.is_some(),
        entry.keyless.is_some(),
        entry.keyless_prefix.is_some(),
        entry.github_actions.is_some(),
        entry.certificates.is_some(),
    ];
    if kinds.iter().filter(|set| **set).count() != 1 {
        return Err(format!(
            "{path}: exactly one of pubKeys, keyless, keylessPrefix, githubActions or certificates must be set"
        ));
    }
    if entry.certificates.is_none()
        && (entry.certificate_chain.is_some() || entry.require_rekor_bundle.is_some())
    {
        return Err(format!(
            "{path}: certificateChain and requireRekorBundle go with certificates"
        ));
    }
    let key = |name: String| RawKey {
        name,
        ..RawKey::default()
    };
    if let Some(github) = entry.github_actions {
        let mut raw = key(format!("{path}.githubActions"));
        raw.github_actions = Some(github);
        return Ok(vec![(raw.name.clone(), raw)]);
    }
    let mut out = Vec::new();
    if let Some(pems) = entry.pub_keys {
        for (name, pem) in listed(path, "pubKeys", pems)? {
            let mut raw = key(name.clone());
            raw.public_key = Some(pem);
            out.push((name, raw));
        }
    }
    if let Some(identities) = entry.keyless {
        for (name, identity) in listed(path, "keyless", identities)? {
            let mut raw = key(name.clone());
            raw.keyless = Some(RawKeyless {
                issuer: identity.issuer,
                subject: Some(identity.subject),
                url_prefix: None,
            });
            out.push((name, raw));
        }
    }
    if let Some(prefixes) = entry.keyless_prefix {
        for (name, prefix) in listed(path, "keylessPrefix", prefixes)? {
            let mut raw = key(name.clone());
            raw.keyless = Some(RawKeyless {
                issuer: prefix.issuer,
                subject: None,
                url_prefix: Some(prefix.url_prefix),
            });
            out.push((name, raw));
        }
    }
    if let Some(certificates) = entry.certificates {
        for (name, certificate) in listed(path, "certificates", certificates)? {
            let mut raw = key(name.clone());
            raw.certificate = Some(certificate);
            raw.certificate_chain = entry.certificate_chain.clone();
            raw.require_rekor_bundle = entry.require_rekor_bundle;
            out.push((name, raw));
        }
    }
    Ok(out)
}

/// A list of keys with the path of each; an empty list is refused (an entry
/// that names no key could never be satisfied, or would be read as "none needed").
fn listed<T>(path: &str, field: &str, items: Vec<T>) -> Result<Vec<(String, T)>, String> {
    if items.is_empty() {
        return Err(format!("{path}.{field}: must list at least one"));
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (format!("{path}.{field}[{i}]"), item))
        .collect())
}
