//! questions-ui.yml (the settings form of Kubewarden's UI for Rancher) and the
//! settings the policy reads cannot drift apart:
//!
//! - every question is a setting of the right type: the settings come in
//!   shapes that never mix (SCST-Sign's, policy-controller's and
//!   verify-image-signatures', and cluster mode), and the document the UI
//!   writes for each, every question of that shape answered
//!   (test_data/questions/), passes the policy's full validation, which
//!   refuses unknown fields and values of the wrong type; together the
//!   documents answer every question, with every enum option in turn;
//! - every setting has a question: the settings are read from the strict
//!   parser's own "unknown field `zzz_probe`, expected one of ..." errors,
//!   not from a list written here;
//! - a default means what leaving the setting out means.

mod common;

use common::yaml_to_json;
use serde_json::{json, Map, Value};
use signed_images_policy::settings::strict_json::from_json_strict;
use signed_images_policy::settings::{parse_settings, RawSettings};
use std::collections::{BTreeMap, BTreeSet};

/// A field name no setting has.
const PROBE: &str = "zzz_probe";

/// One step of a path in the settings: a field, or any entry of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Item,
}

type Path = Vec<Step>;

fn child(path: &[Step], step: Step) -> Path {
    let mut out = path.to_vec();
    out.push(step);
    out
}

fn field(path: &[Step], name: &str) -> Path {
    child(path, Step::Field(name.to_string()))
}

/// `verification.keys[].keyless.issuer`; with `index`, the `[0]` that
/// the parser's error messages use.
fn render(path: &[Step], index: &str) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) if out.is_empty() => out.push_str(name),
            Step::Field(name) => out.push_str(&format!(".{name}")),
            Step::Item => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

fn show(path: &[Step]) -> String {
    render(path, "")
}

/// A settings document with `leaf` at `path`, each list holding one entry.
fn nest(path: &[Step], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |inner, step| match step {
        Step::Field(name) => json!({ name: inner }),
        Step::Item => json!([inner]),
    })
}

/// The policy's strict reader alone (`deny_unknown_fields` everywhere), as
/// `validate_settings` runs it before anything else.
fn read_strictly(settings: &Value) -> Result<RawSettings, String> {
    from_json_strict::<RawSettings>(&settings.to_string(), "").map_err(|e| e.to_string())
}

/// The names between backquotes after "expected" in a serde error.
fn expected_names(message: &str) -> Vec<String> {
    let Some((_, expected)) = message.split_once("expected") else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The field names the parser knows for the object at `path`, or `None`
/// when the value there is not an object with fixed fields (a string, a
/// list, a map from any name, an enum...).
fn object_fields(path: &[Step]) -> Option<Vec<String>> {
    let error = read_strictly(&nest(path, json!({ PROBE: 1 }))).err()?;
    let probe_path = render(&field(path, PROBE), "0");
    let rest = error.strip_prefix(&format!("{probe_path}: unknown field `{PROBE}`"))?;
    Some(expected_names(rest))
}

/// The names among `names` (all fields of the object at `path`) that are
/// aliases: serde lists them among the expected names, and giving a field
/// under two of its names is a "duplicate field" error naming its own name.
fn aliases(path: &[Step], names: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // The first of the two must be read before the second is seen as a
    // duplicate, so try values until one reads.
    let values = [
        Value::Null,
        json!(true),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
    ];
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            for value in &values {
                let both: Map<String, Value> =
                    [(a.clone(), value.clone()), (b.clone(), value.clone())]
                        .into_iter()
                        .collect();
                let Err(error) = read_strictly(&nest(path, Value::Object(both))) else {
                    continue;
                };
                if let Some((_, rest)) = error.split_once("duplicate field `") {
                    let own = rest.split('`').next().unwrap_or_default();
                    out.extend([a, b].into_iter().filter(|n| *n != own).cloned());
                    break;
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A value the form edits as a whole: string, number, boolean, enum,
    /// list of strings, map of strings.
    Value,
    /// An object with fixed fields.
    Object,
    /// A list of objects with fixed fields.
    ObjectList,
}

/// Every setting the parser accepts below `path`, with its kind, by probing
/// each object with an unknown field. A field whose probe as an object (or
/// as a list of one object) is refused with "unknown field" is an object
/// (or a list of objects) and is explored in turn; any other answer means
/// the field holds a value (a map from any name, like `annotations`, takes
/// the probe as a key and only refuses its value). Aliases are left out:
/// they are other spellings of a setting, not settings.
fn settings_schema(path: &[Step], out: &mut BTreeMap<String, Kind>) {
    let names = object_fields(path)
        .unwrap_or_else(|| panic!("{:?} is not an object to the parser", show(path)));
    let aliases = aliases(path, &names);
    for name in names.iter().filter(|n| !aliases.contains(*n)) {
        let at = field(path, name);
        let entry = child(&at, Step::Item);
        if object_fields(&at).is_some() {
            out.insert(show(&at), Kind::Object);
            settings_schema(&at, out);
        } else if object_fields(&entry).is_some() {
            out.insert(show(&at), Kind::ObjectList);
            settings_schema(&entry, out);
        } else {
            out.insert(show(&at), Kind::Value);
        }
    }
}

fn questions() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/questions-ui.yml"))
        .expect("questions-ui.yml");
    yaml_to_json(&text)
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text<'a>(question: &'a Value, name: &str) -> &'a str {
    question[name].as_str().unwrap_or_default()
}

fn kind_of(question: &Value) -> Kind {
    if text(question, "type").starts_with("sequence[") {
        Kind::ObjectList
    } else if question.get("subquestions").is_some() {
        Kind::Object
    } else {
        Kind::Value
    }
}

/// A question and the setting it stands for.
struct Flat<'a> {
    path: Path,
    question: &'a Value,
    /// In the settings' own scope (not inside a list entry).
    top_level: bool,
}

