//! Keys as the settings write them (both shapes): exactly one source each
//! (a public key, a keyless or GitHub Actions identity, a certificate),
//! checked and compiled into a [`TrustRoot`].

use crate::settings::errors::KeyProblem;
use crate::trust::keys::{check_certificate, check_public_key};
use crate::trust::roots::TrustRoot;
use serde::Deserialize;

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

/// How much [`compile_verification`] proves of what it compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Decode every key and certificate and parse every pattern: settings
    /// the policy loads with, and a ClusterImagePolicy read from the cluster
    /// (nobody checked it before).
    Full,
    /// The settings passed [`Checks::Full`] when the policy loaded: the key
    /// material goes to the host as the operator wrote it, and the patterns
    /// are not parsed as image references again.
    Proven,
}

pub(crate) fn compile_key(key: RawKey, checks: Checks) -> Result<TrustRoot, KeyProblem> {
    let full = checks == Checks::Full;
    let sources = [
        key.public_key.is_some(),
        key.keyless.is_some(),
        key.github_actions.is_some(),
        key.certificate.is_some(),
    ];
    if sources.iter().filter(|set| **set).count() != 1 {
        return Err(KeyProblem::NotOneSource);
    }
    if key.certificate.is_none()
        && (key.certificate_chain.is_some() || key.require_rekor_bundle.is_some())
    {
        return Err(KeyProblem::ChainWithoutCertificate);
    }
    if let Some(pem) = key.public_key {
        if full {
            check_public_key(&pem).map_err(KeyProblem::PublicKey)?;
        }
        return Ok(TrustRoot::PublicKey(pem));
    }
    if let Some(keyless) = key.keyless {
        if !keyless.issuer.starts_with("https://") && !keyless.issuer.starts_with("http://") {
            return Err(KeyProblem::IssuerNotAUrl(keyless.issuer));
        }
        return match (keyless.subject, keyless.url_prefix) {
            (Some(subject), None) => Ok(TrustRoot::Keyless {
                issuer: keyless.issuer,
                subject: non_empty("keyless.subject", subject)?,
            }),
            (None, Some(url_prefix)) => Ok(TrustRoot::KeylessPrefix {
                issuer: keyless.issuer,
                url_prefix: check_url_prefix(non_empty("keyless.urlPrefix", url_prefix)?)?,
            }),
            _ => Err(KeyProblem::NotSubjectOrPrefix),
        };
    }
    if let Some(github) = key.github_actions {
        return Ok(TrustRoot::GithubActions {
            owner: non_empty("githubActions.owner", github.owner)?,
            repo: github
                .repo
                .map(|repo| non_empty("githubActions.repo", repo))
                .transpose()?,
        });
    }
    let certificate = key.certificate.unwrap_or_default();
    if key.certificate_chain.as_ref().is_some_and(Vec::is_empty) {
        return Err(KeyProblem::EmptyChain);
    }
    if full {
        check_certificate(&certificate).map_err(KeyProblem::Certificate)?;
        for (index, pem) in key.certificate_chain.iter().flatten().enumerate() {
            check_certificate(pem)
                .map_err(|reason| KeyProblem::ChainCertificate { index, reason })?;
        }
    }
    Ok(TrustRoot::Certificate {
        certificate,
        chain: key.certificate_chain,
        require_rekor_bundle: key.require_rekor_bundle.unwrap_or(true),
    })
}

/// An identity field that is present must say something: an empty one would
/// read as "any" to the host and widen the trust it stands for.
fn non_empty(field: &'static str, value: String) -> Result<String, KeyProblem> {
    if value.trim().is_empty() {
        return Err(KeyProblem::EmptyIdentity(field));
    }
    Ok(value)
}

/// A `urlPrefix` the host can read. The host parses it as a URL when it is
/// asked (and panics when that fails, so every such request would fail), so
/// every value its parser could reject is refused here: only `http://` or
/// `https://`, a host of letters, digits, `-` and `.`, an optional port and
/// a path of printable characters that need no escaping.
fn check_url_prefix(prefix: String) -> Result<String, KeyProblem> {
    let rest = prefix
        .strip_prefix("https://")
        .or_else(|| prefix.strip_prefix("http://"));
    let well_formed = rest.is_some_and(|rest| {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let label = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let port_ok = port.is_none_or(|p| {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        });
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !br#""<>\^`{|}#"#.contains(&b));
        host.split('.').all(label) && port_ok && path_ok
    });
    if !well_formed {
        return Err(KeyProblem::UrlPrefixNotAUrl(prefix));
    }
    Ok(prefix)
}
