//! Trust roots: the named keys of a ClusterImagePolicy (a public key, a
//! keyless or GitHub Actions identity, a certificate), the host's `v2/verify`
//! questions about them (a keyless identity written as regular expressions
//! has none of its own), and how they compare: which may share a signer, and
//! which identity a keyless certificate must claim.

use crate::trust::keys::{certificate_spki, public_key_spki, CertificateIdentity};
use crate::trust::url_prefix;
use kubewarden_policy_sdk::host_capabilities::verification::{KeylessInfo, KeylessPrefixInfo};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// One way of establishing that an image was signed by someone trusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TrustRoot {
    PublicKey(String),
    Keyless {
        issuer: String,
        subject: String,
    },
    KeylessPrefix {
        issuer: String,
        url_prefix: String,
    },
    GithubActions {
        owner: String,
        repo: Option<String>,
    },
    Certificate {
        certificate: String,
        chain: Option<Vec<String>>,
        require_rekor_bundle: bool,
    },
    /// A keyless identity whose issuer or subject is a regular expression
    /// (policy-controller's `issuerRegExp`, `subjectRegExp`): the host has
    /// no such question, so the identities the image's signatures claim are
    /// read, and those that match are asked about exactly.
    KeylessMatch {
        issuer: IdentityMatch,
        subject: IdentityMatch,
    },
}

/// One half of a [`TrustRoot::KeylessMatch`] identity.
#[derive(Debug, Clone)]
pub(crate) enum IdentityMatch {
    Exact(String),
    /// Go's `regexp.MatchString`, as cosign applies it: unanchored, so
    /// `^...$` is needed to match a whole identity. Compiled the first time
    /// it is matched: a request whose images no such identity covers never
    /// pays for it.
    Pattern {
        source: String,
        regex: OnceCell<Option<regex_lite::Regex>>,
    },
}

impl IdentityMatch {
    /// A regular expression in the syntax policy-controller (Go's RE2)
    /// reads, compiled now when `checked` (when the policy loads, and for
    /// rules read from the cluster); the error says why not.
    pub fn pattern(source: &str, checked: bool) -> Result<IdentityMatch, String> {
        let regex = OnceCell::new();
        if checked {
            let compiled = regex_lite::Regex::new(source).map_err(|e| e.to_string())?;
            regex.get_or_init(|| Some(compiled));
        }
        Ok(IdentityMatch::Pattern {
            source: source.to_string(),
            regex,
        })
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            IdentityMatch::Exact(exact) => exact == text,
            // A pattern that does not compile (proven when the policy
            // loaded, so never) matches nothing.
            IdentityMatch::Pattern { source, regex } => regex
                .get_or_init(|| regex_lite::Regex::new(source).ok())
                .as_ref()
                .is_some_and(|regex| regex.is_match(text)),
        }
    }

    /// `issuer "x"` or `issuer ~ /x/`, as messages and the fingerprint write it.
    pub fn describe(&self, field: &str) -> String {
        match self {
            IdentityMatch::Exact(exact) => format!("{field} {exact:?}"),
            IdentityMatch::Pattern { source, .. } => format!("{field} ~ /{source}/"),
        }
    }
}

// Compared by what was written: two patterns are the same root when their
// sources are.
impl PartialEq for IdentityMatch {
    fn eq(&self, other: &Self) -> bool {
        self.describe("") == other.describe("")
    }
}

impl Eq for IdentityMatch {}

impl std::hash::Hash for IdentityMatch {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.describe("").hash(state)
    }
}

