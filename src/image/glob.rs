//! policy-controller `images[].glob`s: `*` matches any run of characters
//! within a path segment, `**` any run across `/`, and the glob must match
//! the whole normalised name of the image (`index.docker.io/library/nginx:latest`,
//! or `registry/repository@digest` when the image is pinned: the tag is
//! dropped, as go-containerregistry's `Name()` drops it). `*` alone means
//! `index.docker.io/library/*` and `*/*` means `index.docker.io/*/*`.
//!
//! Where this differs from policy-controller, it is so that every spelling
//! of one image gets the same policies ([`normalised_name`]): the registry
//! is matched in its one spelling (lower case, `:443` dropped, every name of
//! Docker Hub as `index.docker.io`), so `GHCR.IO/x` or `registry-1.docker.io/x`
//! cannot step around a glob written for `ghcr.io/**` or `index.docker.io/**`.
//! In exchange, a glob whose registry is written in another spelling would
//! never match anything, and is refused when the policy loads.

use crate::image::reference::{canonical_registry, ImageRef, DOCKER_HUB};
use thiserror::Error;

/// How policy-controller (go-containerregistry) writes Docker Hub.
pub(crate) const GGCR_DOCKER_HUB: &str = "index.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// As the policy wrote it.
    pub source: String,
    /// After the `*` and `*/*` shorthands.
    expanded: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GlobError {
    #[error("glob must not be empty")]
    Empty,
    #[error(
        "glob {0:?} is invalid: only letters, digits and - _ : / * . @ may appear (policy-controller's rule)"
    )]
    Characters(String),
    #[error(
        "glob {glob:?} would never match: images are matched by their normalised name, whose \
         registry is written {registry:?}; write the glob with it"
    )]
    RegistrySpelling { glob: String, registry: String },
    #[error(
        "glob {glob:?} would never match: images are matched by their normalised name, which \
         always starts with a registry (Docker Hub's is index.docker.io); write it, e.g. {suggestion:?}"
    )]
    NoRegistry { glob: String, suggestion: String },
}

