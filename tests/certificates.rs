//! The certificate reader (`trust::keys`) against a well-kept parser,
//! x509-cert. Keyless signatures carry certificates copied from `.sig`
//! manifests anyone who can push may write, so the reader must never read
//! one otherwise than a real parser does:
//!
//! - wherever x509-cert reads a certificate, ours reads the same identity
//!   (the first email or URI of the subjectAltName, Fulcio's issuer and
//!   GitHub repository extensions) and the same SubjectPublicKeyInfo;
//! - wherever ours reads one, x509-cert reads the parts ours reads (its
//!   outline: every field down to the key and the extensions, the names and
//!   validity as whole elements), and reads them alike.
//!
//! On certificates rcgen makes (every key type, identities of every shape)
//! and on a bounded, deterministic set of mutations of them: every byte
//! flipped, every truncation, lengths edited, and elements deleted,
//! repeated, retagged, emptied, swapped or grown with the lengths kept right.

use der::asn1::{AnyRef, BitStringRef};
use der::pem::LineEnding;
use der::{Decode, Encode, Sequence, Tag, Tagged};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyUsagePurpose,
    OtherNameValue, SanType, SerialNumber, SignatureAlgorithm,
};
use signed_images_policy::trust::keys::{
    certificate_identity, certificate_public_key, certificate_spki, check_certificate,
    CertificateIdentity,
};
use std::collections::BTreeSet;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::Extension;
use x509_cert::spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;

const SUBJECT_ALT_NAME: &str = "2.5.29.17";
const FULCIO_ISSUER: &str = "1.3.6.1.4.1.57264.1.1";
const FULCIO_GITHUB_REPOSITORY: &str = "1.3.6.1.4.1.57264.1.5";

/// What the reader reads of a certificate it can read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    /// The SubjectPublicKeyInfo's contents.
    spki: Vec<u8>,
    /// `None`: its identity cannot be told (not UTF-8, an extension twice).
    identity: Option<CertificateIdentity>,
}

fn pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).unwrap()
}

/// Our reading: `None` when the certificate cannot be read.
fn ours(der: &[u8]) -> Option<Reading> {
    let pem = pem(der);
    let identity = certificate_identity(&pem);
    let spki = certificate_spki(&pem);
    if identity.is_ok() {
        assert!(
            spki.is_some(),
            "an identity is read from a readable certificate"
        );
    }
    if check_certificate(&pem).is_ok() {
        assert!(spki.is_some(), "a checked certificate is readable");
    }
    if let Some(spki) = &spki {
        // The key as the host's public-key questions take it.
        let public_key = certificate_public_key(&pem).unwrap();
        let (label, der) = der::pem::decode_vec(public_key.as_bytes()).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(AnyRef::from_der(&der).unwrap().value(), spki.as_slice());
    }
    Some(Reading {
        spki: spki?,
        identity: identity.ok(),
    })
}

/// A certificate's outline: its fields down to the key and the extensions,
/// the names, validity and algorithms as whole elements of their type.
#[derive(Sequence)]
struct Outline<'a> {
    tbs_certificate: TbsOutline<'a>,
    signature_algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

#[derive(Sequence)]
struct TbsOutline<'a> {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: Version,
    serial_number: AnyRef<'a>,
    signature: AnyRef<'a>,
    issuer: AnyRef<'a>,
    validity: AnyRef<'a>,
    subject: AnyRef<'a>,
    subject_public_key_info: SubjectPublicKeyInfoRef<'a>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// x509-cert's reading: of the whole certificate (`full`), or of its
