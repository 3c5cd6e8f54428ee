//! Workload unwrapping: finds the pod spec inside each covered kind and every
//! image it runs, with where the field that holds it lies in the object.

pub(crate) mod object;

use crate::json_text::{self, members, Type};
use object::Object;
use serde_json::value::RawValue;
use std::ops::Range;

/// A kind the policy covers: its API group (a custom resource that reuses
/// the kind name in another group is not a workload this policy knows), the
/// path of its pod spec and, where the kind may leave it out, the path of its
/// pod template.
pub struct CoveredKind {
    pub kind: &'static str,
    pub group: &'static str,
    pub pod_spec_path: &'static [&'static str],
    /// The pod template, when the API lets the kind omit it (missing or
    /// `null`): the object then runs nothing, so it has no image to verify.
    pub optional_template: Option<&'static [&'static str]>,
}

const TEMPLATE: &[&str] = &["spec", "template", "spec"];

/// Every kind the policy covers, once.
pub const COVERED_KINDS: [CoveredKind; 8] = [
    CoveredKind {
        kind: "Pod",
        group: "",
        pod_spec_path: &["spec"],
        optional_template: None,
    },
    CoveredKind {
        kind: "ReplicationController",
        group: "",
        pod_spec_path: TEMPLATE,
        // Its `spec.template` is optional in the API, unlike every other kind's.
        optional_template: Some(&["spec", "template"]),
    },
    CoveredKind {
        kind: "Deployment",
        group: "apps",
        pod_spec_path: TEMPLATE,
        optional_template: None,
    },
    CoveredKind {
        kind: "ReplicaSet",
        group: "apps",
        pod_spec_path: TEMPLATE,
        optional_template: None,
    },
    CoveredKind {
        kind: "StatefulSet",
        group: "apps",
        pod_spec_path: TEMPLATE,
        optional_template: None,
    },
    CoveredKind {
        kind: "DaemonSet",
        group: "apps",
        pod_spec_path: TEMPLATE,
        optional_template: None,
    },
    CoveredKind {
        kind: "Job",
        group: "batch",
        pod_spec_path: TEMPLATE,
        optional_template: None,
    },
    CoveredKind {
        kind: "CronJob",
        group: "batch",
        pod_spec_path: &["spec", "jobTemplate", "spec", "template", "spec"],
        optional_template: None,
    },
];

fn covered(kind: &str) -> Option<&'static CoveredKind> {
    COVERED_KINDS.iter().find(|covered| covered.kind == kind)
}

/// The path of a covered kind's pod spec.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    covered(kind).map(|covered| covered.pod_spec_path)
}

/// The API group of a covered kind.
pub fn api_group(kind: &str) -> Option<&'static str> {
    covered(kind).map(|covered| covered.group)
}

/// One image reference found in a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageSite {
    /// JSON pointer (RFC 6901) of the string, from the object root.
    pub pointer: String,
    /// The string token's bytes in the object's JSON text.
    pub span: Range<usize>,
    pub image: String,
}