/// Every question with its path in the settings. A variable is relative to
/// its scope: the settings for top-level questions, the list entry for the
/// `sequence_questions` of a `sequence[`. `subquestions` of a container
/// share the container's scope and spell its variable first.
fn flatten<'a>(questions: &'a [Value], scope: &[Step], out: &mut Vec<Flat<'a>>) {
    for question in questions {
        let variable = text(question, "variable");
        let mut path = scope.to_vec();
        path.extend(
            variable
                .split('.')
                .map(|part| Step::Field(part.to_string())),
        );
        out.push(Flat {
            path: path.clone(),
            question,
            top_level: scope.is_empty(),
        });
        let subquestions = list(&question["subquestions"]);
        for sub in subquestions {
            assert!(
                text(sub, "variable").starts_with(&format!("{variable}.")),
                "subquestion {:?} of {variable:?} does not start with `{variable}.`",
                text(sub, "variable")
            );
        }
        flatten(subquestions, scope, out);
        flatten(
            list(&question["sequence_questions"]),
            &child(&path, Step::Item),
            out,
        );
    }
}

fn flat_questions(questions: &Value) -> Vec<Flat<'_>> {
    let mut out = Vec::new();
    flatten(list(&questions["questions"]), &[], &mut out);
    out
}

/// The settings the questions cover, with their kinds: the questions' own
/// paths and the objects a dotted variable goes through
/// (`verification.exclude.resources.namespaces` covers `verification`,
/// `verification.exclude` and `verification.exclude.resources`).
fn question_schema(questions: &Value) -> BTreeMap<String, Kind> {
    let mut out = BTreeMap::new();
    for flat in flat_questions(questions) {
        for end in 1..flat.path.len() {
            if matches!(
                (&flat.path[end - 1], &flat.path[end]),
                (Step::Field(_), Step::Field(_))
            ) {
                out.entry(show(&flat.path[..end])).or_insert(Kind::Object);
            }
        }
        out.insert(show(&flat.path), kind_of(flat.question));
    }
    out
}

/// The shapes of settings, which the policy never reads mixed, and the
/// answer document of each: SCST-Sign's, verify-image-signatures',
/// policy-controller's, and the rules read from the cluster.
const DOCUMENTS: [&str; 4] = [
    "scst-sign.yaml",
    "verify-image-signatures.yaml",
    "policy-controller.yaml",
    "cluster.yaml",
];