/// outline. Read as the host reads a keyless certificate: the key whole
/// bytes, the identity's text UTF-8, and an extension it reads written once.
fn reference(der: &[u8], full: bool) -> Option<Reading> {
    let (spki, extensions) = if full {
        let certificate = Certificate::from_der(der).ok()?;
        let tbs = certificate.tbs_certificate;
        (tbs.subject_public_key_info.to_der().ok()?, tbs.extensions)
    } else {
        let outline = Outline::from_der(der).ok()?;
        let tbs = &outline.tbs_certificate;
        let sequences = [
            outline.signature_algorithm,
            tbs.signature,
            tbs.issuer,
            tbs.validity,
            tbs.subject,
        ];
        if tbs.serial_number.tag() != Tag::Integer
            || sequences.iter().any(|any| any.tag() != Tag::Sequence)
        {
            return None;
        }
        (
            tbs.subject_public_key_info.to_der().ok()?,
            outline.tbs_certificate.extensions,
        )
    };
    let key = SubjectPublicKeyInfoRef::from_der(&spki).ok()?;
    if key.subject_public_key.unused_bits() != 0 {
        return None;
    }
    Some(Reading {
        spki: AnyRef::from_der(&spki).ok()?.value().to_vec(),
        identity: identity(extensions.unwrap_or_default()),
    })
}

fn identity(extensions: Vec<Extension>) -> Option<CertificateIdentity> {
    let mut identity = CertificateIdentity::default();
    let mut seen = BTreeSet::new();
    for extension in extensions {
        let oid = extension.extn_id.to_string();
        let value = extension.extn_value.as_bytes();
        let text = || String::from_utf8(value.to_vec()).ok();
        match oid.as_str() {
            SUBJECT_ALT_NAME | FULCIO_ISSUER | FULCIO_GITHUB_REPOSITORY
                if !seen.insert(oid.clone()) =>
            {
                return None
            }
            SUBJECT_ALT_NAME => {
                let names = SubjectAltName::from_der(value).ok()?;
                identity.subject = names.0.iter().find_map(|name| match name {
                    GeneralName::Rfc822Name(text)
                    | GeneralName::UniformResourceIdentifier(text) => Some(text.to_string()),
                    _ => None,
                });
            }
            FULCIO_ISSUER => identity.issuer = Some(text()?),
            FULCIO_GITHUB_REPOSITORY => identity.github_repository = Some(text()?),
            _ => {}
        }
    }
    Some(identity)
}

/// How many cases were read by whom: the test is only as good as the
/// share of mutated certificates both parsers still read.
#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    full: usize,
    ours: usize,
}

fn agree(der: &[u8], what: &str, tally: &mut Tally) {
    let ours = ours(der);
    let full = reference(der, true);
    if full.is_some() {
        assert_eq!(ours, full, "{what}: x509-cert reads it");
    }
    if ours.is_some() {
        assert_eq!(ours, reference(der, false), "{what}: ours reads it");
    }
    tally.cases += 1;
    tally.full += usize::from(full.is_some());
    tally.ours += usize::from(ours.is_some());
}

/// A key that only stands in: rcgen writes its public key and "signs" with
/// fixed bytes. The reader reads structure only.
struct StandIn {
    algorithm: &'static SignatureAlgorithm,
    public: Vec<u8>,
}

impl rcgen::PublicKeyData for StandIn {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl rcgen::SigningKey for StandIn {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok((0..72).map(|i| (i as u8) ^ (msg.len() as u8)).collect())
    }
}

fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect()
}

/// The key types cosign signs with, the public key of each.
fn keys() -> Vec<StandIn> {
    let point = |prefix: u8, n: usize| [vec![prefix], bytes(prefix, n)].concat();
    // RSAPublicKey { modulus (2048 bits), publicExponent 65537 }.
    let modulus = [vec![0x02, 0x82, 0x01, 0x01, 0x00, 0xc3], bytes(9, 255)].concat();
    let rsa = [
        vec![0x30, 0x82, 0x01, 0x0a],
        modulus,
        vec![0x02, 0x03, 0x01, 0x00, 0x01],
    ]
    .concat();
    vec![
        StandIn {
            algorithm: &rcgen::PKCS_ECDSA_P256_SHA256,
            public: point(0x04, 64),
        },
        StandIn {
            algorithm: &rcgen::PKCS_ECDSA_P384_SHA384,
            public: point(0x04, 96),
        },
        StandIn {
            algorithm: &rcgen::PKCS_ED25519,
            public: bytes(3, 32),
        },
        StandIn {
            algorithm: &rcgen::PKCS_RSA_SHA256,
            public: rsa,
        },
        StandIn {
            algorithm: &rcgen::PKCS_ECDSA_P256_SHA256,
            public: point(0x03, 32),
        },
    ]
}

