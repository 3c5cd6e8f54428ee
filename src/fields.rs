//! Hashing by fields: what the rules' fingerprint and a record's seal are
//! computed over. Each field is length-prefixed, so no two sequences of
//! fields feed the same bytes (`"ab", "c"` is not `"a", "bc"`).

use sha2::digest::Update;

/// A hash or a MAC, fed field by field.
pub(crate) struct Fields<D: Update>(pub D);

impl<D: Update> Fields<D> {
    /// A number, as 8 bytes (also each text's length prefix).
    pub fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_be_bytes());
    }

    pub fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.update(text.as_bytes());
    }

    /// Bytes of a fixed length (a digest), unprefixed.
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex back to bytes; `None` for anything else.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn hashed(fields: &[&str]) -> Vec<u8> {
        let mut hash = Fields(Sha256::new());
        for field in fields {
            hash.text(field);
        }
        hash.0.finalize().to_vec()
    }

    #[test]
    fn fields_are_told_apart_by_their_lengths() {
        assert_ne!(hashed(&["ab", "c"]), hashed(&["a", "bc"]));
        assert_ne!(hashed(&["", "a"]), hashed(&["a", ""]));
        assert_eq!(hashed(&["a", "b"]), hashed(&["a", "b"]));
    }

    #[test]
    fn hex_reads_back() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é0"), None);
    }
}
