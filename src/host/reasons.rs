//! The host's errors, condensed to their cause as soon as they are read,
//! and told apart by whether the registry could be reached at all.

use crate::text::cut;

/// The most of one host reason a message keeps.
pub const MAX_REASON_BYTES: usize = 200;

/// Why the host did not vouch for an image: the cause in one short line, and
/// whether it is only that the registry could not be reached or answered a
/// server error (a 5xx): the one failure an operator cannot fix, which a
/// controller-made workload may ride out on its owner's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub text: String,
    pub unreachable: bool,
}

impl Cause {
    /// A cause the module found itself (an untrusted answer, a digest that
    /// differs): never an outage.
    pub fn firm(text: impl Into<String>) -> Cause {
        Cause {
            text: text.into(),
            unreachable: false,
        }
    }

    /// A host error, condensed ([`condensed_reason`]) and classified.
    pub fn of_host_error(error: &str) -> Cause {
        let text = condensed_reason(error);
        let unreachable = text == UNREACHABLE
            || text
                .strip_prefix(SERVER_ANSWERED)
                .is_some_and(|code| code.len() == 3 && code.starts_with('5'));
        Cause { text, unreachable }
    }

    /// Whether the host found no `.sig` signature at all for the image.
    pub fn is_no_signatures(&self) -> bool {
        self.text == NO_SIGNATURES
    }

    /// Whether the registry answered that the manifest does not exist (for
    /// a `.sig` tag: the image has no signatures).
    pub fn is_missing_manifest(&self) -> bool {
        self.text == NO_SUCH_IMAGE || self.text.to_ascii_lowercase().ends_with("manifest unknown")
    }

    /// The same cause, with `context` before its text.
    pub fn within(self, context: &str) -> Cause {
        Cause {
            text: format!("{context}{}", self.text),
            unreachable: self.unreachable,
        }
    }
}

/// The condensed cause of a request that never got an HTTP answer
/// (refused, reset, timed out, no such host).
const UNREACHABLE: &str = "cannot reach the registry (connection failed)";
/// The condensed cause of an image with no `.sig` signature.
pub(crate) const NO_SIGNATURES: &str = "no signatures found";
/// The condensed cause of a manifest the registry does not have.
const NO_SUCH_IMAGE: &str = "the registry has no such image";
/// The condensed cause of an HTTP status other than a refusal, before its code.
const SERVER_ANSWERED: &str = "the registry answered HTTP ";