/// Every image of a covered kind's object (JSON text), in document order. A
/// missing or mistyped field is an error that names it: an image we cannot
/// see is an image we cannot verify.
pub(crate) fn find_images(kind: &str, object: &Object) -> Result<Vec<ImageSite>, String> {
    let covered = covered(kind).ok_or_else(|| format!("kind {kind} is not covered"))?;
    let path = covered.pod_spec_path;
    let mut spec = object.text;
    let mut pointer = String::new();
    for (depth, segment) in path.iter().enumerate() {
        let at = dotted(&path[..=depth]);
        let next = match depth {
            // Every pod spec path starts at the object's `spec`.
            0 => object.spec,
            _ => members(spec, &[segment], &dotted(&path[..depth]))?[0],
        };
        let omitted = next.is_none_or(|v| json_text::type_of(v) == Type::Null);
        spec = match next {
            Some(next) if json_text::type_of(next) == Type::Object => next,
            _ if omitted && covered.optional_template == Some(&path[..=depth]) => {
                return Ok(Vec::new())
            }
            Some(_) => return Err(format!("{at} must be an object")),
            None => return Err(format!("{at} is missing")),
        };
        pointer.push('/');
        pointer.push_str(segment);
    }
    let spec_name = dotted(path);
    let [containers, init_containers, ephemeral_containers, volumes] = members(
        spec,
        &[
            "containers",
            "initContainers",
            "ephemeralContainers",
            "volumes",
        ],
        &spec_name,
    )?[..] else {
        unreachable!("four names, four members")
    };
    // Kubernetes runs no pod without a container: a spec with none is not
    // a pod spec (`spec: {}`, or another kind's object under this kind).
    let containers_at = format!("{spec_name}.containers");
    if objects(containers, &containers_at)?.is_empty() {
        return Err(format!(
            "{containers_at} is missing: a pod spec runs at least one container"
        ));
    }

    let mut sites = Vec::new();
    for (list, list_name) in [
        (containers, "containers"),
        (init_containers, "initContainers"),
        (ephemeral_containers, "ephemeralContainers"),
    ] {
        for (i, container) in objects(list, &format!("{spec_name}.{list_name}"))?
            .into_iter()
            .enumerate()
        {
            let at = format!("{spec_name}.{list_name}[{i}]");
            let image = members(container, &["image"], &at)?[0];
            sites.push(ImageSite {
                pointer: format!("{pointer}/{list_name}/{i}/image"),
                span: image.map_or(Ok(0..0), |image| json_text::span(object.text, image))?,
                image: non_empty_string(image, &format!("{at}.image"))?,
            });
        }
    }
    let volumes = objects(volumes, &format!("{spec_name}.volumes"))?;
    for (i, volume) in volumes.into_iter().enumerate() {
        let at = format!("{spec_name}.volumes[{i}].image");
        let image_source = match members(volume, &["image"], &at)?[0] {
            None => continue,
            Some(source) => match json_text::type_of(source) {
                Type::Null => continue,
                Type::Object => source,
                _ => return Err(format!("{at} must be an object")),
            },
        };
        let reference = members(image_source, &["reference"], &at)?[0];
        sites.push(ImageSite {
            pointer: format!("{pointer}/volumes/{i}/image/reference"),
            span: reference.map_or(Ok(0..0), |image| json_text::span(object.text, image))?,
            image: non_empty_string(reference, &format!("{at}.reference"))?,
        });
    }
    Ok(sites)
}

/// The items of an optional list of objects.
fn objects<'a>(list: Option<&'a RawValue>, at: &str) -> Result<Vec<&'a RawValue>, String> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    match json_text::type_of(list) {
        Type::Null => Ok(Vec::new()),
        Type::Array => {
            let items = json_text::items(list, at)?;
            if let Some(i) = items
                .iter()
                .position(|item| json_text::type_of(item) != Type::Object)
            {
                return Err(format!("{at}[{i}] must be an object"));
            }
            Ok(items)
        }
        _ => Err(format!("{at} must be a list")),
    }
}

fn non_empty_string(value: Option<&RawValue>, at: &str) -> Result<String, String> {
    let missing = || format!("{at} is missing: every image must be named to be verified");
    match value.map(|v| (json_text::type_of(v), v)) {
        None | Some((Type::Null, _)) => Err(missing()),
        Some((Type::String, v)) => match json_text::string(v)? {
            s if s.trim().is_empty() => Err(missing()),
            s => Ok(s),
        },
        Some(_) => Err(format!("{at} must be a string")),
    }
}

