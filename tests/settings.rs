//! Settings validation at load time: what is accepted, and the message for
//! each mistake, naming where it is.

mod common;

use common::*;
use serde_json::{json, Value};
use signed_images_policy::admission::validate_settings;
use signed_images_policy::rules::{PinDigests, RuleSource, UnmatchedImages};
use signed_images_policy::settings::errors::{Problem, SettingsError};
use signed_images_policy::settings::parse_settings;

/// Every file of test_data/settings: each loads (and the docs show each: tests/docs.rs).
const SETTINGS_FILES: [&str; 12] = [
    "scst-policy.yaml",
    "full.yaml",
    "allow-unmatched.yaml",
    "cluster.yaml",
    "threshold.yaml",
    "keyless.yaml",
    "verify-image-signatures.yaml",
    "outage-fallback.yaml",
    "policy-controller.yaml",
    "cluster-policy-controller.yaml",
    "warn.yaml",
    "tap-migration.yaml",
];

fn check(settings: &Value) -> Result<(), String> {
    let response = validate_settings(settings.to_string().as_bytes());
    match response.valid {
        true => Ok(()),
        false => Err(response.message.unwrap()),
    }
}

fn assert_rejected(settings: Value, needle: &str) {
    let message = check(&settings).expect_err(&format!("accepted: {settings}"));
    assert!(
        message.contains(needle),
        "expected {needle:?} in {message:?}"
    );
    assert!(
        !message.contains(" at line "),
        "positions in the JSON the host made mean nothing to the user: {message}"
    );
}

fn with_key(key: Value) -> Value {
    json!({"verification": {"keys": [key], "images": [{"namePattern": "*", "keys": [{"name": key["name"]}]}]}})
}

