//! The README and docs/: the examples they show are the files the tests
//! load, and their links lead somewhere. The README is embedded in the module
//! (its usage text: `kwctl inspect`, Artifact Hub), where relative links lead
//! nowhere, so its links are absolute, to the repository's home.

mod common;

use common::test_data;
use std::collections::BTreeSet;
use std::path::Path;

const DOCS: [&str; 5] = [
    "settings.md",
    "migrating.md",
    "threat-model.md",
    "performance.md",
    "development.md",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The repository's home, as Cargo.toml writes it once.
fn home() -> String {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("repository = "))
        .expect("Cargo.toml names its repository");
    line.split('"').nth(1).unwrap().to_string()
}

/// The targets of a Markdown text's `[text](target)` links.
fn links(markdown: &str) -> Vec<String> {
    markdown
        .match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &markdown[at + 2..];
            rest.find(')').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// The anchors GitHub makes of a Markdown text's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Checks that `target`, a link in `from`, names an existing file of the
/// repository (and an existing heading, if it has an anchor).
fn resolves(from: &str, target: &str) {
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    let path = match file {
        "" => from.to_string(),
        file => {
            let dir = Path::new(from).parent().unwrap_or(Path::new(""));
            let joined = dir.join(file);
            // Normalise `docs/../README.md`.
            let mut parts: Vec<&str> = Vec::new();
            for part in joined.to_str().unwrap().split('/') {
                match part {
                    ".." => {
                        parts.pop();
                    }
                    "." | "" => {}
                    part => parts.push(part),
                }
            }
            parts.join("/")
        }
    };
    let text = read(&path);
    if let Some(anchor) = anchor {
        assert!(
            anchors(&text).contains(anchor),
            "{from}: the link {target} names no heading of {path}"
        );
    }
}

#[test]
fn the_readme_links_absolutely_to_the_repository_and_every_link_resolves() {
    let readme = read("README.md");
    let blob = format!("{}/blob/main/", home());
    for target in links(&readme) {
        if let Some(anchor) = target.strip_prefix('#') {
            assert!(
                anchors(&readme).contains(anchor),
                "README.md: no heading {target}"
            );
        } else if let Some(path) = target.strip_prefix(&blob) {
            resolves("README.md", path);
        } else {
            assert!(
                target.starts_with("https://") && !target.starts_with(&home()),
                "README.md: {target} is neither an anchor nor an absolute link to {blob}..."
            );
        }
    }
}

#[test]
fn every_link_of_the_docs_resolves() {
    for doc in DOCS {
        let path = format!("docs/{doc}");
        for target in links(&read(&path)) {
            if !target.starts_with("https://") {
                resolves(&path, &target);
            }
        }
    }
}

#[test]
fn the_docs_show_every_settings_file_verbatim_and_the_readme_its_minimal_example() {
    let docs: String = DOCS
        .iter()
        .map(|doc| read(&format!("docs/{doc}")))
        .collect();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/settings")).unwrap()
    {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let example = test_data(&format!("settings/{name}"));
        assert!(
            docs.contains(&example),
            "docs/ must show test_data/settings/{name} verbatim"
        );
    }
    assert!(
        read("README.md").contains(&test_data("settings/scst-policy.yaml")),
        "the README shows test_data/settings/scst-policy.yaml verbatim"
    );
}

#[test]
fn the_readme_stays_a_few_screens() {
    let lines = read("README.md").lines().count();
    assert!(
        lines <= 260,
        "README.md has {lines} lines: move detail to docs/"
    );
}

/// The times, with their number, that `text` states (`37 minutes`, `25 to
/// 41 ms`, `2192 s`, `40ms`, `1,700 ... per second`).
fn timings(text: &str) -> Vec<String> {
    const UNITS: [&str; 16] = [
        "ns", "µs", "us", "ms", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute",
        "minutes", "h", "hour", "hours",
    ];
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .collect();
    let number = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_digit())
            && w.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    };
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or_default();
        let unit_at = word.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','));
        let glued =
            unit_at.is_some_and(|at| at > 0 && number(&word[..at]) && UNITS.contains(&&word[at..]));
        let spaced = number(word) && UNITS.contains(&next.to_lowercase().as_str());
        if glued {
            found.push(word.to_string());
        } else if spaced || (*word == "per" && next == "second") {
            found.push(format!("{word} {next}"));
        }
    }
    found
}

#[test]
fn the_readme_states_no_per_machine_figure() {
    // The README is embedded in every released module: a time measured on
    // one machine would ship with it and age there. Such figures live, dated,
    // in docs/performance.md and docs/development.md.
    let found = timings(&read("README.md"));
    assert!(found.is_empty(), "README.md states timings: {found:?}");
    assert_eq!(
        timings("took 37 minutes, 25 to 41 ms each, 40ms, (2192 s) and 1,700 per second"),
        ["37 minutes", "41 ms", "40ms", "2192 s", "per second"]
    );
}