fn dotted(path: &[&str]) -> String {
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn find_images(kind: &str, object: &Value) -> Result<Vec<ImageSite>, String> {
        let text = RawValue::from_string(object.to_string()).unwrap();
        super::find_images(kind, &Object::read(&text, "object")?)
    }

    fn pod_spec() -> Value {
        json!({
            "containers": [{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}],
            "initContainers": [{"name": "init", "image": "init:1"}],
            "ephemeralContainers": [{"name": "debug", "image": "debug:1"}],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "none", "image": null},
                {"name": "model", "image": {"reference": "model:1", "pullPolicy": "IfNotPresent"}}
            ]
        })
    }

    fn wrap(kind: &str, spec: Value) -> Value {
        match kind {
            "Pod" => json!({"spec": spec}),
            "CronJob" => json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            _ => json!({"spec": {"template": {"spec": spec}}}),
        }
    }

    #[test]
    fn every_kind_and_every_image_field() {
        for kind in COVERED_KINDS.map(|covered| covered.kind) {
            // Where the test itself puts the pod spec (`wrap`), not the table.
            let prefix = match kind {
                "Pod" => "/spec",
                "CronJob" => "/spec/jobTemplate/spec/template/spec",
                _ => "/spec/template/spec",
            };
            let object = wrap(kind, pod_spec());
            let sites = find_images(kind, &object).unwrap();
            let found: Vec<(&str, String)> = sites
                .iter()
                .map(|s| (s.image.as_str(), s.pointer.clone()))
                .collect();
            assert_eq!(
                found,
                vec![
                    ("app:1", format!("{prefix}/containers/0/image")),
                    ("side:1", format!("{prefix}/containers/1/image")),
                    ("init:1", format!("{prefix}/initContainers/0/image")),
                    ("debug:1", format!("{prefix}/ephemeralContainers/0/image")),
                    ("model:1", format!("{prefix}/volumes/2/image/reference")),
                ],
                "{kind}"
            );
            let text = object.to_string();
            for site in &sites {
                assert_eq!(
                    object.pointer(&site.pointer),
                    Some(&json!(site.image)),
                    "{kind}"
                );
                assert_eq!(
                    text[site.span.clone()],
                    json!(site.image).to_string(),
                    "{kind}"
                );
            }
        }
    }

    #[test]
    fn uncovered_kinds_are_not_unwrapped() {
        assert!(pod_spec_path("Service").is_none());
        assert!(find_images("ConfigMap", &json!({})).is_err());
    }

    #[test]
    fn an_optional_template_lies_on_its_kinds_pod_spec_path() {
        for covered in &COVERED_KINDS {
            if let Some(template) = covered.optional_template {
                assert!(
                    covered.pod_spec_path.starts_with(template)
                        && template.len() < covered.pod_spec_path.len(),
                    "{}",
                    covered.kind
                );
            }
        }
    }

    #[test]
    fn replication_controller_without_template_runs_nothing() {
        assert_eq!(
            find_images("ReplicationController", &json!({"spec": {}})).unwrap(),
            vec![]
        );
        assert_eq!(
            find_images(
                "ReplicationController",
                &json!({"spec": {"template": null}})
            )
            .unwrap(),
            vec![]
        );
    }

    #[test]
    fn unreadable_objects_are_errors_that_name_the_field() {
        for (kind, object, message) in [
            ("Pod", json!({}), "spec is missing"),
            (
                "Pod",
                json!({"spec": {}}),
                "spec.containers is missing: a pod spec runs at least one container",
            ),
            (
                "Pod",
                json!({"spec": {"containers": []}}),
                "spec.containers is missing",
            ),
            (
                "Pod",
                json!({"spec": {"containers": null}}),
                "spec.containers is missing",
            ),
            (
                "Pod",
                json!({"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}}),
                "spec.containers is missing",
            ),
            (
                "Deployment",
                json!({"spec": {"template": {"spec": {"initContainers": [{"image": "a"}]}}}}),
                "spec.template.spec.containers is missing",
            ),
            ("Pod", json!({"spec": []}), "spec must be an object"),
            (
                "Deployment",
                json!({"spec": {}}),
                "spec.template is missing",
            ),
            // Only a kind whose template is optional may leave it null.
            (
                "Deployment",
                json!({"spec": {"template": null}}),
                "spec.template must be an object",
            ),
            (
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": 3}}}}),
                "spec.jobTemplate.spec.template must be an object",
            ),
            (
                "Pod",
                json!({"spec": {"containers": {}}}),
                "spec.containers must be a list",
            ),
            (
                "Pod",
                json!({"spec": {"containers": ["nginx"]}}),
                "spec.containers[0] must be an object",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"name": "a"}]}}),
                "spec.containers[0].image is missing",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": ""}]}}),
                "spec.containers[0].image is missing",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": 7}]}}),
                "spec.containers[0].image must be a string",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": "a"}], "initContainers": [{"image": null}]}}),
                "spec.initContainers[0].image is missing",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": "a"}], "volumes": [{"image": {}}]}}),
                "spec.volumes[0].image.reference is missing",
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": "a"}], "volumes": [{"image": "x"}]}}),
                "spec.volumes[0].image must be an object",
            ),
        ] {
            let err = find_images(kind, &object).unwrap_err();
            assert!(err.contains(message), "{kind} {object}: {err}");
        }
    }
}
