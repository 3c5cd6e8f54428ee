//! Properties over generated inputs: no input makes the module panic, every
//! spelling of one image (host case, ports with or without leading zeros,
//! Docker Hub's names) gets one decision and one host question, and a pinned
//! reference reads back as the image it pins.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use signed_images_policy::admission;
use signed_images_policy::image::pattern::NamePattern;
use signed_images_policy::image::reference::ImageRef;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Any JSON value, a few levels deep, with keys the policy looks for.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("image".to_string()),
        Just("containers".to_string()),
        Just("spec".to_string()),
        Just("metadata".to_string()),
        Just("annotations".to_string()),
        Just("reference".to_string()),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON pointer into a Pod request where a generated value is put.
fn any_place() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        "/kind",
        "/kind/kind",
        "/operation",
        "/namespace",
        "/subResource",
        "/object",
        "/object/metadata",
        "/object/metadata/annotations",
        "/object/spec",
        "/object/spec/containers",
        "/object/spec/containers/0",
        "/object/spec/containers/0/image",
        "/object/spec/volumes",
        "/oldObject",
    ])
}

fn put(request: &mut Value, place: &str, value: Value) {
    if place.is_empty() {
        *request = value;
    } else if let Some(slot) = request.pointer_mut(place) {
        *slot = value;
    } else {
        let (parent, field) = place.rsplit_once('/').unwrap();
        if let Some(Value::Object(parent)) = request.pointer_mut(parent) {
            parent.insert(field.to_string(), value);
        }
    }
}

/// Settings shaped like the real ones, with any value anywhere.
fn any_settings() -> impl Strategy<Value = Value> {
    let bases = prop::sample::select(vec![
        "full.yaml",
        "threshold.yaml",
        "verify-image-signatures.yaml",
    ]);
    (any_json(), any_place_in_settings(), any::<bool>(), bases).prop_map(
        |(value, place, whole, base)| {
            let mut settings = settings_file(base);
            if whole {
                return value;
            }
            put(&mut settings, place, value);
            settings
        },
    )
}

fn any_place_in_settings() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/verification",
        "/verification/keys",
        "/verification/keys/0",
        "/verification/keys/0/publicKey",
        "/verification/keys/2/keyless",
        "/verification/keys/4/githubActions/repo",
        "/verification/keys/5/certificate",
        "/verification/images",
        "/verification/images/0/namePattern",
        "/verification/images/0/keys",
        "/verification/exclude",
        "/allowUnmatchedImages",
        "/pinDigests",
        "/annotationPrefix",
        "/maxVerificationsPerRequest",
        "/clusterImagePolicy",
        "/verification/images/0/threshold",
        "/signatures",
        "/signatures/0",
        "/signatures/0/image",
        "/signatures/0/pubKeys",
        "/signatures/0/pubKeys/1",
        "/signatures/1/keylessPrefix/0",
        "/signatures/1/keylessPrefix/0/url_prefix",
        "/signatures/0/certificates",
        "/modifyImagesWithDigest",
    ])
}

/// A registry in its one spelling, and whether it is Docker Hub: dotted hosts
/// with and without a port, `localhost`, and hosts without a dot, which read
/// as a registry only with a port or an upper-case letter.
fn any_registry() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        Just(("docker.io".to_string(), true)),
        "[a-z][a-z0-9]{0,5}\\.(example\\.org|io|com)".prop_map(|h| (h, false)),
        Just(("localhost".to_string(), false)),
        "[a-z]{1,5}\\.[a-z]{2,3}:(5000|8443)".prop_map(|h| (h, false)),
        "[a-z]{2,6}:(443|5000)".prop_map(|h| (h, false)),
    ]
}

/// One image, as parts: registry, repository components, tag.
#[derive(Debug, Clone)]
struct Image {
    registry: String,
    docker_hub: bool,
    components: Vec<String>,
    tag: Option<String>,
}

fn any_image() -> impl Strategy<Value = Image> {
    (
        any_registry(),
        prop::collection::vec("[a-z0-9]{1,6}", 1..4),
        prop::option::of("[a-z0-9][a-z0-9.-]{0,6}"),
    )
        .prop_map(|((registry, docker_hub), components, tag)| Image {
            registry,
            docker_hub,
            components,
            tag,
        })
}

/// Choices that respell an image without changing it.
#[derive(Debug, Clone)]
struct Spelling {
    upper_case: Vec<bool>,
    /// 0: the port left out where the name reads as a registry without it;
    /// 1: written; 2, 3: written with leading zeros.
    port_form: usize,
    hub_name: usize,
    library: bool,
    latest: bool,
}

