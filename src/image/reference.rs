//! Image references: parsing with the OCI distribution grammar, the equivalent
//! spellings of one image, and the pinned `name:tag@digest` form.
//!
//! The grammar is the distribution project's `reference` grammar, the one
//! `oci_spec::distribution::Reference` implements. That type parses with the
//! `regex` crate, whose engine and Unicode tables would be over half of this
//! module (about 600 KB, pushing it past 1 MB), so the grammar is written out
//! here and a differential test checks it agrees with `oci-spec` on every
//! sample. Tags are ASCII (`[A-Za-z0-9_]`), where `oci-spec` also takes
//! Unicode word characters that no registry accepts.

use thiserror::Error;

const NAME_TOTAL_LENGTH_MAX: usize = 255;
const DEFAULT_TAG: &str = "latest";
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// Other host names of Docker Hub's registry API: a runtime pulls each of
/// them from the same place as `docker.io`. (`hub.docker.com` is the web
/// site, which serves no images: it is a registry of its own to a runtime,
/// and stays one here.)
const DOCKER_HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];
const DOCKER_OFFICIAL_PREFIX: &str = "library/";
/// The port every registry host name means when it names none (HTTPS).
const DEFAULT_PORT: &str = "443";

/// Why a reference does not parse, in the policy's words (the differential
/// test checks that `oci-spec` refuses the same references for the same
/// reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReferenceError {
    #[error("it names no image")]
    Empty,
    #[error(
        "it is not of the form [registry/]path[:tag][@digest], in lower case but for the registry and the tag"
    )]
    InvalidFormat,
    /// distribution's grammar takes any digits; runtimes read them as a
    /// number, so `:05000` is port 5000 and `:0` or `:99999` no port at all.
    #[error("invalid registry port: a port is a number from 1 to 65535")]
    InvalidPort,
    #[error("its registry and path are longer than 255 characters")]
    NameTooLong,
    #[error("its digest is not of the form algorithm:hex")]
    InvalidDigestFormat,
    #[error("its digest's algorithm is none of sha256, sha384, sha512")]
    UnsupportedDigestAlgorithm,
    #[error("its digest's hex is not as long as its algorithm's")]
    InvalidDigestLength,
}

/// A reference that does not parse, with what was written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid image reference {written:?}: {reason}")]
pub struct InvalidReference {
    pub written: String,
    pub reason: ReferenceError,
}

/// An image reference as a workload wrote it, with its normalised parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference exactly as written in the workload.
    pub written: String,
    /// Registry host, in its one spelling ([`canonical_registry`]: lower
    /// case, the port as a number, `docker.io` for every name of Docker Hub).
    pub registry: String,
    /// Repository path, `library/x` for Docker Hub official images.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was written.
    pub tag: Option<String>,
    /// Digest, when the reference pins one.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(written: &str) -> Result<ImageRef, InvalidReference> {
        parse_reference(written).map_err(|reason| InvalidReference {
            written: written.to_string(),
            reason,
        })
    }

    /// `registry/repository[:tag][@digest]`: one spelling per image, the one
    /// sent to the host and used to share answers between containers.
    pub fn canonical(&self) -> String {
        let mut out = format!("{}/{}", self.registry, self.repository);
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }

    /// The repository as a pattern's path may match it: Docker Hub's official
    /// images also answer to their short name (`library/nginx` and `nginx`).
    pub fn repository_spellings(&self) -> impl Iterator<Item = &str> {
        let short = self
            .repository
            .strip_prefix(DOCKER_OFFICIAL_PREFIX)
            .filter(|short| self.registry == DOCKER_HUB && !short.contains('/'));
        std::iter::once(self.repository.as_str()).chain(short)
    }

    /// The reference rewritten to carry `digest`, keeping the spelling the
    /// workload used: `nginx:1.25` becomes `nginx:1.25@sha256:...`, and a bare
    /// `nginx` becomes `nginx:latest@sha256:...` so the tag stays visible.
    pub fn pinned(&self, digest: &str) -> String {
        let name_and_tag = match self.written.split_once('@') {
            Some((before, _)) => before.to_string(),
            None if self.digest.is_none() && split_tag(&self.written).1.is_none() => {
                format!(
                    "{}:{}",
                    self.written,
                    self.tag.as_deref().unwrap_or(DEFAULT_TAG)
                )
            }
            None => self.written.clone(),
        };
        format!("{name_and_tag}@{digest}")
    }
}

