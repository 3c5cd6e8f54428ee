//! Settings: the `spec` of an SCST-Sign ClusterImagePolicy plus a few keys of
//! ours ([`scst`]), verify-image-signatures' settings
//! ([`verify_image_signatures`]), or policy-controller's ClusterImagePolicies
//! ([`policy_controller`]), read strictly ([`strict_json`]) and compiled
//! into the one model verification reads ([`crate::rules`]); also the
//! ClusterImagePolicy read from the cluster ([`cluster_policy`]) and every
//! mistake's message ([`errors`]). The shape is told from its own key
//! ([`Shape`]); the keys every shape shares are read by [`shared`], a key of
//! another shape is refused as one table says ([`SHAPE_KEYS`]).
//!
//! policy-server runs every request in a fresh instance of the module and
//! never calls `validate` with settings that `validate_settings` refused. So
//! the full proof (every key and certificate decoded, errors with their path)
//! runs when the policy loads ([`parse_settings`]); a request reads the same
//! settings again without decoding key material ([`parse_proven_settings`]),
//! still refusing anything it cannot read.

pub(crate) mod checks;
pub mod cluster_policy;
pub mod errors;
pub(crate) mod keys;
pub(crate) mod policy_controller;
pub(crate) mod scst;
pub(crate) mod shared;
pub mod strict_json;
pub(crate) mod verify_image_signatures;

use crate::rules::{ClusterSource, Policy, RuleSource, UnmatchedImages};
use checks::Checks;
use cluster_policy::ClusterModeKeys;
use errors::{OtherShape, Problem, SettingsError, SettingsErrors};
use policy_controller::compile_policies;
use policy_controller::PolicyControllerKeys;
use scst::compile_verification;
use scst::ScstKeys;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserialize;
use shared::SharedKeys;
use shared::{
    accept_keyless_bundles, annotation_prefix, fallback_without_pins, max_verifications, Shared,
};
use strict_json::{from_json_strict, NotNull};
use verify_image_signatures::compile_signatures;
use verify_image_signatures::SignaturesKeys;

/// The settings document: the keys every shape shares and each shape's own,
/// each in a struct of the file that owns it; any other key is refused, naming
/// every key the settings take ([`FIELDS`]).
#[derive(Debug, Default)]
pub struct RawSettings {
    pub(crate) shared: SharedKeys,
    pub(crate) scst: ScstKeys,
    pub(crate) signatures: SignaturesKeys,
    pub(crate) policy_controller: PolicyControllerKeys,
    pub(crate) cluster: ClusterModeKeys,
}

/// Every top-level key, in the order a refusal of another lists them.
const FIELDS: &[&str] = &[
    "verification",
    "allowUnmatchedImages",
    "pinDigests",
    "annotationPrefix",
    "clusterImagePolicy",
    "maxVerificationsPerRequest",
    "namedRegistriesOnly",
    "signatures",
    "modifyImagesWithDigest",
    "outageFallback",
    "clusterImagePolicyApiVersion",
    "clusterImagePolicies",
    "noMatchPolicy",
    "warn",
    "acceptKeylessBundles",
];

impl<'de> Deserialize<'de> for RawSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("RawSettings", FIELDS, DocumentVisitor)
    }
}

struct DocumentVisitor;

