//! Key material as operators paste it: PEM blocks (RFC 7468) and the DER
//! (X.690) inside them, read as far as the policy needs to tell a usable key
//! from a mistake. The host does the cryptography; this only reads structure,
//! so it is written out here rather than pulling in an ASN.1 library that
//! would be a tenth of the module.

/// DER tags the policy reads.
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
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

/// Reads DER elements one after another. Every element it returns is whole
/// and within its parent; what does not read so is an error.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(der: &'a [u8]) -> Reader<'a> {
        Reader { rest: der }
    }

    /// The next element, whatever its tag (one x509-cert knows).
    pub fn element(&mut self) -> Result<Element<'a>, String> {
        let element = self.read()?;
        if !known_tag(element.tag) {
            return Err(format!("unknown DER tag {:#04x}", element.tag));
        }
        Ok(element)
    }

    /// The next element, its tag unchecked.
    fn read(&mut self) -> Result<Element<'a>, String> {
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
        let element = self.read().map_err(|e| format!("{what}: {e}"))?;
        if element.tag != tag {
            return Err(format!(
                "{what}: expected DER tag {tag:#04x}, found {:#04x}",
                element.tag
            ));
        }
        Ok(element.contents)
    }

    /// The next element's contents if it has `tag`; nothing read otherwise.
    pub fn optional(&mut self, tag: u8, what: &str) -> Result<Option<&'a [u8]>, String> {
        match self.rest.first() {
            Some(&next) if next == tag => self.expect(tag, what).map(Some),
            _ => Ok(None),
        }
    }

    /// The next element, an OBJECT IDENTIFIER ([`check_object_identifier`]).
    pub fn object_identifier(&mut self, what: &str) -> Result<&'a [u8], String> {
        let oid = self.expect(OBJECT_IDENTIFIER, what)?;
        check_object_identifier(oid).map_err(|e| format!("{what}: {e}"))?;
        Ok(oid)
    }

    /// The next element, a BIT STRING: its count of unused bits and bytes.
    pub fn bit_string(&mut self, what: &str) -> Result<(u8, &'a [u8]), String> {
        let bits = self.expect(BIT_STRING, what)?;
        bit_string(bits).map_err(|e| format!("{what}: {e}"))
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
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

/// Whether x509-cert's DER reader knows `tag`: the universal types it has
/// (SEQUENCE and SET constructed, the others not), or an application,
/// context-specific or private tag.
fn known_tag(tag: u8) -> bool {
    matches!(
        tag,
        0x01..=0x06
            | 0x09
            | 0x0a
            | 0x0c
            | 0x12..=0x18
            | 0x1a
            | 0x1e
            | 0x30
            | 0x31
            | 0x40..=0x7e
            | 0x80..=0xbe
            | 0xc0..=0xfe
    )
}

/// An OBJECT IDENTIFIER's contents as x509-cert reads one (the parser the
/// host's sigstore library reads certificates with): 3 to 39 bytes, the
/// first byte the first two arcs (the second at most 39), every other arc in
/// base 128 and at most 32 bits, the last one ended.
pub(crate) fn check_object_identifier(contents: &[u8]) -> Result<(), String> {
    let arcs_fit = |rest: &[u8]| {
        rest.last().is_some_and(|last| last & 0x80 == 0)
            && rest
                .split_inclusive(|b| b & 0x80 == 0)
                .all(|arc| arc.len() <= 4 || (arc.len() == 5 && arc[4] < 0x10))
    };
    match contents.split_first() {
        Some((&root, rest))
            if contents.len() >= 3 && contents.len() <= 39 && root < 120 && arcs_fit(rest) =>
        {
            Ok(())
        }
        _ => Err("not a well-formed object identifier".to_string()),
    }
}

/// A BIT STRING's contents: at most 7 unused bits, none when it is empty.
pub(crate) fn bit_string(contents: &[u8]) -> Result<(u8, &[u8]), String> {
    match contents.split_first() {
        Some((&unused, bytes)) if unused <= 7 && (unused == 0 || !bytes.is_empty()) => {
            Ok((unused, bytes))
        }
        _ => Err("not a well-formed bit string".to_string()),
    }
}

/// A BOOLEAN's contents as DER writes them: one byte, 0x00 or 0xff.
pub(crate) fn check_boolean(contents: &[u8]) -> Result<(), String> {
    match contents {
        [0x00] | [0xff] => Ok(()),
        _ => Err("not a DER boolean".to_string()),
    }
}

/// An IA5String's contents (ASCII), as text.
pub(crate) fn ia5_string(contents: &[u8]) -> Result<&str, String> {
    match contents.is_ascii() {
        // ASCII is UTF-8: this never fails.
        true => std::str::from_utf8(contents).map_err(|e| e.to_string()),
        false => Err("not an IA5String (ASCII)".to_string()),
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
    fn object_identifiers_are_read_as_x509_cert_reads_them() {
        for good in [
            &[0x55, 0x1d, 0x11][..],
            &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x01],
            &[0x2a, 0x8f, 0xff, 0xff, 0xff, 0x0f],
        ] {
            assert_eq!(check_object_identifier(good), Ok(()), "{good:02x?}");
        }
        for bad in [
            &[][..],
            &[0x2a, 0x03],
            &[0x78, 0x01, 0x01],
            &[0x2a, 0x86, 0x48, 0x86],
            &[0x2a, 0x8f, 0xff, 0xff, 0xff, 0x10],
            &[0x2a; 40],
        ] {
            assert!(check_object_identifier(bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn unknown_tags_are_errors() {
        for tag in [0x00, 0x07, 0x10, 0x22, 0x1f, 0xff] {
            assert!(Reader::new(&[tag, 0x00]).element().is_err(), "{tag:#04x}");
        }
        for tag in [0x01, 0x05, 0x0c, 0x30, 0x31, 0x80, 0xa3] {
            assert!(Reader::new(&[tag, 0x00]).element().is_ok(), "{tag:#04x}");
        }
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