#[test]
fn every_settings_file_loads() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/settings"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
    on_disk.sort();
    let mut listed = SETTINGS_FILES.to_vec();
    listed.sort();
    assert_eq!(on_disk, listed, "SETTINGS_FILES lists every file");
    for name in SETTINGS_FILES {
        check(&settings_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn empty_settings_mean_no_policy() {
    for empty in ["{}", "", "null"] {
        let response = validate_settings(empty.as_bytes());
        assert!(response.valid, "{empty:?}: {:?}", response.message);
    }
    let policy = parse_settings("{}").unwrap();
    assert!(matches!(policy.rules, RuleSource::NoRules));
    assert_eq!(policy.unmatched_images, UnmatchedImages::Deny);
    assert_eq!(policy.pin_digests, PinDigests::Pods);
    assert_eq!(policy.annotation_prefix, "image-policy.signing");
}

#[test]
fn allow_unmatched_images_under_every_name() {
    for name in [
        "allowUnmatchedImages",
        "allow_unmatched_images",
        "warn_on_unmatched",
    ] {
        let policy = parse_settings(&json!({ name: true }).to_string()).unwrap();
        assert_eq!(
            policy.unmatched_images,
            UnmatchedImages::AdmitWithWarning,
            "{name}"
        );
    }
    assert_rejected(
        json!({"allowUnmatchedImages": true, "warn_on_unmatched": false}),
        "duplicate field",
    );
    assert_rejected(
        json!({"allowUnmatchedImages": "yes"}),
        "allowUnmatchedImages: invalid type",
    );
}

#[test]
fn every_key_type_is_accepted() {
    for file in ["p256.pub", "p384.pub", "rsa2048.pub", "ed25519.pub"] {
        check(&with_key(json!({"name": "k", "publicKey": key(file)})))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    check(&with_key(
        json!({"name": "k", "certificate": key("signer.crt")}),
    ))
    .unwrap();
    check(&with_key(json!({"name": "k", "certificate": key("signer.crt"), "certificateChain": [key("signer.crt")], "requireRekorBundle": false}))).unwrap();
    check(&with_key(json!({"name": "k", "keyless": {"issuer": "https://accounts.google.com", "subject": "me@example.com"}}))).unwrap();
    check(&with_key(json!({"name": "k", "keyless": {"issuer": "https://accounts.google.com", "urlPrefix": "https://github.com/org"}}))).unwrap();
    check(&with_key(
        json!({"name": "k", "githubActions": {"owner": "org"}}),
    ))
    .unwrap();
}

#[test]
fn bad_keys_are_rejected_with_their_path() {
    for (key_json, needle) in [
        (
            json!({"name": "k", "publicKey": "not a key"}),
            "verification.keys[0] (k): publicKey: not a PEM \"PUBLIC KEY\"",
        ),
        (
            json!({"name": "k", "publicKey": key("p521.pub")}),
            "unsupported EC curve 1.3.132.0.35",
        ),
        (
            json!({"name": "k", "publicKey": key("rsa1024.pub")}),
            "RSA key of 1024 bits is too weak",
        ),
        (
            json!({"name": "k", "publicKey": key("ed448.pub")}),
            "unsupported key algorithm 1.3.101.113",
        ),
        (
            json!({"name": "k", "publicKey": key("signer.crt")}),
            "publicKey: not a PEM \"PUBLIC KEY\"",
        ),
        (
            json!({"name": "k", "publicKey": key("p256.pub").replace("MFkw", "MFkx")}),
            "publicKey: not a PEM",
        ),
        (
            json!({"name": "k", "certificate": key("p256.pub")}),
            "certificate: not a PEM certificate",
        ),
        (
            json!({"name": "k", "certificate": key("signer.crt"), "certificateChain": ["junk"]}),
            "certificateChain[0]: not a PEM certificate",
        ),
        (
            json!({"name": "k", "certificate": key("signer.crt"), "certificateChain": []}),
            "certificateChain: must list at least one",
        ),
        (
            json!({"name": "k"}),
            "exactly one of publicKey, keyless, githubActions or certificate",
        ),
        (
            json!({"name": "k", "publicKey": key("p256.pub"), "githubActions": {"owner": "o"}}),
            "exactly one of",
        ),
        (
            json!({"name": "k", "publicKey": key("p256.pub"), "requireRekorBundle": true}),
            "go with certificate",
        ),
        (
            json!({"name": "k", "keyless": {"issuer": "accounts.google.com", "subject": "s"}}),
            "keyless.issuer: \"accounts.google.com\" is not a URL",
        ),
        (
            json!({"name": "k", "keyless": {"issuer": "https://i", "subject": "s", "urlPrefix": "p"}}),
            "exactly one of subject or urlPrefix",
        ),
        (
            json!({"name": "k", "keyless": {"issuer": "https://i"}}),
            "exactly one of subject or urlPrefix",
        ),
        (
            json!({"name": "k", "githubActions": {"owner": ""}}),
            "githubActions.owner must not be empty",
        ),
        (
            json!({"name": "", "publicKey": key("p256.pub")}),
            "verification.keys[0].name: key name must not be empty",
        ),
    ] {
        assert_rejected(with_key(key_json), needle);
    }
}

#[test]
fn empty_identity_fields_never_widen_trust() {
    for (key_json, needle) in [
        (
            json!({"name": "k", "githubActions": {"owner": "o", "repo": ""}}),
            "githubActions.repo must not be empty",
        ),
        (
            json!({"name": "k", "githubActions": {"owner": " "}}),
            "githubActions.owner must not be empty",
        ),
        (
            json!({"name": "k", "keyless": {"issuer": "https://i", "subject": ""}}),
            "keyless.subject must not be empty",
        ),
        (
            json!({"name": "k", "keyless": {"issuer": "https://i", "urlPrefix": ""}}),
            "keyless.urlPrefix must not be empty",
        ),
    ] {
        assert_rejected(with_key(key_json), needle);
    }
}

#[test]
fn references_between_images_and_keys_are_checked() {
    let pem = key("p256.pub");
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}, {"name": "a", "publicKey": pem}]}}),
        "verification.keys[1].name: key name \"a\" is defined twice",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}]}, {"namePattern": "x/*", "keys": [{"name": "a"}, {"name": "b"}]}]}}),
        "verification.images[1].keys[1].name: key \"b\" is not defined in verification.keys",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}], "images": [{"namePattern": "*", "keys": []}]}}),
        "verification.images[0].keys: the entry for \"*\" lists no key",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}], "images": [{"namePattern": "*"}]}}),
        "lists no key",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}], "images": [{"namePattern": "", "keys": [{"name": "a"}]}]}}),
        "verification.images[0].namePattern: namePattern must not be empty",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}], "images": [{"namePattern": "Registry/App", "keys": [{"name": "a"}]}]}}),
        "verification.images[0].namePattern: namePattern \"Registry/App\" is not an image name pattern",
    );
    assert_rejected(
        json!({"verification": {"keys": [{"name": "a", "publicKey": pem}], "images": [{"namePattern": "*", "keys": [{"name": "a"}], "annotations": {"": "x"}}]}}),
        "verification.images[0].annotations: annotation name \"\" must not be empty",
    );
    assert_rejected(
        json!({"verification": {"exclude": {"resources": {"namespaces": [""]}}}}),
        "verification.exclude.resources.namespaces[0]: namespace must not be empty",
    );
}