fn documents() -> Vec<(&'static str, Value)> {
    DOCUMENTS
        .iter()
        .map(|name| {
            (
                *name,
                yaml_to_json(&common::test_data(&format!("questions/{name}"))),
            )
        })
        .collect()
}

/// The settings a document answers: every path with a value that is not
/// `null` (a `null` is a question the UI shows but nobody answered), in the
/// questions' spelling (`verification.keys[].name`); a value setting (a map
/// from any name, a list of strings) is answered as a whole.
fn answered(doc: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, at: &str, values: &BTreeSet<String>, out: &mut BTreeSet<String>) {
        if value.is_null() {
            return;
        }
        if !at.is_empty() {
            out.insert(at.trim_end_matches("[]").to_string());
        }
        if values.contains(at) {
            return;
        }
        match value {
            Value::Object(members) => {
                for (name, member) in members {
                    let path = if at.is_empty() {
                        name.clone()
                    } else {
                        format!("{at}.{name}")
                    };
                    walk(member, &path, values, out);
                }
            }
            Value::Array(items) => {
                for item in items.iter().filter(|item| item.is_object()) {
                    walk(item, &format!("{at}[]"), values, out);
                }
            }
            _ => {}
        }
    }
    let values: BTreeSet<String> = question_schema(&questions())
        .into_iter()
        .filter(|(_, kind)| *kind == Kind::Value)
        .map(|(path, _)| path)
        .collect();
    let mut out = BTreeSet::new();
    walk(doc, "", &values, &mut out);
    out
}

/// The document answering `at`, with its answered settings.
fn answering<'a>(
    documents: &'a [(&'static str, Value)],
    at: &str,
) -> Vec<&'a (&'static str, Value)> {
    documents
        .iter()
        .filter(|(_, doc)| answered(doc).contains(at))
        .collect()
}

#[test]
fn each_shape_s_document_passes_full_validation_and_both_answer_every_question() {
    let questions = questions();
    let asked = question_schema(&questions);
    let mut covered = BTreeSet::new();
    for (name, doc) in documents() {
        parse_settings(&doc.to_string()).unwrap_or_else(|e| panic!("{name} is refused: {e}"));
        let answers = answered(&doc);
        let extra: Vec<&String> = answers.iter().filter(|p| !asked.contains_key(*p)).collect();
        assert!(
            extra.is_empty(),
            "{name} answers what no question asks: {extra:?}"
        );
        covered.extend(answers);
    }
    let unanswered: Vec<String> = flat_questions(&questions)
        .iter()
        .map(|f| show(&f.path))
        .filter(|p| !covered.contains(p))
        .collect();
    assert!(
        unanswered.is_empty(),
        "questions neither document answers: {unanswered:?}"
    );
    // Every option of every enum, in the document that answers it.
    let documents = documents();
    for flat in flat_questions(&questions)
        .iter()
        .filter(|f| text(f.question, "type") == "enum")
    {
        let at = show(&flat.path);
        for option in list(&flat.question["options"]) {
            for (name, doc) in answering(&documents, &at) {
                let mut doc = doc.clone();
                assert!(
                    replace(&mut doc, &flat.path, &Some(option.clone()), true),
                    "{at} in {name}"
                );
                // The one answer another one excludes: pinning off refuses
                // the outage fallback (its children must run the digest).
                if at == "pinDigests" && option == "never" {
                    doc.as_object_mut().unwrap().remove("outageFallback");
                }
                parse_settings(&doc.to_string())
                    .unwrap_or_else(|e| panic!("{name} with {at} = {option} is refused: {e}"));
            }
        }
    }
}

