//! questions-ui.yml (the settings form of Kubewarden's UI for Rancher) and the
//! settings the policy reads cannot drift apart:
//!
//! - every question is a setting of the right type: the settings come in two
//!   shapes that never mix (SCST-Sign's and verify-image-signatures'), so one
//!   document per shape answers every question of that shape's settings and of
//!   the settings both share, and passes the policy's full validation, which
//!   refuses unknown fields and values of the wrong type; together the two
//!   documents answer every question;
//! - every setting has a question: the settings are read from the strict
//!   parser's own "unknown field `zzz_probe`, expected one of ..." errors,
//!   not from a list written here.

mod common;

use common::{key, yaml_to_json};
use serde_json::{json, Map, Value};
use signed_images_policy::settings::{parse_settings, RawSettings};
use signed_images_policy::strict_json::from_json_strict;
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

/// Which questions each entry of a list answers, where the policy allows
/// only some of an entry's fields together; elsewhere one entry answers
/// every question. An entry answers the questions it names, the questions
/// no entry of the list names, and the required ones (inside a nested
/// object, whenever that object is). A key (of `signatures`: an entry's
/// keys) has exactly one source, keyless takes subject or urlPrefix, and
/// certificateChain and requireRekorBundle go with certificate(s).
const ENTRIES: &[(&str, &[&[&str]])] = &[
    (
        "verification.keys",
        &[
            &["publicKey"],
            &["keyless.issuer", "keyless.subject"],
            &["keyless.issuer", "keyless.urlPrefix"],
            &["githubActions.owner", "githubActions.repo"],
            &["certificate", "certificateChain", "requireRekorBundle"],
        ],
    ),
    (
        "signatures",
        &[
            &["pubKeys"],
            &["keyless"],
            &["keylessPrefix"],
            &["githubActions.owner", "githubActions.repo"],
            &["certificates", "certificateChain", "requireRekorBundle"],
        ],
    ),
];

/// A value for a setting that the full validation accepts: real key
/// material, a well-formed pattern, key names that exist. Chosen by the
/// setting's own name, which means the same in both shapes.
fn text_value(path: &[Step], keys_named: &mut usize) -> String {
    match show(path).as_str() {
        "verification.keys[].name" => {
            *keys_named += 1;
            return format!("key-{}", *keys_named - 1);
        }
        "verification.images[].keys[].name" => return "key-0".to_string(),
        _ => {}
    }
    let name = path
        .iter()
        .rev()
        .find_map(|step| match step {
            Step::Field(name) => Some(name.as_str()),
            Step::Item => None,
        })
        .unwrap_or_default();
    match name {
        "publicKey" | "pubKeys" => key("p256.pub"),
        "certificate" | "certificates" | "certificateChain" => key("signer.crt"),
        "issuer" => "https://token.actions.githubusercontent.com".to_string(),
        "subject" => {
            "https://github.com/my-org/my-repo/.github/workflows/release.yml@refs/heads/main"
                .to_string()
        }
        "urlPrefix" => "https://github.com/my-org".to_string(),
        "namePattern" | "image" => "registry.example.org/myproject/*".to_string(),
        "annotationPrefix" => "signing.example.org".to_string(),
        "namespaces" => "kube-system".to_string(),
        _ => "example".to_string(),
    }
}

/// Builds a settings document answering every question with a value of the
/// question's type, the way the UI builds one: a new list entry starts from
/// the defaults of all its questions. It mixes the two shapes of settings,
/// so the policy refuses it as a whole: [`shape_document`] keeps one shape.
struct Answers {
    /// Which option every `enum` question takes (modulo its number of options).
    option: usize,
    keys_named: usize,
    /// Paths of the questions answered, to check that none was skipped.
    answered: BTreeSet<String>,
}

impl Answers {
    fn document(questions: &Value, option: usize) -> (Value, BTreeSet<String>) {
        let mut answers = Answers {
            option,
            keys_named: 0,
            answered: BTreeSet::new(),
        };
        let mut settings = json!({});
        answers.fill(list(&questions["questions"]), &[], &|_| true, &mut settings);
        (settings, answers.answered)
    }

    /// Writes the answers to `questions` (of scope `scope`) into `object`:
    /// a value for each question `answer` selects, its default for the others.
    fn fill(
        &mut self,
        questions: &[Value],
        scope: &[Step],
        answer: &dyn Fn(&Value) -> bool,
        object: &mut Value,
    ) {
        for question in questions {
            let variable = text(question, "variable");
            let mut path = scope.to_vec();
            path.extend(
                variable
                    .split('.')
                    .map(|part| Step::Field(part.to_string())),
            );
            let value = if !answer(question) {
                match question.get("default") {
                    Some(default) => default.clone(),
                    None => continue,
                }
            } else if let Some(subquestions) = question["subquestions"].as_array() {
                // A nested object: the subquestions the entry selects and the
                // required ones get values, the others their defaults.
                set(object, variable, json!({}));
                let inner = |q: &Value| answer(q) || q["required"] == true;
                self.fill(subquestions, scope, &inner, object);
                self.answered.insert(show(&path));
                continue;
            } else {
                self.value(question, &path)
            };
            self.answered.insert(show(&path));
            set(object, variable, value);
        }
    }

