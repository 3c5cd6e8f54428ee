//! Public keys and certificates as operators paste them (and as keyless
//! signatures carry them): checked when the policy loads, and read as far as
//! the policy needs (a key's material, a keyless certificate's identity).
//! The host does the cryptography; only structure is read here.

use crate::trust::der::{
    bit_string, check_boolean, check_object_identifier, ia5_string, oid_text, pem_block,
    pem_contents, sequence, Reader, BOOLEAN, INTEGER, OCTET_STRING, SEQUENCE,
};

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

/// Parses a PEM public key and checks it is one cosign can verify with:
/// ECDSA P-256/P-384, RSA of at least 2048 bits, or Ed25519.
pub(crate) fn check_public_key(pem: &str) -> Result<(), String> {
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
    Ok(certificate_outline(der)?.key)
}

/// A DER certificate's key, and its extensions (their identifiers and
/// values). The outline (RFC 5280, section 4.1) is read whole: every field
/// down to the extensions is there in order, each well formed, with nothing
/// after them; the names, the validity and the algorithms are read as whole
/// elements only, and the signature is not checked (the host does both).
fn certificate_outline(der: &[u8]) -> Result<CertificateOutline<'_>, String> {
    let mut reader = Reader::new(der);
    let certificate = reader.expect(SEQUENCE, "Certificate")?;
    reader.finish("Certificate")?;
    let mut certificate = Reader::new(certificate);
    let mut tbs = Reader::new(certificate.expect(SEQUENCE, "tbsCertificate")?);
    certificate.expect(SEQUENCE, "signatureAlgorithm")?;
    certificate.bit_string("signatureValue")?;
    certificate.finish("Certificate")?;
    if let Some(version) = tbs.optional(VERSION, "version")? {
        let mut version = Reader::new(version);
        let number = version.expect(INTEGER, "version")?;
        version.finish("version")?;
        // v1 to v3 (v1, the default, written out too, as x509-cert reads it).
        if !matches!(number, [0] | [1] | [2]) {
            return Err("version: not v1, v2 or v3".to_string());
        }
    }
    tbs.expect(INTEGER, "serialNumber")?;
    for what in ["signature", "issuer", "validity", "subject"] {
        tbs.expect(SEQUENCE, what)?;
    }
    let key = KeyInfo::read(tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?)?;
    for (tag, what) in [
        (ISSUER_UNIQUE_ID, "issuerUniqueID"),
        (SUBJECT_UNIQUE_ID, "subjectUniqueID"),
    ] {
        if let Some(id) = tbs.optional(tag, what)? {
            bit_string(id).map_err(|e| format!("{what}: {e}"))?;
        }
    }
    let mut extensions = Vec::new();
    if let Some(outer) = tbs.optional(EXTENSIONS, "extensions")? {
        let mut outer = Reader::new(outer);
        let mut list = Reader::new(outer.expect(SEQUENCE, "extensions")?);
        outer.finish("extensions")?;
        while !list.is_empty() {
            let mut extension = Reader::new(list.expect(SEQUENCE, "extension")?);
            let oid = extension.object_identifier("extnID")?;
            if let Some(critical) = extension.optional(BOOLEAN, "critical")? {
                check_boolean(critical).map_err(|e| format!("critical: {e}"))?;
            }
            let value = extension.expect(OCTET_STRING, "extnValue")?;
            extension.finish("extension")?;
            extensions.push((oid, value));
        }
    }
    tbs.finish("tbsCertificate")?;
    Ok(CertificateOutline { key, extensions })
}

struct CertificateOutline<'a> {
    key: KeyInfo<'a>,
    /// Each extension's identifier (DER contents) and value.
    extensions: Vec<(&'a [u8], &'a [u8])>,
}

// The extensions a keyless certificate's identity is read from.
/// 2.5.29.17, subjectAltName.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// 1.3.6.1.4.1.57264.1.1, Fulcio's OIDC issuer (the raw UTF-8 of its value).
const FULCIO_ISSUER: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x01];
/// 1.3.6.1.4.1.57264.1.5, the GitHub workflow's `owner/repo` (raw UTF-8).
const FULCIO_GITHUB_REPOSITORY: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x05];
// Context-specific tags of the tbsCertificate ([0] version, [1] and [2]
// unique IDs, [3] extensions) and of GeneralName (RFC 5280, 4.2.1.6).
const VERSION: u8 = 0xa0;
const ISSUER_UNIQUE_ID: u8 = 0x81;
const SUBJECT_UNIQUE_ID: u8 = 0x82;
const EXTENSIONS: u8 = 0xa3;
const OTHER_NAME: u8 = 0xa0;
const RFC822_NAME: u8 = 0x81;
const DNS_NAME: u8 = 0x82;
const DIRECTORY_NAME: u8 = 0xa4;
const EDI_PARTY_NAME: u8 = 0xa5;
const URI: u8 = 0x86;
const IP_ADDRESS: u8 = 0x87;
const REGISTERED_ID: u8 = 0x88;

/// Who a keyless certificate says signed, read as the host reads it: the
/// subject is the first email or URI of the subjectAltName, the issuer and
/// the GitHub repository the raw text of Fulcio's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateIdentity {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub github_repository: Option<String>,
}