fn raw(oid: &str, value: &[u8]) -> CustomExtension {
    let arcs: Vec<u64> = oid.split('.').map(|arc| arc.parse().unwrap()).collect();
    CustomExtension::from_oid_content(&arcs, value.to_vec())
}

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str =
    "https://github.com/my-org/my-repo/.github/workflows/release.yml@refs/heads/main";

/// An identity shape: its name, subjectAltNames, extensions, and the
/// identity read from it.
type Shape = (
    &'static str,
    Vec<SanType>,
    Vec<CustomExtension>,
    Option<CertificateIdentity>,
);

/// Certificates of every key type and identity shape, each with the
/// identity it claims (`None`: one no reader may read).
fn generated() -> Vec<(String, Vec<u8>, Option<CertificateIdentity>)> {
    let identity = |subject: Option<&str>, issuer: Option<&str>, repository: Option<&str>| {
        Some(CertificateIdentity {
            subject: subject.map(str::to_string),
            issuer: issuer.map(str::to_string),
            github_repository: repository.map(str::to_string),
        })
    };
    let email_issuer = "https://oidc.fixtures.test";
    let ia5 = |text: &str| text.try_into().unwrap();
    let shapes: Vec<Shape> = vec![
        (
            "email",
            vec![SanType::Rfc822Name(ia5("signer@fixtures.test"))],
            vec![raw(FULCIO_ISSUER, email_issuer.as_bytes())],
            identity(Some("signer@fixtures.test"), Some(email_issuer), None),
        ),
        (
            "github workflow",
            vec![SanType::URI(ia5(WORKFLOW))],
            vec![
                raw(FULCIO_ISSUER, GITHUB_ISSUER.as_bytes()),
                raw("1.3.6.1.4.1.57264.1.2", b"push"),
                raw(
                    "1.3.6.1.4.1.57264.1.3",
                    b"0123456789abcdef0123456789abcdef01234567",
                ),
                raw("1.3.6.1.4.1.57264.1.4", b"release"),
                raw(FULCIO_GITHUB_REPOSITORY, b"my-org/my-repo"),
                raw("1.3.6.1.4.1.57264.1.6", b"refs/heads/main"),
            ],
            identity(Some(WORKFLOW), Some(GITHUB_ISSUER), Some("my-org/my-repo")),
        ),
        (
            "the first email among other names",
            vec![
                SanType::DnsName(ia5("example.org")),
                SanType::IpAddress([127, 0, 0, 1].into()),
                SanType::Rfc822Name(ia5("second@fixtures.test")),
                SanType::URI(ia5("https://fixtures.test/third")),
            ],
            vec![raw(FULCIO_ISSUER, email_issuer.as_bytes())],
            identity(Some("second@fixtures.test"), Some(email_issuer), None),
        ),
        (
            "a URI before an email",
            vec![
                SanType::URI(ia5("https://fixtures.test/first")),
                SanType::Rfc822Name(ia5("second@fixtures.test")),
            ],
            vec![],
            identity(Some("https://fixtures.test/first"), None, None),
        ),
        (
            "a username (otherName) before an email",
            vec![
                SanType::OtherName((
                    vec![1, 3, 6, 1, 4, 1, 57264, 1, 7],
                    OtherNameValue::Utf8String("user".to_string()),
                )),
                SanType::Rfc822Name(ia5("user@fixtures.test")),
            ],
            vec![raw(FULCIO_ISSUER, email_issuer.as_bytes())],
            identity(Some("user@fixtures.test"), Some(email_issuer), None),
        ),
        ("no identity", vec![], vec![], identity(None, None, None)),
        (
            "a critical issuer",
            vec![],
            vec![{
                let mut issuer = raw(FULCIO_ISSUER, email_issuer.as_bytes());
                issuer.set_criticality(true);
                issuer
            }],
            identity(None, Some(email_issuer), None),
        ),
        (
            "an issuer that is not UTF-8",
            vec![],
            vec![raw(FULCIO_ISSUER, b"https://\xff")],
            None,
        ),
        (
            "two issuers",
            vec![],
            vec![
                raw(FULCIO_ISSUER, email_issuer.as_bytes()),
                raw(FULCIO_ISSUER, GITHUB_ISSUER.as_bytes()),
            ],
            None,
        ),
    ];
    let ca_key = StandIn {
        algorithm: &rcgen::PKCS_ECDSA_P256_SHA256,
        public: [vec![0x04], bytes(99, 64)].concat(),
    };
    let mut ca = CertificateParams::default();
    ca.serial_number = Some(SerialNumber::from_slice(&[0x10, 1]));
    ca.distinguished_name
        .push(DnType::CommonName, "stand-in Fulcio");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let issuer = Issuer::from_params(&ca, &ca_key);
    let mut out = vec![(
        "a CA".to_string(),
        ca.self_signed(&ca_key).unwrap().der().to_vec(),
        identity(None, None, None),
    )];
    for (i, key) in keys().into_iter().enumerate() {
        for (j, (name, sans, extensions, expected)) in shapes.iter().enumerate() {
            // Every shape once, and every key type with the first two.
            if j >= 2 && i != j % 5 {
                continue;
            }
            let mut params = CertificateParams::default();
            params.serial_number =
                Some(SerialNumber::from_slice(&bytes(i as u8 * 16 + j as u8, 16)));
            params.subject_alt_names = sans.clone();
            params.custom_extensions = extensions.clone();
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let certificate = params.signed_by(&key, &issuer).unwrap();
            out.push((
                format!("{name}, key {i}"),
                certificate.der().to_vec(),
                expected.clone(),
            ));
        }
    }
    out
}

