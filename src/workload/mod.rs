//! Workload unwrapping: finds the pod spec inside each covered kind and every
//! image it runs, with where the field that holds it lies in the object.

pub(crate) mod object;

use crate::json_text::{self, members, Type};
use object::Object;
use std::fmt::Display;
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
    /// Which field holds it.
    pub field: Field,
    /// The string token's bytes in the object's JSON text.
    pub span: Range<usize>,
    pub image: String,
}

/// An image field of a pod spec: the `index`th item of `list`
/// (`containers`, `initContainers`, `ephemeralContainers` or `volumes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub pod_spec: &'static [&'static str],
    pub list: &'static str,
    pub index: usize,
}

impl ImageSite {
    /// The JSON pointer (RFC 6901) of the string, from the object root:
    /// made only where it is needed (an UPDATE's old object is read at it).
    pub fn pointer(&self) -> String {
        let Field {
            pod_spec,
            list,
            index,
        } = self.field;
        let leaf = match list {
            VOLUMES => "image/reference",
            _ => "image",
        };
        let mut pointer = String::new();
        for segment in pod_spec {
            pointer.push('/');
            pointer.push_str(segment);
        }
        format!("{pointer}/{list}/{index}/{leaf}")
    }
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
const VOLUMES: &str = "volumes";

/// Every image of a covered kind's object (JSON text), in document order
/// within each list (containers, init containers, ephemeral containers,
/// volumes). A missing or mistyped field is an error that names it: an image
/// we cannot see is an image we cannot verify. The pod spec is read in one
/// pass down its path, and the names of the fields are written only for an
/// error: this runs for every container of every request.
#[inline(never)] // a phase of scripts/profile.sh
pub(crate) fn find_images(kind: &str, object: &Object) -> Result<Vec<ImageSite>, String> {
    let covered = covered(kind).ok_or_else(|| format!("kind {kind} is not covered"))?;
    let mut found = Found {
        covered,
        object: object.text,
        lists: Default::default(),
        containers: 0,
        omitted: false,
    };
    // Every pod spec path starts at the object's `spec`.
    match object.spec {
        Some(spec) => found.descend(0, spec).map(drop)?,
        None => found.absent(0, None)?,
    }
    if found.omitted {
        return Ok(Vec::new());
    }
    // Kubernetes runs no pod without a container: a spec with none is not
    // a pod spec (`spec: {}`, or another kind's object under this kind).
    if found.containers == 0 {
        return Err(format!(
            "{}.containers is missing: a pod spec runs at least one container",
            dotted(covered.pod_spec_path)
        ));
    }
    Ok(found.lists.into_iter().flatten().collect())
}

/// What the pass down the pod spec found.
struct Found<'a> {
    covered: &'static CoveredKind,
    object: &'a str,
    /// The sites of each list, in the order [`CONTAINER_LISTS`], then volumes.
    lists: [Vec<ImageSite>; 4],
    containers: usize,
    /// An optional pod template left out: the object runs nothing.
    omitted: bool,
}

impl<'a> Found<'a> {
    /// Reads the value at `depth` of the pod spec path (from its start on),
    /// down to the pod spec; returns its length.
    fn descend(&mut self, depth: usize, value: &'a str) -> Result<usize, String> {
        let path = self.covered.pod_spec_path;
        if json_text::type_of(value) != Type::Object {
            let length = json_text::value_length(value)?;
            self.absent(depth, Some(&value[..length]))?;
            return Ok(length);
        }
        let at = dotted(&path[..=depth]);
        if depth + 1 == path.len() {
            return self.pod_spec(value, &at);
        }
        let mut present = false;
        let length = json_text::visit_members(value, &[path[depth + 1]], &at, &mut |_, next| {
            present = true;
            self.descend(depth + 1, next)
        })?;
        if !present {
            self.absent(depth + 1, None)?;
        }
        Ok(length)
    }

