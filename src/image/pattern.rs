//! SCST-Sign `namePattern`s: a pattern names a registry and a path, and
//! `*` in the path matches any run of characters, `/` included; a pattern
//! without a tag matches every tag.
//!
//! Both sides are compared in one spelling: the image's registry and the
//! pattern's are normalised by the same rule ([`canonical_registry`]), and a
//! `*` in the registry part only ever matches a host name, never a path.

use crate::image::reference::{
    canonical_registry, is_registry_component, split_tag, ImageRef, InvalidReference, DOCKER_HUB,
};
use thiserror::Error;
use wildmatch::WildMatch;

#[derive(Debug)]
pub struct NamePattern {
    pub source: String,
    scope: Scope,
    /// `None` when the pattern has no tag or its tag is `*`.
    tag: Option<WildMatch>,
}

/// Which names a pattern's name part (before the tag) covers.
#[derive(Debug)]
enum Scope {
    /// `registry/path`: the registry glob is matched against the image's
    /// registry host, the path glob against its repository. A pattern whose
    /// first component is not a host (`nginx`, `bitnami/*`) is on Docker Hub.
    Registry {
        registry: WildMatch,
        path: WildMatch,
    },
    /// `*` or `*/...`: any registry, so the glob is matched against the
    /// whole `registry/repository`.
    AnyRegistry(WildMatch),
}

/// Why a `namePattern` is refused when the policy loads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    #[error("namePattern must not be empty")]
    Empty,
    #[error("namePattern {0:?} contains '?': only '*' is a wildcard")]
    QuestionMark(String),
    #[error("namePattern {0:?} contains a digest: patterns match names and tags only")]
    Digest(String),
    #[error(
        "namePattern {pattern:?} is ambiguous: {first:?} could be a registry host or a Docker Hub \
         repository; write the registry (`{first}.example.org/...`, `docker.io/{first}`) or `*/...` for any registry"
    )]
    Ambiguous { pattern: String, first: String },
    #[error(
        "namePattern {pattern:?} names a registry but no repository, so it matches no image; \
         write `{registry}/*` for every image in it"
    )]
    NoRepository { pattern: String, registry: String },
    #[error("namePattern {pattern:?} is not an image name pattern: {reason}")]
    NotAName {
        pattern: String,
        reason: InvalidReference,
    },
}

impl NamePattern {
    /// Checks that the pattern is a well-formed image reference once each `*`
    /// stands for a name component, and that it can match something, so
    /// typos surface when the policy loads.
    pub fn compile(source: &str) -> Result<NamePattern, PatternError> {
        if source.is_empty() {
            return Err(PatternError::Empty);
        }
        if source.contains('?') {
            return Err(PatternError::QuestionMark(source.to_string()));
        }
        if source.contains('@') {
            return Err(PatternError::Digest(source.to_string()));
        }
        let (name, _) = split_tag(source);
        let (first, path) = match name.split_once('/') {
            Some((first, path)) => (first, Some(path)),
            None => (name, None),
        };
        if first != "*" && first.contains('*') && !is_registry_component(first) {
            return Err(PatternError::Ambiguous {
                pattern: source.to_string(),
                first: first.to_string(),
            });
        }
        if path.is_none() && first != "*" && is_registry_component(first) {
            return Err(PatternError::NoRepository {
                pattern: source.to_string(),
                registry: first.to_string(),
            });
        }
        let sample = source.replace('*', "1");
        ImageRef::parse(&sample).map_err(|reason| PatternError::NotAName {
            pattern: source.to_string(),
            reason,
        })?;
        Ok(NamePattern::compile_proven(source))
    }