impl TrustRoot {
    /// Feeds every field that decides what this root trusts, after the
    /// name of its kind, to `feed` (the rules' fingerprint): key material as
    /// the host is given it.
    pub fn fingerprint(&self, feed: &mut dyn FnMut(&str)) {
        match self {
            TrustRoot::PublicKey(pem) => {
                feed("public key");
                feed(pem);
            }
            TrustRoot::Keyless { issuer, subject } => {
                feed("keyless");
                feed(issuer);
                feed(subject);
            }
            TrustRoot::KeylessPrefix { issuer, url_prefix } => {
                feed("keyless prefix");
                feed(issuer);
                feed(url_prefix);
            }
            TrustRoot::GithubActions { owner, repo } => {
                feed("github actions");
                feed(owner);
                feed(repo.as_deref().unwrap_or("\0any repository"));
            }
            TrustRoot::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
            } => {
                feed("certificate");
                feed(certificate);
                for pem in chain.iter().flatten() {
                    feed(pem);
                }
                feed(if *require_rekor_bundle {
                    "rekor"
                } else {
                    "no rekor"
                });
            }
            TrustRoot::KeylessMatch { issuer, subject } => {
                feed("keyless match");
                feed(&issuer.describe("issuer"));
                feed(&subject.describe("subject"));
            }
        }
    }

    /// The host question "is `image` signed by this root, with these
    /// annotations?"; `None` for a [`TrustRoot::KeylessMatch`], which has
    /// none of its own.
    pub fn question(
        &self,
        image: &str,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Option<SigstoreVerificationInputV2> {
        let image = image.to_string();
        let annotations = annotations.cloned();
        Some(match self.clone() {
            TrustRoot::PublicKey(pem) => SigstoreVerificationInputV2::SigstorePubKeyVerify {
                image,
                pub_keys: vec![pem],
                annotations,
            },
            TrustRoot::Keyless { issuer, subject } => {
                SigstoreVerificationInputV2::SigstoreKeylessVerify {
                    image,
                    keyless: vec![KeylessInfo { issuer, subject }],
                    annotations,
                }
            }
            TrustRoot::KeylessPrefix { issuer, url_prefix } => {
                SigstoreVerificationInputV2::SigstoreKeylessPrefixVerify {
                    image,
                    keyless_prefix: vec![KeylessPrefixInfo { issuer, url_prefix }],
                    annotations,
                }
            }
            TrustRoot::GithubActions { owner, repo } => {
                SigstoreVerificationInputV2::SigstoreGithubActionsVerify {
                    image,
                    owner,
                    repo,
                    annotations,
                }
            }
            TrustRoot::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
            } => SigstoreVerificationInputV2::SigstoreCertificateVerify {
                image,
                certificate: certificate.into_bytes(),
                certificate_chain: chain.map(|c| c.into_iter().map(String::into_bytes).collect()),
                require_rekor_bundle,
                annotations,
            },
            TrustRoot::KeylessMatch { .. } => return None,
        })
    }
}

/// The issuer of GitHub Actions' tokens, the one `githubActions` keys trust.
const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

impl TrustRoot {
    /// Whether one signature could satisfy both roots, so that counting them
    /// as two towards a threshold would count one signer twice: two keys
    /// with the same key material (the same PEM, or the same key written
    /// otherwise, or a certificate for it), or two keyless identities that one
    /// certificate can claim. Keyless identities are compared generously: when
    /// in doubt they are one signer, which can only make a threshold harder.
    pub fn may_share_signer(&self, other: &TrustRoot) -> bool {
        use TrustRoot::*;
        fn identity(root: &TrustRoot) -> Option<(&str, Identity<'_>)> {
            match root {
                Keyless { issuer, subject } => Some((issuer, Identity::Subject(subject))),
                KeylessPrefix { issuer, url_prefix } => {
                    Some((issuer, Identity::Prefix(url_prefix)))
                }
                GithubActions { owner, repo } => Some((
                    GITHUB_ACTIONS_ISSUER,
                    Identity::Github(owner, repo.as_deref()),
                )),
                // A pattern may match any issuer.
                KeylessMatch { .. } => Some(("", Identity::Any)),
                PublicKey(_) | Certificate { .. } => None,
            }
        }
        match (identity(self), identity(other)) {
            (Some((_, Identity::Any)), Some(_)) | (Some(_), Some((_, Identity::Any))) => true,
            (Some((a_issuer, a)), Some((b_issuer, b))) => a_issuer == b_issuer && a.overlaps(&b),
            (None, None) => match (self.key_material(), other.key_material()) {
                (Some(a), Some(b)) => a == b,
                _ => self == other,
            },
            _ => false,
        }
    }