#[test]
fn every_question_has_a_variable_label_type_group_and_description() {
    let questions = questions();
    let all = flat_questions(&questions);
    assert!(!all.is_empty(), "questions-ui.yml has no questions");
    let mut seen = BTreeSet::new();
    for flat in &all {
        let q = flat.question;
        let at = show(&flat.path);
        assert!(
            !text(q, "variable").is_empty(),
            "a question has no variable: {q}"
        );
        assert!(seen.insert(at.clone()), "{at} is asked twice");
        assert!(!text(q, "label").is_empty(), "{at} has no label");
        assert_eq!(text(q, "group"), "Settings", "{at}: group");
        assert!(
            !text(q, "description").is_empty() || !text(q, "tooltip").is_empty(),
            "{at} has neither description nor tooltip"
        );
        assert!(
            q["required"].is_boolean(),
            "{at}: required is true or false"
        );
        let kind = text(q, "type");
        assert!(
            ["string", "multiline", "boolean", "int", "enum"].contains(&kind)
                || ["array[", "map[", "sequence["]
                    .iter()
                    .any(|prefix| kind.starts_with(prefix)),
            "{at}: unknown type {kind:?}"
        );
        if kind == "enum" {
            assert!(
                !list(&q["options"]).is_empty(),
                "{at}: enum without options"
            );
        }
        if kind.starts_with("sequence[") {
            assert!(
                !list(&q["sequence_questions"]).is_empty(),
                "{at}: sequence without sequence_questions"
            );
            // The UI adds entries only to a list it starts from the default.
            // Inside a list entry a nested list is edited as YAML, and one
            // that is a key's source starts out null (left out).
            assert!(
                q["default"] == json!([]) || (!flat.top_level && q["default"].is_null()),
                "{at}: a sequence defaults to [] (inside a list entry, [] or null)"
            );
        }
        if q.get("subquestions").is_some() {
            assert!(kind.starts_with("map["), "{at}: a container is a map[");
            assert_eq!(q["hide_input"], true, "{at}: a container hides its input");
        }
        // `{}` is valid, and the UI refuses to create a policy whose required
        // top-level questions are unanswered.
        assert!(
            !(flat.top_level && q["required"] == true),
            "{at}: no top-level setting is required"
        );
    }
}

/// Fields the strict reader knows at a path only because the object there
/// is read with the same type as elsewhere (`signatures[].keyless[]` and
/// `signatures[].keylessPrefix[]` are read as the keyless of
/// `verification.keys`), and that the full validation always refuses there:
/// no settings, so no questions. Also the fields of policy-controller's
/// ClusterImagePolicy that the policy reads only to refuse them by name
/// (what the host cannot check). [`fields_read_but_never_valid_are_refused`]
/// proves each refused.
const READ_BUT_NEVER_VALID: &[&str] = &[
    "signatures[].keyless[].urlPrefix",
    "signatures[].keylessPrefix[].subject",
    "clusterImagePolicies[].spec.policy",
    "clusterImagePolicies[].spec.match",
    "clusterImagePolicies[].spec.authorities[].attestations",
    "clusterImagePolicies[].spec.authorities[].source",
    "clusterImagePolicies[].spec.authorities[].rfc3161timestamp",
    "clusterImagePolicies[].spec.authorities[].ctlog.trustRootRef",
    "clusterImagePolicies[].spec.authorities[].key.kms",
    "clusterImagePolicies[].spec.authorities[].key.secretRef",
    "clusterImagePolicies[].spec.authorities[].keyless.ca-cert",
    "clusterImagePolicies[].spec.authorities[].keyless.trustRootRef",
];

/// The settings: what the strict reader knows, less [`READ_BUT_NEVER_VALID`].
fn settings_read() -> BTreeMap<String, Kind> {
    let mut settings = BTreeMap::new();
    settings_schema(&[], &mut settings);
    for path in READ_BUT_NEVER_VALID {
        assert_eq!(
            settings.remove(*path),
            Some(Kind::Value),
            "READ_BUT_NEVER_VALID names {path}, which the strict reader does not read as a value"
        );
    }
    settings
}