    /// The path's value at `depth` is no object (or missing): an error, but
    /// for an optional template left out.
    fn absent(&mut self, depth: usize, value: Option<&str>) -> Result<(), String> {
        let path = self.covered.pod_spec_path;
        let omitted = value.is_none_or(|v| json_text::type_of(v) == Type::Null);
        match value {
            _ if omitted && self.covered.optional_template == Some(&path[..=depth]) => {
                self.omitted = true;
                Ok(())
            }
            Some(_) => Err(format!("{} must be an object", dotted(&path[..=depth]))),
            None => Err(format!("{} is missing", dotted(&path[..=depth]))),
        }
    }

    /// Reads the pod spec's image lists; returns its length.
    fn pod_spec(&mut self, spec: &'a str, spec_name: &str) -> Result<usize, String> {
        let lists = [
            CONTAINER_LISTS[0],
            CONTAINER_LISTS[1],
            CONTAINER_LISTS[2],
            VOLUMES,
        ];
        json_text::visit_members(spec, &lists, &spec_name, &mut |n, list| {
            let list_at = format_args!("{spec_name}.{}", lists[n]);
            let length = json_text::value_length(list)?;
            match json_text::type_of(list) {
                Type::Null => return Ok(length),
                Type::Array => {}
                _ => return Err(format!("{list_at} must be a list")),
            }
            json_text::visit_items(list, &list_at, &mut |i, item| {
                if json_text::type_of(item) != Type::Object {
                    return Err(format!("{list_at}[{i}] must be an object"));
                }
                match n {
                    3 => self.volume(item, i, &format_args!("{list_at}[{i}].image")),
                    _ => self.container(item, n, i, &format_args!("{list_at}[{i}]")),
                }
            })
        })
    }

    /// One container of the list `CONTAINER_LISTS[n]`; returns its length.
    fn container(
        &mut self,
        container: &'a str,
        n: usize,
        i: usize,
        at: &dyn Display,
    ) -> Result<usize, String> {
        let mut image = None;
        let length = json_text::visit_members(container, &["image"], at, &mut |_, value| {
            let length = json_text::value_length(value)?;
            image = Some(&value[..length]);
            Ok(length)
        })?;
        let site = self.site(CONTAINER_LISTS[n], i, image, &format_args!("{at}.image"))?;
        self.lists[n].push(site);
        if n == 0 {
            self.containers += 1;
        }
        Ok(length)
    }

    /// One volume: an image volume's `image.reference`, if it is one;
    /// returns its length.
    fn volume(&mut self, volume: &'a str, i: usize, at: &dyn Display) -> Result<usize, String> {
        let mut source = None;
        let length = json_text::visit_members(volume, &["image"], at, &mut |_, value| {
            let length = json_text::value_length(value)?;
            source = Some(&value[..length]);
            Ok(length)
        })?;
        let source = match source {
            None => return Ok(length),
            Some(source) => match json_text::type_of(source) {
                Type::Null => return Ok(length),
                Type::Object => source,
                _ => return Err(format!("{at} must be an object")),
            },
        };
        let reference = members(source, &["reference"], at)?[0];
        let site = self.site(VOLUMES, i, reference, &format_args!("{at}.reference"))?;
        self.lists[3].push(site);
        Ok(length)
    }

    fn site(
        &self,
        list: &'static str,
        index: usize,
        image: Option<&str>,
        at: &dyn Display,
    ) -> Result<ImageSite, String> {
        Ok(ImageSite {
            field: Field {
                pod_spec: self.covered.pod_spec_path,
                list,
                index,
            },
            span: image.map_or(Ok(0..0), |image| json_text::span(self.object, image))?,
            image: non_empty_string(image, at)?,
        })
    }
}

fn non_empty_string(value: Option<&str>, at: &dyn Display) -> Result<String, String> {
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
        let text = object.to_string();
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
                .map(|s| (s.image.as_str(), s.pointer()))
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
                    object.pointer(&site.pointer()),
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