    fn value(&mut self, question: &Value, path: &[Step]) -> Value {
        let kind = text(question, "type");
        let default = &question["default"];
        match kind {
            "string" | "multiline" => json!(text_value(path, &mut self.keys_named)),
            // false when the default is null: `clusterImagePolicy: true` would
            // clash with the inline rules answered next to it.
            "boolean" => json!(default.as_bool().unwrap_or(false)),
            "int" => json!(default.as_i64().unwrap_or(1)),
            "enum" => {
                let options = list(&question["options"]);
                assert!(!options.is_empty(), "enum {} has no options", show(path));
                options[self.option % options.len()].clone()
            }
            _ if kind.starts_with("array[") => {
                json!([text_value(&child(path, Step::Item), &mut self.keys_named)])
            }
            _ if kind.starts_with("map[") => json!({"env": "prod"}),
            _ if kind.starts_with("sequence[") => {
                let entry_path = child(path, Step::Item);
                let entry_questions = list(&question["sequence_questions"]);
                let plan: &[&[&str]] = ENTRIES
                    .iter()
                    .find(|(at, _)| *at == show(path))
                    .map_or(&[&[]], |(_, entries)| entries);
                // Whether `selected` names the question `variable` or one of its
                // subquestions.
                let names = |selected: &[&str], variable: &str| {
                    selected
                        .iter()
                        .any(|s| *s == variable || s.starts_with(&format!("{variable}.")))
                };
                let mut entries = Vec::new();
                for selected in plan {
                    let answer = |q: &Value| {
                        let variable = text(q, "variable");
                        q["required"] == true
                            || names(selected, variable)
                            || !plan.iter().any(|other| names(other, variable))
                    };
                    let mut entry = json!({});
                    self.fill(entry_questions, &entry_path, &answer, &mut entry);
                    entries.push(entry);
                }
                Value::Array(entries)
            }
            other => panic!("{}: unknown question type {other:?}", show(path)),
        }
    }
}

/// Sets `value` at the dotted `variable` of `object`, making the objects on
/// the way (replacing a null default).
fn set(object: &mut Value, variable: &str, value: Value) {
    let mut at = object;
    let parts: Vec<&str> = variable.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if !at[*part].is_object() {
            at[*part] = json!({});
        }
        at = &mut at[*part];
    }
    at[parts[parts.len() - 1]] = value;
}

/// The two shapes of settings, which the policy never reads mixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// SCST-Sign's: `verification` or `clusterImagePolicy`, and what goes with them.
    ScstSign,
    /// verify-image-signatures': `signatures`, and what goes with it.
    VerifyImageSignatures,
}

const SHAPES: [Shape; 2] = [Shape::ScstSign, Shape::VerifyImageSignatures];

/// verify-image-signatures' rules: the setting that makes settings that
/// shape. Which shapes every other setting goes with is read from the
/// policy ([`shapes`]).
const PEER_RULES: &str = "signatures";

