//! A keyless `urlPrefix`, read twice: when the settings are checked
//! ([`host_can_read`]) and when a certificate's subject is compared with it
//! ([`as_the_host_reads_it`]). The two readings live here together because
//! they must agree: every prefix the check lets through must read back as
//! the host reads it.
//!
//! The host parses the prefix as a WHATWG URL when it is asked (and panics
//! when that fails, so every such request would fail), then compares the
//! subject with the URL's text, `/` added when it does not end with one.
//! A port is read by the image reference's one rule
//! ([`crate::image::reference::port_number`]); the tests below check that
//! the URL parser reads every port it accepts the same way.

use crate::image::reference::port_number;

/// Whether the host can read `prefix`, and reads it as
/// [`as_the_host_reads_it`] does: `http://` or `https://`; a host of
/// letters, digits, `-` and `.` (no punycode label, which the host decodes,
/// and an address in dotted-decimal only, since the URL parser reads any
/// host ending in a number as an IPv4 address); an optional port; a path of
/// printable characters that need no escaping, no query and no `.` or `..`
/// segment (which the URL parser would resolve).
pub(crate) fn host_can_read(prefix: &str) -> bool {
    let Some((_, authority, port, path)) = split(prefix) else {
        return false;
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
            && !l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    };
    let labels: Vec<&str> = authority.split('.').collect();
    let host_ok = labels.iter().all(|l| label(l))
        && match labels.last().is_some_and(|last| ends_in_a_number(last)) {
            true => is_dotted_decimal(&labels),
            false => true,
        };
    let port_ok = port.is_none_or(|p| port_number(p).is_some());
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !br#""<>\^`{|}#?"#.contains(&b))
        && !path.split('/').any(is_dot_segment);
    host_ok && port_ok && path_ok
}

/// A `urlPrefix` as the host compares it: parsed as a URL (scheme and host
/// in lower case, a default port dropped, an empty path `/`) and ending with
/// `/`, so `https://github.com/org` does not cover `https://github.com/org-evil/`.
/// Only meaningful for prefixes [`host_can_read`] accepts, the only ones the
/// settings take.
pub(crate) fn as_the_host_reads_it(prefix: &str) -> String {
    let (scheme, host, port, path) = split(prefix).unwrap_or(("https", prefix, None, ""));
    let default_port = if scheme == "https" { 443 } else { 80 };
    let port = match port.and_then(port_number) {
        Some(port) if port != default_port => format!(":{port}"),
        _ => String::new(),
    };
    let mut normalized = format!(
        "{scheme}://{}{port}{}",
        host.to_ascii_lowercase(),
        if path.is_empty() { "/" } else { path }
    );
    if !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized
}

/// Scheme, host, port (as written) and path (from its `/`) of an http(s) URL.
fn split(prefix: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let (scheme, rest) = prefix.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Some(match authority.split_once(':') {
        Some((host, port)) => (scheme, host, Some(port), path),
        None => (scheme, authority, None, path),
    })
}

/// The URL parser's "ends in a number": digits only, or `0x` and hex digits.
fn ends_in_a_number(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Four decimal numbers up to 255 without leading zeros: the one spelling
/// of an IPv4 address that the URL parser writes back unchanged.
fn is_dotted_decimal(labels: &[&str]) -> bool {
    labels.len() == 4
        && labels.iter().all(|l| {
            l.bytes().all(|b| b.is_ascii_digit())
                && (l == &"0" || !l.starts_with('0'))
                && l.parse::<u8>().is_ok()
        })
}

/// `.` or `..`, also percent-encoded (`%2e`), as the URL parser reads them.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "." | "%2e" | ".." | ".%2e" | "%2e." | "%2e%2e"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The host's reading: the prefix parsed by the URL parser the host
    /// uses, its text with `/` added when it does not end with one; `None`
    /// when the parser refuses it.
    fn host_reading(prefix: &str) -> Option<String> {
        let mut text = url::Url::parse(prefix).ok()?.to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        Some(text)
    }

    fn agrees(prefix: &str) {
        if host_can_read(prefix) {
            assert_eq!(
                Some(as_the_host_reads_it(prefix)),
                host_reading(prefix),
                "{prefix:?}"
            );
        }
    }

    /// Whatever the check accepts, the host parses, and reads as we do:
    /// every combination of spellings of each part.
    #[test]
    fn whatever_the_check_accepts_reads_back_as_the_host_reads_it() {
        let schemes = ["https://", "http://", "HTTPS://", "ftp://", "https:/", ""];
        let hosts = [
            "github.com",
            "GitHub.COM",
            "git-hub.example.org",
            "a",
            "xn--abc.com",
            "XN--abc.com",
            "xn--",
            "ab--cd.com",
            "-a.com",
            "a-.com",
            "a_b.com",
            "github.com.",
            ".github.com",
            "",
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "010.0.0.1",
            "1.2.3",
            "1",
            "0x7f.1",
            "foo.123",
            "foo.0x1f",
            "foo.0x",
            "123.foo",
            "0.0.0.0",
            "1.2.3.04",
            "user@github.com",
            "[::1]",
            "git hub.com",
            "gïthub.com",
        ];
        let ports = [
            "",
            ":443",
            ":0443",
            ":000000443",
            ":80",
            ":00080",
            ":8080",
            ":1",
            ":0",
            ":65535",
            ":0000065535",
            ":65536",
            ":",
            ":99999",
            ":-1",
            ":8a",
        ];
        let paths = [
            "",
            "/",
            "/org",
            "/org/",
            "/Org/Repo",
            "/a//b",
            "/~user/",
            "/@x",
            "/a;b=c",
            "/a%20b",
            "/a%zz",
            "/a/../b",
            "/a/./b",
            "/%2e%2e/x",
            "/.%2E/",
            "/%2E./",
            "/.",
            "/..",
            "/.../",
            "/a.b/",
            "/a?b",
            "/a#b",
            "/a b",
            "/a'b",
            "/a\\b",
            "/a^b",
            "/a|b",
            "/a`b",
            "/a{b}",
            "/a<b>",
            "/a\"b",
            "/é",
        ];
        let mut accepted = 0;
        for scheme in schemes {
            for host in hosts {
                for port in ports {
                    for path in paths {
                        let prefix = format!("{scheme}{host}{port}{path}");
                        agrees(&prefix);
                        accepted += usize::from(host_can_read(&prefix));
                    }
                }
            }
        }
        assert!(
            accepted > 1000,
            "the check accepts what it should: {accepted}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]
        #[test]
        fn any_accepted_prefix_reads_back_as_the_host_reads_it(
            prefix in "(https?|HTTP)://[a-zA-Z0-9x.:-]{0,16}(/[ -~]{0,12}){0,3}"
        ) {
            agrees(&prefix);
        }
    }

    #[test]
    fn a_prefix_covers_only_its_own_path() {
        for (prefix, read) in [
            ("https://github.com/org", "https://github.com/org/"),
            ("https://GitHub.com:443", "https://github.com/"),
            (
                "http://git.example.org:8080/team/",
                "http://git.example.org:8080/team/",
            ),
        ] {
            assert!(host_can_read(prefix), "{prefix}");
            assert_eq!(as_the_host_reads_it(prefix), read);
        }
    }
}
