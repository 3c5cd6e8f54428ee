//! Trust roots: the named keys of a ClusterImagePolicy, checked when the policy
//! loads and turned into the host's `v2/verify` questions.

use crate::key_material::{
    oid_text, pem_contents, Reader, BIT_STRING, INTEGER, OBJECT_IDENTIFIER, SEQUENCE,
};
use kubewarden_policy_sdk::host_capabilities::verification::{KeylessInfo, KeylessPrefixInfo};
use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use std::collections::BTreeMap;

// Object identifiers, as the contents of their DER encoding.
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7
const CURVE_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34
const CURVE_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
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
    let not_a_key = |e: String| format!("not a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo): {e}");
    let der = pem_contents(pem, "PUBLIC KEY").map_err(not_a_key)?;
    let mut reader = Reader::new(&der);
    let info = reader
        .expect(SEQUENCE, "SubjectPublicKeyInfo")
        .and_then(|info| reader.finish("SubjectPublicKeyInfo").map(|_| info))
        .and_then(KeyInfo::read)
        .map_err(not_a_key)?;
    info.check()
}

/// Parses a PEM certificate and checks the key it carries. Only the outline
/// (RFC 5280, section 4.1) is read: the host verifies the certificate itself.
pub fn check_certificate(pem: &str) -> Result<(), String> {
    let not_a_certificate = |e: String| format!("not a PEM certificate: {e}");
    let der = pem_contents(pem, "CERTIFICATE").map_err(not_a_certificate)?;
    certificate_key(&der).map_err(not_a_certificate)?.check()
}

/// The key of a DER certificate.
fn certificate_key(der: &[u8]) -> Result<KeyInfo<'_>, String> {
    let mut reader = Reader::new(der);
    let certificate = reader.expect(SEQUENCE, "Certificate")?;
    reader.finish("Certificate")?;
    let mut certificate = Reader::new(certificate);
    let mut tbs = Reader::new(certificate.expect(SEQUENCE, "tbsCertificate")?);
    certificate.expect(SEQUENCE, "signatureAlgorithm")?;
    certificate.expect(BIT_STRING, "signatureValue")?;
    certificate.finish("Certificate")?;
    // [0] version (optional), serialNumber, signature, issuer, validity, subject.
    let mut element = tbs.element()?;
    if element.tag == 0xa0 {
        element = tbs.element()?;
    }
    if element.tag != INTEGER {
        return Err("tbsCertificate: the serial number is missing".to_string());
    }
    for what in ["signature", "issuer", "validity", "subject"] {
        tbs.expect(SEQUENCE, what)?;
    }
    KeyInfo::read(tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?)
}

/// A SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { algorithm OID, parameters ANY OPTIONAL }, BIT STRING }`.
struct KeyInfo<'a> {
    algorithm: &'a [u8],
    parameters: Reader<'a>,
    key_bytes: &'a [u8],
}

impl<'a> KeyInfo<'a> {
    /// Reads the contents of a SubjectPublicKeyInfo sequence.
    fn read(info: &'a [u8]) -> Result<KeyInfo<'a>, String> {
        let mut info = Reader::new(info);
        let mut algorithm = Reader::new(info.expect(SEQUENCE, "the key's algorithm")?);
        let key_bits = info.expect(BIT_STRING, "the public key")?;
        info.finish("SubjectPublicKeyInfo")?;
        let key_bytes = match key_bits.split_first() {
            Some((0, bytes)) => bytes,
            _ => return Err("the public key bit string is not a whole number of bytes".to_string()),
        };
        Ok(KeyInfo {
            algorithm: algorithm.expect(OBJECT_IDENTIFIER, "the key's algorithm")?,
            parameters: algorithm,
            key_bytes,
        })
    }

    /// Whether cosign can verify with the key.
    fn check(mut self) -> Result<(), String> {
        check_key(self.algorithm, &mut self.parameters, self.key_bytes)
    }
}

fn check_key(oid: &[u8], parameters: &mut Reader, key_bytes: &[u8]) -> Result<(), String> {
    if oid == EC_PUBLIC_KEY {
        let curve = parameters
            .expect(OBJECT_IDENTIFIER, "the EC key's curve")
            .map_err(|e| format!("{e} (the EC key names no named curve)"))?;
        let coordinate_len = match curve {
            CURVE_P256 => 32,
            CURVE_P384 => 48,
            other => {
                return Err(format!(
                    "unsupported EC curve {}: only P-256 and P-384 are accepted",
                    oid_text(other)
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
        let malformed = |e: String| format!("the RSA public key is malformed: {e}");
        let mut outer = Reader::new(key_bytes);
        let mut key = Reader::new(outer.expect(SEQUENCE, "RSAPublicKey").map_err(malformed)?);
        outer.finish("RSAPublicKey").map_err(malformed)?;
        let modulus = key.expect(INTEGER, "modulus").map_err(malformed)?;
        key.expect(INTEGER, "publicExponent").map_err(malformed)?;
        key.finish("RSAPublicKey").map_err(malformed)?;
        let modulus = match modulus.split_first() {
            Some((0, rest)) => rest,
            _ => modulus,
        };
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
            "unsupported key algorithm {}: ECDSA P-256/P-384, RSA and Ed25519 are accepted",
            oid_text(oid)
        ))
    }
}
