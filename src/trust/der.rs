//! Key material as operators paste it: PEM blocks (RFC 7468) and the DER
//! (X.690) inside them, read as far as the policy needs to tell a usable key
//! from a mistake. The host does the cryptography; this only reads structure,
//! so it is written out here rather than pulling in an ASN.1 library that
//! would be a tenth of the module.

/// DER tags the policy reads.
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OBJECT_IDENTIFIER: u8 = 0x06;
pub(crate) const SEQUENCE: u8 = 0x30;

/// The bytes inside a PEM block labelled `label`.
pub(crate) fn pem_contents(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let mut lines = pem.trim().lines().map(str::trim);
    let begin = lines.next().unwrap_or_default();
    let found = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or("no \"-----BEGIN ...-----\" line")?;
    if found != label {
        return Err(format!("the PEM block is a {found:?}, not a {label:?}"));
    }
    let mut base64 = String::new();
    while let Some(line) = lines.next() {
        if line == format!("-----END {label}-----") {
            return match lines.next() {
                None => base64_decode(&base64),
                Some(_) => Err("text after the \"-----END\" line".to_string()),
            };
        }
        base64.push_str(line);
    }
    Err(format!("no \"-----END {label}-----\" line"))
}

/// Standard base64 with padding, as PEM (and cosign's annotations) use.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let text = text.as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return Err("the base64 text is not a whole number of 4-character groups".to_string());
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (i, group) in text.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != groups) {
            return Err("misplaced base64 padding".to_string());
        }
        let mut bits: u32 = 0;
        for &c in &group[..4 - padding] {
            let v = value(c).ok_or_else(|| format!("{:?} is not a base64 character", c as char))?;
            bits = bits << 6 | u32::from(v);
        }
        bits <<= 6 * padding as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - padding]);
    }
    Ok(out)
}

/// A PEM block labelled `label` around `der` (64 characters a line).
pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut base64 = Vec::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let bits =
            chunk.iter().fold(0u32, |bits, b| bits << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            base64.push(match i <= chunk.len() {
                true => ALPHABET[(bits >> (18 - 6 * i) & 63) as usize],
                false => b'=',
            });
        }
    }
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in base64.chunks(64) {
        // Only ALPHABET's characters and '=' were written.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The DER encoding of a SEQUENCE holding `contents`.
pub(crate) fn sequence(contents: &[u8]) -> Vec<u8> {
    let mut der = vec![SEQUENCE];
    match contents.len() {
        len @ 0..=0x7f => der.push(len as u8),
        len => {
            let bytes = len.to_be_bytes();
            let significant = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
            der.push(0x80 | significant.len() as u8);
            der.extend_from_slice(significant);
        }
    }
    der.extend_from_slice(contents);
    der
}

/// One DER element: its tag and contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
}

/// Reads DER elements one after another.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(der: &'a [u8]) -> Reader<'a> {
        Reader { rest: der }
    }

    /// The next element, whatever its tag.
    pub fn element(&mut self) -> Result<Element<'a>, String> {
        let [tag, first, ..] = *self.rest else {
            return Err("the DER ends early".to_string());
        };
        if tag & 0x1f == 0x1f {
            return Err("multi-byte DER tags are not expected here".to_string());
        }
        let (length, header) = match first {
            0..=0x7f => (usize::from(first), 2),
            0x81..=0x83 => {
                let count = usize::from(first & 0x7f);
                let bytes = self.rest.get(2..2 + count).ok_or("the DER ends early")?;
                let length = bytes.iter().fold(0, |n, b| n << 8 | usize::from(*b));
                // DER uses the shortest form of a length.
                if bytes[0] == 0 || length < 0x80 {
                    return Err("a DER length is not in its shortest form".to_string());
                }
                (length, 2 + count)
            }
            _ => return Err("unsupported DER length".to_string()),
        };
        let contents = self
            .rest
            .get(header..header + length)
            .ok_or("the DER ends early")?;
        self.rest = &self.rest[header + length..];
        Ok(Element { tag, contents })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        let element = self.element().map_err(|e| format!("{what}: {e}"))?;
        if element.tag != tag {
            return Err(format!(
                "{what}: expected DER tag {tag:#04x}, found {:#04x}",
                element.tag
            ));
        }
        Ok(element.contents)
    }

    /// Everything must have been read.
    pub fn finish(&self, what: &str) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{what}: unexpected bytes after it"))
        }
    }
}

/// An object identifier's contents in dotted form, e.g. `1.2.840.10045.2.1`.
pub(crate) fn oid_text(contents: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in contents {
        value = value.saturating_mul(128) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.extend([first, value - first * 40]);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
        assert!(base64_decode("TQ=").is_err());
        assert!(base64_decode("T===").is_err());
        assert!(base64_decode("TQ==TWFu").is_err());
        assert!(base64_decode("TW!u").is_err());
    }

    #[test]
    fn pem_blocks_are_read_strictly() {
        let pem = "-----BEGIN THING-----\nTWFu\nTQ==\n-----END THING-----\n";
        assert_eq!(pem_contents(pem, "THING").unwrap(), b"ManM");
        assert!(pem_contents(pem, "OTHER")
            .unwrap_err()
            .contains("\"THING\", not a \"OTHER\""));
        assert!(pem_contents("-----BEGIN THING-----\nTWFu\n", "THING").is_err());
        assert!(pem_contents("TWFu", "THING").is_err());
        assert!(pem_contents(&format!("{pem}junk"), "THING").is_err());
    }

    #[test]
    fn der_elements_and_lengths() {
        let mut reader = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05, 0x06, 0x00]);
        let sequence = reader.expect(SEQUENCE, "s").unwrap();
        assert_eq!(Reader::new(sequence).expect(INTEGER, "i").unwrap(), &[5]);
        assert_eq!(
            reader.element().unwrap(),
            Element {
                tag: OBJECT_IDENTIFIER,
                contents: &[]
            }
        );
        assert!(reader.finish("s").is_ok());
        assert!(
            Reader::new(&[0x02, 0x05, 0x00]).element().is_err(),
            "too short"
        );
        assert!(
            Reader::new(&[0x02, 0x81, 0x05]).element().is_err(),
            "long form for a short length"
        );
        assert!(
            Reader::new(&[0x02, 0x80]).element().is_err(),
            "indefinite length"
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([0; 128]);
        assert_eq!(Reader::new(&long).element().unwrap().contents.len(), 128);
    }

    #[test]
    fn oids_in_dotted_form() {
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            "1.2.840.10045.2.1"
        );
        assert_eq!(oid_text(&[0x2b, 0x81, 0x04, 0x00, 0x23]), "1.3.132.0.35");
    }
}
