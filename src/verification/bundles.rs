//! cosign 3 signature bundles, which no host before Kubewarden 1.36 reads.
//!
//! Since cosign 3, `cosign sign` writes no `sha256-<hex>.sig` tag by default
//! but an OCI referrer holding a Sigstore bundle, and, on registries without
//! the referrers API, an image index under the fallback tag `sha256-<hex>`
//! listing the referrers. The module cannot read a bundle (no host call
//! fetches a blob or lists referrers); it reads only that index, to tell an
//! operator why an image with a bundle and no `.sig` is refused.

use serde_json::Value;

/// The artifact type of a Sigstore bundle v0.3 referrer.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The annotation cosign puts on a bundle referrer (and, in the fallback
/// index, on its descriptor): the hosts of 1.31 to 1.35 drop the
/// descriptors' `artifactType` when they pass an index on, and keep this.
const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The most entries of a fallback index the policy reads: real ones list a
/// few referrers; an attacker's could list thousands.
pub const MAX_INDEX_ENTRIES: usize = 64;

/// The fallback tag the referrers of `digest` are listed under.
pub(crate) fn fallback_tag(registry_and_repository: &str, digest: &str) -> String {
    format!("{registry_and_repository}:{}", digest.replacen(':', "-", 1))
}

/// What a fallback tag holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FallbackIndex {
    /// An index listing this many bundles.
    Bundles(usize),
    /// An index listing no bundle (other referrers: SBOMs, attestations).
    NoBundle,
    /// Not an index the policy reads, and why: never a bundle.
    Unreadable(String),
}

/// Reads a fallback tag's manifest, as the host returned it.
pub(crate) fn read_fallback_index(manifest: &Value) -> FallbackIndex {
    let media_type = manifest.get("mediaType").and_then(Value::as_str);
    let Some(entries) = manifest.get("manifests").and_then(Value::as_array) else {
        return FallbackIndex::Unreadable("it is not an image index".to_string());
    };
    if media_type.is_some_and(|t| t != OCI_INDEX) {
        return FallbackIndex::Unreadable("it is not an OCI image index".to_string());
    }
    if entries.len() > MAX_INDEX_ENTRIES {
        return FallbackIndex::Unreadable(format!(
            "its index lists {} manifests, more than the {MAX_INDEX_ENTRIES} the policy reads",
            entries.len()
        ));
    }
    let is_bundle = |entry: &Value| {
        entry.get("artifactType").and_then(Value::as_str) == Some(BUNDLE_ARTIFACT_TYPE)
            || entry
                .pointer(&format!("/annotations/{BUNDLE_CONTENT_ANNOTATION}"))
                .is_some_and(Value::is_string)
    };
    match entries.iter().filter(|entry| is_bundle(entry)).count() {
        0 => FallbackIndex::NoBundle,
        bundles => FallbackIndex::Bundles(bundles),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(artifact_type: Option<&str>, content: Option<&str>) -> Value {
        let mut entry = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "1".repeat(64)), "size": 1000});
        if let Some(t) = artifact_type {
            entry["artifactType"] = json!(t);
        }
        if let Some(c) = content {
            entry["annotations"] = json!({BUNDLE_CONTENT_ANNOTATION: c});
        }
        entry
    }

    fn index(entries: Vec<Value>) -> Value {
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    }

    #[test]
    fn a_bundle_is_told_by_its_artifact_type_or_its_annotation() {
        let by_type = index(vec![entry(Some(BUNDLE_ARTIFACT_TYPE), None)]);
        assert_eq!(read_fallback_index(&by_type), FallbackIndex::Bundles(1));
        // The host of 1.35 passes an index on without artifactType.
        let by_annotation = index(vec![entry(None, Some("dsse-envelope"))]);
        assert_eq!(
            read_fallback_index(&by_annotation),
            FallbackIndex::Bundles(1)
        );
        let sbom = index(vec![entry(Some("application/spdx+json"), None)]);
        assert_eq!(read_fallback_index(&sbom), FallbackIndex::NoBundle);
        assert_eq!(read_fallback_index(&index(vec![])), FallbackIndex::NoBundle);
    }

    #[test]
    fn what_is_no_index_or_too_long_is_unreadable_never_a_bundle() {
        let manifest = json!({"schemaVersion": 2, "config": {}, "layers": []});
        assert!(matches!(
            read_fallback_index(&manifest),
            FallbackIndex::Unreadable(_)
        ));
        let mut docker_list = index(vec![entry(Some(BUNDLE_ARTIFACT_TYPE), None)]);
        docker_list["mediaType"] =
            json!("application/vnd.docker.distribution.manifest.list.v2+json");
        assert!(matches!(
            read_fallback_index(&docker_list),
            FallbackIndex::Unreadable(_)
        ));
        let huge = index(vec![
            entry(Some(BUNDLE_ARTIFACT_TYPE), None);
            MAX_INDEX_ENTRIES + 1
        ]);
        assert_eq!(
            read_fallback_index(&huge),
            FallbackIndex::Unreadable(format!(
                "its index lists {} manifests, more than the {MAX_INDEX_ENTRIES} the policy reads",
                MAX_INDEX_ENTRIES + 1
            ))
        );
        assert!(matches!(
            read_fallback_index(&json!("garbage")),
            FallbackIndex::Unreadable(_)
        ));
    }

    #[test]
    fn the_fallback_tag_is_the_digest_without_sig() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            fallback_tag("reg.io/team/app", &digest),
            format!("reg.io/team/app:sha256-{}", "a".repeat(64))
        );
    }
}