impl Glob {
    pub fn compile(source: &str) -> Result<Glob, GlobError> {
        let expanded = match source {
            "" => return Err(GlobError::Empty),
            "*" => format!("{GGCR_DOCKER_HUB}/library/*"),
            "*/*" => format!("{GGCR_DOCKER_HUB}/*/*"),
            other => other.to_string(),
        };
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_:/*.@".contains(&b);
        if !expanded.bytes().all(allowed) {
            return Err(GlobError::Characters(source.to_string()));
        }
        if let Some(registry) = respelled_registry(&expanded) {
            return Err(GlobError::RegistrySpelling {
                glob: source.to_string(),
                registry,
            });
        }
        if names_no_registry(&expanded) {
            let on_docker_hub = match expanded.contains('/') {
                true => format!("{GGCR_DOCKER_HUB}/{expanded}"),
                false => format!("{GGCR_DOCKER_HUB}/library/{expanded}"),
            };
            return Err(GlobError::NoRegistry {
                glob: source.to_string(),
                suggestion: on_docker_hub,
            });
        }
        Ok(Glob {
            source: source.to_string(),
            expanded,
        })
    }

    /// Whether the image's normalised name matches.
    pub fn matches(&self, image: &ImageRef) -> bool {
        glob_match(self.expanded.as_bytes(), normalised_name(image).as_bytes())
    }

    /// Whether the glob names this registry (its first segment has no
    /// wildcard and is the registry): the `namedRegistriesOnly` test.
    pub fn names_registry(&self, registry: &str) -> bool {
        let first = self.expanded.split('/').next().unwrap_or_default();
        let name = if registry == DOCKER_HUB {
            GGCR_DOCKER_HUB
        } else {
            registry
        };
        !first.contains('*') && first == name
    }
}

/// go-containerregistry's `Name()` of the image, from its one spelling:
/// `registry/repository@digest` when pinned, else `registry/repository:tag`.
pub(crate) fn normalised_name(image: &ImageRef) -> String {
    let registry = match image.registry.as_str() {
        DOCKER_HUB => GGCR_DOCKER_HUB,
        other => other,
    };
    match (&image.digest, &image.tag) {
        (Some(digest), _) => format!("{registry}/{}@{digest}", image.repository),
        (None, Some(tag)) => format!("{registry}/{}:{tag}", image.repository),
        (None, None) => format!("{registry}/{}:latest", image.repository),
    }
}

/// A glob whose first segment is a registry written in a spelling no
/// normalised name has: the spelling it should use.
fn respelled_registry(glob: &str) -> Option<String> {
    let (first, _) = glob.split_once('/')?;
    if first.contains('*') || !(first.contains('.') || first.contains(':') || first == "localhost")
    {
        return None;
    }
    let wanted = match canonical_registry(first) {
        hub if hub == DOCKER_HUB => GGCR_DOCKER_HUB.to_string(),
        other => other,
    };
    (wanted != first).then_some(wanted)
}

/// A glob no normalised name can match: every name is `registry/...`, whose
/// registry has a `.` or a `:` or is `localhost`. Without a `/` (and no
/// `**` to stand for one), or with a first segment that names no registry
/// and has no star to stand for one, the glob never matches: a policy that
/// silently never applies.
fn names_no_registry(glob: &str) -> bool {
    match glob.split_once('/') {
        None => !glob.contains("**"),
        Some((first, _)) => {
            !first.contains('*')
                && !first.contains('.')
                && !first.contains(':')
                && first != "localhost"
        }
    }
}

/// `*` matches any bytes but `/`, `**` any bytes; everything else itself.
/// Iterative, with one backtracking point per kind of star: linear in
/// practice, and never recursive on input an attacker writes.
fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    // The classic two-pointer algorithm, generalised: on a mismatch, resume
    // at the last star, letting it swallow one more byte (a `*` never a `/`).
    let (mut g, mut t) = (0, 0);
    // (glob position after the star, text position it matched up to, crosses `/`)
    let mut star: Option<(usize, usize, bool)> = None;
    // The last `**`: a `*` that cannot swallow a `/` falls back to it.
    let mut double: Option<(usize, usize)> = None;
    loop {
        if g < glob.len() && glob[g] == b'*' {
            let crosses = glob.get(g + 1) == Some(&b'*');
            g += if crosses { 2 } else { 1 };
            if crosses {
                double = Some((g, t));
            }
            star = Some((g, t, crosses));
            continue;
        }
        if t == text.len() {
            if g == glob.len() {
                return true;
            }
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
            continue;
        }
        // Mismatch: let the last star take one more byte.
        match star {
            Some((after, upto, crosses))
                if upto < text.len() && (crosses || text[upto] != b'/') =>
            {
                star = Some((after, upto + 1, crosses));
                g = after;
                t = upto + 1;
            }
            _ => match double {
                Some((after, upto)) if upto < text.len() => {
                    double = Some((after, upto + 1));
                    star = Some((after, upto + 1, true));
                    g = after;
                    t = upto + 1;
                }
                _ => return false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented rules, one row each: (glob, image as written, match).
    const RULES: &[(&str, &str, bool)] = &[
        // No registry is Docker Hub, written index.docker.io; one component
        // is an official image under library/; no tag is latest.
        ("index.docker.io/library/redis:latest", "redis", true),
        ("index.docker.io/library/redis:*", "redis:7.2", true),
        ("index.docker.io/library/redis:latest", "redis:7.2", false),
        ("index.docker.io/library/*", "redis", true),
        ("index.docker.io/*/*", "acme/redis-exporter:0.5", true),
        ("index.docker.io/acme/*:latest", "acme/redis-exporter", true),
        // `*` stays in its segment, `**` crosses `/`.
        ("quay.io/acme/*", "quay.io/acme/tools/lint:3", false),
        ("quay.io/acme/**", "quay.io/acme/tools/lint:3", true),
        ("quay.io/*/*", "quay.io/lint:3", false),
        ("quay.io/**", "quay.io/lint:3", true),
        ("quay.io/acme/lint*", "quay.io/acme/lint:3", true),
        ("quay.io/acme/lint*", "quay.io/acme/lint-rules:3", true),
        ("quay.io/acme/lint**", "quay.io/acme/lint/rules:3", true),
        ("qua**", "quay.io/acme/lint:3", true),
        ("**", "quay.io/acme/lint:3", true),
        ("*/**", "quay.io/acme/lint:3", true),
        // The whole name must match: no prefix, no suffix, a `.` is a `.`.
        ("quay.io/acme/lint:*", "quay.io/acme/lint-rules:3", false),
        ("quay.io/acme/lint:*", "mirror.quay.io/acme/lint:3", false),
        ("quay.io/**", "quayxio/acme/lint:3", false),
        // The shorthands: `*` is Docker Hub's official images, `*/*` every
        // Docker Hub image of one user.
        ("*", "redis:7.2", true),
        ("*", "acme/redis-exporter", false),
        ("*/*", "acme/redis-exporter", true),
        ("*/*", "quay.io/acme/lint:3", false),
        // A pinned image is named by its digest: the tag is dropped.
        (
            "quay.io/acme/lint@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "quay.io/acme/lint:3@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
            true,
        ),
    ];

