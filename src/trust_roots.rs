//! Trust roots: the named keys of a ClusterImagePolicy, checked when the policy
//! loads and turned into the host's `v2/verify` questions.

use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, DecodePem, Sequence};
use kubewarden_policy_sdk::host_capabilities::verification::{KeylessInfo, KeylessPrefixInfo};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use spki::SubjectPublicKeyInfoOwned;
use std::collections::BTreeMap;
use x509_cert::Certificate;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const CURVE_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const CURVE_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const MIN_RSA_BITS: usize = 2048;

/// One way of establishing that an image was signed by someone trusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrustRoot {
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
}

impl TrustRoot {
    /// The host question "is `image` signed by this root, with these annotations?".
    pub fn question(
        &self,
        image: &str,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> SigstoreVerificationInputV2 {
        let image = image.to_string();
        let annotations = annotations.cloned();
        match self.clone() {
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
        }
    }
}

/// Parses a PEM public key and checks it is one cosign can verify with:
/// ECDSA P-256/P-384, RSA of at least 2048 bits, or Ed25519.
pub fn check_public_key(pem: &str) -> Result<(), String> {
    let info = SubjectPublicKeyInfoOwned::from_pem(pem.trim().as_bytes())
        .map_err(|e| format!("not a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo): {e}"))?;
    check_key_info(&info)
}

/// Parses a PEM certificate and checks the key it carries.
pub fn check_certificate(pem: &str) -> Result<(), String> {
    let certificate = Certificate::from_pem(pem.trim().as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    check_key_info(&certificate.tbs_certificate.subject_public_key_info)
}

fn check_key_info(info: &SubjectPublicKeyInfoOwned) -> Result<(), String> {
    let key_bytes = info
        .subject_public_key
        .as_bytes()
        .ok_or("the public key bit string is not a whole number of bytes")?;
    let oid = info.algorithm.oid;
    if oid == EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = info
            .algorithm
            .parameters
            .as_ref()
            .ok_or("the EC key names no curve")?
            .decode_as()
            .map_err(|e| format!("the EC key's curve is not a named curve: {e}"))?;
        let coordinate_len = match curve {
            c if c == CURVE_P256 => 32,
            c if c == CURVE_P384 => 48,
            other => {
                return Err(format!(
                    "unsupported EC curve {other}: only P-256 and P-384 are accepted"
                ))
            }
        };
        let well_formed = match key_bytes.first() {
            Some(0x04) => key_bytes.len() == 1 + 2 * coordinate_len,
            Some(0x02 | 0x03) => key_bytes.len() == 1 + coordinate_len,
            _ => false,
        };
        if !well_formed {
            return Err("the EC public key point is malformed".to_string());
        }
        Ok(())
    } else if oid == RSA_ENCRYPTION {
        let key = RsaPublicKey::from_der(key_bytes)
            .map_err(|e| format!("the RSA public key is malformed: {e}"))?;
        let modulus = key.modulus.as_bytes();
        let leading_zeros = modulus.first().map_or(0, |b| b.leading_zeros() as usize);
        let bits = (modulus.len() * 8).saturating_sub(leading_zeros);
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "RSA key of {bits} bits is too weak: at least {MIN_RSA_BITS} bits are required"
            ));
        }
        Ok(())
    } else if oid == ED25519 {
        if key_bytes.len() != 32 {
            return Err("the Ed25519 public key is not 32 bytes".to_string());
        }
        Ok(())
    } else {
        Err(format!(
            "unsupported key algorithm {oid}: ECDSA P-256/P-384, RSA and Ed25519 are accepted"
        ))
    }
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    #[allow(dead_code)]
    public_exponent: UintRef<'a>,
}