fn any_spelling() -> impl Strategy<Value = Spelling> {
    (
        prop::collection::vec(any::<bool>(), 24),
        0usize..4,
        0usize..4,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(upper_case, port_form, hub_name, library, latest)| Spelling {
                upper_case,
                port_form,
                hub_name,
                library,
                latest,
            },
        )
}

fn write_registry(image: &Image, spelling: &Spelling) -> Option<String> {
    let (host, port) = if image.docker_hub {
        let host = match spelling.hub_name {
            0 => return None,
            1 => "docker.io",
            2 => "index.docker.io",
            _ => "registry-1.docker.io",
        };
        (host, 443)
    } else {
        match image.registry.split_once(':') {
            Some((host, port)) => (host, port.parse().unwrap()),
            None => (image.registry.as_str(), 443u16),
        }
    };
    let mut written: String = host
        .chars()
        .zip(spelling.upper_case.iter().chain(std::iter::repeat(&false)))
        .map(|(c, upper)| if *upper { c.to_ascii_uppercase() } else { c })
        .collect();
    let reads_as_registry = host.contains('.')
        || host == "localhost"
        || written.bytes().any(|b| b.is_ascii_uppercase());
    match spelling.port_form {
        0 if port == 443 && reads_as_registry => {}
        0 | 1 => written.push_str(&format!(":{port}")),
        2 => written.push_str(&format!(":0{port}")),
        _ => written.push_str(&format!(":000{port}")),
    }
    Some(written)
}

fn write(image: &Image, spelling: &Spelling) -> String {
    let mut repository = image.components.join("/");
    let official = image.docker_hub && image.components.len() == 1;
    if official && spelling.library {
        repository = format!("library/{repository}");
    }
    let mut written = match write_registry(image, spelling) {
        Some(registry) => format!("{registry}/{repository}"),
        None => repository,
    };
    match &image.tag {
        Some(tag) => written.push_str(&format!(":{tag}")),
        None if spelling.latest => written.push_str(":latest"),
        None => {}
    }
    written
}

/// A pattern for the image: its registry respelled or widened, a suffix of
/// its path replaced by `*`, its tag kept, dropped or `*`.
fn any_pattern_for(image: Image) -> impl Strategy<Value = String> {
    (any_spelling(), 0usize..4, 0usize..4, 0usize..3).prop_map(
        move |(spelling, registry_form, keep, tag_form)| {
            let registry = match (registry_form, image.registry.split_once('.')) {
                (0, _) | (1, None) => "*".to_string(),
                (1, Some((_, domain))) => format!("*.{domain}"),
                _ => write_registry(&image, &spelling).unwrap_or_else(|| "docker.io".to_string()),
            };
            let kept = keep.min(image.components.len());
            let mut path: Vec<&str> = image.components[..kept]
                .iter()
                .map(String::as_str)
                .collect();
            if kept < image.components.len() {
                path.push("*");
            }
            let mut pattern = format!("{registry}/{}", path.join("/"));
            match (tag_form, &image.tag) {
                (0, Some(tag)) => pattern.push_str(&format!(":{tag}")),
                (1, _) => pattern.push_str(":*"),
                _ => {}
            }
            pattern
        },
    )
}

/// What the module decides for a Pod running `image` in `spelling`, and
/// what it asked the host, with `canonical` signed by the test key or not.
fn decide(
    image: &Image,
    spelling: &Spelling,
    canonical: &str,
    signed: bool,
    settings: &Value,
) -> (bool, Option<u16>, Vec<String>) {
    let host = if signed {
        FakeHost::new().sign(canonical, &key("p256.pub"))
    } else {
        FakeHost::new()
    };
    let response = validate(&host, &pod(&[&write(image, spelling)]), settings);
    (response.accepted, response.code, host.asked_images())
}