    #[test]
    fn the_documented_rules() {
        for &(glob, image, want) in RULES {
            assert_eq!(matches(glob, image), want, "{glob} on {image}");
        }
    }

    #[test]
    fn globs_that_look_like_regular_expressions_are_refused() {
        for glob in [
            "^quay\\.io/.+$",
            "quay.io/[a-z]*",
            "quay.io/acme/(lint|fmt)",
            "quay.io/acme/lint?",
        ] {
            assert!(
                matches!(Glob::compile(glob), Err(GlobError::Characters(_))),
                "{glob}"
            );
        }
        assert_eq!(Glob::compile(""), Err(GlobError::Empty));
    }

    fn matches(glob: &str, image: &str) -> bool {
        Glob::compile(glob)
            .unwrap()
            .matches(&ImageRef::parse(image).unwrap())
    }

    #[test]
    fn a_star_stays_in_its_segment_and_two_cross() {
        assert!(matches("ghcr.io/org/*", "ghcr.io/org/app:v1"));
        assert!(!matches("ghcr.io/org/*", "ghcr.io/org/team/app:v1"));
        assert!(matches("ghcr.io/org/**", "ghcr.io/org/team/app:v1"));
        assert!(matches("ghcr.io/*/app:*", "ghcr.io/org/app:v1"));
        // No tag written is `:latest`.
        assert!(matches("ghcr.io/*/app:*", "ghcr.io/org/app"));
        assert!(!matches("ghcr.io/*/app", "ghcr.io/org/app"));
        assert!(matches("**/app:*", "ghcr.io/org/app:v1"));
        assert!(matches("ghcr.io/**/app:v*", "ghcr.io/a/b/c/app:v2"));
        assert!(!matches("ghcr.io/**/app:v*", "ghcr.io/a/b/c/app2:v2"));
    }

    #[test]
    fn a_pinned_image_is_matched_by_its_digest_not_its_tag() {
        let digest = "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";
        let image = format!("ghcr.io/org/app:v1@{digest}");
        assert!(!matches("ghcr.io/org/app:v1", &image));
        assert!(matches("ghcr.io/org/app@*", &image));
        assert!(matches("ghcr.io/org/*", &image));
    }

    #[test]
    fn every_spelling_of_an_image_gets_the_same_answer() {
        for glob in ["index.docker.io/library/nginx:*", "ghcr.io/org/**", "**"] {
            for family in [
                &[
                    "nginx",
                    "nginx:latest",
                    "docker.io/nginx",
                    "docker.io/library/nginx:latest",
                    "index.docker.io/library/nginx",
                    "registry-1.docker.io/library/nginx",
                    "REGISTRY.HUB.DOCKER.COM:443/library/nginx",
                ][..],
                &[
                    "ghcr.io/org/app",
                    "GHCR.IO/org/app:latest",
                    "ghcr.io:443/org/app",
                ][..],
            ] {
                let answers: Vec<bool> = family.iter().map(|i| matches(glob, i)).collect();
                assert!(
                    answers.iter().all(|a| *a == answers[0]),
                    "{glob}: {family:?} {answers:?}"
                );
            }
        }
    }