/// `name[:tag][@digest]`, normalised as Docker does: a name whose first
/// component has no `.` or `:` and is not `localhost` is on Docker Hub, and a
/// one-component Docker Hub name is under `library/`.
fn parse_reference(written: &str) -> Result<ImageRef, ReferenceError> {
    if written.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let (rest, digest) = match written.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (written, None),
    };
    let (name, tag) = split_tag(rest);
    if !is_name(name) || !tag.is_none_or(is_tag) || !digest.is_none_or(is_digest_syntax) {
        return Err(ReferenceError::InvalidFormat);
    }
    let written_port = name
        .split_once('/')
        .and_then(|(first, _)| first.split_once(':'));
    if written_port.is_some_and(|(_, port)| port_number(port).is_none()) {
        return Err(ReferenceError::InvalidPort);
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(digest) = digest {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or(ReferenceError::InvalidDigestFormat)?;
        let expected_len =
            digest_hex_length(algorithm).ok_or(ReferenceError::UnsupportedDigestAlgorithm)?;
        if hex.len() != expected_len {
            return Err(ReferenceError::InvalidDigestLength);
        }
    }
    let tag = match (tag, digest) {
        (None, None) => Some(DEFAULT_TAG),
        (tag, _) => tag,
    };
    Ok(ImageRef {
        written: written.to_string(),
        registry,
        repository,
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// `[domain "/"] path-component ("/" path-component)*`.
fn is_name(name: &str) -> bool {
    let is_path = |path: &str| path.split('/').all(is_path_component);
    is_path(name)
        || name
            .split_once('/')
            .is_some_and(|(domain, path)| is_domain(domain) && is_path(path))
}

/// `[a-z0-9]+ ((\.|_|__|-*) [a-z0-9]+)*`.
fn is_path_component(component: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Every run of separators between alphanumerics must be ".", "_", "__" or dashes.
    bytes
        .split(alnum)
        .filter(|run| !run.is_empty())
        .all(|run| matches!(run, b"." | b"_" | b"__") || run.iter().all(|b| *b == b'-'))
}

/// `host-component ("." host-component)* [":" port]`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let is_port = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let is_host_component = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    host.split('.').all(is_host_component) && port.is_none_or(is_port)
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|b| word(*b) || *b == b'.' || *b == b'-')
}

/// `algorithm ":" hex{32,}`, algorithm components `[A-Za-z][A-Za-z0-9]*`
/// joined by one of `-_+.`.
fn is_digest_syntax(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let is_component = |c: &str| {
        c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && c.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    algorithm.split(['-', '_', '+', '.']).all(is_component)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Docker's domain split (distribution `normalize.go`), then one spelling per
/// registry: [`canonical_registry`].
fn split_domain(name: &str) -> (String, String) {
    let (domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if is_registry_component(first) => {
            (canonical_registry(first), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("{DOCKER_OFFICIAL_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Whether a reference's first component names a registry rather than a
/// Docker Hub repository: it has a `.`, a port or an upper-case letter (a
/// repository has none), or is `localhost`.
pub(crate) fn is_registry_component(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// One spelling for each registry, so that every way of writing it matches
/// the same patterns and asks the host the same question, and one that every
/// reader (the runtime, the host, this policy) takes for the same registry:
///
/// - host names are case-insensitive: lower case;
/// - a port is a number: `:05000` is `:5000` (a port that is no number from 1
///   to 65535 is refused by the parser; a pattern's `*` is kept as written);
/// - `:443` is the port a host name means anyway, so it is dropped where the
///   name still reads as a registry without it (a `.` in it, or `localhost`)
///   and kept, or added, where it would otherwise read as a Docker Hub
///   repository: `MYREG/app` and `myreg:443/app` are `myreg:443/app`, never
///   Docker Hub's `myreg/app`;
/// - Docker Hub answers to several names, all `docker.io`.
pub(crate) fn canonical_registry(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    let (host, port) = match lower.split_once(':') {
        Some((host, port)) => (host, Some(port.trim_start_matches('0'))),
        None => (lower.as_str(), None),
    };
    match port {
        Some(port) if port != DEFAULT_PORT => format!("{host}:{port}"),
        _ if host == DOCKER_HUB || DOCKER_HUB_ALIASES.contains(&host) => DOCKER_HUB.to_string(),
        _ if host.contains('.') || host == "localhost" => host.to_string(),
        _ => format!("{host}:{DEFAULT_PORT}"),
    }
}

/// A port as a number, as container runtimes read a registry's: decimal,
/// leading zeros allowed, from 1 to 65535. The policy's one port rule (a
/// keyless `urlPrefix` port is read by it too).
pub(crate) fn port_number(port: &str) -> Option<u16> {
    let digits = port.trim_start_matches('0');
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 5 {
        return None;
    }
    digits.parse::<u16>().ok().filter(|n| *n > 0)
}

/// Splits `name[:tag]` (references and patterns alike): only a `:` in the
/// last path segment starts a tag; one before the last `/` is a registry port.
pub(crate) fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    match name_and_tag[last_slash..].find(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
        }
        None => (name_and_tag, None),
    }
}

/// The hex length of a digest algorithm's values; `None` for algorithms
/// registries do not use.
fn digest_hex_length(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// A well-formed content digest (`algorithm:hex` of the right length), as the
/// host must return for a verified image.
pub(crate) fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    digest_hex_length(algorithm) == Some(hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn docker_hub_spellings_are_one_image() {
        for written in [
            "nginx",
            "nginx:latest",
            "library/nginx",
            "docker.io/nginx",
            "docker.io/library/nginx:latest",
            "index.docker.io/library/nginx",
            "index.docker.io/nginx",
            "registry-1.docker.io/library/nginx",
            "Registry-1.Docker.IO:443/nginx",
            "DOCKER.IO/library/nginx",
            "registry.hub.docker.com/library/nginx",
            "Registry.Hub.Docker.com:0443/nginx",
        ] {
            let image = ImageRef::parse(written).unwrap();
            assert_eq!(
                image.canonical(),
                "docker.io/library/nginx:latest",
                "{written}"
            );
            let spellings: Vec<&str> = image.repository_spellings().collect();
            assert_eq!(spellings, ["library/nginx", "nginx"], "{written}");
        }
    }

    #[test]
    fn docker_hub_user_repository_has_no_short_spelling() {
        let image = ImageRef::parse("bitnami/redis:7").unwrap();
        let spellings: Vec<&str> = image.repository_spellings().collect();
        assert_eq!(spellings, ["bitnami/redis"]);
    }

    #[test]
    fn library_outside_docker_hub_is_an_ordinary_path() {
        let image = ImageRef::parse("reg.io/library/app").unwrap();
        let spellings: Vec<&str> = image.repository_spellings().collect();
        assert_eq!(spellings, ["library/app"]);
    }

    #[test]
    fn registry_host_case_and_default_port_are_one_registry() {
        for written in [
            "registry.example.org/team/app:1.0",
            "REGISTRY.EXAMPLE.ORG/team/app:1.0",
            "Registry.Example.Org:443/team/app:1.0",
        ] {
            let image = ImageRef::parse(written).unwrap();
            assert_eq!(image.registry, "registry.example.org", "{written}");
            assert_eq!(image.canonical(), "registry.example.org/team/app:1.0");
        }
    }

    #[test]
    fn a_port_is_a_number() {
        for (written, registry) in [
            ("127.0.0.1:05000/test/app:v1", "127.0.0.1:5000"),
            ("127.0.0.1:5000/test/app:v1", "127.0.0.1:5000"),
            (
                "registry.example.org:0443/myproject/evil:1.0",
                "registry.example.org",
            ),
            ("registry-1.docker.io:0443/library/nginx:1.25", "docker.io"),
            ("reg.io:00080/app", "reg.io:80"),
            ("reg.io:65535/app", "reg.io:65535"),
        ] {
            assert_eq!(
                ImageRef::parse(written).unwrap().registry,
                registry,
                "{written}"
            );
        }
        for written in [
            "reg.io:0/app",
            "reg.io:00/app",
            "reg.io:65536/app",
            "reg.io:99999/app",
        ] {
            assert_eq!(
                ImageRef::parse(written).unwrap_err().reason,
                ReferenceError::InvalidPort,
                "{written}"
            );
        }
    }

    /// A host without a dot reads as a registry only with a port, an
    /// upper-case letter or as `localhost`: its one spelling keeps `:443`, so
    /// that the host (and a runtime reading that spelling) never takes it for
    /// a Docker Hub repository.
    #[test]
    fn a_dotless_registry_keeps_its_port() {
        for written in [
            "myreg:443/app:1",
            "MYREG/app:1",
            "MyReg:0443/app:1",
            "myreg:00443/app:1",
        ] {
            let image = ImageRef::parse(written).unwrap();
            assert_eq!(image.registry, "myreg:443", "{written}");
            assert_eq!(image.canonical(), "myreg:443/app:1", "{written}");
        }
        assert_eq!(
            ImageRef::parse("myreg/app:1").unwrap().canonical(),
            "docker.io/myreg/app:1"
        );
        for written in ["localhost/app", "LOCALHOST:443/app", "localhost:0443/app"] {
            assert_eq!(
                ImageRef::parse(written).unwrap().registry,
                "localhost",
                "{written}"
            );
        }
    }

    #[test]
    fn other_ports_name_another_registry() {
        let image = ImageRef::parse("registry.example.org:5000/team/app:1.0").unwrap();
        assert_eq!(image.registry, "registry.example.org:5000");
        assert_eq!(image.tag.as_deref(), Some("1.0"));
        assert_eq!(image.digest, None);
        let http = ImageRef::parse("registry.example.org:80/team/app").unwrap();
        assert_eq!(http.registry, "registry.example.org:80");
    }

    #[test]
    fn pinning_keeps_the_written_spelling_of_a_respelled_registry() {
        let image = ImageRef::parse("Registry.Example.Org:443/team/app:1.0").unwrap();
        assert_eq!(
            image.pinned(DIGEST),
            format!("Registry.Example.Org:443/team/app:1.0@{DIGEST}")
        );
    }

    #[test]
    fn digest_references_keep_their_tag() {
        let image = ImageRef::parse(&format!("reg.io/app:1@{DIGEST}")).unwrap();
        assert_eq!(image.tag.as_deref(), Some("1"));
        assert_eq!(image.digest.as_deref(), Some(DIGEST));
        let only_digest = ImageRef::parse(&format!("reg.io/app@{DIGEST}")).unwrap();
        assert_eq!(only_digest.tag, None);
        assert_eq!(only_digest.canonical(), format!("reg.io/app@{DIGEST}"));
    }

    #[test]
    fn invalid_references_are_errors() {
        let hex64 = "a".repeat(64);
        for (bad, reason) in [
            ("".to_string(), ReferenceError::Empty),
            ("UPPER".to_string(), ReferenceError::InvalidFormat),
            (
                "reg.io/app@sha256:abc".to_string(),
                ReferenceError::InvalidFormat,
            ),
            ("a b".to_string(), ReferenceError::InvalidFormat),
            ("reg.io//x".to_string(), ReferenceError::InvalidFormat),
            (":tag".to_string(), ReferenceError::InvalidFormat),
            (
                format!("reg.io/{}", "a".repeat(256)),
                ReferenceError::NameTooLong,
            ),
            (
                format!("reg.io/app@md5:{hex64}"),
                ReferenceError::UnsupportedDigestAlgorithm,
            ),
            (
                format!("reg.io/app@sha512:{hex64}"),
                ReferenceError::InvalidDigestLength,
            ),
        ] {
            let err = ImageRef::parse(&bad).unwrap_err();
            assert_eq!(err.reason, reason, "{bad}");
            assert_eq!(err.written, bad);
            assert!(
                err.to_string().starts_with("invalid image reference"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn pinning_keeps_the_written_spelling() {
        let pin = |written: &str| ImageRef::parse(written).unwrap().pinned(DIGEST);
        assert_eq!(pin("nginx:1.25"), format!("nginx:1.25@{DIGEST}"));
        assert_eq!(pin("nginx"), format!("nginx:latest@{DIGEST}"));
        assert_eq!(
            pin("localhost:5000/app"),
            format!("localhost:5000/app:latest@{DIGEST}")
        );
        assert_eq!(
            pin(&format!("reg.io/app:1@{DIGEST}")),
            format!("reg.io/app:1@{DIGEST}")
        );
    }

    /// Our reason for `oci-spec`'s: every reference it refuses we refuse for
    /// the same reason (its upper-case and tag errors are format errors here).
    fn same_reason(theirs: &oci_spec::distribution::ParseError) -> Option<ReferenceError> {
        use oci_spec::distribution::ParseError as Theirs;
        Some(match theirs {
            Theirs::DigestInvalidFormat => ReferenceError::InvalidDigestFormat,
            Theirs::DigestInvalidLength => ReferenceError::InvalidDigestLength,
            Theirs::DigestUnsupported => ReferenceError::UnsupportedDigestAlgorithm,
            Theirs::NameEmpty => ReferenceError::Empty,
            Theirs::NameTooLong => ReferenceError::NameTooLong,
            Theirs::NameContainsUppercase
            | Theirs::ReferenceInvalidFormat
            | Theirs::TagInvalidFormat => ReferenceError::InvalidFormat,
            #[allow(unreachable_patterns)]
            _ => return None,
        })
    }

    /// The hand-written grammar against `oci-spec`'s regex, on valid and
    /// invalid references alike: same verdict, same parts, same reason.
    #[test]
    fn agrees_with_oci_spec_reference() {
        let hex64 = "0123456789abcdef".repeat(4);
        let samples = [
            // Docker Hub, official and user images, in every spelling.
            "redis",
            "redis:7",
            "library/redis",
            "docker.io/redis",
            "index.docker.io/redis",
            "index.docker.io/library/redis:7.2",
            // A host-like first component with a port-like tag: no `/`, so
            // a Docker Hub repository and its tag.
            "builds.internal:4000",
            "builds.internal:latest",
            "builds.internal/tools:4000",
            "buildhost:4000/tools",
            "buildhost:4000/tools:v4",
            "localhost/tools",
            "localhost:4000/ci/tools/lint:v4",
            "eu-west-2.mirror.corp.internal/ci/tools/lint:nightly-2026",
            // A host-like tag, and a path component that looks like a host.
            "mirror.corp.internal/quay.io/acme/lint:quay.io",
            // A punycode host, and a punycode tag.
            "xn--80ak6aa92e.example/tools/lint:xn--80ak6aa92e.example",
            // An `_` in a host-like name: a Docker Hub path, never a host.
            "team_registry.corp:8443",
            "acme/team_registry.corp:8443",
            "acme/lint_rules",
            "acme/lint__rules",
            "acme/lint___rules",
            "acme/lint--rules",
            "acme/lint-_rules",
            "acme/lint.rules",
            "acme/lint..rules",
            "acme/-lint",
            "acme/lint-",
            "acme/lint_",
            "acme//lint",
            "acme/",
            "/acme",
            "",
            ":v4",
            "@sha256:abc",
            "LINT",
            "Mirror.Corp.Internal/lint",
            "mirror.corp.internal/Lint",
            "-mirror.corp.internal/lint",
            "mirror-.corp.internal/lint",
            "mirror.corp.internal:/lint",
            "mirror.corp.internal:44a/lint",
            "mirror.corp.internal/lint:",
            "mirror.corp.internal/lint:-v4",
            "mirror.corp.internal/lint:.v4",
            "mirror.corp.internal/lint:_v4",
            "mirror.corp.internal/lint:v@4",
            "mirror.corp.internal/lint@",
            "mirror.corp.internal/lint@sha256",
            "mirror.corp.internal/lint@sha256:abc",
            "mirror.corp.internal/lint@md5:00112233445566778899aabbccddeeff",
            "mirror.corp.internal/lint@sha256+b64:00112233445566778899aabbccddeeff",
            "mirror.corp.internal/lint@2sha:00112233445566778899aabbccddeeff",
            "mirror.corp.internal/lint@sha256:zz112233445566778899aabbccddeeff",
            "acme lint",
            "acme\tlint",
            "mirror.corp.internal/ci/lint:v4:v5",
            "mirror.corp.internal:4000:5000/lint",
            "[::1]:4000/lint",
            "127.0.0.1:4000/lint:v4",
            "127.0.0.1:04000/lint:v4",
            "mirror.corp.internal:65535/lint",
            "mirror.corp.internal:0443/lint",
            "buildhost:443/lint:v4",
            "buildhost:0443/lint:v4",
            "localhost:443/lint",
        ];
        let long_tag = format!("mirror.corp.internal/lint:{}", "v".repeat(129));
        let ok_tag = format!("mirror.corp.internal/lint:{}", "v".repeat(128));
        let long_name = format!("mirror.corp.internal/{}", "l".repeat(256));
        let digested = [
            format!("reg.io/app@sha256:{hex64}"),
            format!("reg.io/app:v1@sha256:{hex64}"),
            format!("reg.io/app@sha384:{hex64}"),
            format!("reg.io/app@sha512:{hex64}{hex64}"),
            format!("nginx@sha256:{}", hex64.to_uppercase()),
        ];
        let mut all: Vec<String> = samples.iter().map(|s| s.to_string()).collect();
        all.extend([long_tag, ok_tag, long_name]);
        all.extend(digested);
        // Where the two differ on purpose: distribution's grammar (and
        // oci-spec's) takes any digits as a port, runtimes read a number.
        let not_a_port = [
            "reg.io:0/app",
            "reg.io:000/app",
            "reg.io:65536/app",
            "reg.io:99999/app",
            "reg.io:123456789012345678901234567890/app",
        ];
        for sample in not_a_port {
            assert!(
                oci_spec::distribution::Reference::try_from(sample).is_ok(),
                "{sample}"
            );
            assert_eq!(
                parse_reference(sample).unwrap_err(),
                ReferenceError::InvalidPort,
                "{sample}"
            );
        }
        for sample in &all {
            let theirs = oci_spec::distribution::Reference::try_from(sample.as_str());
            let theirs = theirs.map(|r| (canonical_registry(r.registry()), r));
            let ours = parse_reference(sample);
            match (&theirs, &ours) {
                (Ok((registry, r)), Ok(o)) => {
                    assert_eq!(registry, &o.registry, "{sample}");
                    assert_eq!(r.repository(), o.repository, "{sample}");
                    assert_eq!(r.tag(), o.tag.as_deref(), "{sample}");
                    assert_eq!(r.digest(), o.digest.as_deref(), "{sample}");
                }
                (Err(e), Err(mine)) => assert_eq!(same_reason(e), Some(*mine), "{sample}: {e}"),
                _ => panic!("{sample}: oci-spec says {theirs:?}, we say {ours:?}"),
            }
        }
    }

    /// distribution's `splitDockerDomain` (what runtimes use) reads a first
    /// component with an upper-case letter as a registry host; `oci-spec`
    /// reads it as a Docker Hub repository, which it cannot be (repository
    /// names are lower case), so here the two differ on purpose.
    #[test]
    fn an_upper_case_first_component_is_a_registry_host() {
        for (written, registry) in [("Localhost/app", "localhost"), ("MYREG/app:1", "myreg:443")] {
            let image = ImageRef::parse(written).unwrap();
            assert_eq!(image.registry, registry, "{written}");
            assert_eq!(image.repository, "app", "{written}");
        }
    }

    #[test]
    fn digest_validation() {
        assert!(is_valid_digest(DIGEST));
        assert!(!is_valid_digest("sha256:abc"));
        assert!(!is_valid_digest(""));
        assert!(!is_valid_digest("md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!is_valid_digest(&DIGEST.replace('a', "z")));
    }
}