/// The cause in a host error, in one short line. The host's errors carry
/// whole constraint lists (PEM keys included), chains of causes and the
/// registry's own error body (twice), so a reason is condensed as soon as it
/// is read: the known causes to a few words, anything else to its first line,
/// at most [`MAX_REASON_BYTES`].
pub(crate) fn condensed_reason(error: &str) -> String {
    // The known causes are named near the start; a body of megabytes is
    // never searched whole.
    let head = cut(error, 1024);
    let known = [
        ("no signatures found for image", NO_SIGNATURES),
        (
            "Image verification failed: missing signatures",
            "no signature satisfies this key",
        ),
        (
            "Several Signature Layers failed verification",
            "no signature verifies with this certificate",
        ),
        (
            "No Signature Layer passed verification",
            "no signature passed the host's checks",
        ),
        (
            "Not authorized: url",
            "the registry refused: not authorized (401)",
        ),
        ("Image manifest not found", NO_SUCH_IMAGE),
        ("error sending request for url", UNREACHABLE),
    ];
    if let Some((_, cause)) = known.iter().find(|(marker, _)| head.contains(marker)) {
        return cause.to_string();
    }
    // The registry's own words for a refusal (an OCI error envelope).
    if let Some((_, rest)) = head.split_once("envelope: OCI API errors: [OCI API error: ") {
        let words = rest.split([']', '\n']).next().unwrap_or_default().trim();
        return format!("the registry refused: {}", cut(words, 120));
    }
    if let Some(code) = head
        .split_once(", code: ")
        .map(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
        })
        .filter(|code| !code.is_empty())
    {
        return match code {
            "401" | "403" => format!("the registry refused: HTTP {code}"),
            _ => format!("{SERVER_ANSWERED}{code}"),
        };
    }
    let first_line = head
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut reason = cut(first_line, MAX_REASON_BYTES).to_string();
    if reason.len() < first_line.len() || first_line.len() < error.trim().len() {
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_s_errors_are_condensed_to_their_cause() {
        let image = "127.0.0.1:5000/app:v1";
        for (error, cause) in [
            (format!("no signatures found for image: {image} "), "no signatures found"),
            (
                "Image verification failed: missing signatures\nThe following constraints were not satisfied:\n- kind: pubKey\n  key: |\n    -----BEGIN PUBLIC KEY-----\n".to_string(),
                "no signature satisfies this key",
            ),
            (
                format!("failed to get image trusted layers: Cannot fetch manifest of {image}: Not authorized: url http://127.0.0.1:5000/v2/app/manifests/v1"),
                "the registry refused: not authorized (401)",
            ),
            (
                "failed to get image trusted layers: Registry error: url http://r/v2/app/manifests/v1, envelope: OCI API errors: [OCI API error: requested access to the resource is denied]".to_string(),
                "the registry refused: requested access to the resource is denied",
            ),
            (
                format!("Cannot fetch manifest of {image}: Server error: url http://r/v2/app/manifests/v1, code: 403, message: no"),
                "the registry refused: HTTP 403",
            ),
            (
                format!("Cannot fetch manifest of {image}: Server error: url http://r, code: 502, message: {}", "x".repeat(5000)),
                "the registry answered HTTP 502",
            ),
            (
                format!("Cannot fetch manifest of {image}: error sending request for url (http://127.0.0.1:5000/v2/)"),
                "cannot reach the registry (connection failed)",
            ),
            (
                "Policy has not been granted access to the 'oci/v2/verify' host capability. The violation has been reported.".to_string(),
                "Policy has not been granted access to the 'oci/v2/verify' host capability. The violation has been reported.",
            ),
        ] {
            assert_eq!(condensed_reason(&error), cause, "{error}");
        }
    }

    #[test]
    fn only_an_unreachable_registry_or_a_server_error_is_an_outage() {
        let url = "http://127.0.0.1:5000/v2/app/manifests/v1";
        for (error, unreachable) in [
            (
                format!("Cannot fetch manifest: error sending request for url ({url})"),
                true,
            ),
            (
                format!("Cannot fetch manifest: Server error: url {url}, code: 500, message: x"),
                true,
            ),
            (
                format!("Cannot fetch manifest: Server error: url {url}, code: 503, message: x"),
                true,
            ),
            (
                format!("Cannot fetch manifest: Server error: url {url}, code: 404, message: x"),
                false,
            ),
            (
                format!("Cannot fetch manifest: Server error: url {url}, code: 403, message: x"),
                false,
            ),
            (
                format!("Cannot fetch manifest: Server error: url {url}, code: 429, message: x"),
                false,
            ),
            (
                format!("Cannot fetch manifest: Not authorized: url {url}"),
                false,
            ),
            ("no signatures found for image: r/app:1 ".to_string(), false),
            (
                "Image verification failed: missing signatures".to_string(),
                false,
            ),
            (format!("Image manifest not found: {url}"), false),
            (
                "Policy has not been granted access to the 'oci/v2/verify' host capability."
                    .to_string(),
                false,
            ),
            // A 5xx named only in free text is not read as one.
            ("the registry said 503".to_string(), false),
        ] {
            assert_eq!(
                Cause::of_host_error(&error).unreachable,
                unreachable,
                "{error}"
            );
        }
        assert!(!Cause::firm("the host reported the signature as not trusted").unreachable);
    }

    #[test]
    fn an_unknown_error_keeps_its_first_line_cut_at_a_character() {
        let error = format!(
            "{}é and more\nsecond line",
            "a".repeat(MAX_REASON_BYTES - 1)
        );
        let reason = condensed_reason(&error);
        assert_eq!(reason, format!("{}…", "a".repeat(MAX_REASON_BYTES - 1)));
        assert_eq!(condensed_reason("short"), "short");
        assert_eq!(condensed_reason("first\nsecond"), "first…");
    }
}
