//! SCST-Sign `namePattern`s: `*` matches any run of characters, `/` included;
//! a pattern without a tag matches every tag.

use crate::reference::ImageRef;
use wildmatch::WildMatch;

#[derive(Debug)]
pub struct NamePattern {
    pub source: String,
    name: WildMatch,
    /// `None` when the pattern has no tag or its tag is `*`.
    tag: Option<WildMatch>,
}

impl NamePattern {
    /// Checks that the pattern is a well-formed image reference once each `*`
    /// stands for a name component, so typos surface when the policy loads.
    pub fn compile(source: &str) -> Result<NamePattern, String> {
        if source.is_empty() {
            return Err("namePattern must not be empty".to_string());
        }
        if source.contains('?') {
            return Err(format!(
                "namePattern {source:?} contains '?': only '*' is a wildcard"
            ));
        }
        if source.contains('@') {
            return Err(format!(
                "namePattern {source:?} contains a digest: patterns match names and tags only"
            ));
        }
        let sample = source.replace('*', "0");
        ImageRef::parse(&sample)
            .map_err(|e| format!("namePattern {source:?} is not an image name pattern: {e}"))?;
        Ok(NamePattern::compile_proven(source))
    }

    /// A pattern that [`NamePattern::compile`] accepted when the policy loaded.
    pub fn compile_proven(source: &str) -> NamePattern {
        let (name, tag) = split_tag(source);
        NamePattern {
            source: source.to_string(),
            name: WildMatch::new(name),
            tag: tag.filter(|t| *t != "*").map(WildMatch::new),
        }
    }

    /// True when any spelling of the image's name matches, and the tag does.
    /// A reference with only a digest has no tag, so only tagless patterns match it.
    pub fn matches(&self, image: &ImageRef, spellings: &[String]) -> bool {
        let tag_matches = match (&self.tag, &image.tag) {
            (None, _) => true,
            (Some(pattern), Some(tag)) => pattern.matches(tag),
            (Some(_), None) => false,
        };
        tag_matches && spellings.iter().any(|name| self.name.matches(name))
    }
}

/// Splits `name[:tag]`; a `:` before the last `/` is a registry port.
fn split_tag(pattern: &str) -> (&str, Option<&str>) {
    let last_slash = pattern.rfind('/').map_or(0, |i| i + 1);
    match pattern[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&pattern[..at], Some(&pattern[at + 1..]))
        }
        None => (pattern, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, image: &str) -> bool {
        let image = ImageRef::parse(image).unwrap();
        NamePattern::compile(pattern)
            .unwrap()
            .matches(&image, &image.name_spellings())
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
            assert!(err.contains(needle), "{pattern}: {err}");
        }
    }
}