#[test]
fn unknown_fields_are_errors_that_name_their_path() {
    let pem = key("p256.pub");
    for (settings, needle) in [
        (json!({"verificaton": {}}), "unknown field `verificaton`"),
        (json!({"verification": {"imgaes": []}}), "verification.imgaes: unknown field `imgaes`, expected one of `exclude`, `keys`, `images`"),
        (json!({"verification": {"exclude": {"namespaces": ["a"]}}}), "verification.exclude.namespaces: unknown field `namespaces`"),
        (json!({"verification": {"keys": [{"name": "a", "publicKy": pem}]}}), "verification.keys[0].publicKy: unknown field `publicKy`"),
        (json!({"verification": {"images": [{"namePatern": "*"}]}}), "verification.images[0].namePatern: unknown field `namePatern`"),
        (json!({"verification": {"images": [{"namePattern": "*", "keys": [{"nam": "a"}]}]}}), "verification.images[0].keys[0].nam: unknown field `nam`"),
        (json!({"verification": {"images": [{"namePattern": "*", "secretRef": {"name": "s", "nmespace": "n"}}]}}), "verification.images[0].secretRef.nmespace: unknown field `nmespace`"),
        (json!({"pinDigests": "sometimes"}), "pinDigests: unknown variant `sometimes`"),
        (json!({"annotationPrefix": "Not_A_Domain"}), "annotationPrefix: \"Not_A_Domain\" is not a DNS subdomain"),
        (json!({"clusterImagePolicy": true, "verification": {}}), "cannot be set together"),
    ] {
        assert_rejected(settings, needle);
    }
}

#[test]
fn threshold_must_be_between_one_and_the_distinct_keys_named() {
    let entry = |threshold: Value, keys: Value| {
        json!({"verification": {
            "keys": [{"name": "a", "publicKey": key("p256.pub")}, {"name": "b", "publicKey": key("p384.pub")}],
            "images": [{"namePattern": "*", "threshold": threshold, "keys": keys}]
        }})
    };
    let both = json!([{"name": "a"}, {"name": "b"}]);
    assert!(check(&entry(json!(2), both.clone())).is_ok());
    assert_rejected(
        entry(json!(0), both.clone()),
        "verification.images[0].threshold: must be at least 1",
    );
    assert_rejected(
        entry(json!(3), both),
        "verification.images[0].threshold: 3 keys must verify, but the entry names only 2 distinct keys",
    );
    // A key named twice counts once.
    assert_rejected(
        entry(json!(2), json!([{"name": "a"}, {"name": "a"}])),
        "the entry names only 1 distinct key",
    );
    assert_rejected(
        entry(json!(-1), json!([{"name": "a"}])),
        "verification.images[0].threshold: invalid value",
    );
}

/// Each kind of mistake is its own variant, with the path of the field.
#[test]
fn mistakes_are_typed_and_name_their_field() {
    use signed_images_policy::image::pattern::PatternError;
    use signed_images_policy::settings::errors::{KeyProblem, Problem, SettingsError};
    // Each of these settings has one mistake, named alone.
    let error = |settings: Value| match parse_settings(&settings.to_string())
        .unwrap_err()
        .mistakes()
    {
        [only] => only.clone(),
        more => panic!("one mistake expected: {more:?}"),
    };
    let entry = |image: Value| {
        json!({"verification": {
            "keys": [{"name": "a", "publicKey": key("p256.pub")}, {"name": "b", "publicKey": key("p384.pub")}],
            "images": [image]
        }})
    };
    assert_eq!(
        error(entry(
            json!({"namePattern": "*", "threshold": 3, "keys": [{"name": "a"}, {"name": "b"}]})
        )),
        SettingsError::at(
            "verification.images[0].threshold",
            Problem::ThresholdAboveKeys {
                threshold: 3,
                keys: 2
            }
        )
    );
    assert_eq!(
        error(entry(json!({"namePattern": "*", "keys": [{"name": "c"}]}))),
        SettingsError::at(
            "verification.images[0].keys[0].name",
            Problem::UnknownKey {
                name: "c".into(),
                keys_at: "verification.keys".into()
            }
        )
    );
    assert!(matches!(
        error(entry(
            json!({"namePattern": "ngin*", "keys": [{"name": "a"}]})
        ))
        .problem,
        Problem::Pattern(PatternError::Ambiguous { .. })
    ));
    let bad_key = error(
        json!({"verification": {"keys": [{"name": "a", "keyless": {"issuer": "not a url", "subject": "s"}}]}}),
    );
    assert_eq!(bad_key.path, "verification.keys[0] (a)");
    assert_eq!(
        bad_key.problem,
        Problem::Key(KeyProblem::IssuerNotAUrl("not a url".into()))
    );
    assert_eq!(
        error(json!({"signatures": [{"image": "*", "pubKeys": []}]})),
        SettingsError::at("signatures[0].pubKeys", Problem::EmptyList)
    );
    assert_eq!(
        error(json!({"maxVerificationsPerRequest": 0})),
        SettingsError::at("maxVerificationsPerRequest", Problem::Zero)
    );
    assert!(matches!(
        error(json!({"verification": {"keyz": []}})).problem,
        Problem::Unreadable(_)
    ));
}