/// The next value of `map`, which must not be `null` ([`NotNull`]).
fn not_null_value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    Ok(map.next_value::<NotNull<T>>()?.0)
}

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = RawSettings;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("struct RawSettings")
    }

    /// Each key's value is read into the part that owns the key; a key
    /// given twice (under any of its names) or that no part owns is refused
    /// as it is read.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSettings, A::Error> {
        let mut raw = RawSettings::default();
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            if seen.contains(&key) {
                return Err(de::Error::duplicate_field(key));
            }
            seen.push(key);
            // Each value into the struct of the file that owns the key.
            match key {
                "annotationPrefix" => raw.shared.annotation_prefix = map.next_value()?,
                "maxVerificationsPerRequest" => {
                    raw.shared.max_verifications_per_request = map.next_value()?
                }
                "namedRegistriesOnly" => raw.shared.named_registries_only = map.next_value()?,
                "outageFallback" => raw.shared.outage_fallback = not_null_value(&mut map)?,
                "warn" => raw.shared.warn = not_null_value(&mut map)?,
                "acceptKeylessBundles" => raw.shared.accept_keyless_bundles = map.next_value()?,
                "verification" => raw.scst.verification = not_null_value(&mut map)?,
                "allowUnmatchedImages" => raw.scst.allow_unmatched_images = map.next_value()?,
                "pinDigests" => raw.scst.pin_digests = map.next_value()?,
                "signatures" => raw.signatures.signatures = not_null_value(&mut map)?,
                "modifyImagesWithDigest" => {
                    raw.signatures.modify_images_with_digest = map.next_value()?
                }
                "clusterImagePolicies" => {
                    raw.policy_controller.cluster_image_policies = not_null_value(&mut map)?
                }
                "noMatchPolicy" => raw.policy_controller.no_match_policy = map.next_value()?,
                "clusterImagePolicy" => raw.cluster.cluster_image_policy = map.next_value()?,
                "clusterImagePolicyApiVersion" => {
                    raw.cluster.cluster_image_policy_api_version = map.next_value()?
                }
                // [`Key`] reads no other (a test reads every one of FIELDS).
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        Ok(raw)
    }
}

/// A top-level key, read as one of [`FIELDS`] (or a former name of one):
/// any other is refused while it is read, as serde refuses a field a struct
/// does not have.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = &'static str;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, written: &str) -> Result<&'static str, E> {
        match written {
            // SCST-Sign's install value, under its former names too.
            "allow_unmatched_images" | "warn_on_unmatched" => Ok("allowUnmatchedImages"),
            written => FIELDS
                .iter()
                .find(|field| **field == written)
                .copied()
                .ok_or_else(|| E::unknown_field(written, FIELDS)),
        }
    }
}

/// The apiVersions cluster mode reads: SCST-Sign's (current, then earlier
/// name) and policy-controller's.
pub const CLUSTER_API_VERSIONS: [&str; 4] = [
    cluster_policy::API_VERSION,
    cluster_policy::EARLIER_API_VERSION,
    policy_controller::API_VERSIONS[0],
    policy_controller::API_VERSIONS[1],
];

/// Reads settings JSON strictly, proving every key; the error names every
/// mistake found, each with the path of its field (reading stops at the
/// first field it cannot read at all). `validate_settings` answers with this.
pub fn parse_settings(json: &str) -> Result<Policy, SettingsErrors> {
    let raw: RawSettings = from_json_strict(json, "")?;
    read(raw, Checks::Full)
}

/// Reads settings that [`parse_settings`] accepted when the policy loaded,
/// without decoding key material or parsing patterns again. Still strict: settings it cannot
/// read are an error, never "no rules".
pub(crate) fn parse_proven_settings(json: &str) -> Result<Policy, SettingsErrors> {
    let raw: RawSettings = from_json_strict(json, "")?;
    read(raw, Checks::Proven)
}

/// The shape the settings are written in, told from its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// verify-image-signatures' `signatures`.
    Signatures,
    /// `clusterImagePolicy: true`: the rules are read from the cluster,
    /// SCST-Sign's or policy-controller's as the apiVersion says.
    Cluster,
    /// policy-controller's `clusterImagePolicies`.
    PolicyController,
    /// SCST-Sign's `verification`, or no rules at all.
    Scst,
}

impl Shape {
    fn of(raw: &RawSettings) -> Shape {
        if raw.signatures.signatures.is_some() {
            Shape::Signatures
        } else if raw.cluster.cluster_image_policy == Some(true) {
            Shape::Cluster
        } else if raw.policy_controller.cluster_image_policies.is_some()
            && raw.scst.verification.is_none()
        {
            Shape::PolicyController
        } else {
            Shape::Scst
        }
    }
}

/// Whose rules the no-match keys go with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Scst,
    PolicyController,
}

