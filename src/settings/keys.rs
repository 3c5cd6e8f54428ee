//! Keys as the settings write them (both shapes): exactly one source each
//! (a public key, a keyless or GitHub Actions identity, a certificate),
//! checked and compiled into a [`TrustRoot`]; and the signature annotations
//! an entry of either shape requires.

use crate::settings::checks::Checks;
use crate::settings::errors::{KeyProblem, Problem, SettingsError};
use crate::trust::keys::{check_certificate, check_public_key};
use crate::trust::roots::TrustRoot;
use crate::trust::url_prefix;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawKey {
    pub name: String,
    pub public_key: Option<String>,
    pub keyless: Option<RawKeyless>,
    pub github_actions: Option<RawGithubActions>,
    pub certificate: Option<String>,
    pub certificate_chain: Option<Vec<String>>,
    pub require_rekor_bundle: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawKeyless {
    pub issuer: String,
    pub subject: Option<String>,
    /// verify-image-signatures' settings spell it `url_prefix`.
    #[serde(alias = "url_prefix")]
    pub url_prefix: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGithubActions {
    pub owner: String,
    pub repo: Option<String>,
}

/// The key as a [`TrustRoot`], or every problem found in it (one when it
/// does not have exactly one source: nothing else can then be told).
pub(crate) fn compile_key(key: RawKey, checks: Checks) -> Result<TrustRoot, Vec<KeyProblem>> {
    let full = checks == Checks::Full;
    let mut problems = Vec::new();
    let sources = [
        key.public_key.is_some(),
        key.keyless.is_some(),
        key.github_actions.is_some(),
        key.certificate.is_some(),
    ];
    let one_source = sources.iter().filter(|set| **set).count() == 1;
    if !one_source {
        problems.push(KeyProblem::NotOneSource);
    }
    if key.certificate.is_none()
        && (key.certificate_chain.is_some() || key.require_rekor_bundle.is_some())
    {
        problems.push(KeyProblem::ChainWithoutCertificate);
    }
    if !one_source {
        return Err(problems);
    }
    let root = if let Some(pem) = key.public_key {
        if full {
            if let Err(e) = check_public_key(&pem) {
                problems.push(KeyProblem::PublicKey(e));
            }
        }
        TrustRoot::PublicKey(pem)
    } else if let Some(keyless) = key.keyless {
        if !keyless.issuer.starts_with("https://") && !keyless.issuer.starts_with("http://") {
            problems.push(KeyProblem::IssuerNotAUrl(keyless.issuer.clone()));
        }
        match (keyless.subject, keyless.url_prefix) {
            (Some(subject), None) => {
                non_empty("keyless.subject", &subject, &mut problems);
                TrustRoot::Keyless {
                    issuer: keyless.issuer,
                    subject,
                }
            }
            (None, Some(url_prefix)) => {
                if non_empty("keyless.urlPrefix", &url_prefix, &mut problems)
                    && !url_prefix::host_can_read(&url_prefix)
                {
                    problems.push(KeyProblem::UrlPrefixNotAUrl(url_prefix.clone()));
                }
                TrustRoot::KeylessPrefix {
                    issuer: keyless.issuer,
                    url_prefix,
                }
            }
            _ => {
                problems.push(KeyProblem::NotSubjectOrPrefix);
                return Err(problems);
            }
        }
    } else if let Some(github) = key.github_actions {
        non_empty("githubActions.owner", &github.owner, &mut problems);
        if let Some(repo) = &github.repo {
            non_empty("githubActions.repo", repo, &mut problems);
        }
        TrustRoot::GithubActions {
            owner: github.owner,
            repo: github.repo,
        }
    } else {
        let certificate = key.certificate.unwrap_or_default();
        if key.certificate_chain.as_ref().is_some_and(Vec::is_empty) {
            problems.push(KeyProblem::EmptyChain);
        }
        if full {
            if let Err(e) = check_certificate(&certificate) {
                problems.push(KeyProblem::Certificate(e));
            }
            for (index, pem) in key.certificate_chain.iter().flatten().enumerate() {
                if let Err(reason) = check_certificate(pem) {
                    problems.push(KeyProblem::ChainCertificate { index, reason });
                }
            }
        }
        TrustRoot::Certificate {
            certificate,
            chain: key.certificate_chain,
            require_rekor_bundle: key.require_rekor_bundle.unwrap_or(true),
        }
    };
    match problems.is_empty() {
        true => Ok(root),
        false => Err(problems),
    }
}

/// An identity field that is present must say something: an empty one would
/// read as "any" to the host and widen the trust it stands for.
fn non_empty(field: &'static str, value: &str, problems: &mut Vec<KeyProblem>) -> bool {
    let said = !value.trim().is_empty();
    if !said {
        problems.push(KeyProblem::EmptyIdentity(field));
    }
    said
}

/// Signature annotations an entry requires: names must not be empty.
pub(crate) fn check_annotations(
    path: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(), SettingsError> {
    match annotations.keys().find(|k| k.is_empty()) {
        Some(empty) => Err(SettingsError::at(
            format!("{path}.annotations"),
            Problem::EmptyAnnotationName(empty.clone()),
        )),
        None => Ok(()),
    }
}