fn settings_for(pattern: &str, allow_unmatched: bool) -> Value {
    let mut settings = one_key_settings(pattern);
    settings["allowUnmatchedImages"] = json!(allow_unmatched);
    settings
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_request_makes_the_module_panic(
        place in any_place(),
        value in any_json(),
        settings in any_settings(),
    ) {
        let mut req = pod(&["harbor.example.net/storefront/app:1.0"]);
        put(&mut req, place, value);
        let host = FakeHost::new();
        let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
        let response: Value = serde_json::from_slice(&admission::validate(&payload, &host).to_json())
            .expect("the response is JSON");
        prop_assert!(response["accepted"].is_boolean());
    }

    #[test]
    fn no_payload_bytes_make_the_module_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let response = admission::validate(&bytes, &FakeHost::new());
        prop_assert!(!response.accepted);
        let _ = admission::validate_settings(&bytes);
    }

    #[test]
    fn no_settings_make_the_module_panic(settings in any_settings()) {
        let text = serde_json::to_vec(&settings).unwrap();
        let verdict = admission::validate_settings(&text);
        prop_assert!(verdict.valid || verdict.message.is_some());
    }

    #[test]
    fn no_reference_or_pattern_makes_the_parsers_panic(text in ".{0,64}") {
        let _ = ImageRef::parse(&text);
        let _ = NamePattern::compile(&text);
    }

    #[test]
    fn every_spelling_is_one_image(
        image in any_image(),
        first in any_spelling(),
        second in any_spelling(),
    ) {
        let a = ImageRef::parse(&write(&image, &first)).unwrap();
        let b = ImageRef::parse(&write(&image, &second)).unwrap();
        prop_assert_eq!(a.canonical(), b.canonical());
    }

    /// The same for policy-controller's globs: a glob cut from the image's
    /// normalised name at any point (`*` or `**` for the rest), under either
    /// no-match policy.
    #[test]
    fn every_spelling_gets_the_same_glob_decision(
        image in any_image(),
        first in any_spelling(),
        second in any_spelling(),
        cut in 0usize..80,
        double in any::<bool>(),
        signed in any::<bool>(),
        allow_unmatched in any::<bool>(),
    ) {
        let parsed = ImageRef::parse(&write(&image, &first)).unwrap();
        let registry = if parsed.registry == "docker.io" { "index.docker.io" } else { parsed.registry.as_str() };
        let name = match (&parsed.digest, &parsed.tag) {
            (Some(digest), _) => format!("{registry}/{}@{digest}", parsed.repository),
            (None, tag) => format!("{registry}/{}:{}", parsed.repository, tag.as_deref().unwrap_or("latest")),
        };
        let cut = cut.min(name.len());
        let glob = format!("{}{}", &name[..cut], if double { "**" } else { "*" });
        let settings = json!({
            "clusterImagePolicies": [{
                "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": "p"},
                "spec": {"images": [{"glob": glob}], "authorities": [{"key": {"data": key("p256.pub")}}]}
            }],
            "noMatchPolicy": if allow_unmatched { "allow" } else { "deny" }
        });
        prop_assume!(admission::validate_settings(settings.to_string().as_bytes()).valid);
        let canonical = parsed.canonical();
        let decide = |spelling: &Spelling| decide(&image, spelling, &canonical, signed, &settings);
        prop_assert_eq!(decide(&first), decide(&second), "glob {}", glob);
    }

    #[test]
    fn every_spelling_gets_the_same_decision_and_questions(
        (image, pattern) in any_image().prop_flat_map(|image| (Just(image.clone()), any_pattern_for(image))),
        first in any_spelling(),
        second in any_spelling(),
        signed in any::<bool>(),
        allow_unmatched in any::<bool>(),
    ) {
        prop_assume!(NamePattern::compile(&pattern).is_ok());
        let settings = settings_for(&pattern, allow_unmatched);
        let canonical = ImageRef::parse(&write(&image, &first)).unwrap().canonical();
        let decide = |spelling: &Spelling| decide(&image, spelling, &canonical, signed, &settings);
        prop_assert_eq!(decide(&first), decide(&second), "pattern {}", pattern);
    }

    #[test]
    fn a_threshold_admits_exactly_when_enough_keys_sign_and_asks_no_more_than_needed(
        signed_by in prop::collection::vec(any::<bool>(), 1..5),
        threshold in 1usize..5,
    ) {
        let names = ["p256.pub", "p384.pub", "rsa2048.pub", "ed25519.pub"];
        let keys = signed_by.len();
        prop_assume!(threshold <= keys);
        let image = "registry.example.org/team/app:1.0";
        let mut host = FakeHost::new();
        for (i, signed) in signed_by.iter().enumerate() {
            if *signed {
                host = host.sign(image, &key(names[i]));
            }
        }
        let settings = json!({"verification": {
            "keys": (0..keys).map(|i| json!({"name": format!("k{i}"), "publicKey": key(names[i])})).collect::<Vec<_>>(),
            "images": [{"namePattern": "registry.example.org/*", "threshold": threshold,
                "keys": (0..keys).map(|i| json!({"name": format!("k{i}")})).collect::<Vec<_>>()}]
        }});
        let response = validate(&host, &pod(&[image]), &settings);
        let signers = signed_by.iter().filter(|s| **s).count();
        prop_assert_eq!(response.accepted, signers >= threshold);
        // Keys are asked in order; asking stops once `threshold` verified or
        // once the keys left cannot reach it.
        let (mut asked, mut verified) = (0, 0);
        for (i, signed) in signed_by.iter().enumerate() {
            if verified == threshold || verified + (keys - i) < threshold {
                break;
            }
            asked += 1;
            verified += usize::from(*signed);
        }
        prop_assert_eq!(host.verify_calls(), asked);
    }

    #[test]
    fn a_pattern_matches_what_its_own_spellings_match(
        (image, pattern) in any_image().prop_flat_map(|image| (Just(image.clone()), any_pattern_for(image))),
        spelling in any_spelling(),
    ) {
        // A pattern made from the image itself (registry respelled, path cut
        // at a `*`) always matches it, however either is written.
        let compiled = NamePattern::compile(&pattern);
        prop_assume!(compiled.is_ok());
        let written = ImageRef::parse(&write(&image, &spelling)).unwrap();
        prop_assert!(compiled.unwrap().matches(&written), "{} vs {}", pattern, written.written);
    }

    #[test]
    fn a_pinned_reference_reads_back_as_the_image_it_pins(
        image in any_image(),
        spelling in any_spelling(),
        digested in any::<bool>(),
    ) {
        let mut written = write(&image, &spelling);
        if digested {
            written.push('@');
            written.push_str(DIGEST);
        }
        let parsed = ImageRef::parse(&written).unwrap();
        let pinned = parsed.pinned(DIGEST);
        prop_assert_eq!(pinned.matches('@').count(), 1, "{}", pinned);
        let reread = ImageRef::parse(&pinned).unwrap();
        prop_assert_eq!(&reread.registry, &parsed.registry);
        prop_assert_eq!(&reread.repository, &parsed.repository);
        prop_assert_eq!(reread.digest.as_deref(), Some(DIGEST));
        let tag = parsed.tag.clone().or_else(|| (!digested).then(|| "latest".to_string()));
        prop_assert_eq!(reread.tag, tag);
    }
}