/// A DER element, its contents read as elements where they are some (a
/// constructed element's, and an OCTET STRING's that holds DER).
#[derive(Clone, Debug)]
enum Node {
    Leaf(u8, Vec<u8>),
    Tree(u8, Vec<Node>),
}

fn elements(mut der: &[u8]) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    while !der.is_empty() {
        let (tag, header, length) = header(der)?;
        let contents = der.get(header..header + length)?;
        let inner = elements(contents).filter(|inner| !inner.is_empty());
        nodes.push(match (tag & 0x20 != 0 || tag == 0x04, inner) {
            (true, Some(inner)) => Node::Tree(tag, inner),
            _ => Node::Leaf(tag, contents.to_vec()),
        });
        der = &der[header + length..];
    }
    Some(nodes)
}

/// A header's tag, size and the length it gives (single-byte tags, at most
/// four length bytes).
fn header(der: &[u8]) -> Option<(u8, usize, usize)> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    match first {
        0..=0x7f => Some((tag, 2, usize::from(first))),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let length = rest
                .get(..count)?
                .iter()
                .fold(0, |n, b| n << 8 | usize::from(*b));
            Some((tag, 2 + count, length))
        }
        _ => None,
    }
}

fn encode(nodes: &[Node]) -> Vec<u8> {
    let mut der = Vec::new();
    for node in nodes {
        let (tag, contents) = match node {
            Node::Leaf(tag, contents) => (*tag, contents.clone()),
            Node::Tree(tag, children) => (*tag, encode(children)),
        };
        der.push(tag);
        match contents.len() {
            n @ 0..=0x7f => der.push(n as u8),
            n => {
                let bytes = (n as u32).to_be_bytes();
                let significant = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
                der.push(0x80 | significant.len() as u8);
                der.extend_from_slice(significant);
            }
        }
        der.extend(contents);
    }
    der
}

/// Every element's place: the indexes down to it.
fn places(nodes: &[Node], at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, node) in nodes.iter().enumerate() {
        at.push(i);
        out.push(at.clone());
        if let Node::Tree(_, children) = node {
            places(children, at, out);
        }
        at.pop();
    }
}

/// The list an element is in, and its index there.
fn siblings<'a>(nodes: &'a mut Vec<Node>, place: &[usize]) -> (&'a mut Vec<Node>, usize) {
    let (last, path) = place.split_last().unwrap();
    let mut list = nodes;
    for &i in path {
        list = match &mut list[i] {
            Node::Tree(_, children) => children,
            Node::Leaf(..) => unreachable!(),
        };
    }
    (list, *last)
}