    #[test]
    fn a_registry_spelled_as_no_normalised_name_is_refused() {
        for (glob, wanted) in [
            ("docker.io/library/*", "index.docker.io"),
            ("registry-1.docker.io/**", "index.docker.io"),
            ("GHCR.IO/**", "ghcr.io"),
            ("ghcr.io:443/**", "ghcr.io"),
        ] {
            assert_eq!(
                Glob::compile(glob),
                Err(GlobError::RegistrySpelling {
                    glob: glob.to_string(),
                    registry: wanted.to_string()
                })
            );
        }
        assert!(Glob::compile("localhost:5000/**").is_ok());
    }

    /// A glob that names no registry would silently never apply (and with
    /// noMatchPolicy allow or warn, admit what it was written to check).
    #[test]
    fn a_glob_that_can_never_match_is_refused() {
        for (glob, suggestion) in [
            ("acme/**", "index.docker.io/acme/**"),
            ("acme/lint:*", "index.docker.io/acme/lint:*"),
            ("redis", "index.docker.io/library/redis"),
            ("redis*", "index.docker.io/library/redis*"),
            ("Acme/lint", "index.docker.io/Acme/lint"),
        ] {
            assert_eq!(
                Glob::compile(glob),
                Err(GlobError::NoRegistry {
                    glob: glob.to_string(),
                    suggestion: suggestion.to_string()
                }),
                "{glob}"
            );
        }
        for glob in [
            "localhost/**",
            "quay.io/**",
            "buildhost:4000/**",
            "q*/**",
            "*/acme/**",
            "qua**",
            "**",
            "*",
            "*/*",
        ] {
            assert!(Glob::compile(glob).is_ok(), "{glob}");
        }
    }

    #[test]
    fn matching_many_stars_stays_fast() {
        let glob = "*a".repeat(20);
        let text = format!("ghcr.io/{}", "a".repeat(200));
        assert!(!glob_match(glob.as_bytes(), text.as_bytes()));
    }

    /// The matcher agrees with the plain recursive reading of the rules on
    /// every glob and text up to five bytes over `a`, `b`, `/` (and stars).
    #[test]
    fn the_matcher_agrees_with_the_definition() {
        fn reference(glob: &[u8], text: &[u8]) -> bool {
            match glob {
                [] => text.is_empty(),
                [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| reference(rest, &text[i..])),
                [b'*', rest @ ..] => (0..=text.len())
                    .take_while(|&i| i == 0 || text[i - 1] != b'/')
                    .any(|i| reference(rest, &text[i..])),
                [c, rest @ ..] => text.first() == Some(c) && reference(rest, &text[1..]),
            }
        }
        fn all(alphabet: &[u8], up_to: usize) -> Vec<Vec<u8>> {
            let mut out = vec![Vec::new()];
            let mut last = vec![Vec::new()];
            for _ in 0..up_to {
                let next: Vec<Vec<u8>> = last
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                    .collect();
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        let texts = all(b"ab/", 5);
        for glob in all(b"a/*", 5) {
            for text in &texts {
                assert_eq!(
                    glob_match(&glob, text),
                    reference(&glob, text),
                    "{:?} on {:?}",
                    String::from_utf8_lossy(&glob),
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn names_registry_only_when_written_out() {
        let glob = Glob::compile("ghcr.io/**").unwrap();
        assert!(glob.names_registry("ghcr.io"));
        assert!(!glob.names_registry("quay.io"));
        assert!(Glob::compile("*").unwrap().names_registry("docker.io"));
        assert!(!Glob::compile("**").unwrap().names_registry("ghcr.io"));
    }
}