    /// A pattern that [`NamePattern::compile`] accepted when the policy loaded.
    pub fn compile_proven(source: &str) -> NamePattern {
        let (name, tag) = split_tag(source);
        let scope = match name.split_once('/') {
            _ if name == "*" => Scope::AnyRegistry(WildMatch::new(name)),
            Some(("*", _)) => Scope::AnyRegistry(WildMatch::new(name)),
            Some((first, path)) if is_registry_component(first) => Scope::Registry {
                registry: WildMatch::new(&canonical_registry(first)),
                path: WildMatch::new(path),
            },
            _ => Scope::Registry {
                registry: WildMatch::new(DOCKER_HUB),
                path: WildMatch::new(name),
            },
        };
        NamePattern {
            source: source.to_string(),
            scope,
            tag: tag.filter(|t| *t != "*").map(WildMatch::new),
        }
    }

    /// Whether the pattern names the registry (in its one spelling): its
    /// registry part matches it. A pattern for any registry (`*`, `*/...`)
    /// names none.
    pub fn names_registry(&self, registry: &str) -> bool {
        match &self.scope {
            Scope::Registry { registry: glob, .. } => glob.matches(registry),
            Scope::AnyRegistry(_) => false,
        }
    }

    /// True when the image's registry and repository (in any of its
    /// spellings) match, and its tag does. A reference with only a digest has
    /// no tag, so only tagless patterns match it.
    pub fn matches(&self, image: &ImageRef) -> bool {
        let tag_matches = match (&self.tag, &image.tag) {
            (None, _) => true,
            (Some(pattern), Some(tag)) => pattern.matches(tag),
            (Some(_), None) => false,
        };
        tag_matches
            && match &self.scope {
                Scope::Registry { registry, path } => {
                    registry.matches(&image.registry)
                        && image.repository_spellings().any(|r| path.matches(r))
                }
                Scope::AnyRegistry(name) => image
                    .repository_spellings()
                    .any(|r| name.matches(&format!("{}/{r}", image.registry))),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, image: &str) -> bool {
        let image = ImageRef::parse(image).unwrap();
        NamePattern::compile(pattern).unwrap().matches(&image)
    }

    // One test per row of SCST-Sign's namePattern table.
    #[test]
    fn exact_image_and_tag() {
        let p = "registry.example.org/myproject/my-image:mytag";
        assert!(matches(p, "registry.example.org/myproject/my-image:mytag"));
        assert!(!matches(p, "registry.example.org/myproject/my-image:other"));
        assert!(!matches(p, "registry.example.org/myproject/my-image"));
        assert!(!matches(
            p,
            "registry.example.org/myproject/my-image-2:mytag"
        ));
    }

    #[test]
    fn image_without_tag_matches_any_tag() {
        for p in [
            "registry.example.org/myproject/my-image",
            "registry.example.org/myproject/my-image:*",
        ] {
            assert!(matches(p, "registry.example.org/myproject/my-image:mytag"));
            assert!(matches(p, "registry.example.org/myproject/my-image"));
            assert!(!matches(
                p,
                "registry.example.org/myproject/my-image-2:mytag"
            ));
            assert!(!matches(p, "registry.example.org/other/my-image:mytag"));
        }
    }

    #[test]
    fn every_image_under_a_project() {
        let p = "registry.example.org/myproject/*";
        assert!(matches(p, "registry.example.org/myproject/a:1"));
        assert!(matches(p, "registry.example.org/myproject/deep/b"));
        assert!(!matches(p, "registry.example.org/other/a:1"));
        assert!(!matches(p, "evil.org/registry.example.org/myproject/a"));
    }

    #[test]
    fn image_and_tag_in_any_project() {
        let p = "registry.example.org/*/my-image:mytag";
        assert!(matches(p, "registry.example.org/p1/my-image:mytag"));
        assert!(matches(p, "registry.example.org/p1/p2/my-image:mytag"));
        assert!(!matches(p, "registry.example.org/p1/my-image:other"));
    }

    #[test]
    fn whole_registry_at_any_depth() {
        let p = "registry.example.org/*";
        assert!(matches(p, "registry.example.org/a"));
        assert!(matches(p, "registry.example.org/a/b/c:1"));
        assert!(!matches(p, "registry.example.org.evil.com/a"));
    }

    #[test]
    fn every_registry_under_a_domain() {
        let p = "*.example.org/*";
        assert!(matches(p, "registry.example.org/a:1"));
        assert!(matches(p, "eu.registry.example.org/a/b"));
        assert!(!matches(p, "registry.example.com/a"));
    }

    #[test]
    fn star_matches_everything() {
        assert!(matches("*", "nginx"));
        assert!(matches("*", "registry.example.org:5000/a/b:c"));
        assert!(matches(
            "*",
            &format!("reg.io/app@sha256:{}", "a".repeat(64))
        ));
    }

    #[test]
    fn docker_hub_spellings_match_each_others_patterns() {
        for pattern in [
            "nginx",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx:*",
            "docker.io/nginx",
        ] {
            for image in [
                "nginx:1.25",
                "docker.io/library/nginx:1.25",
                "index.docker.io/nginx:1.25",
                "library/nginx:1.25",
            ] {
                assert!(matches(pattern, image), "{pattern} vs {image}");
            }
        }
        assert!(!matches("docker.io/library/*", "bitnami/redis"));
        assert!(matches("docker.io/bitnami/*", "bitnami/redis"));
    }

    #[test]
    fn digest_references_match_by_name_and_tag() {
        let digest = format!("sha256:{}", "b".repeat(64));
        assert!(matches("reg.io/app:1", &format!("reg.io/app:1@{digest}")));
        assert!(!matches("reg.io/app:2", &format!("reg.io/app:1@{digest}")));
        assert!(matches("reg.io/app", &format!("reg.io/app@{digest}")));
        assert!(!matches("reg.io/app:1", &format!("reg.io/app@{digest}")));
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        assert!(matches("localhost:5000/*", "localhost:5000/app:1"));
        assert!(matches("localhost:5000/app", "localhost:5000/app:1"));
        assert!(!matches("localhost:5000/app:2", "localhost:5000/app:1"));
    }

    #[test]
    fn respelled_registry_hosts_match_the_same_patterns() {
        for pattern in [
            "registry.example.org/myproject/*",
            "REGISTRY.EXAMPLE.ORG/myproject/*",
            "registry.example.org:443/myproject/*",
        ] {
            for image in [
                "registry.example.org/myproject/evil:1.0",
                "REGISTRY.EXAMPLE.ORG/myproject/evil:1.0",
                "Registry.Example.Org/myproject/evil:1.0",
                "registry.example.org:443/myproject/evil:1.0",
            ] {
                assert!(matches(pattern, image), "{pattern} vs {image}");
            }
            assert!(!matches(pattern, "registry.example.org:5000/myproject/a"));
        }
    }

    /// A port is compared as a number, so a leading zero is no way around a
    /// pattern (and no way into a catch-all entry's trust instead).
    #[test]
    fn respelled_ports_match_the_same_patterns() {
        for (pattern, image) in [
            ("127.0.0.1:5000/test/*", "127.0.0.1:05000/test/unsigned:v1"),
            ("127.0.0.1:05000/test/*", "127.0.0.1:5000/test/unsigned:v1"),
            (
                "registry.example.org/myproject/*",
                "registry.example.org:0443/myproject/evil:1.0",
            ),
            (
                "docker.io/library/*",
                "registry-1.docker.io:0443/library/nginx:1.25",
            ),
            ("nginx", "registry-1.docker.io:0443/library/nginx:1.25"),
        ] {
            assert!(matches(pattern, image), "{pattern} vs {image}");
        }
        assert!(!matches("127.0.0.1:5000/test/*", "127.0.0.1:50000/test/a"));
    }

    #[test]
    fn a_dotless_registry_is_never_docker_hub() {
        for pattern in ["myreg:443/*", "MYREG/*", "myreg:0443/*"] {
            assert!(matches(pattern, "MYREG/app:1"), "{pattern}");
            assert!(matches(pattern, "myreg:443/app:1"), "{pattern}");
            assert!(
                !matches(pattern, "myreg/app:1"),
                "{pattern}: Docker Hub's myreg/app"
            );
        }
        assert!(!matches("docker.io/myreg/*", "myreg:443/app:1"));
        assert!(matches("docker.io/myreg/*", "myreg/app:1"));
    }

    #[test]
    fn a_pattern_with_a_port_that_is_no_number_is_refused() {
        for pattern in ["reg.io:0/*", "reg.io:99999/app"] {
            assert!(
                matches!(
                    NamePattern::compile(pattern).unwrap_err(),
                    PatternError::NotAName {
                        reason: InvalidReference {
                            reason: crate::image::reference::ReferenceError::InvalidPort,
                            ..
                        },
                        ..
                    }
                ),
                "{pattern}"
            );
        }
    }

    #[test]
    fn every_name_of_docker_hub_is_docker_hub() {
        for pattern in [
            "docker.io/library/*",
            "index.docker.io/library/*",
            "library/*",
        ] {
            for image in [
                "nginx:1.25",
                "registry-1.docker.io/library/nginx:1.25",
                "index.docker.io/nginx:1.25",
                "DOCKER.IO:443/library/nginx:1.25",
            ] {
                assert!(matches(pattern, image), "{pattern} vs {image}");
            }
        }
    }

    #[test]
    fn star_in_the_registry_part_matches_hosts_only() {
        let p = "*.dev.example.org/*";
        assert!(matches(p, "eu.dev.example.org/app:1"));
        assert!(!matches(p, "evil.com/x.dev.example.org/app:1"));
        assert!(!matches(p, "evil.com/eu.dev.example.org/app:1"));
    }

    #[test]
    fn docker_hub_short_names_never_match_another_registry() {
        assert!(!matches("localhost/*", "docker.io/localhost/app:1"));
        assert!(matches("localhost/*", "localhost/app:1"));
        assert!(!matches("registry.example.org/*", "registry/app"));
    }

    #[test]
    fn a_leading_star_component_is_any_registry() {
        let p = "*/my-image:mytag";
        assert!(matches(p, "registry.example.org/p1/my-image:mytag"));
        assert!(matches(p, "my-image:mytag"));
        assert!(!matches(p, "registry.example.org/p1/my-image:other"));
        assert!(matches("*:mytag", "nginx:mytag"));
        assert!(!matches("*:mytag", "nginx:other"));
    }

    #[test]
    fn patterns_that_could_match_nothing_or_anything_are_refused() {
        for (pattern, needle) in [
            ("ngin*", "is ambiguous"),
            ("*registry*/app", "is ambiguous"),
            ("registry.example.org", "names a registry but no repository"),
            ("localhost:5000", "names a registry but no repository"),
            ("*.example.org", "names a registry but no repository"),
        ] {
            let err = NamePattern::compile(pattern).unwrap_err();
            assert!(err.to_string().contains(needle), "{pattern}: {err}");
            assert!(
                matches!(
                    err,
                    PatternError::Ambiguous { .. } | PatternError::NoRepository { .. }
                ),
                "{pattern}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for (pattern, needle) in [
            ("", "must not be empty"),
            ("reg.io/app?", "only '*' is a wildcard"),
            ("reg.io/app@sha256:abc", "contains a digest"),
            ("reg.io//app", "is not an image name pattern"),
            ("reg.io/App", "is not an image name pattern"),
            ("reg.io/app with space", "is not an image name pattern"),
        ] {
            let err = NamePattern::compile(pattern).unwrap_err();
            assert!(err.to_string().contains(needle), "{pattern}: {err}");
        }
        assert_eq!(NamePattern::compile("").unwrap_err(), PatternError::Empty);
        assert!(matches!(
            NamePattern::compile("reg.io/App").unwrap_err(),
            PatternError::NotAName {
                reason: InvalidReference {
                    reason: crate::image::reference::ReferenceError::InvalidFormat,
                    ..
                },
                ..
            }
        ));
    }
}
