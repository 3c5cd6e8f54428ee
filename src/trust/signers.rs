//! Which of an entry's public keys signed an image, told from its `.sig`
//! manifest alone, so that the policy need not ask the host about a key that
//! signed nothing there (the host caches only its successes: every key that
//! did not sign costs a registry round trip on every request).
//!
//! A `.sig` layer is a simple-signing payload that the manifest names by its
//! SHA-256 digest, with the signature in an annotation. The host (sigstore-rs)
//! checks a P-256 key's ECDSA signature and an RSA key's PKCS#1 v1.5 one over
//! SHA-256 of the payload, which is that very digest: both are checked here
//! without the payload. A P-384 key it checks over SHA-384 of the payload,
//! which the digest does not give, and an Ed25519 key over the payload
//! itself: for those nothing can be told. (A P-384 signature over the
//! SHA-256 digest, as cosign writes one, could be recognised, but the host
//! would refuse it all the same, and one that does not verify over SHA-256
//! may still be the host's kind: no question to the host could be spared.)
//!
//! Everything here is public data, so nothing needs to be constant-time. The
//! work the signatures can cause is bounded ([`MAX_SIGNATURES`],
//! [`MAX_WORK`]) and nothing panics.

use crate::trust::der::{base64_decode, Reader, INTEGER, SEQUENCE};
use crate::trust::keys::{public_key_material, KeyKind};
use p256::ecdsa::signature::hazmat::PrehashVerifier;

/// The signatures read: as many as the layers of a `.sig` manifest the
/// policy reads. A key that made none of them is not known to have made none
/// past them.
pub const MAX_SIGNATURES: usize = 32;

/// The work one call may do, in units of about one P-256 check (see
/// [`Key::cost`]; about 0.5 ms on the host target): as many as the
/// signatures read. A key left unchecked when it runs out is not judged.
pub const MAX_WORK: u32 = 32;

/// RSA moduli checked: at least what the policy accepts, at most a size
/// whose check stays cheap.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
/// The largest public exponent checked (65537, 2^16 + 1, is the usual one):
/// its bit length is the number of squarings a check costs.
const MAX_RSA_EXPONENT: u64 = (1 << 17) - 1;
/// The longest base64 signature any key checked here could have made (an
/// RSA-8192 one, 1024 bytes).
const MAX_SIGNATURE_TEXT: usize = MAX_RSA_BITS / 8 / 3 * 4 + 4;

/// Which of `keys` (PEM public keys, as the settings hold them) made one of
/// `signatures` (each the SHA-256 digest of a payload, `sha256:<hex>`, and
/// the base64 signature of it, as a `.sig` layer names them). For each key:
/// `Some(true)` it made one; `Some(false)` it made none of them;
/// `None` cannot tell: a key whose signatures the digest cannot check
/// (P-384, Ed25519: see the module comment), a key that cannot be read or is
/// out of bounds, a signature whose digest cannot be read, more than
/// [`MAX_SIGNATURES`] signatures, or the work budget spent.
///
/// `Some(false)` speaks of these signatures only: a signature kept elsewhere
/// (a cosign 3 bundle) is not among them.
pub fn signed_by(keys: &[&str], signatures: &[(&str, &str)]) -> Vec<Option<bool>> {
    // A signature whose digest cannot be read may be any key's.
    let mut unread = signatures.len() > MAX_SIGNATURES;
    let mut read: Vec<([u8; 32], Option<Vec<u8>>)> = Vec::new();
    for (digest, signature) in signatures.iter().take(MAX_SIGNATURES) {
        let Some(digest) = sha256_digest(digest) else {
            unread = true;
            continue;
        };
        // A signature that is no base64, or longer than any key's, is no
        // key's: the host reads it no better.
        let signature = match signature.len() <= MAX_SIGNATURE_TEXT {
            true => base64_decode(signature).ok(),
            false => None,
        };
        // The same signature twice is checked once.
        if !read.contains(&(digest, signature.clone())) {
            read.push((digest, signature));
        }
    }
    let mut work = MAX_WORK;
    keys.iter()
        .map(|pem| {
            let key = Key::read(pem)?;
            let mut judged = true;
            for (digest, signature) in &read {
                let Some(signature) = signature else { continue };
                match key.check(digest, signature, &mut work) {
                    Some(true) => return Some(true),
                    Some(false) => {}
                    None => judged = false,
                }
            }
            (judged && !unread).then_some(false)
        })
        .collect()
}

