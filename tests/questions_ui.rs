//! questions-ui.yml (the settings form of Kubewarden's UI for Rancher) and the
//! settings the policy reads cannot drift apart:
//!
//! - every question is a setting of the right type: one document that answers
//!   every question passes the policy's full validation, which refuses unknown
//!   fields and values of the wrong type;
//! - every setting has a question: the settings are read from the strict
//!   parser's own "unknown field `zzz_probe`, expected one of ..." errors,
//!   not from a list written here.

mod common;

use common::{key, yaml_to_json};
use serde_json::{json, Map, Value};
use signed_images_policy::settings::{from_json_strict, parse_settings, RawSettings};
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
    from_json_strict::<RawSettings>(&settings.to_string(), "")
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
/// every question. Required questions are answered in every entry (inside
/// a nested object, whenever that object is). A key has exactly one source,
/// keyless takes subject or urlPrefix, and certificateChain and
/// requireRekorBundle go with certificate.
const ENTRIES: &[(&str, &[&[&str]])] = &[(
    "verification.keys",
    &[
        &["publicKey"],
        &["keyless.issuer", "keyless.subject"],
        &["keyless.issuer", "keyless.urlPrefix"],
        &["githubActions.owner", "githubActions.repo"],
        &["certificate", "certificateChain", "requireRekorBundle"],
    ],
)];

/// A value for a setting that the full validation accepts: real key
/// material, a well-formed pattern, key names that exist.
fn text_value(path: &[Step], keys_named: &mut usize) -> String {
    match show(path).as_str() {
        "verification.keys[].name" => {
            *keys_named += 1;
            format!("key-{}", *keys_named - 1)
        }
        "verification.images[].keys[].name" => "key-0".to_string(),
        "verification.keys[].publicKey" => key("p256.pub"),
        "verification.keys[].certificate" | "verification.keys[].certificateChain[]" => {
            key("signer.crt")
        }
        "verification.keys[].keyless.issuer" => {
            "https://token.actions.githubusercontent.com".to_string()
        }
        "verification.keys[].keyless.subject" => {
            "https://github.com/my-org/my-repo/.github/workflows/release.yml@refs/heads/main"
                .to_string()
        }
        "verification.keys[].keyless.urlPrefix" => "https://github.com/my-org".to_string(),
        "verification.images[].namePattern" => "registry.example.org/myproject/*".to_string(),
        "annotationPrefix" => "signing.example.org".to_string(),
        "verification.exclude.resources.namespaces[]" => "kube-system".to_string(),
        _ => "example".to_string(),
    }
}

/// Builds a settings document answering every question with a value of the
/// question's type, the way the UI builds one: a new list entry starts from
/// the defaults of all its questions.
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
            "boolean" => json!(default.as_bool().unwrap_or(true)),
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
                let plan = ENTRIES
                    .iter()
                    .find(|(at, _)| *at == show(path))
                    .map(|(_, entries)| entries.to_vec());
                let mut entries = Vec::new();
                for selected in plan.unwrap_or_else(|| vec![&[]]) {
                    let all = selected.is_empty();
                    let answer = |q: &Value| {
                        let variable = text(q, "variable");
                        all || q["required"] == true
                            || selected
                                .iter()
                                .any(|s| *s == variable || s.starts_with(&format!("{variable}.")))
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
            assert_eq!(q["default"], json!([]), "{at}: a sequence defaults to []");
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
fn a_document_answering_every_question_passes_full_validation() {
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
    // Every option of every enum, in turn.
    for option in 0..enum_option_counts(&questions) {
        let (settings, answered) = Answers::document(&questions, option);
        let skipped: Vec<&String> = paths.difference(&answered).collect();
        assert!(
            skipped.is_empty(),
            "questions left unanswered by the document (add them to ENTRIES): {skipped:?}"
        );
        if let Err(error) = parse_settings(&settings.to_string()) {
            panic!(
                "the policy refuses settings answering every question: {error}\n{}",
                serde_json::to_string_pretty(&settings).unwrap()
            );
        }
    }
}

#[test]
fn question_paths_equal_the_settings_the_parser_accepts() {
    let mut settings = BTreeMap::new();
    settings_schema(&[], &mut settings);
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
        assert!(
            list(&flat.question["options"]).contains(&flat.question["default"]),
            "{at}: the default is one of the options"
        );
    }
}

/// The UI writes a question's default when the user leaves it: it must be
/// accepted and mean what leaving the setting out means (the policy's own
/// default, or nothing).
#[test]
fn defaults_mean_the_same_as_leaving_the_setting_out() {
    let questions = questions();
    let (settings, _) = Answers::document(&questions, 0);
    parse_settings(&settings.to_string()).expect(
        "the document answering every question is refused \
         (a_document_answering_every_question_passes_full_validation says why)",
    );
    for flat in flat_questions(&questions) {
        let q = flat.question;
        let at = show(&flat.path);
        if kind_of(q) != Kind::Value || q["required"] == true {
            continue;
        }
        let Some(default) = q.get("default") else {
            continue;
        };
        let mut with_default = settings.clone();
        let mut left_out = settings.clone();
        let place = |doc: &mut Value, value: Option<Value>| {
            assert!(
                replace(doc, &flat.path, &value),
                "{at} is not in the document"
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
                panic!("{at} = {default}: {e}");
            }
        }
        assert_eq!(
            with_default, left_out,
            "{at}: the default {default} is not what leaving it out means"
        );
    }
}

/// Sets (or with `None` removes) the setting at `path` in the first list
/// entry that has it; false when no entry has it.
fn replace(doc: &mut Value, path: &[Step], value: &Option<Value>) -> bool {
    match path {
        [] => unreachable!(),
        [Step::Field(name)] => {
            let Some(object) = doc.as_object_mut() else {
                return false;
            };
            if !object.contains_key(name) {
                return false;
            }
            match value {
                Some(value) => object.insert(name.clone(), value.clone()),
                None => object.remove(name),
            };
            true
        }
        [Step::Field(name), rest @ ..] => match doc.get_mut(name) {
            Some(inner) => replace(inner, rest, value),
            None => false,
        },
        [Step::Item, rest @ ..] => match doc.as_array_mut() {
            Some(entries) => entries.iter_mut().any(|entry| replace(entry, rest, value)),
            None => false,
        },
    }
}