#[test]
fn a_url_prefix_that_is_no_url_is_refused_when_the_policy_loads() {
    let gha = "https://token.actions.githubusercontent.com";
    for prefix in [
        "github.com/my-org",
        "/my-org",
        "https://",
        "https:///my-org",
        "ftp://github.com/my-org",
        "https://github com/my-org",
        "https://github.com:99999/my-org",
        "https://git[hub.com/",
        "https://user@github.com/",
        "https://github.com/my org",
    ] {
        for settings in [
            json!({"verification": {"keys": [{"name": "k", "keyless": {"issuer": gha, "urlPrefix": prefix}}]}}),
            json!({"signatures": [{"image": "*", "keylessPrefix": [{"issuer": gha, "url_prefix": prefix}]}]}),
        ] {
            let refused = validate_settings(settings.to_string().as_bytes());
            assert!(!refused.valid, "{prefix}");
            let message = refused.message.unwrap();
            assert!(
                message.contains("is not an http(s) URL the host can read"),
                "{prefix}: {message}"
            );
        }
    }
    for prefix in [
        "https://github.com/my-org",
        "http://git.example.org:8080/team/",
        "https://github.com",
    ] {
        let settings = json!({"verification": {"keys": [{"name": "k", "keyless": {"issuer": gha, "urlPrefix": prefix}}]}});
        assert!(
            validate_settings(settings.to_string().as_bytes()).valid,
            "{prefix}"
        );
    }
}