/// The edits of one element that keep every length right.
fn edits(nodes: &[Node], place: &[usize]) -> Vec<Vec<u8>> {
    let edit = |change: &dyn Fn(&mut Vec<Node>, usize)| {
        let mut nodes = nodes.to_vec();
        let (list, i) = siblings(&mut nodes, place);
        change(list, i);
        encode(&nodes)
    };
    let retag = |mask: u8| {
        move |list: &mut Vec<Node>, i: usize| match &mut list[i] {
            Node::Leaf(tag, _) | Node::Tree(tag, _) => *tag ^= mask,
        }
    };
    vec![
        edit(&|list, i| {
            list.remove(i);
        }),
        edit(&|list, i| list.insert(i, list[i].clone())),
        edit(&retag(0x01)),
        edit(&retag(0x20)),
        edit(&retag(0x80)),
        edit(&|list, i| match &mut list[i] {
            Node::Leaf(_, contents) => contents.push(0),
            Node::Tree(_, children) => children.push(Node::Leaf(0x05, vec![])),
        }),
        edit(&|list, i| match &mut list[i] {
            Node::Leaf(_, contents) => contents.clear(),
            Node::Tree(_, children) => children.clear(),
        }),
        edit(&|list, i| {
            if i + 1 < list.len() {
                list.swap(i, i + 1)
            }
        }),
    ]
}

/// Every place a header starts, in the raw DER.
fn headers(der: &[u8], base: usize, out: &mut Vec<usize>) {
    let mut at = 0;
    while at < der.len() {
        let Some((tag, header, length)) = header(&der[at..]) else {
            return;
        };
        out.push(base + at);
        if tag & 0x20 != 0 {
            if let Some(contents) = der.get(at + header..at + header + length) {
                headers(contents, base + at + header, out);
            }
        }
        at += header + length;
    }
}

/// The mutations of one certificate: every byte flipped (one of four ways,
/// turn by turn from `turn`), every other truncation, every length one
/// more, one less, indefinite or not minimal, and every element edited with
/// the lengths kept right.
fn mutations(der: &[u8], turn: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for at in 0..der.len() {
        let mask = [0x01, 0x20, 0x80, 0xff][(at + turn) % 4];
        let mut flipped = der.to_vec();
        flipped[at] ^= mask;
        out.push((format!("byte {at} ^ {mask:#04x}"), flipped));
        if (at + turn).is_multiple_of(2) {
            out.push((format!("cut at {at}"), der[..at].to_vec()));
        }
    }
    let mut starts = Vec::new();
    headers(der, 0, &mut starts);
    for start in starts {
        let length = start + 1;
        let last = length + usize::from(der[length] & 0x80 != 0) * usize::from(der[length] & 0x7f);
        for (what, edited) in [
            ("one more", {
                let mut d = der.to_vec();
                d[last] = d[last].wrapping_add(1);
                d
            }),
            ("one less", {
                let mut d = der.to_vec();
                d[last] = d[last].wrapping_sub(1);
                d
            }),
            ("indefinite", {
                let mut d = der.to_vec();
                d[length] = 0x80;
                d
            }),
            ("not minimal", {
                let mut d = der.to_vec();
                match d[length] {
                    short @ 0..=0x7f => d.splice(length..=length, [0x81, short]),
                    long => d.splice(length..=length, [long + 1, 0]),
                };
                d
            }),
        ] {
            out.push((format!("length at {start} {what}"), edited));
        }
    }
    let nodes = elements(der).expect("a generated certificate is DER");
    let mut all = Vec::new();
    places(&nodes, &mut Vec::new(), &mut all);
    for place in all {
        for (i, edited) in edits(&nodes, &place).into_iter().enumerate() {
            out.push((format!("element {place:?}, edit {i}"), edited));
        }
    }
    out
}