/// The identity a PEM certificate claims. Only the structure is read (the
/// host checks the signatures); what cannot be read is an error, and so is
/// an extension the identity is read from that is written twice.
pub fn certificate_identity(pem: &str) -> Result<CertificateIdentity, String> {
    let der = pem_contents(pem, "CERTIFICATE")?;
    let outline = certificate_outline(&der)?;
    let mut identity = CertificateIdentity::default();
    let text = |bytes: &[u8], what: &str| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("the certificate's {what} is not UTF-8"))
    };
    let mut read: Vec<&[u8]> = Vec::new();
    for (oid, value) in outline.extensions {
        let what = match oid {
            SUBJECT_ALT_NAME => "subjectAltName",
            FULCIO_ISSUER => "issuer",
            FULCIO_GITHUB_REPOSITORY => "GitHub repository",
            _ => continue,
        };
        if read.contains(&oid) {
            return Err(format!(
                "the certificate's {what} extension is written twice"
            ));
        }
        read.push(oid);
        match oid {
            SUBJECT_ALT_NAME => identity.subject = first_email_or_uri(value)?,
            FULCIO_ISSUER => identity.issuer = Some(text(value, what)?),
            _ => identity.github_repository = Some(text(value, what)?),
        }
    }
    Ok(identity)
}

/// The first email or URI of a subjectAltName's value; every name in it
/// must be one of GeneralName's, well formed.
fn first_email_or_uri(value: &[u8]) -> Result<Option<String>, String> {
    let bad = |e: String| format!("subjectAltName: {e}");
    let mut outer = Reader::new(value);
    let mut names = Reader::new(outer.expect(SEQUENCE, "subjectAltName")?);
    outer.finish("subjectAltName")?;
    let mut first = None;
    while !names.is_empty() {
        let name = names.element().map_err(bad)?;
        let mut contents = Reader::new(name.contents);
        match name.tag {
            RFC822_NAME | URI => {
                let text = ia5_string(name.contents).map_err(bad)?;
                first.get_or_insert_with(|| text.to_string());
            }
            DNS_NAME => {
                ia5_string(name.contents).map_err(bad)?;
            }
            IP_ADDRESS => {}
            REGISTERED_ID => check_object_identifier(name.contents).map_err(bad)?,
            // otherName: an OBJECT IDENTIFIER, then one [0] element.
            OTHER_NAME => {
                contents.object_identifier("otherName").map_err(bad)?;
                let mut value = Reader::new(contents.expect(0xa0, "otherName").map_err(bad)?);
                value.element().map_err(bad)?;
                value.finish("otherName").map_err(bad)?;
                contents.finish("otherName").map_err(bad)?;
            }
            // directoryName: one Name.
            DIRECTORY_NAME => {
                contents.expect(SEQUENCE, "directoryName").map_err(bad)?;
                contents.finish("directoryName").map_err(bad)?;
            }
            EDI_PARTY_NAME => {}
            other => return Err(bad(format!("a name of unknown type (tag {other:#04x})"))),
        }
    }
    Ok(first)
}

/// The SubjectPublicKeyInfo (its DER contents) of a PEM public key.
pub(crate) fn public_key_spki(pem: &str) -> Option<Vec<u8>> {
    let der = pem_contents(pem, "PUBLIC KEY").ok()?;
    Some(
        Reader::new(&der)
            .expect(SEQUENCE, "SubjectPublicKeyInfo")
            .ok()?
            .to_vec(),
    )
}

/// The SubjectPublicKeyInfo (its DER contents) of a PEM certificate's key.
pub fn certificate_spki(pem: &str) -> Option<Vec<u8>> {
    let der = pem_contents(pem, "CERTIFICATE").ok()?;
    Some(certificate_key(&der).ok()?.spki.to_vec())
}

/// A PEM certificate's public key as a PEM public key, the form the host's
/// public-key questions take.
pub fn certificate_public_key(pem: &str) -> Option<String> {
    Some(pem_block("PUBLIC KEY", &sequence(&certificate_spki(pem)?)))
}

/// A SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { algorithm OID, parameters ANY OPTIONAL }, BIT STRING }`.
struct KeyInfo<'a> {
    /// The contents of the whole sequence.
    spki: &'a [u8],
    algorithm: &'a [u8],
    parameters: Reader<'a>,
    key_bytes: &'a [u8],
}

impl<'a> KeyInfo<'a> {
    /// Reads the contents of a SubjectPublicKeyInfo sequence: the
    /// algorithm (an identifier and at most one parameter) and the key.
    fn read(contents: &'a [u8]) -> Result<KeyInfo<'a>, String> {
        let mut info = Reader::new(contents);
        let mut algorithm = Reader::new(info.expect(SEQUENCE, "the key's algorithm")?);
        let (unused_bits, key_bytes) = info.bit_string("the public key")?;
        info.finish("SubjectPublicKeyInfo")?;
        if unused_bits != 0 {
            return Err("the public key bit string is not a whole number of bytes".to_string());
        }
        let oid = algorithm.object_identifier("the key's algorithm")?;
        let parameters = algorithm;
        if !algorithm.is_empty() {
            algorithm.element()?;
            algorithm.finish("the key's algorithm")?;
        }
        Ok(KeyInfo {
            spki: contents,
            algorithm: oid,
            parameters,
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
            .object_identifier("the EC key's curve")
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

#[cfg(test)]
mod public_key_tests {
    use super::*;

    #[test]
    fn a_certificate_s_public_key_reads_back_as_that_key() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/keys/signer.crt");
        let certificate = std::fs::read_to_string(root).unwrap();
        let public_key = certificate_public_key(&certificate).unwrap();
        assert!(public_key.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        check_public_key(&public_key).unwrap();
        assert_eq!(public_key_spki(&public_key), certificate_spki(&certificate));
        // The same key the settings would name as a public key.
        let p256 = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test_data/keys/p256.pub"
        ))
        .unwrap();
        assert_eq!(public_key, p256);
    }
}