#[test]
fn a_rules_key_written_as_null_is_a_settings_error() {
    for (settings, path) in [
        (json!({"verification": null}), "verification"),
        (json!({"signatures": null}), "signatures"),
        (
            json!({"verification": {"keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}], "annotations": null}]}}),
            "verification.images[0].annotations",
        ),
        (
            json!({"verification": {"keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}], "threshold": null}]}}),
            "verification.images[0].threshold",
        ),
        (
            json!({"signatures": [{"image": "*", "pubKeys": [key("p256.pub")], "annotations": null}]}),
            "signatures[0].annotations",
        ),
    ] {
        let refused = validate_settings(settings.to_string().as_bytes());
        assert!(!refused.valid, "{settings}");
        assert_eq!(
            refused.message.unwrap(),
            format!("{path}: must not be null: give it a value or leave the field out")
        );
    }
    // What Kubewarden's UI writes for the other shape's switch stays readable.
    assert!(validate_settings(br#"{"clusterImagePolicy": null}"#).valid);
}

/// The paths of every mistake `parse_settings` names, in order.
fn mistake_paths(settings: &Value) -> Vec<String> {
    parse_settings(&settings.to_string())
        .unwrap_err()
        .mistakes()
        .iter()
        .map(|mistake| mistake.path.clone())
        .collect()
}

/// One refusal names every mistake of SCST-Sign's `verification` (and of
/// the keys every shape shares), the first first: an operator fixes them
/// all in one edit.
#[test]
fn every_mistake_of_scst_sign_settings_is_named_at_once() {
    let bad_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
    let settings = json!({
        "annotationPrefix": "Not A Prefix",
        "maxVerificationsPerRequest": 0,
        "verification": {
            "exclude": {"resources": {"namespaces": ["kube-system", " "]}},
            "keys": [
                {"name": "", "publicKey": key("p256.pub")},
                {"name": "a", "publicKey": key("p256.pub")},
                {"name": "a", "publicKey": key("p384.pub")},
                {"name": "broken", "publicKey": bad_pem},
                {"name": "ci", "keyless": {"issuer": "not a url", "urlPrefix": "ftp://x"}}
            ],
            "images": [
                {"namePattern": "ngin*", "keys": [{"name": "a"}]},
                {"namePattern": "registry.example.org/*", "keys": [{"name": "nope"}, {"name": "broken"}], "threshold": 0},
                {"namePattern": "quay.example.org/*", "keys": [], "secretRef": {"name": ""}},
                {"namePattern": "ghcr.example.org/*", "keys": [{"name": "a"}], "threshold": 2, "annotations": {"": "x"}}
            ]
        },
        "warn": {"namespaces": ["", "dev"]}
    });
    assert_eq!(
        mistake_paths(&settings),
        [
            "warn.namespaces[0]",
            "annotationPrefix",
            "verification.exclude.resources.namespaces[1]",
            "verification.keys[0].name",
            "verification.keys[2].name",
            "verification.keys[3] (broken)",
            "verification.keys[4] (ci)",
            "verification.keys[4] (ci)",
            "verification.images[0].namePattern",
            "verification.images[1].keys[0].name",
            "verification.images[1].threshold",
            "verification.images[2].keys",
            "verification.images[2].secretRef.name",
            "verification.images[3].annotations",
            "verification.images[3].threshold",
            "maxVerificationsPerRequest",
        ]
    );
    // Shown joined, each with its path, and bounded: the first whole.
    let message = check(&settings).unwrap_err();
    assert!(
        message.starts_with(
            "warn.namespaces[0]: namespace must not be empty; annotationPrefix: \"Not A Prefix\" is not a DNS subdomain"
        ),
        "{message}"
    );
    assert!(message.contains(
        "; verification.keys[4] (ci): keyless.issuer: \"not a url\" is not a URL; \
         verification.keys[4] (ci): keyless.urlPrefix: \"ftp://x\""
    ));
    assert!(message.ends_with("; ... and 6 more"), "{message}");
}

/// A key that cannot be read is one mistake: the entries naming it are not
/// also told it is undefined, nor their threshold measured without it.
#[test]
fn a_mistake_is_not_repeated_by_what_depends_on_it() {
    let bad_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
    let settings = json!({"verification": {
        "keys": [{"name": "a", "publicKey": bad_pem}, {"name": "b", "publicKey": key("p256.pub")}],
        "images": [{"namePattern": "*", "keys": [{"name": "a"}, {"name": "b"}], "threshold": 2}]
    }});
    assert_eq!(mistake_paths(&settings), ["verification.keys[0] (a)"]);
    // Settings of the other shape's keys with a conflict: the conflict, and
    // what is wrong in each rule set, not the no-match policy of either.
    let settings = json!({
        "verification": {"keys": [{"name": "", "publicKey": key("p256.pub")}]},
        "clusterImagePolicies": [],
        "noMatchPolicy": "allow"
    });
    assert_eq!(
        mistake_paths(&settings),
        [
            "clusterImagePolicies",
            "verification.keys[0].name",
            "clusterImagePolicies"
        ]
    );
}

/// verify-image-signatures' `signatures`: every entry's mistakes, and the
/// keys of ours that do not go with them.
#[test]
fn every_mistake_of_verify_image_signatures_settings_is_named_at_once() {
    let gha = "https://token.actions.githubusercontent.com";
    let settings = json!({
        "pinDigests": "all",
        "noMatchPolicy": "allow",
        "signatures": [
            {"image": " ", "pubKeys": [key("p256.pub")]},
            {"image": "registry.example.org/*", "pubKeys": [key("p256.pub"), "junk"], "annotations": {"": "x"}},
            {"image": "quay.example.org/*", "pubKeys": [key("p256.pub")], "keyless": [{"issuer": gha, "subject": "s"}]},
            {"image": "ghcr.example.org/*", "keylessPrefix": [{"issuer": gha, "subject": "s"}, {"issuer": "nope", "urlPrefix": "https://github.com/"}]},
            {"image": "ngin*", "certificates": []}
        ],
        "maxVerificationsPerRequest": 0
    });
    assert_eq!(
        mistake_paths(&settings),
        [
            "noMatchPolicy",
            "pinDigests",
            "signatures[0].image",
            "signatures[1].annotations",
            "signatures[1].pubKeys[1]",
            "signatures[2]",
            "signatures[3].keylessPrefix",
            "signatures[3].keylessPrefix[1]",
            "signatures[4].image",
            "signatures[4].certificates",
            "maxVerificationsPerRequest",
        ]
    );
}

/// However many mistakes there are, a refusal names at most ten, in at most
/// a few kilobytes after the first, and says how many it leaves out.
#[test]
fn a_refusal_with_many_mistakes_is_bounded() {
    use signed_images_policy::settings::errors::{MAX_MORE_BYTES, MAX_MORE_MISTAKES};
    let images: Vec<Value> = (0..500)
        .map(|i| json!({"namePattern": "*", "keys": [{"name": format!("missing-{i}")}]}))
        .collect();
    let settings = json!({"verification": {"images": images}});
    assert_eq!(mistake_paths(&settings).len(), 500);
    let message = check(&settings).unwrap_err();
    assert!(message.starts_with(
        "verification.images[0].keys[0].name: key \"missing-0\" is not defined in verification.keys; "
    ));
    assert_eq!(
        message.matches("is not defined").count(),
        1 + MAX_MORE_MISTAKES
    );
    assert!(message.ends_with(&format!("; ... and {} more", 499 - MAX_MORE_MISTAKES)));

    // Long mistakes: bounded by bytes before they are by count.
    let long = "x".repeat(1000);
    let images: Vec<Value> = (0..20)
        .map(|i| json!({"namePattern": "*", "keys": [{"name": format!("{long}-{i}")}]}))
        .collect();
    let message = check(&json!({"verification": {"images": images}})).unwrap_err();
    let first = message.split("; ").next().unwrap();
    assert!(
        message.len() <= first.len() + MAX_MORE_BYTES + 40,
        "{}",
        message.len()
    );
    assert!(message.ends_with("; ... and 18 more"), "{message}");
}

/// Every way of breaking every settings file: a value of each wrong type at
/// each place, an unknown field in each object, each member left out; the
/// documents compact and indented. The strict reader, which finds a path only
/// once a document is refused, names the path and words serde_path_to_error,
/// which tracks it all along, names.
#[test]
fn the_strict_reader_names_the_path_serde_path_to_error_names() {
    use signed_images_policy::settings::strict_json::from_json_strict;
    use signed_images_policy::settings::RawSettings;

    fn mutations(value: &Value, out: &mut Vec<Value>, edit: &dyn Fn(Value) -> Value) {
        for wrong in [
            json!(null),
            json!(12),
            json!(-1),
            json!("text"),
            json!(true),
            json!([]),
            json!({}),
        ] {
            if &wrong != value {
                out.push(edit(wrong));
            }
        }
        match value {
            Value::Object(members) => {
                let mut unknown = members.clone();
                unknown.insert("zzUnknown".into(), json!(1));
                out.push(edit(Value::Object(unknown)));
                for (name, member) in members {
                    let mut without = members.clone();
                    without.remove(name);
                    out.push(edit(Value::Object(without)));
                    let inner = |v: Value| {
                        let mut members = members.clone();
                        members.insert(name.clone(), v);
                        edit(Value::Object(members))
                    };
                    mutations(member, out, &inner);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let inner = |v: Value| {
                        let mut items = items.clone();
                        items[i] = v;
                        edit(Value::Array(items))
                    };
                    mutations(item, out, &inner);
                }
            }
            _ => {}
        }
    }

    let mut refused = 0;
    for name in SETTINGS_FILES {
        let mut documents = Vec::new();
        mutations(&settings_file(name), &mut documents, &|v| v);
        for document in documents {
            for text in [
                document.to_string(),
                serde_json::to_string_pretty(&document).unwrap(),
            ] {
                let mut deserializer = serde_json::Deserializer::from_str(&text);
                let theirs = serde_path_to_error::deserialize::<_, RawSettings>(&mut deserializer);
                let ours = from_json_strict::<RawSettings>(&text, "");
                match (theirs, ours) {
                    (Ok(_), Ok(_)) => {}
                    (Err(theirs), Err(ours)) => {
                        refused += 1;
                        let path = match theirs.path().to_string() {
                            root if root == "." => String::new(),
                            path => path,
                        };
                        assert_eq!(ours.path, path, "{text}");
                        let words = theirs.inner().to_string();
                        let words = words.split(" at line ").next().unwrap();
                        assert_eq!(
                            ours.to_string(),
                            SettingsError::at(path, Problem::Unreadable(words.to_string()))
                                .to_string()
                        );
                    }
                    (theirs, ours) => panic!("{text}: {:?} / {:?}", theirs.is_ok(), ours.is_ok()),
                }
            }
        }
    }
    assert!(refused > 1000, "{refused} refused documents");
}