/// The 32 bytes of a `sha256:<hex>` digest (lowercase hex, as OCI writes it).
fn sha256_digest(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(digest)
}

/// A key whose signatures can be checked from the payload's SHA-256 digest.
enum Key {
    P256(p256::ecdsa::VerifyingKey),
    Rsa(RsaKey),
}

impl Key {
    fn read(pem: &str) -> Option<Key> {
        let (kind, bytes) = public_key_material(pem)?;
        match kind {
            KeyKind::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
                .ok()
                .map(Key::P256),
            KeyKind::Rsa => RsaKey::read(&bytes).map(Key::Rsa),
            KeyKind::P384 | KeyKind::Ed25519 => None,
        }
    }

    /// Whether the key signed `digest` with `signature`; `None` when `work`
    /// does not cover the check. A signature the key's algorithm cannot
    /// read is not the key's, and costs nothing.
    fn check(&self, digest: &[u8; 32], signature: &[u8], work: &mut u32) -> Option<bool> {
        let mut spend = |cost: u32| match work.checked_sub(cost) {
            Some(left) => {
                *work = left;
                Some(())
            }
            None => None,
        };
        match self {
            Key::P256(key) => {
                let Ok(signature) = p256::ecdsa::Signature::from_der(signature) else {
                    return Some(false);
                };
                spend(self.cost())?;
                Some(key.verify_prehash(digest, &signature).is_ok())
            }
            Key::Rsa(key) => {
                let Some(signature) = key.signature(signature) else {
                    return Some(false);
                };
                spend(self.cost())?;
                Some(key.verifies(digest, &signature))
            }
        }
    }

    /// What one check costs, in units of about one P-256 check, rounded up
    /// (measured on the host target: benches/admission.rs).
    fn cost(&self) -> u32 {
        match self {
            Key::P256(_) => 1,
            // Quadratic in the modulus, linear in the exponent's bits: an
            // RSA-2048 check with 65537 (38 multiplications of 64 limbs)
            // costs about 0.4 of a P-256 one, an RSA-8192 one about 7.
            Key::Rsa(key) => {
                let limbs = key.modulus.len() as u32;
                let multiplications = 2 * (64 - key.exponent.leading_zeros()) + 4;
                (limbs * limbs * multiplications * 5).div_ceil(64 * 64 * 38 * 12)
            }
        }
    }
}

/// An RSA public key, its numbers as little-endian 32-bit limbs, with what
/// Montgomery multiplication modulo it needs.
struct RsaKey {
    modulus: Vec<u32>,
    /// The modulus' length in bytes, which a signature's must be.
    length: usize,
    exponent: u64,
    /// -modulus⁻¹ mod 2³².
    inverse: u32,
    /// R² mod modulus, R = 2^(32 × limbs).
    r_squared: Vec<u32>,
}