/// Each shape's own top-level keys, the shapes a key goes with, and what it
/// is told written in another shape's settings: the one table of mixed
/// shapes. (The keys every shape shares are [`shared`]'s.) The no-match
/// keys go with a family of rules rather than a shape: cluster mode reads
/// either family's. verify-image-signatures' settings take no key of ours
/// ([`OtherShape::NotWithSignatures`]); two rule sets at once are refused at
/// the settings' root.
const SHAPE_KEYS: [(&str, Belongs, OtherShape); 9] = [
    (
        "signatures",
        Belongs::To(&[Shape::Signatures]),
        OtherShape::NotWithSignatures,
    ),
    (
        "modifyImagesWithDigest",
        Belongs::To(&[Shape::Signatures]),
        OtherShape::OnlyWithSignatures,
    ),
    (
        "verification",
        Belongs::To(&[Shape::Scst]),
        OtherShape::ClusterAndInlineRules,
    ),
    (
        "clusterImagePolicy",
        Belongs::To(&[Shape::Scst, Shape::PolicyController, Shape::Cluster]),
        OtherShape::NotWithSignatures,
    ),
    (
        "clusterImagePolicyApiVersion",
        Belongs::To(&[Shape::Cluster]),
        OtherShape::OnlyInClusterMode,
    ),
    (
        "clusterImagePolicies",
        Belongs::To(&[Shape::PolicyController]),
        OtherShape::NotWithVerification,
    ),
    (
        "noMatchPolicy",
        Belongs::ToFamily(Family::PolicyController),
        OtherShape::OnlyWithPolicyController,
    ),
    (
        "allowUnmatchedImages",
        Belongs::ToFamily(Family::Scst),
        OtherShape::NotWithPolicyController,
    ),
    (
        "pinDigests",
        Belongs::To(&[Shape::Scst, Shape::PolicyController, Shape::Cluster]),
        OtherShape::NotWithSignatures,
    ),
];