#[test]
fn generated_certificates_read_as_x509_cert_reads_them() {
    let mut tally = Tally::default();
    for (name, der, expected) in generated() {
        agree(&der, &name, &mut tally);
        assert_eq!(
            ours(&der).and_then(|reading| reading.identity),
            expected,
            "{name}"
        );
    }
    assert_eq!(tally.ours, tally.cases, "every one is a certificate");
    // Defaults DER leaves out, written out: v1, and an extension not critical.
    let spelled_out = |name: &str, from: &[u8], to: &[u8]| {
        let (_, der, _) = generated().into_iter().find(|(n, ..)| n == name).unwrap();
        let at = der.windows(from.len()).position(|w| w == from).unwrap();
        [&der[..at], to, &der[at + from.len()..]].concat()
    };
    for der in [
        spelled_out(
            "a CA",
            &[0xa0, 0x03, 0x02, 0x01, 0x02],
            &[0xa0, 0x03, 0x02, 0x01, 0x00],
        ),
        spelled_out(
            "a critical issuer, key 1",
            &[0x01, 0x01, 0xff],
            &[0x01, 0x01, 0x00],
        ),
    ] {
        agree(&der, "a default written out", &mut tally);
        assert!(ours(&der).is_some());
    }
}

/// The generated certificates that are mutated (the others differ from
/// them by their key only): a CA, and the identity shapes, on every key type.
const MUTATED: [&str; 6] = [
    "a CA",
    "github workflow, key 1",
    "the first email among other names, key 2",
    "a URI before an email, key 3",
    "a username (otherName) before an email, key 4",
    "a critical issuer, key 1",
];

#[test]
fn mutated_certificates_read_as_x509_cert_reads_them_or_not_at_all() {
    let mut tally = Tally::default();
    let generated = generated();
    for (turn, name) in MUTATED.into_iter().enumerate() {
        let (_, der, _) = generated.iter().find(|(n, ..)| n == name).unwrap();
        for (mutation, mutated) in mutations(der, turn) {
            agree(&mutated, &format!("{name}, {mutation}"), &mut tally);
        }
    }
    // Enough of them are still certificates for the agreement to mean
    // something, and enough are not for the refusals to.
    assert!(tally.full > tally.cases / 4, "{tally:?}");
    assert!(tally.cases - tally.ours > tally.cases / 4, "{tally:?}");
}

/// What the reader cannot read is an error that says where, never skipped:
/// an element that is no extension among the extensions, anything after
/// them, a name of no GeneralName type, an extension the identity is read
/// from written twice.
#[test]
fn what_cannot_be_read_is_an_error_not_skipped() {
    let (_, der, _) = generated()
        .into_iter()
        .find(|(name, ..)| name == "email, key 0")
        .unwrap();
    let nodes = elements(&der).unwrap();
    // Certificate > tbsCertificate > [3] > Extensions.
    let tbs = vec![0, 0];
    let extensions = vec![0, 0, 7, 0];
    let mut copy = nodes.clone();
    let (list, _) = siblings(&mut copy, &[0, 0, 7, 0, 0]);
    let is_san = |extension: &Node| match extension {
        Node::Tree(_, fields) => {
            matches!(&fields[0], Node::Leaf(0x06, oid) if oid == &[0x55, 0x1d, 0x11])
        }
        Node::Leaf(..) => false,
    };
    // Extension > extnValue > GeneralNames.
    let san = vec![0, 0, 7, 0, list.iter().position(is_san).unwrap(), 1, 0];
    // The element appended to those at `place`.
    let with = |place: &[usize], element: Node| {
        let mut nodes = nodes.clone();
        let (list, _) = siblings(&mut nodes, &[place, &[0]].concat());
        list.push(element);
        pem(&encode(&nodes))
    };
    assert!(certificate_identity(&pem(&der)).is_ok());
    for (edited, error) in [
        (
            with(&extensions, Node::Leaf(0x05, vec![])),
            "extension: expected DER tag 0x30, found 0x05",
        ),
        (
            with(&tbs, Node::Leaf(0x05, vec![])),
            "tbsCertificate: unexpected bytes after it",
        ),
        (
            with(&san, Node::Leaf(0x83, b"x400".to_vec())),
            "subjectAltName: a name of unknown type (tag 0x83)",
        ),
        (
            with(
                &san,
                Node::Leaf(0x81, b"caf\xc3\xa9@fixtures.test".to_vec()),
            ),
            "subjectAltName: not an IA5String (ASCII)",
        ),
    ] {
        assert_eq!(certificate_identity(&edited), Err(error.to_string()));
        // A certificate that cannot be read has no key either; one whose
        // identity cannot be told still has its key.
        let identity_only = error.starts_with("subjectAltName");
        assert_eq!(certificate_spki(&edited).is_some(), identity_only);
    }
}