/// The DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl RsaKey {
    /// An RSAPublicKey (RFC 8017, A.1.1) within bounds: a modulus of 2048 to
    /// 8192 bits (odd, as an RSA modulus is), an odd exponent of 3 to
    /// [`MAX_RSA_EXPONENT`].
    fn read(der: &[u8]) -> Option<RsaKey> {
        let mut outer = Reader::new(der);
        let mut key = Reader::new(outer.expect(SEQUENCE, "RSAPublicKey").ok()?);
        outer.finish("RSAPublicKey").ok()?;
        let modulus = positive(key.expect(INTEGER, "modulus").ok()?)?;
        let exponent = positive(key.expect(INTEGER, "publicExponent").ok()?)?;
        key.finish("RSAPublicKey").ok()?;
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || modulus[modulus.len() - 1] & 1 == 0 {
            return None;
        }
        if exponent.len() > 8 {
            return None;
        }
        let exponent = exponent.iter().fold(0u64, |e, b| e << 8 | u64::from(*b));
        if !(3..=MAX_RSA_EXPONENT).contains(&exponent) || exponent & 1 == 0 {
            return None;
        }
        let limbs = modulus.len().div_ceil(4);
        let modulus_limbs = to_limbs(modulus, limbs)?;
        // Newton's iteration doubles the low bits of an inverse that are
        // right: an odd number is its own inverse modulo 8 (3 bits), so four
        // steps reach 48.
        let low = modulus_limbs[0];
        let mut inverse = low;
        for _ in 0..4 {
            inverse = inverse.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inverse)));
        }
        let mut key = RsaKey {
            modulus: modulus_limbs,
            length: modulus.len(),
            exponent,
            inverse: inverse.wrapping_neg(),
            r_squared: Vec::new(),
        };
        key.r_squared = key.r_squared(bits);
        Some(key)
    }

    /// R² mod n, cheaply: 2^(bits - 1), below n, doubled to 2^limbs × R
    /// mod n (a doubling costs about 1/(2 × limbs) of a multiplication),
    /// which is 2^limbs in Montgomery form, then squared 5 times in it:
    /// 2^(32 × limbs) × R = R².
    fn r_squared(&self, bits: usize) -> Vec<u32> {
        let limbs = self.modulus.len();
        let mut x = vec![0u32; limbs];
        x[(bits - 1) / 32] = 1 << ((bits - 1) % 32);
        for _ in bits - 1..33 * limbs {
            self.double(&mut x);
        }
        for _ in 0..5 {
            x = self.multiply(&x, &x);
        }
        x
    }

    /// x ← 2x mod n, for x < n.
    fn double(&self, x: &mut [u32]) {
        let mut carry = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = *limb << 1 | carry;
            carry = next;
        }
        if carry == 1 || !less(x, &self.modulus) {
            subtract(x, &self.modulus);
        }
    }

    /// Montgomery multiplication (coarsely integrated operand scanning):
    /// a × b × R⁻¹ mod n, for a, b < n.
    fn multiply(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let n = &self.modulus;
        let limbs = n.len();
        let mut t = vec![0u32; limbs + 2];
        for &a_i in a {
            // t += a_i × b
            let mut carry = 0u64;
            for (t_j, &b_j) in t.iter_mut().zip(b) {
                let sum = u64::from(*t_j) + u64::from(a_i) * u64::from(b_j) + carry;
                *t_j = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(t[limbs]) + carry;
            t[limbs] = sum as u32;
            t[limbs + 1] = (sum >> 32) as u32;
            // t = (t + m × n) / 2³², m chosen so that the low limb is zero.
            let m = t[0].wrapping_mul(self.inverse);
            let mut carry = (u64::from(t[0]) + u64::from(m) * u64::from(n[0])) >> 32;
            for j in 1..limbs {
                let sum = u64::from(t[j]) + u64::from(m) * u64::from(n[j]) + carry;
                t[j - 1] = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(t[limbs]) + carry;
            t[limbs - 1] = sum as u32;
            t[limbs] = t[limbs + 1] + (sum >> 32) as u32;
            t[limbs + 1] = 0;
        }
        // t < 2n: one subtraction brings it below n.
        let over = t[limbs] != 0;
        t.truncate(limbs);
        if over || !less(&t, n) {
            subtract(&mut t, n);
        }
        t
    }

    /// base^exponent in Montgomery form, for base in Montgomery form and
    /// exponent at least 1 (left to right: the top bit of the exponent is
    /// base itself).
    fn power(&self, base: &[u32], exponent: u64) -> Vec<u32> {
        let mut acc = base.to_vec();
        for bit in (0..63u32.saturating_sub(exponent.leading_zeros())).rev() {
            acc = self.multiply(&acc, &acc);
            if exponent >> bit & 1 == 1 {
                acc = self.multiply(&acc, base);
            }
        }
        acc
    }

    /// A signature as a number below the modulus, if it is one: as long as
    /// the modulus (as the host requires) and smaller.
    fn signature(&self, bytes: &[u8]) -> Option<Vec<u32>> {
        if bytes.len() != self.length {
            return None;
        }
        let s = to_limbs(bytes, self.modulus.len())?;
        less(&s, &self.modulus).then_some(s)
    }

    /// Whether s^e mod n is the EMSA-PKCS1-v1_5 encoding of `digest`
    /// (RFC 8017, 9.2): 00 01 FF…FF 00, the DigestInfo, the digest.
    fn verifies(&self, digest: &[u8; 32], s: &[u32]) -> bool {
        // Into Montgomery form (s × R), raised, and out of it (× 1 × R⁻¹).
        let power = self.power(&self.multiply(s, &self.r_squared), self.exponent);
        let mut one = vec![0u32; self.modulus.len()];
        one[0] = 1;
        let m = self.multiply(&power, &one);
        let padding = self.length - 3 - SHA256_DIGEST_INFO.len() - digest.len();
        let expected = [0x00, 0x01]
            .iter()
            .chain(std::iter::repeat_n(&0xff, padding))
            .chain(&[0x00])
            .chain(&SHA256_DIGEST_INFO)
            .chain(digest);
        // m < n, so it fits the modulus' length: its bytes, most significant
        // first, from the top limb down.
        let bytes = m.iter().rev().flat_map(|limb| limb.to_be_bytes());
        let extra = 4 * m.len() - self.length;
        bytes.clone().take(extra).all(|b| b == 0) && bytes.skip(extra).eq(expected.copied())
    }
}

/// A DER INTEGER's contents as a positive number's big-endian bytes, the
/// first non-zero: `None` for zero, a negative number or a non-minimal
/// encoding (which DER does not write).
fn positive(contents: &[u8]) -> Option<&[u8]> {
    match contents {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => Some(rest),
        [first, ..] if *first != 0 && first & 0x80 == 0 => Some(contents),
        _ => None,
    }
}

/// Big-endian bytes as `limbs` little-endian 32-bit limbs, if they fit.
fn to_limbs(bytes: &[u8], limbs: usize) -> Option<Vec<u32>> {
    if bytes.len() > 4 * limbs {
        return None;
    }
    let mut out = vec![0u32; limbs];
    for (i, byte) in bytes.iter().rev().enumerate() {
        out[i / 4] |= u32::from(*byte) << (8 * (i % 4));
    }
    Some(out)
}

/// Whether a < b, both as long.
fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a ← a - b mod 2^(32 × limbs).
fn subtract(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let difference = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *x = difference as u32;
        borrow = difference >> 63;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::der::pem_block;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use sha2::{Digest, Sha256};

    fn data(name: &str) -> String {
        let path = format!("{}/test_data/signers/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn key(name: &str) -> String {
        data(&format!("{name}.pub"))
    }

    fn signature(name: &str) -> String {
        data(&format!("{name}.sig")).trim().to_string()
    }

    fn digest(payload: &str) -> String {
        data(&format!("{payload}.digest")).trim().to_string()
    }

    /// One key against one signature of `payload`.
    fn one(key_name: &str, payload: &str, signature: &str) -> Option<bool> {
        signed_by(&[&key(key_name)], &[(&digest(payload), signature)])[0]
    }

    fn encode(bytes: &[u8]) -> String {
        let pem = pem_block("X", bytes);
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    fn decode(text: &str) -> Vec<u8> {
        base64_decode(text).unwrap()
    }

    const CHECKABLE: [&str; 5] = ["p256", "p256-other", "rsa2048", "rsa3072-e3", "rsa4096"];

    #[test]
    fn the_digests_are_the_payloads_sha256() {
        for payload in ["payload", "other-payload"] {
            let hash = Sha256::digest(data(&format!("{payload}.json")).as_bytes());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digest(payload), format!("sha256:{hex}"));
        }
    }

    #[test]
    fn each_key_recognises_its_own_signature_and_no_other() {
        let all = [
            "p256",
            "p256-other",
            "p384",
            "rsa2048",
            "rsa3072-e3",
            "rsa4096",
        ];
        for signer in all {
            for key_name in CHECKABLE {
                assert_eq!(
                    one(key_name, "payload", &signature(signer)),
                    Some(key_name == signer),
                    "{key_name} on {signer}'s signature"
                );
            }
        }
        // The host checks a P-384 key over SHA-384 of the payload: nothing
        // can be told from the SHA-256 digest, whoever signed.
        for signer in ["p384", "p384-sha384", "p256", "rsa2048"] {
            assert_eq!(one("p384", "payload", &signature(signer)), None, "{signer}");
        }
    }

    #[test]
    fn a_key_rotation_is_told_apart() {
        let keys = ["p256", "rsa2048", "rsa4096", "p256-other"].map(key);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let signatures = [signature("rsa2048"), signature("p256-other")];
        let digest = digest("payload");
        let pairs: Vec<(&str, &str)> = signatures
            .iter()
            .map(|s| (digest.as_str(), s.as_str()))
            .collect();
        assert_eq!(
            signed_by(&keys, &pairs),
            [Some(false), Some(true), Some(false), Some(true)]
        );
        // No signature at all: no key made one.
        assert_eq!(signed_by(&keys[..1], &[]), [Some(false)]);
        assert_eq!(signed_by(&[], &pairs), []);
    }

    #[test]
    fn a_signature_over_another_digest_is_no_match() {
        for name in CHECKABLE {
            assert_eq!(
                one(name, "other-payload", &signature(name)),
                Some(false),
                "{name}"
            );
        }
        assert_eq!(one("p384", "other-payload", &signature("p384")), None);
    }

    #[test]
    fn tampered_signatures_are_no_match() {
        for name in CHECKABLE {
            let genuine = decode(&signature(name));
            // A byte in the middle: for ECDSA inside r, the DER unchanged.
            let mut tampered = genuine.clone();
            tampered[8] ^= 0x01;
            assert_eq!(
                one(name, "payload", &encode(&tampered)),
                Some(false),
                "{name}"
            );
            // The last byte: for ECDSA the low byte of s.
            let mut tampered = genuine.clone();
            *tampered.last_mut().unwrap() ^= 0x80;
            assert_eq!(
                one(name, "payload", &encode(&tampered)),
                Some(false),
                "{name}"
            );
            // Truncated, and with a byte too many.
            for cut in [1, 2, genuine.len() / 2, genuine.len() - 1] {
                let truncated = &genuine[..genuine.len() - cut];
                assert_eq!(
                    one(name, "payload", &encode(truncated)),
                    Some(false),
                    "{name} -{cut}"
                );
            }
            let mut longer = genuine.clone();
            longer.push(0);
            assert_eq!(
                one(name, "payload", &encode(&longer)),
                Some(false),
                "{name} +1"
            );
        }
    }

    #[test]
    fn garbage_is_no_match_and_an_unreadable_digest_tells_nothing() {
        let digest = digest("payload");
        for garbage in [
            "",
            "!!!!",
            "MEUCIQ",
            "MEUCIQ==MEUC",
            "bm90IGEgc2lnbmF0dXJl",
            " MEUCIQ== ",
        ] {
            for name in CHECKABLE {
                assert_eq!(
                    signed_by(&[&key(name)], &[(&digest, garbage)]),
                    [Some(false)],
                    "{name} on {garbage:?}"
                );
            }
        }
        let huge = "A".repeat(1 << 20);
        assert_eq!(
            signed_by(&[&key("rsa4096")], &[(&digest, &huge)]),
            [Some(false)]
        );
        // A digest that is not sha256:<64 lowercase hex> may name any payload.
        let genuine = signature("p256");
        for unreadable in [
            digest.to_uppercase().replace("SHA256", "sha256"),
            digest.replace("sha256:", "sha384:"),
            digest[..digest.len() - 1].to_string(),
            format!("{digest}0"),
            String::new(),
            "sha256:".to_string() + &"é".repeat(32),
        ] {
            assert_eq!(
                signed_by(&[&key("p256")], &[(&unreadable, &signature("rsa2048"))]),
                [None],
                "{unreadable:?}"
            );
            // A genuine signature beside it still counts.
            assert_eq!(
                signed_by(&[&key("p256")], &[(&unreadable, "x"), (&digest, &genuine)]),
                [Some(true)],
            );
        }
    }

    /// A DER ECDSA signature of r and s (big-endian, at most 127 bytes in all).
    fn ecdsa_der(r: &[u8], s: &[u8]) -> Vec<u8> {
        let integer = |bytes: &[u8]| {
            let mut out = vec![INTEGER];
            let pad = bytes.first().is_some_and(|b| b & 0x80 != 0);
            out.push((bytes.len() + usize::from(pad)) as u8);
            if pad {
                out.push(0);
            }
            out.extend_from_slice(bytes);
            out
        };
        let mut contents = integer(r);
        contents.extend(integer(s));
        crate::trust::der::sequence(&contents)
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ecdsa_r_or_s_zero_or_out_of_range_is_no_match() {
        let genuine = decode(&signature("p256"));
        let mut reader = Reader::new(&genuine);
        let mut pair = Reader::new(reader.expect(SEQUENCE, "").unwrap());
        let r = positive(pair.expect(INTEGER, "").unwrap())
            .unwrap()
            .to_vec();
        let s = positive(pair.expect(INTEGER, "").unwrap())
            .unwrap()
            .to_vec();
        // Re-encoded, the genuine pair still matches: the encoder is right.
        assert_eq!(
            one("p256", "payload", &encode(&ecdsa_der(&r, &s))),
            Some(true)
        );
        // The curve's order (FIPS 186-4, D.1.2.3), one above, and a byte too long.
        let order = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let mut above = order.clone();
        *above.last_mut().unwrap() += 1;
        let too_long = [&[1u8][..], &order].concat();
        for (r, s) in [
            (&[0u8][..], &s[..]),
            (&r[..], &[0u8][..]),
            (&order[..], &s[..]),
            (&r[..], &order[..]),
            (&above[..], &s[..]),
            (&r[..], &above[..]),
            (&too_long[..], &s[..]),
            (&r[..], &too_long[..]),
        ] {
            let der = ecdsa_der(r, s);
            assert_eq!(
                one("p256", "payload", &encode(&der)),
                Some(false),
                "{der:02x?}"
            );
        }
    }

    #[test]
    fn rsa_signatures_out_of_range_are_no_match() {
        for name in ["rsa2048", "rsa3072-e3", "rsa4096"] {
            let pem = key(name);
            let (_, der) = public_key_material(&pem).unwrap();
            let rsa = RsaKey::read(&der).unwrap();
            let modulus: Vec<u8> = rsa
                .modulus
                .iter()
                .rev()
                .flat_map(|l| l.to_be_bytes())
                .collect();
            let modulus = &modulus[modulus.len() - rsa.length..];
            let zero = vec![0u8; rsa.length];
            let mut one_byte = zero.clone();
            *one_byte.last_mut().unwrap() = 1;
            let mut minus_one = modulus.to_vec();
            *minus_one.last_mut().unwrap() -= 1;
            for bad in [
                modulus.to_vec(),
                vec![0xff; rsa.length],
                zero,
                one_byte,
                minus_one,
            ] {
                assert_eq!(one(name, "payload", &encode(&bad)), Some(false), "{name}");
            }
        }
    }

    #[test]
    fn keys_that_the_digest_cannot_check_tell_nothing() {
        let digest = digest("payload");
        let genuine = signature("ed25519");
        assert_eq!(
            signed_by(&[&key("ed25519")], &[(&digest, &genuine)]),
            [None]
        );
        let keys = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/test_data/keys/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for other in ["ed448.pub", "p521.pub", "rsa1024.pub", "signer.crt"] {
            assert_eq!(
                signed_by(&[&keys(other)], &[(&digest, &genuine)]),
                [None],
                "{other}"
            );
        }
        for unreadable in [
            "",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
        ] {
            assert_eq!(signed_by(&[unreadable], &[(&digest, &genuine)]), [None]);
        }
    }

    /// An RSA public key of `modulus` and `exponent` (big-endian, non-zero),
    /// as PEM.
    fn rsa_pem(modulus: &[u8], exponent: &[u8]) -> String {
        let integer = |bytes: &[u8]| {
            let bytes = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
            let mut contents = Vec::new();
            if bytes[0] & 0x80 != 0 {
                contents.push(0);
            }
            contents.extend_from_slice(bytes);
            let mut der = crate::trust::der::sequence(&contents);
            der[0] = INTEGER;
            der
        };
        let key = crate::trust::der::sequence(&[integer(modulus), integer(exponent)].concat());
        let mut bit_string = crate::trust::der::sequence(&[&[0u8][..], &key].concat());
        bit_string[0] = crate::trust::der::BIT_STRING;
        let algorithm = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let spki = crate::trust::der::sequence(&[&algorithm[..], &bit_string].concat());
        pem_block("PUBLIC KEY", &spki)
    }

    #[test]
    fn rsa_keys_out_of_bounds_tell_nothing() {
        let (_, der) = public_key_material(&key("rsa2048")).unwrap();
        let rsa = RsaKey::read(&der).unwrap();
        let modulus: Vec<u8> = rsa
            .modulus
            .iter()
            .rev()
            .flat_map(|l| l.to_be_bytes())
            .collect();
        let digest = digest("payload");
        let genuine = signature("rsa2048");
        let check = |pem: &str| signed_by(&[pem], &[(&digest, &genuine)])[0];
        assert_eq!(check(&rsa_pem(&modulus, &[1, 0, 1])), Some(true));
        for exponent in [&[1][..], &[2], &[1, 0, 0], &[2, 0, 1], &[1, 0, 0, 0, 1]] {
            assert_eq!(check(&rsa_pem(&modulus, exponent)), None, "{exponent:?}");
        }
        let mut even = modulus.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(check(&rsa_pem(&even, &[1, 0, 1])), None);
        let mut huge = vec![0xff; 8192 / 8 + 1];
        *huge.last_mut().unwrap() = 0xfd;
        assert_eq!(check(&rsa_pem(&huge, &[1, 0, 1])), None);
        let largest = &huge[1..];
        assert_eq!(check(&rsa_pem(largest, &[1, 0, 1])), Some(false));
    }

    #[test]
    fn montgomery_arithmetic_matches_a_plain_reference() {
        // Plain arithmetic modulo n, bit by bit: slow, but nothing to get wrong.
        fn add_mod(a: &mut [u32], b: &[u32], n: &[u32]) {
            let mut carry = 0u64;
            for (x, y) in a.iter_mut().zip(b) {
                let sum = u64::from(*x) + u64::from(*y) + carry;
                *x = sum as u32;
                carry = sum >> 32;
            }
            if carry == 1 || !less(a, n) {
                subtract(a, n);
            }
        }
        fn mul_mod(a: &[u32], b: &[u32], n: &[u32]) -> Vec<u32> {
            let mut acc = vec![0u32; n.len()];
            for bit in (0..32 * n.len()).rev() {
                let doubled = acc.clone();
                add_mod(&mut acc, &doubled, n);
                if b[bit / 32] >> (bit % 32) & 1 == 1 {
                    add_mod(&mut acc, a, n);
                }
            }
            acc
        }
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..6 {
            let (mut n, s, e) = (
                proptest::collection::vec(any::<u8>(), 256..=260),
                proptest::collection::vec(any::<u8>(), 200..=256),
                prop_oneof![Just(3u64), Just(65537u64), 3u64..(1 << 17)],
            )
                .new_tree(&mut runner)
                .unwrap()
                .current();
            n[0] |= 0x80;
            *n.last_mut().unwrap() |= 1;
            let e = e | 1;
            let pem = rsa_pem(&n, &e.to_be_bytes()[5..]);
            let (_, der) = public_key_material(&pem).unwrap();
            let key = RsaKey::read(&der).unwrap();
            assert_eq!(key.modulus[0].wrapping_mul(key.inverse), u32::MAX);
            let s = to_limbs(&s, key.modulus.len()).unwrap();
            let mut expected = s.clone();
            for bit in (0..63 - e.leading_zeros()).rev() {
                expected = mul_mod(&expected, &expected, &key.modulus);
                if e >> bit & 1 == 1 {
                    expected = mul_mod(&expected, &s, &key.modulus);
                }
            }
            let mut one = vec![0u32; key.modulus.len()];
            one[0] = 1;
            let power = key.power(&key.multiply(&s, &key.r_squared), e);
            assert_eq!(key.multiply(&power, &one), expected, "e = {e}");
        }
    }

    #[test]
    fn the_work_is_bounded() {
        // More signatures than are read: a key that made none of the first
        // ones is not known to have made none.
        let digest = digest("payload");
        let other = signature("p256-other");
        let genuine = signature("p256");
        let mut pairs = vec![(digest.as_str(), other.as_str()); MAX_SIGNATURES];
        assert_eq!(signed_by(&[&key("p256")], &pairs), [Some(false)]);
        pairs.push((&digest, &genuine));
        assert_eq!(signed_by(&[&key("p256")], &pairs), [None]);
        // Distinct signatures past the budget: the keys not reached are not judged.
        let distinct: Vec<String> = (0..MAX_SIGNATURES)
            .map(|i| {
                let mut bytes = decode(&other);
                bytes[8] ^= i as u8;
                encode(&bytes)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = distinct
            .iter()
            .map(|s| (digest.as_str(), s.as_str()))
            .collect();
        let p256 = key("p256");
        let keys = vec![p256.as_str(); 2 * MAX_WORK as usize / MAX_SIGNATURES];
        let judged = signed_by(&keys, &pairs);
        assert_eq!(
            judged.iter().filter(|j| **j == Some(false)).count(),
            MAX_WORK as usize / MAX_SIGNATURES
        );
        assert!(
            judged.iter().rev().take(1).all(Option::is_none),
            "{judged:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(
            keys in proptest::collection::vec(".{0,300}", 0..4),
            signatures in proptest::collection::vec((".{0,80}", ".{0,300}"), 0..4),
        ) {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let signatures: Vec<(&str, &str)> =
                signatures.iter().map(|(d, s)| (d.as_str(), s.as_str())).collect();
            let judged = signed_by(&keys, &signatures);
            prop_assert_eq!(judged.len(), keys.len());
        }

        #[test]
        fn arbitrary_signature_bytes_never_panic_nor_match(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            digest in proptest::collection::vec(any::<u8>(), 32),
        ) {
            let digest: String = "sha256:".to_string() + &digest.iter().map(|b| format!("{b:02x}")).collect::<String>();
            let signature = encode(&bytes);
            for name in CHECKABLE {
                let judged = signed_by(&[&key(name)], &[(&digest, &signature)]);
                prop_assert_eq!(judged, vec![Some(false)]);
            }
        }

        #[test]
        fn arbitrary_key_bytes_never_panic(
            der in proptest::collection::vec(any::<u8>(), 0..600),
            mutation in (0usize..600, any::<u8>()),
            signature in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let digest = digest("payload");
            let signature = encode(&signature);
            signed_by(&[&pem_block("PUBLIC KEY", &der)], &[(&digest, &signature)]);
            // A real key with one byte changed: near misses reach deeper.
            for name in ["p256", "p384", "rsa2048", "ed25519"] {
                let mut der = crate::trust::der::pem_contents(&key(name), "PUBLIC KEY").unwrap();
                let at = mutation.0 % der.len();
                der[at] = mutation.1;
                signed_by(&[&pem_block("PUBLIC KEY", &der)], &[(&digest, &signature)]);
            }
        }

        #[test]
        fn random_rsa_keys_never_panic(
            modulus in proptest::collection::vec(any::<u8>(), 250..=1030),
            exponent in any::<u32>(),
            signature in proptest::collection::vec(any::<u8>(), 250..=1030),
        ) {
            let mut modulus = modulus;
            modulus[0] |= 1;
            let pem = rsa_pem(&modulus, &exponent.max(1).to_be_bytes());
            let digest = digest("payload");
            let judged = signed_by(&[&pem], &[(&digest, &encode(&signature))]);
            prop_assert_ne!(judged, vec![Some(true)]);
        }
    }
}
