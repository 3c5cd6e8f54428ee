//! The shape of `src/`: no import cycle between modules. Run by `make lint`
//! (and `cargo test`), so a cycle fails the build before review does.
//!
//! Modules are the files of `src/` (`settings/keys.rs` is `settings::keys`,
//! `settings/mod.rs` is `settings`). A module depends on another when it
//! names it through `crate::` (in a `use` or a path), below a folder a
//! sibling through `super::`, or, in a folder's `mod.rs`, a child by its
//! name. Two graphs must be acyclic: the top-level modules (a folder counts
//! as one), and, in each folder, its children and the folder's own
//! `mod.rs`, so a child that reaches up to its parent while the parent uses
//! it is a cycle too (what both need belongs in a child of its own).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/`, by path (`settings::keys`), with its source text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                walk(&path, &format!("{prefix}{name}::"), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = match name.as_str() {
                    "lib" if prefix.is_empty() => "crate".to_string(),
                    "mod" => prefix.trim_end_matches("::").to_string(),
                    _ => format!("{prefix}{name}"),
                };
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut out,
    );
    out
}

/// The text without comments (`//` to the end of the line): a path named in
/// prose is no dependency.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree or an expression spells after `prefix::`:
/// `a::b::{c, d::e}` is `a::b::c` and `a::b::d::e`.
fn spelled_paths(rest: &str) -> Vec<Vec<String>> {
    fn tree(
        chars: &mut std::iter::Peekable<std::str::Chars>,
        base: &[String],
        out: &mut Vec<Vec<String>>,
    ) {
        let mut path = base.to_vec();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'{') {
                chars.next();
                loop {
                    tree(chars, &path, out);
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    match chars.next() {
                        Some(',') => continue,
                        _ => return,
                    }
                }
            }
            let name: String =
                std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_'))
                    .collect();
            if name.is_empty() {
                break;
            }
            path.push(name);
            if chars.peek() == Some(&':') {
                chars.next();
                chars.next_if_eq(&':');
                continue;
            }
            break;
        }
        if path.len() > base.len() {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    tree(&mut rest.chars().peekable(), &[], &mut out);
    out
}

/// The modules `module` names: `crate::a::b::Item` is `a::b` when that is a
/// module, else `a`; `super::x` below a folder is the sibling `x`.
fn dependencies(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let text = code(text);
    let after = |marker: &str| -> Vec<Vec<String>> {
        text.match_indices(marker)
            // `crate::` inside a longer word (`$crate::`) is no path of ours.
            .filter(|(at, _)| {
                !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$')
            })
            .flat_map(|(at, _)| spelled_paths(&text[at + marker.len()..]))
            .collect()
    };
    let mut found = BTreeSet::new();
    for path in after("crate::") {
        // The longest prefix that is a module.
        if let Some(module) = (1..=path.len())
            .rev()
            .map(|len| path[..len].join("::"))
            .find(|m| known.contains(m))
        {
            found.insert(module);
        }
    }
    // A folder's mod.rs names its children by their names alone.
    let code_words = |name: &str| {
        let marker = format!("{name}::");
        text.match_indices(&marker).any(|(at, _)| {
            !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
        })
    };
    for child in known.iter().filter_map(|m| {
        m.strip_prefix(module)
            .and_then(|rest| rest.strip_prefix("::"))
            .filter(|rest| !rest.contains("::"))
    }) {
        if code_words(child) {
            found.insert(format!("{module}::{child}"));
        }
    }
    if let Some((parent, _)) = module.rsplit_once("::") {
        for path in after("super::") {
            let sibling = format!("{parent}::{}", path[0]);
            if known.contains(&sibling) {
                found.insert(sibling);
            }
        }
    }
    found.remove(module);
    found
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The module's node in a graph of the children of `folder` ("" for the
/// top level): the folder's own `mod.rs`, or the child of `folder` it is or
/// lies in, if any.
fn node_in(module: &str, folder: &str) -> Option<String> {
    if !folder.is_empty() && module == folder {
        return Some(folder.to_string());
    }
    let rest = match folder {
        "" => module,
        folder => module.strip_prefix(folder)?.strip_prefix("::")?,
    };
    rest.split("::")
        .next()
        .filter(|n| !n.is_empty())
        .map(|n| match folder {
            "" => n.to_string(),
            folder => format!("{folder}::{n}"),
        })
}

#[test]
fn no_module_imports_in_a_cycle() {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let edges: Vec<(String, String)> = modules
        .iter()
        .flat_map(|(module, text)| {
            dependencies(module, text, &known)
                .into_iter()
                .map(move |to| (module.clone(), to))
        })
        .collect();
    // The top level, and every folder's children.
    let mut folders: BTreeSet<String> = known
        .iter()
        .filter_map(|m| m.rsplit_once("::").map(|(parent, _)| parent.to_string()))
        .collect();
    folders.insert(String::new());
    for folder in &folders {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in &edges {
            if from == "crate" {
                continue; // the crate root declares every module
            }
            if let (Some(a), Some(b)) = (node_in(from, folder), node_in(to, folder)) {
                if a != b {
                    graph.entry(a).or_default().insert(b);
                }
            }
        }
        if let Some(found) = cycle(&graph) {
            panic!(
                "modules import each other in a cycle: {} (in {})",
                found.join(" -> "),
                if folder.is_empty() { "src/" } else { folder }
            );
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let known: BTreeSet<String> = [
        "settings",
        "settings::keys",
        "settings::errors",
        "rules",
        "image",
    ]
    .map(String::from)
    .into();
    let found = dependencies(
        "settings::keys",
        "use crate::rules::Rules;\nuse crate::{settings::errors::X, image as i};\nlet x = super::keys; // crate::trust",
        &known,
    );
    assert_eq!(
        found,
        [
            "image".to_string(),
            "rules".to_string(),
            "settings::errors".to_string()
        ]
        .into()
    );
    // A child reaching up to its parent, which uses it: a cycle in the folder.
    let up = dependencies("settings::errors", "use crate::settings::LIMIT;", &known);
    assert_eq!(up, ["settings".to_string()].into());
    let down = dependencies(
        "settings",
        "use errors::X;\nlet k = crate::rules::keys::Y;",
        &known,
    );
    assert_eq!(
        down,
        ["rules".to_string(), "settings::errors".to_string()].into()
    );
    assert_eq!(node_in("settings", "settings").as_deref(), Some("settings"));
    assert_eq!(
        node_in("settings::errors", "settings").as_deref(),
        Some("settings::errors")
    );
}
