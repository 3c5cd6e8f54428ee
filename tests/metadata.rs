//! policy-metadata.yml and artifacthub-pkg.yml say the same thing, take the
//! project's name, home, author and version from Cargo.toml, and match what the
//! code covers. (tests/e2e/packaging.bats also checks artifacthub-pkg.yml is what
//! `kwctl scaffold artifacthub` makes of the metadata.)

mod common;

use common::yaml_to_json;
use serde_json::Value;
use signed_images_policy::admission;
use signed_images_policy::settings::{self, cluster_policy};
use signed_images_policy::workload::{CoveredKind, COVERED_KINDS};

fn read(name: &str) -> Value {
    yaml_to_json(
        &std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
}

#[test]
fn metadata_and_artifacthub_agree() {
    let metadata = read("policy-metadata.yml");
    let artifacthub = read("artifacthub-pkg.yml");
    let annotations = &artifacthub["annotations"];
    assert_eq!(metadata["mutating"], Value::Bool(true));
    assert_eq!(annotations["kubewarden/mutation"], "true");
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(
        yaml_to_json(annotations["kubewarden/rules"].as_str().unwrap()),
        metadata["rules"]
    );
    assert_eq!(
        yaml_to_json(
            annotations["kubewarden/contextAwareResources"]
                .as_str()
                .unwrap()
        ),
        metadata["contextAwareResources"]
    );
    assert_eq!(
        annotations["kubewarden/resources"],
        metadata["annotations"]["io.artifacthub.resources"]
    );
    assert_eq!(artifacthub["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.version"],
        env!("CARGO_PKG_VERSION")
    );
}

/// Cargo.toml's `repository`, `authors`, `name` and `version` are the one place
/// these are written; the metadata repeats them because kwctl reads it as is.
#[test]
fn name_home_author_and_version_come_from_cargo_toml() {
    let metadata = read("policy-metadata.yml");
    let annotation = |name: &str| {
        metadata["annotations"][name]
            .as_str()
            .unwrap_or_else(|| panic!("policy-metadata.yml has no annotation {name}"))
            .to_string()
    };
    let home = env!("CARGO_PKG_REPOSITORY");
    let owner = home
        .strip_prefix("https://github.com/")
        .and_then(|path| path.split('/').next())
        .expect("Cargo.toml's repository is https://github.com/OWNER/NAME");
    assert_eq!(annotation("io.kubewarden.policy.url"), home);
    assert_eq!(annotation("io.kubewarden.policy.source"), home);
    assert_eq!(env!("CARGO_PKG_HOMEPAGE"), home);
    assert_eq!(
        annotation("io.kubewarden.policy.author"),
        env!("CARGO_PKG_AUTHORS")
    );
    assert_eq!(
        annotation("io.kubewarden.policy.title"),
        env!("CARGO_PKG_NAME")
    );
    // Kubewarden's convention: ghcr.io/OWNER/policies/TITLE, versions as tags.
    assert_eq!(
        annotation("io.kubewarden.policy.ociUrl"),
        format!("ghcr.io/{owner}/policies/{}", env!("CARGO_PKG_NAME"))
    );
    assert_eq!(
        annotation("io.kubewarden.policy.version"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        annotation("io.kubewarden.policy.license"),
        env!("CARGO_PKG_LICENSE")
    );
    // "Name <email>", as kwctl's scaffold and Artifact Hub's maintainers want it.
    let author = annotation("io.kubewarden.policy.author");
    let (name, email) = author
        .strip_suffix('>')
        .and_then(|rest| rest.split_once(" <"))
        .expect("author is `Name <email>`");
    assert!(!name.is_empty() && email.contains('@'), "{author}");
    let repository = read("artifacthub-repo.yml");
    assert_eq!(
        repository["owners"],
        serde_json::json!([{"name": name, "email": email}]),
        "artifacthub-repo.yml's owner is the author"
    );
    assert!(
        metadata["minimumKubewardenVersion"].is_string(),
        "minimumKubewardenVersion is declared"
    );
}

#[test]
fn rules_cover_exactly_the_kinds_the_policy_unwraps() {
    let metadata = read("policy-metadata.yml");
    let resources: Vec<String> = metadata["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    for CoveredKind { kind, group, .. } in COVERED_KINDS {
        // Every covered kind's resource is its name in lower case, plural in -s.
        let resource = format!("{}s", kind.to_lowercase());
        assert!(
            metadata["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule["apiGroups"][0] == group
                    && rule["resources"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(resource.as_str()))),
            "{kind} is routed in group {group:?}"
        );
        assert!(resources.contains(&resource), "{resource}");
        let status = format!("{resource}/status");
        assert!(
            metadata["rules"].as_array().unwrap().iter().any(|rule| {
                rule["apiGroups"][0] == group
                    && rule["resources"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(status.as_str()))
                    && rule["operations"] == serde_json::json!(["UPDATE"])
            }),
            "{status} is routed on UPDATE in group {group:?}"
        );
    }
    assert!(resources.contains(&"pods/ephemeralcontainers".to_string()));
    // Each kind and its status, and pods/ephemeralcontainers.
    assert_eq!(resources.len(), 2 * COVERED_KINDS.len() + 1);
    // Every ClusterImagePolicy cluster mode may read, then every owner the
    // outage fallback may read.
    let mut readable: Vec<(&str, &str)> = settings::CLUSTER_API_VERSIONS
        .iter()
        .map(|api_version| (*api_version, cluster_policy::KIND))
        .collect();
    for (_, api_version, kind) in admission::CONTROLLERS {
        if !readable.contains(&(api_version, kind)) {
            readable.push((api_version, kind));
        }
    }
    let declared: Vec<(&str, &str)> = metadata["contextAwareResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["apiVersion"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
            )
        })
        .collect();
    // kwctl annotates them sorted; the metadata lists them so.
    readable.sort();
    assert_eq!(declared, readable);
}

/// The README's ClusterAdmissionPolicy manifests load this release of this
/// module, with the rules it is annotated with and settings it accepts.
#[test]
fn readme_manifests_name_this_module_its_rules_and_valid_settings() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let metadata = read("policy-metadata.yml");
    let module = format!(
        "registry://{}:v{}",
        metadata["annotations"]["io.kubewarden.policy.ociUrl"]
            .as_str()
            .unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    let manifests: Vec<Value> = yaml_blocks(&readme)
        .into_iter()
        .filter(|block| block.contains("kind: ClusterAdmissionPolicy"))
        .map(|block| yaml_to_json(&block))
        .filter(|doc| doc["kind"] == "ClusterAdmissionPolicy")
        .collect();
    assert!(!manifests.is_empty(), "the README shows a manifest");
    for manifest in manifests {
        let spec = &manifest["spec"];
        assert_eq!(spec["module"], module.as_str());
        assert_eq!(spec["rules"], metadata["rules"]);
        assert_eq!(spec["mutating"], Value::Bool(true));
        let settings = spec["settings"].to_string();
        let response = signed_images_policy::admission::validate_settings(settings.as_bytes());
        assert!(response.valid, "{:?}", response.message);
    }
}

/// The ```yaml blocks of a Markdown text, dedented (they may sit in a list item).
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in markdown.lines() {
        let indent = line.len() - line.trim_start().len();
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some((indent, String::new())),
            (Some(_), "```") => blocks.push(current.take().unwrap().1),
            (Some((indent, block)), _) => {
                block.push_str(line.get(*indent..).unwrap_or(""));
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}