/// The shapes each top-level setting of `everything` (the document that
/// answers every question) goes with, as full validation says: SCST-Sign's
/// when the policy accepts it alone, verify-image-signatures' when it
/// accepts it next to `signatures`.
fn shapes(everything: &Value) -> BTreeMap<String, BTreeSet<Shape>> {
    let settings = everything.as_object().expect("settings are an object");
    let rules = settings
        .get(PEER_RULES)
        .unwrap_or_else(|| panic!("no question answers {PEER_RULES}"));
    let alone = json!({ PEER_RULES: rules });
    if let Err(error) = parse_settings(&alone.to_string()) {
        panic!(
            "the policy refuses {PEER_RULES} answering every question of its entries: \
             {error}\n{}",
            serde_json::to_string_pretty(&alone).unwrap()
        );
    }
    let read = |doc: &Value| {
        parse_settings(&doc.to_string())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let mut out = BTreeMap::new();
    for (name, value) in settings {
        // `signatures` alone is verify-image-signatures' settings, not SCST-Sign's.
        let alone = match name.as_str() {
            PEER_RULES => Err(format!("{PEER_RULES} are the other shape's rules")),
            _ => read(&json!({ name: value })),
        };
        let with_rules = read(&json!({ name: value, PEER_RULES: rules }));
        let mut goes_with = BTreeSet::new();
        if alone.is_ok() {
            goes_with.insert(Shape::ScstSign);
        }
        if with_rules.is_ok() {
            goes_with.insert(Shape::VerifyImageSignatures);
        }
        if let (Err(alone), Err(with_rules)) = (alone, with_rules) {
            panic!(
                "{name}, answered, is refused alone ({alone}) and next to {PEER_RULES} \
                 ({with_rules}):\n{}",
                serde_json::to_string_pretty(value).unwrap()
            );
        }
        out.insert(name.clone(), goes_with);
    }
    out
}

/// Whether the UI writes the question's default as soon as the form shows
/// it: a scalar field does; a list or a map is written once an entry is added.
fn written_when_shown(question: &Value) -> bool {
    ["string", "multiline", "boolean", "int", "enum"].contains(&text(question, "type"))
}

/// The settings of `shape`, the way the UI builds them: the answers to the
/// questions of that shape's settings (taken from `everything`), and the
/// default of every other question the UI writes when the form opens. With
/// the paths of the questions it answers.
fn shape_document(
    questions: &Value,
    everything: &Value,
    answered: &BTreeSet<String>,
    shapes: &BTreeMap<String, BTreeSet<Shape>>,
    shape: Shape,
) -> (Value, BTreeSet<String>) {
    let in_shape = |path: &[Step]| match path.first() {
        Some(Step::Field(name)) => shapes.get(name).is_some_and(|s| s.contains(&shape)),
        _ => false,
    };
    let mut settings = json!({});
    for (name, value) in everything.as_object().expect("settings are an object") {
        if shapes[name].contains(&shape) {
            settings[name] = value.clone();
        }
    }
    let mut answered_here = BTreeSet::new();
    for flat in flat_questions(questions) {
        if in_shape(&flat.path) {
            if answered.contains(&show(&flat.path)) {
                answered_here.insert(show(&flat.path));
            }
        } else if flat.top_level && written_when_shown(flat.question) {
            if let Some(default) = flat.question.get("default") {
                set(
                    &mut settings,
                    text(flat.question, "variable"),
                    default.clone(),
                );
            }
        }
    }
    (settings, answered_here)
}

/// For each shape, its document and the questions it answers.
fn shape_documents(questions: &Value, option: usize) -> Vec<(Shape, Value, BTreeSet<String>)> {
    let (everything, answered) = Answers::document(questions, option);
    let shapes = shapes(&everything);
    SHAPES
        .iter()
        .map(|&shape| {
            let (settings, answered_here) =
                shape_document(questions, &everything, &answered, &shapes, shape);
            (shape, settings, answered_here)
        })
        .collect()
}

fn enum_option_counts(questions: &Value) -> usize {
    flat_questions(questions)
        .iter()
        .filter(|f| text(f.question, "type") == "enum")
        .map(|f| list(&f.question["options"]).len())
        .max()
        .unwrap_or(1)
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

#[test]
fn a_document_per_settings_shape_passes_full_validation_and_both_answer_every_question() {
    let questions = questions();
    let paths: BTreeSet<String> = flat_questions(&questions)
        .iter()
        .map(|f| show(&f.path))
        .collect();
    for (sequence, entries) in ENTRIES {
        for variable in entries.iter().copied().flatten() {
            let at = format!("{sequence}[].{variable}");
            assert!(
                paths.contains(&at),
                "ENTRIES names {at}, which is no question"
            );
        }
    }
    assert!(
        paths.contains(PEER_RULES),
        "PEER_RULES names {PEER_RULES}, which is no question"
    );
    // Every option of every enum, in turn.
    for option in 0..enum_option_counts(&questions) {
        let (_, answered) = Answers::document(&questions, option);
        let skipped: Vec<&String> = paths.difference(&answered).collect();
        assert!(
            skipped.is_empty(),
            "questions left unanswered by the document (add them to ENTRIES): {skipped:?}"
        );
        let mut covered = BTreeSet::new();
        for (shape, settings, answered_here) in shape_documents(&questions, option) {
            if let Err(error) = parse_settings(&settings.to_string()) {
                panic!(
                    "the policy refuses the settings answering every question of the \
                     {shape:?} shape (the other questions at the defaults the UI \
                     writes): {error}\n{}",
                    serde_json::to_string_pretty(&settings).unwrap()
                );
            }
            covered.extend(answered_here);
        }
        let neither: Vec<&String> = paths.difference(&covered).collect();
        assert!(
            neither.is_empty(),
            "questions answered by neither shape's document: {neither:?}"
        );
    }
}

/// Fields the strict reader knows at a path only because the object there
/// is read with the same type as elsewhere (`signatures[].keyless[]` and
/// `signatures[].keylessPrefix[]` are read as the keyless of
/// `verification.keys`), and that the full validation always refuses there:
/// no settings, so no questions. [`fields_read_but_never_valid_are_refused`]
/// proves each refused.
const READ_BUT_NEVER_VALID: &[&str] = &[
    "signatures[].keyless[].urlPrefix",
    "signatures[].keylessPrefix[].subject",
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
    let questions = questions();
    let documents = shape_documents(&questions, 0);
    for path in READ_BUT_NEVER_VALID {
        let path: Path = path
            .split('.')
            .flat_map(|part| match part.strip_suffix("[]") {
                Some(name) => vec![Step::Field(name.to_string()), Step::Item],
                None => vec![Step::Field(part.to_string())],
            })
            .collect();
        let at = show(&path);
        let value = json!(text_value(&path, &mut 0));
        let mut tried = false;
        for (shape, settings, _) in &documents {
            let mut with_field = settings.clone();
            if !insert(&mut with_field, &path, &value) {
                continue;
            }
            tried = true;
            parse_settings(&settings.to_string()).unwrap_or_else(|e| {
                panic!(
                    "the {shape:?} document is refused: {e} (a_document_per_settings_shape_\
                     passes_full_validation_and_both_answer_every_question says more)"
                )
            });
            read_strictly(&with_field)
                .unwrap_or_else(|e| panic!("{at} = {value}: the strict reader refuses it: {e}"));
            let error = parse_settings(&with_field.to_string())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| {
                    panic!(
                        "{at} = {value} is valid in the {shape:?} document: a setting, \
                         which needs a question"
                    )
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
            assert!(
                error.contains(&format!(".{list}:")) || error.contains(&format!(".{list}[")),
                "{at} = {value} is refused in the {shape:?} document, but not for {list}: {error}"
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
        let error = read_strictly(&nest(&flat.path, json!(PROBE)))
            .err()
            .unwrap_or_else(|| panic!("{at} accepts {PROBE:?}: not an enum"));
        assert!(
            error.contains(&format!("unknown variant `{PROBE}`")),
            "{at}: {error}"
        );
        let variants = expected_names(&error);
        let accepted: BTreeSet<&str> = variants.iter().map(String::as_str).collect();
        assert_eq!(options, accepted, "{at}: options and the parser's values");
        for option in options {
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

/// The UI writes a question's default when the user leaves it: it must be
/// accepted and mean what leaving the setting out means (the policy's own
/// default, or nothing). Checked in the document of each shape the setting
/// goes with: `threshold` = 1 with SCST-Sign's rules, `annotationPrefix` in
/// both; a setting of one shape defaults to null, left out.
#[test]
fn defaults_mean_the_same_as_leaving_the_setting_out() {
    let questions = questions();
    let documents = shape_documents(&questions, 0);
    for (shape, settings, _) in &documents {
        parse_settings(&settings.to_string()).unwrap_or_else(|e| {
            panic!(
                "the {shape:?} document is refused: {e} (a_document_per_settings_shape_\
                 passes_full_validation_and_both_answer_every_question says more)"
            )
        });
    }
    for flat in flat_questions(&questions) {
        let q = flat.question;
        let at = show(&flat.path);
        if kind_of(q) != Kind::Value || q["required"] == true {
            continue;
        }
        let Some(default) = q.get("default") else {
            continue;
        };
        let mut checked = false;
        for (shape, settings, answered) in &documents {
            if !answered.contains(&at) {
                continue;
            }
            let mut with_default = settings.clone();
            let mut left_out = settings.clone();
            let place = |doc: &mut Value, value: Option<Value>| {
                assert!(
                    replace(doc, &flat.path, &value, true)
                        || replace(doc, &flat.path, &value, false),
                    "{at} is not in the {shape:?} document"
                )
            };
            place(&mut with_default, Some(default.clone()));
            place(&mut left_out, None);
            let read =
                |doc: &Value| parse_settings(&doc.to_string()).map(|policy| format!("{policy:?}"));
            let (with_default, left_out) = (read(&with_default), read(&left_out));
            // A null default takes the place of a value the document needs (a
            // key's only source): then both must fail alike.
            if !default.is_null() {
                if let Err(e) = &with_default {
                    panic!("{at} = {default} ({shape:?}): {e}");
                }
            }
            assert_eq!(
                with_default, left_out,
                "{at} ({shape:?}): the default {default} is not what leaving it out means"
            );
            checked = true;
        }
        assert!(checked, "{at} is answered in neither shape's document");
    }
}

/// Adds `value` at `path` to the first list entry (or object) on the way that
/// exists and lacks it; false when there is none.
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