/// Where a key of [`SHAPE_KEYS`] goes.
enum Belongs {
    To(&'static [Shape]),
    ToFamily(Family),
}

impl RawSettings {
    /// Whether the top-level key `name` (one of [`SHAPE_KEYS`]) is written.
    fn has(&self, name: &str) -> bool {
        match name {
            "verification" => self.scst.verification.is_some(),
            "clusterImagePolicy" => self.cluster.cluster_image_policy.is_some(),
            "clusterImagePolicyApiVersion" => {
                self.cluster.cluster_image_policy_api_version.is_some()
            }
            "clusterImagePolicies" => self.policy_controller.cluster_image_policies.is_some(),
            "noMatchPolicy" => self.policy_controller.no_match_policy.is_some(),
            "allowUnmatchedImages" => self.scst.allow_unmatched_images.is_some(),
            "pinDigests" => self.scst.pin_digests.is_some(),
            "signatures" => self.signatures.signatures.is_some(),
            "modifyImagesWithDigest" => self.signatures.modify_images_with_digest.is_some(),
            _ => false,
        }
    }
}

/// The keys written that do not go with `shape` (and `family`, unknown
/// while the rules themselves are in question), each with what it is told,
/// in the table's order: the keys of a shape (`of_family` false), or the
/// no-match keys, which are told once the rules are read (in
/// verify-image-signatures' settings, with the others).
fn other_shapes_keys(
    raw: &RawSettings,
    shape: Shape,
    family: Option<Family>,
    of_family: bool,
) -> Vec<SettingsError> {
    let mut refused: Vec<SettingsError> = Vec::new();
    for (name, belongs, told) in SHAPE_KEYS {
        // verify-image-signatures' settings take none of ours: all at once.
        let told_later = shape != Shape::Signatures && matches!(belongs, Belongs::ToFamily(_));
        if !raw.has(name) || told_later != of_family {
            continue;
        }
        let goes = match belongs {
            Belongs::To(shapes) => shapes.contains(&shape),
            // While the family is unknown, what is wrong is said of the rules.
            Belongs::ToFamily(wanted) => {
                shape != Shape::Signatures && family.is_none_or(|family| family == wanted)
            }
        };
        let mistake = match (goes, shape, told) {
            (true, ..) => continue,
            (false, Shape::Signatures, _) => {
                SettingsError::at(name, Problem::OtherShape(OtherShape::NotWithSignatures))
            }
            // Two rule sets: once, at the root.
            (
                false,
                Shape::Cluster,
                OtherShape::ClusterAndInlineRules | OtherShape::NotWithVerification,
            ) => SettingsError::at("", Problem::OtherShape(OtherShape::ClusterAndInlineRules)),
            (false, _, told) => SettingsError::at(name, Problem::OtherShape(told)),
        };
        if !refused.contains(&mistake) {
            refused.push(mistake);
        }
    }
    refused
}

/// Every check runs, and each mistake is noted as it is found: the keys
/// every shape shares, the keys of other shapes ([`SHAPE_KEYS`]), the
/// shape's own rules (and any other rules written, so that their mistakes
/// are named too), then the limits and what depends on the rules. A part
/// with a mistake has no value, and the checks that depend on it are left
/// out (a key that cannot be read is not also "not defined").
fn read(mut raw: RawSettings, checks: Checks) -> Result<Policy, SettingsErrors> {
    let mut mistakes = SettingsErrors::default();
    let shape = Shape::of(&raw);
    let shared = Shared::read(
        raw.shared.outage_fallback.take(),
        raw.shared.warn.take(),
        &mut mistakes,
    );
    let prefix_read_first = match shape {
        // verify-image-signatures' own keys first, as that policy reads them.
        Shape::Signatures => None,
        _ => Some(mistakes.take(annotation_prefix(raw.shared.annotation_prefix.take()))),
    };
    // In cluster mode, the ClusterImagePolicies it reads (`None` when the
    // apiVersion is a mistake).
    let cluster = match shape {
        Shape::Cluster => mistakes.take(cluster_source(
            raw.cluster.cluster_image_policy_api_version.take(),
        )),
        _ => None,
    };
    let conflict = match shape {
        Shape::Cluster => {
            raw.scst.verification.is_some()
                || raw.policy_controller.cluster_image_policies.is_some()
        }
        Shape::Scst => raw.policy_controller.cluster_image_policies.is_some(),
        _ => false,
    };
    let family = match (shape, cluster, conflict) {
        (_, _, true) | (Shape::Signatures, ..) => None,
        (Shape::Cluster, Some(ClusterSource::PolicyController(_)), _) => {
            Some(Family::PolicyController)
        }
        (Shape::Cluster, Some(ClusterSource::ScstSign(_)), _) => Some(Family::Scst),
        (Shape::Cluster, None, _) => None,
        (Shape::PolicyController, ..) => Some(Family::PolicyController),
        (Shape::Scst, ..) => Some(Family::Scst),
    };
    for mistake in other_shapes_keys(&raw, shape, family, false) {
        mistakes.push(mistake);
    }
    let (rules, unmatched_images, pin_digests) = match shape {
        Shape::Signatures => {
            let rules = raw
                .signatures
                .signatures
                .take()
                .and_then(|signatures| mistakes.take(compile_signatures(signatures, checks)));
            (
                rules.map(RuleSource::Inline),
                Some(UnmatchedImages::Admit),
                verify_image_signatures::pin_digests(raw.signatures.modify_images_with_digest),
            )
        }
        _ => {
            let verification_written = raw.scst.verification.is_some();
            // Whatever rules are written are compiled, so that their mistakes are named too.
            let verification = raw.scst.verification.take().and_then(|v| {
                mistakes.take(compile_verification(v, checks).map_err(|e| e.within("verification")))
            });
            let policies = raw
                .policy_controller
                .cluster_image_policies
                .take()
                .and_then(|p| {
                    mistakes.take(
                        compile_policies(p, checks).map_err(|e| e.within("clusterImagePolicies")),
                    )
                });
            let rules = match (conflict, shape) {
                (true, _) => None,
                (false, Shape::Cluster) => cluster.map(RuleSource::Cluster),
                (false, Shape::PolicyController) => policies.map(RuleSource::Inline),
                (false, _) => match verification {
                    Some(rules) => Some(RuleSource::Inline(rules)),
                    None if verification_written => None,
                    None => Some(RuleSource::NoRules),
                },
            };
            for mistake in other_shapes_keys(&raw, shape, family, true) {
                mistakes.push(mistake);
            }
            let unmatched = match family {
                None => None,
                Some(Family::PolicyController) => {
                    mistakes.take(policy_controller::no_match_policy(
                        raw.policy_controller.no_match_policy.as_deref(),
                    ))
                }
                Some(Family::Scst) => Some(scst::unmatched_images(raw.scst.allow_unmatched_images)),
            };
            (rules, unmatched, raw.scst.pin_digests.unwrap_or_default())
        }
    };
    let annotation_prefix = match prefix_read_first {
        Some(read) => read,
        None => mistakes.take(annotation_prefix(raw.shared.annotation_prefix.take())),
    };
    let max_verifications =
        mistakes.take(max_verifications(raw.shared.max_verifications_per_request));
    let no_pins = match shape {
        Shape::Signatures => "modifyImagesWithDigest: false",
        _ => "pinDigests: never",
    };
    if let Some(mistake) = fallback_without_pins(&shared.record_key, pin_digests, no_pins) {
        mistakes.push(mistake);
    }
    let inline = match &rules {
        Some(RuleSource::Inline(rules)) => Some(rules),
        _ => None,
    };
    let accept_keyless_bundles = mistakes.take(accept_keyless_bundles(
        raw.shared.accept_keyless_bundles,
        inline,
    ));
    let (
        Shared {
            record_key: Some(record_key),
            warn: Some(warn),
        },
        Some(annotation_prefix),
        Some(rules),
        Some(unmatched_images),
        Some(max_verifications),
        Some(accept_keyless_bundles),
    ) = (
        shared,
        annotation_prefix,
        rules,
        unmatched_images,
        max_verifications,
        accept_keyless_bundles,
    )
    else {
        return Err(mistakes);
    };
    mistakes.or_ok(|| Policy {
        rules,
        unmatched_images,
        pin_digests,
        annotation_prefix,
        max_verifications,
        named_registries_only: raw.shared.named_registries_only.unwrap_or(false),
        record_key,
        warn,
        accept_keyless_bundles,
    })
}

/// `clusterImagePolicyApiVersion`, one of [`CLUSTER_API_VERSIONS`].
fn cluster_source(version: Option<String>) -> Result<ClusterSource, SettingsError> {
    let Some(version) = version else {
        return Ok(ClusterSource::ScstSign(cluster_policy::API_VERSION));
    };
    let known = CLUSTER_API_VERSIONS
        .into_iter()
        .find(|known| *known == version)
        .ok_or_else(|| {
            SettingsError::at(
                "clusterImagePolicyApiVersion",
                Problem::NotOneOf(version.clone(), &CLUSTER_API_VERSIONS),
            )
        })?;
    Ok(match known.starts_with(policy_controller::GROUP) {
        true => ClusterSource::PolicyController(known),
        false => ClusterSource::ScstSign(known),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_key_is_read_by_the_part_that_owns_it() {
        for key in FIELDS {
            let value = match *key {
                "verification" | "outageFallback" | "warn" => "{}",
                "signatures" | "clusterImagePolicies" => "[]",
                "pinDigests" => "\"pods\"",
                "annotationPrefix" | "clusterImagePolicyApiVersion" | "noMatchPolicy" => "\"x\"",
                "maxVerificationsPerRequest" => "1",
                _ => "true",
            };
            let read = serde_json::from_str::<RawSettings>(&format!("{{\"{key}\": {value}}}"));
            assert!(read.is_ok(), "{key}: {read:?}");
        }
    }

    #[test]
    fn a_key_given_twice_under_any_of_its_names_is_refused() {
        let twice = r#"{"allowUnmatchedImages": true, "warn_on_unmatched": false}"#;
        let refused = serde_json::from_str::<RawSettings>(twice).unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("duplicate field `allowUnmatchedImages`"),
            "{refused}"
        );
        let unknown = serde_json::from_str::<RawSettings>(r#"{"verificaton": {}}"#).unwrap_err();
        assert!(unknown.to_string().starts_with(
            "unknown field `verificaton`, expected one of `verification`, `allowUnmatchedImages`"
        ));
    }
}