#[test]
fn fields_read_but_never_valid_are_refused() {
    let documents = documents();
    for path in READ_BUT_NEVER_VALID {
        let path: Path = path
            .split('.')
            .flat_map(|part| match part.strip_suffix("[]") {
                Some(name) => vec![Step::Field(name.to_string()), Step::Item],
                None => vec![Step::Field(part.to_string())],
            })
            .collect();
        let at = show(&path);
        let value = json!("https://github.com/my-org/");
        let mut tried = false;
        for (name, settings) in &documents {
            let mut with_field = settings.clone();
            if !insert(&mut with_field, &path, &value) {
                continue;
            }
            tried = true;
            read_strictly(&with_field)
                .unwrap_or_else(|e| panic!("{at} = {value}: the strict reader refuses it: {e}"));
            let error = parse_settings(&with_field.to_string())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| {
                    panic!("{at} = {value} is valid in {name}: a setting, which needs a question")
                });
            // Refused for the field, in the list it is in.
            let list = path
                .iter()
                .rev()
                .skip(2)
                .find_map(|step| match step {
                    Step::Field(name) => Some(name.as_str()),
                    Step::Item => None,
                })
                .unwrap_or_default();
            // (A top-level list starts the message: no dot before it.)
            let error = format!(".{error}");
            assert!(
                error.contains(&format!(".{list}:")) || error.contains(&format!(".{list}[")),
                "{at} = {value} is refused in {name}, but not for {list}: {error}"
            );
        }
        assert!(
            tried,
            "{at}: no document has an object to add it to that lacks it \
             (a question answers it: then it is a setting)"
        );
    }
}

#[test]
fn question_paths_equal_the_settings_the_parser_accepts() {
    let settings = settings_read();
    let asked = question_schema(&questions());
    let missing: Vec<&String> = settings
        .keys()
        .filter(|p| !asked.contains_key(*p))
        .collect();
    let extra: Vec<&String> = asked
        .keys()
        .filter(|p| !settings.contains_key(*p))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "questions-ui.yml and the settings differ:\n  settings without a question: {missing:?}\n  \
         questions that are no setting: {extra:?}"
    );
    for (path, kind) in &settings {
        assert_eq!(
            asked[path], *kind,
            "{path}: the question's kind (sequence[, map[ container or value) is not the setting's"
        );
    }
}

#[test]
fn enum_options_are_exactly_the_values_the_parser_accepts() {
    let questions = questions();
    let enums: Vec<Flat> = flat_questions(&questions)
        .into_iter()
        .filter(|f| text(f.question, "type") == "enum")
        .collect();
    assert!(!enums.is_empty(), "pinDigests is an enum");
    for flat in enums {
        let at = show(&flat.path);
        let options: BTreeSet<&str> = list(&flat.question["options"])
            .iter()
            .map(|o| o.as_str().expect("options are strings"))
            .collect();
        let (variants, read_as_enum) = match read_strictly(&nest(&flat.path, json!(PROBE))) {
            Err(error) if error.contains(&format!("unknown variant `{PROBE}`")) => {
                (expected_names(&error), true)
            }
            // A string the strict reader takes (alone, or with the fields
            // beside it that the bare nesting lacks), and the full
            // validation checks against its list of values. (Each option
            // passes it: each_shape_s_document_... tries them in turn.)
            _ => (values_checked_after_reading(&flat.path), false),
        };
        let accepted: BTreeSet<&str> = variants.iter().map(String::as_str).collect();
        assert_eq!(options, accepted, "{at}: options and the parser's values");
        for option in options.iter().filter(|_| read_as_enum) {
            read_strictly(&nest(&flat.path, json!(option)))
                .unwrap_or_else(|e| panic!("{at}: {option:?} refused: {e}"));
        }
        // null: a setting of one shape only, left out (see questions-ui.yml).
        assert!(
            flat.question["default"].is_null()
                || list(&flat.question["options"]).contains(&flat.question["default"]),
            "{at}: the default is null or one of the options"
        );
    }
}