/// A pool of image strings, some signed, respellings among them.
const POOL: [&str; 6] = [
    "harbor.example.net/storefront/app:1.0",
    "Harbor.Example.NET:443/storefront/app:1.0",
    "harbor.example.net/storefront/app:2.0",
    "harbor.example.net/storefront/evil:1.0",
    "harbor.example.net/storefront/evil:2.0",
    "nginx:1.25",
];

/// A Pod spec whose containers run the chosen images of [`POOL`].
fn pod_spec(images: &[usize]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, &image)| json!({"name": format!("c{i}"), "image": POOL[image]}))
        .collect();
    json!({"containers": containers})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No UPDATE admits an image string the old object did not run in that
    /// place unless it was verified in that request, whatever the old
    /// object's record says and whether the registry answers.
    #[test]
    fn an_update_admits_no_new_image_it_did_not_verify(
        old in prop::collection::vec(0..POOL.len(), 1..4),
        new in prop::collection::vec(0..POOL.len(), 1..4),
        forged_record in any::<bool>(),
        registry_down in any::<bool>(),
    ) {
        // app:1.0 (both spellings) is signed; app:2.0 is signed too.
        let host = FakeHost::new()
            .sign("harbor.example.net/storefront/app:1.0", &key("p256.pub"))
            .sign("harbor.example.net/storefront/app:2.0", &key("p256.pub"));
        if registry_down {
            host.stop_registry();
        }
        let mut req = pod(&[]);
        req["operation"] = json!("UPDATE");
        req["oldObject"] = req["object"].clone();
        req["oldObject"]["spec"] = pod_spec(&old);
        req["object"]["spec"] = pod_spec(&new);
        if forged_record {
            let everything: serde_json::Map<String, Value> = POOL
                .iter()
                .map(|image| (image.to_string(), json!({"digest": DIGEST, "key": "a"})))
                .collect();
            req["oldObject"]["metadata"]["annotations"] = json!({
                "image-policy.signing/status": "verified",
                "image-policy.signing/verified-images": Value::Object(everything).to_string(),
            });
        }
        let settings = json!({"verification": {
            "keys": [{"name": "a", "publicKey": key("p256.pub")}],
            "images": [{"namePattern": "*", "keys": [{"name": "a"}]}]}});
        let response = validate(&host, &req, &settings);
        if response.accepted {
            let asked = host.asked_images();
            for (i, &image) in new.iter().enumerate() {
                let unchanged = old.get(i) == Some(&image);
                let signed = POOL[image].to_lowercase().contains("app:") && !registry_down;
                let canonical = ImageRef::parse(POOL[image]).unwrap().canonical();
                prop_assert!(
                    unchanged || (signed && asked.contains(&canonical)),
                    "{} admitted in place {i} unverified", POOL[image]
                );
            }
        }
    }
}
