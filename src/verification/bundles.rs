//! cosign 3 signature bundles, which no host before Kubewarden 1.36 reads.
//!
//! Since cosign 3, `cosign sign` writes no `sha256-<hex>.sig` tag by default
//! but an OCI referrer holding a Sigstore bundle, and, on registries without
//! the referrers API, an image index under the fallback tag `sha256-<hex>`
//! listing the referrers. The module cannot read a bundle (no host call
//! fetches a blob or lists referrers); it reads only that index (and, where
//! it does not say which entry is a bundle, a few of the referrer manifests
//! it lists), to tell an operator why an image with a bundle and no `.sig`
//! is refused.

use crate::image::reference::is_valid_digest;
use serde_json::Value;

/// The artifact type of a Sigstore bundle v0.3 referrer.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of what `cosign sign` signs (an attestation bundle has
/// the same artifact type, and another predicate).
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The annotations cosign puts on a bundle referrer (which the distribution
/// spec has copied onto its descriptor in the fallback index, and cosign
/// itself does not).
const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The most entries of a fallback index the policy reads: real ones list a
/// few referrers; an attacker's could list thousands.
pub const MAX_INDEX_ENTRIES: usize = 64;
/// The most referrer manifests the policy reads for one image, when the
/// index does not say which is a bundle: cosign's index names no artifact
/// type the hosts of 1.31 to 1.35 pass on, nor any annotation.
pub const MAX_REFERRERS_READ: usize = 2;
/// The images of one request whose fallback tag is read: the first denied
/// for having no signature. Each read is a registry round trip on a
/// connection of its own (the host keeps none open for manifest reads, and
/// tries an insecure source three times over on a "not found"), for a note
/// that says the same of every image of a build.
pub const MAX_IMAGES_NOTED: usize = 1;

/// The fallback tag the referrers of `digest` are listed under.
pub(crate) fn fallback_tag(registry_and_repository: &str, digest: &str) -> String {
    format!("{registry_and_repository}:{}", digest.replacen(':', "-", 1))
}

/// What a fallback tag holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FallbackIndex {
    /// An index listing this many signature bundles.
    Bundles(usize),
    /// An index listing no bundle (other referrers: SBOMs, attestations).
    NoBundle,
    /// An index whose entries do not say what they are: the digests of the
    /// referrer manifests to read, in order.
    Untyped(Vec<String>),
    /// Not an index the policy reads, and why: never a bundle.
    Unreadable(String),
}

/// What an artifact type and annotations say of a referrer (its manifest, or
/// its descriptor in the index): `Some(true)` a signature bundle,
/// `Some(false)` something else, `None` nothing.
fn says_bundle(described: &Value) -> Option<bool> {
    let text = |at: &str| described.pointer(at).and_then(Value::as_str);
    let predicate = text(&format!("/annotations/{PREDICATE_ANNOTATION}"));
    let signature = predicate.is_none_or(|p| p == SIGN_PREDICATE);
    match (
        text("/artifactType"),
        text(&format!("/annotations/{CONTENT_ANNOTATION}")),
    ) {
        (Some(BUNDLE_ARTIFACT_TYPE), _) | (None, Some(_)) => Some(signature),
        (Some(_), _) => Some(false),
        (None, None) => None,
    }
}

/// Whether a referrer manifest, as the host returned it, holds a signature
/// bundle.
pub(crate) fn is_signature_bundle(manifest: &Value) -> bool {
    says_bundle(manifest) == Some(true)
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
    let said: Vec<Option<bool>> = entries.iter().map(says_bundle).collect();
    let bundles = said.iter().filter(|s| **s == Some(true)).count();
    let untyped: Vec<String> = entries
        .iter()
        .zip(&said)
        .filter(|(_, said)| said.is_none())
        .filter_map(|(entry, _)| entry.get("digest").and_then(Value::as_str))
        .filter(|digest| is_valid_digest(digest))
        .map(str::to_string)
        .collect();
    match (bundles, untyped.is_empty()) {
        (0, true) => FallbackIndex::NoBundle,
        (0, false) => FallbackIndex::Untyped(untyped),
        (bundles, _) => FallbackIndex::Bundles(bundles),
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
            entry["annotations"] = json!({CONTENT_ANNOTATION: c});
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
        // An attestation bundle: the artifact type, another predicate.
        let mut attestation = entry(Some(BUNDLE_ARTIFACT_TYPE), None);
        attestation["annotations"] =
            json!({PREDICATE_ANNOTATION: "https://slsa.dev/provenance/v1"});
        assert_eq!(
            read_fallback_index(&index(vec![attestation])),
            FallbackIndex::NoBundle
        );
        // cosign's own index, as the host of 1.35 passes it on: to read.
        let untyped = entry(None, None);
        assert_eq!(
            read_fallback_index(&index(vec![untyped.clone(), sbom["manifests"][0].clone()])),
            FallbackIndex::Untyped(vec![untyped["digest"].as_str().unwrap().to_string()])
        );
        let mut garbage = untyped;
        garbage["digest"] = json!("../../etc");
        assert_eq!(
            read_fallback_index(&index(vec![garbage])),
            FallbackIndex::NoBundle
        );
    }

    #[test]
    fn a_referrer_manifest_is_a_signature_bundle_by_its_type_and_predicate() {
        let manifest = json!({"schemaVersion": 2, "artifactType": BUNDLE_ARTIFACT_TYPE,
            "annotations": {CONTENT_ANNOTATION: "dsse-envelope", PREDICATE_ANNOTATION: SIGN_PREDICATE}});
        assert!(is_signature_bundle(&manifest));
        let mut attestation = manifest.clone();
        attestation["annotations"][PREDICATE_ANNOTATION] = json!("https://slsa.dev/provenance/v1");
        assert!(!is_signature_bundle(&attestation));
        assert!(!is_signature_bundle(
            &json!({"schemaVersion": 2, "layers": []})
        ));
        assert!(!is_signature_bundle(
            &json!({"artifactType": "application/spdx+json"})
        ));
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