/// The values the full validation accepts for a string setting, from its
/// `"zzz_probe" is not one of a, b, c` in every document that answers it
/// (each the same list).
fn values_checked_after_reading(path: &[Step]) -> Vec<String> {
    let at = show(path);
    let documents = documents();
    let answering = answering(&documents, &at);
    assert!(
        !answering.is_empty(),
        "{at} accepts {PROBE:?} when read: an enum only if the full validation refuses it, \
         and no document answers it"
    );
    let mut lists = BTreeSet::new();
    for (name, doc) in answering {
        let mut doc = doc.clone();
        assert!(
            replace(&mut doc, path, &Some(json!(PROBE)), true),
            "{at} in {name}"
        );
        let error = parse_settings(&doc.to_string())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{at} = {PROBE:?} is valid in {name}: not an enum"));
        let (_, values) = error
            .split_once(&format!("\"{PROBE}\" is not one of "))
            .unwrap_or_else(|| panic!("{at} in {name}: {error}"));
        lists.insert(values.to_string());
    }
    assert_eq!(
        lists.len(),
        1,
        "{at}: the documents accept different values: {lists:?}"
    );
    let values = lists.pop_first().unwrap();
    values.split(", ").map(str::to_string).collect()
}

/// The UI writes a question's default when the user leaves it: it must be
/// accepted and mean what leaving the setting out means (the policy's own
/// default, or nothing). Checked in the document of each shape the setting
/// goes with: `threshold` = 1 with SCST-Sign's rules, `annotationPrefix` in
/// both; a setting of one shape defaults to null, left out.
#[test]
fn defaults_mean_the_same_as_leaving_the_setting_out() {
    let questions = questions();
    let documents = documents();
    for flat in flat_questions(&questions) {
        let q = flat.question;
        let at = show(&flat.path);
        if kind_of(q) != Kind::Value || q["required"] == true {
            continue;
        }
        let Some(default) = q.get("default") else {
            continue;
        };
        let answering = answering(&documents, &at);
        assert!(
            !answering.is_empty(),
            "{at} is answered in neither shape's document"
        );
        for (name, settings) in answering {
            let mut with_default = settings.clone();
            let mut left_out = settings.clone();
            assert!(
                replace(&mut with_default, &flat.path, &Some(default.clone()), true),
                "{at} in {name}"
            );
            assert!(
                replace(&mut left_out, &flat.path, &None, true),
                "{at} in {name}"
            );
            let read =
                |doc: &Value| parse_settings(&doc.to_string()).map(|policy| format!("{policy:?}"));
            let (with_default, left_out) = (read(&with_default), read(&left_out));
            // A null default takes the place of a value the document needs (a
            // key's only source): then both must fail alike.
            if !default.is_null() {
                if let Err(e) = &with_default {
                    panic!("{at} = {default} ({name}): {e}");
                }
            }
            assert_eq!(
                with_default, left_out,
                "{at} ({name}): the default {default} is not what leaving it out means"
            );
        }
    }
}

fn insert(doc: &mut Value, path: &[Step], value: &Value) -> bool {
    match path {
        [] => unreachable!(),
        [Step::Field(name)] => match doc.as_object_mut() {
            Some(object) if !object.contains_key(name) => {
                object.insert(name.clone(), value.clone());
                true
            }
            _ => false,
        },
        [Step::Field(name), rest @ ..] => match doc.get_mut(name) {
            Some(inner) => insert(inner, rest, value),
            None => false,
        },
        [Step::Item, rest @ ..] => match doc.as_array_mut() {
            Some(entries) => entries.iter_mut().any(|entry| insert(entry, rest, value)),
            None => false,
        },
    }
}

/// Sets (or with `None` removes) the setting at `path` in the first list
/// entry that has it (with `answered`, that has it not null: the entry that
/// answered it rather than one that took its null default); false when no
/// entry has it.
fn replace(doc: &mut Value, path: &[Step], value: &Option<Value>, answered: bool) -> bool {
    match path {
        [] => unreachable!(),
        [Step::Field(name)] => {
            let Some(object) = doc.as_object_mut() else {
                return false;
            };
            match object.get(name) {
                None => return false,
                Some(Value::Null) if answered => return false,
                Some(_) => {}
            }
            match value {
                Some(value) => object.insert(name.clone(), value.clone()),
                None => object.remove(name),
            };
            true
        }
        [Step::Field(name), rest @ ..] => match doc.get_mut(name) {
            Some(inner) => replace(inner, rest, value, answered),
            None => false,
        },
        [Step::Item, rest @ ..] => match doc.as_array_mut() {
            Some(entries) => entries
                .iter_mut()
                .any(|entry| replace(entry, rest, value, answered)),
            None => false,
        },
    }
}