    /// The SubjectPublicKeyInfo (its DER contents) of a public key or of a
    /// certificate's key; `None` for keyless roots or material that does not decode.
    fn key_material(&self) -> Option<Vec<u8>> {
        match self {
            TrustRoot::PublicKey(pem) => public_key_spki(pem),
            TrustRoot::Certificate { certificate, .. } => certificate_spki(certificate),
            _ => None,
        }
    }
}

/// What a keyless root asks of the certificate's identity.
enum Identity<'a> {
    /// The subject, exactly.
    Subject(&'a str),
    /// A subject under this URL prefix.
    Prefix(&'a str),
    /// A GitHub Actions workflow of this owner (and repository).
    Github(&'a str, Option<&'a str>),
    /// Identities matching regular expressions: any, as far as overlap goes.
    Any,
}

impl Identity<'_> {
    /// Whether some certificate could satisfy both.
    fn overlaps(&self, other: &Identity) -> bool {
        use Identity::*;
        match (self, other) {
            (Subject(a), Subject(b)) => a == b,
            (Subject(s), Prefix(p)) | (Prefix(p), Subject(s)) => s.starts_with(p),
            (Prefix(a), Prefix(b)) => a.starts_with(b) || b.starts_with(a),
            (Github(a_owner, a_repo), Github(b_owner, b_repo)) => {
                a_owner == b_owner && (a_repo.is_none() || b_repo.is_none() || a_repo == b_repo)
            }
            // The host reads a workflow's owner and repository from an
            // extension, not from the subject: any subject may come with any.
            (Github(..), _) | (_, Github(..)) | (Any, _) | (_, Any) => true,
        }
    }
}

impl TrustRoot {
    /// Whether a certificate's identity is the one this keyless root asks
    /// for, as the host compares them; `false` for keys and certificates.
    pub fn claimed_by(&self, identity: &CertificateIdentity) -> bool {
        let (Some(issuer), Some(subject)) = (&identity.issuer, &identity.subject) else {
            return false;
        };
        match self {
            TrustRoot::Keyless {
                issuer: i,
                subject: s,
            } => i == issuer && s == subject,
            TrustRoot::KeylessPrefix {
                issuer: i,
                url_prefix,
            } => i == issuer && subject.starts_with(&url_prefix::as_the_host_reads_it(url_prefix)),
            TrustRoot::GithubActions { owner, repo } => {
                let on_github = subject.strip_prefix("https://github.com/").is_some();
                let mut repository = identity
                    .github_repository
                    .as_deref()
                    .unwrap_or_default()
                    .split('/');
                let (found_owner, found_repo) = (repository.next(), repository.next());
                issuer == GITHUB_ACTIONS_ISSUER
                    && on_github
                    && found_owner == Some(owner.as_str())
                    && repo
                        .as_ref()
                        .is_none_or(|repo| found_repo == Some(repo.as_str()))
            }
            TrustRoot::KeylessMatch {
                issuer: i,
                subject: s,
            } => i.matches(issuer) && s.matches(subject),
            TrustRoot::PublicKey(_) | TrustRoot::Certificate { .. } => false,
        }
    }

    /// Whether the host verifies this root from certificates it trusts, with
    /// no signature check of its own (keyless and GitHub Actions).
    pub fn is_keyless(&self) -> bool {
        matches!(
            self,
            TrustRoot::Keyless { .. }
                | TrustRoot::KeylessPrefix { .. }
                | TrustRoot::GithubActions { .. }
                | TrustRoot::KeylessMatch { .. }
        )
    }
}
