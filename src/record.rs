//! The record the policy stamps on every resource it admits, and reads back:
//! from the old object of an UPDATE (the images it leaves unchanged keep
//! their entries) and from a controller's owner (its children may ride out
//! a registry outage on it).
//!
//! Under `<prefix>/`:
//! - `status`: what the admission rested on ([`Status`]);
//! - `verified-images`: each verified image, as written, to the digest its
//!   signature covers, the keys that verified it and, for an image admitted
//!   on its owner's record, that owner (`Kind/name`);
//! - `rules`: the fingerprint of the rules the entries were verified under;
//! - `seal`: with `outageFallback.recordKey`, an HMAC-SHA256 over the
//!   entries, the fingerprint and the resource's kind, namespace and name,
//!   so a record the policy did not write, or one copied from another
//!   resource, does not count.

use crate::fields::{hex, unhex, Fields};
use crate::image::reference::ImageRef;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

pub(crate) const STATUS_ANNOTATION: &str = "status";
pub(crate) const VERIFIED_IMAGES_ANNOTATION: &str = "verified-images";
pub(crate) const RULES_ANNOTATION: &str = "rules";
pub(crate) const SEAL_ANNOTATION: &str = "seal";

/// The verification status written to `<prefix>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Every image verified in this request, or carried from the old
    /// object's record by an UPDATE that left it unchanged.
    Verified,
    /// As verified, but some images were admitted during a registry outage
    /// on the record of the resource's owner (named in their entries).
    OwnerVerified,
    Excluded,
    UnmatchedAllowed,
    /// Some image was admitted by a `static: {action: pass}` authority,
    /// with no signature.
    StaticAllowed,
    /// Some image failed, and was admitted because of warn mode.
    AdmittedOnWarning,
    /// An UPDATE left an image unchanged that no record says was verified
    /// (an object older than the policy, or one admitted as unmatched).
    UnchangedUnverified,
    NoPolicy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::OwnerVerified => "owner-verified",
            Status::Excluded => "excluded",
            Status::UnmatchedAllowed => "unmatched-allowed",
            Status::StaticAllowed => "static-allowed",
            Status::AdmittedOnWarning => "admitted-on-warning",
            Status::UnchangedUnverified => "unchanged-unverified",
            Status::NoPolicy => "no-policy",
        }
    }

    /// The status of a resource whose images were judged: the weakest thing
    /// any of them rests on.
    pub fn of_images(grounds: Grounds) -> Status {
        if grounds.warned {
            Status::AdmittedOnWarning
        } else if grounds.unrecorded_unchanged {
            Status::UnchangedUnverified
        } else if grounds.unmatched {
            Status::UnmatchedAllowed
        } else if grounds.static_allowed {
            Status::StaticAllowed
        } else if grounds.owner_vouched {
            Status::OwnerVerified
        } else {
            Status::Verified
        }
    }
}

/// What the admitted images of a resource rest on, besides signatures
/// verified in this request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Grounds {
    pub warned: bool,
    pub unrecorded_unchanged: bool,
    pub unmatched: bool,
    pub static_allowed: bool,
    pub owner_vouched: bool,
}

/// One entry of `verified-images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The image as the workload wrote it (before any pin).
    pub image: String,
    pub digest: String,
    /// The names of the keys that verified it, comma-separated.
    pub keys: String,
    /// `Kind/name` of the owner whose record admitted it, during an outage.
    pub owner: Option<String>,
    /// Verified through a cosign 3 bundle, on the host's word
    /// (`acceptKeylessBundles`): counts only while that is on.
    pub bundle: bool,
}

/// `verified-images`' `signature` of an entry verified through a cosign 3
/// bundle the host vouched for.
pub(crate) const BUNDLE_SIGNATURE: &str = "cosign 3 bundle, on the host's word";

/// The resource a record sits on: a record is sealed for it alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holder<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// The record to write: the annotations' values, sealed when a key is set.
#[derive(Debug)]
pub(crate) struct Stamp {
    pub prefix: String,
    pub status: Status,
    /// `verified-images`, as the JSON text written.
    pub entries: String,
    /// The rules' fingerprint; `None` when no rules applied (no policy).
    pub rules: Option<String>,
    pub seal: Option<String>,
}

impl Stamp {
    pub fn new(
        prefix: &str,
        status: Status,
        entries: &[Entry],
        rules: Option<&str>,
        seal_for: Option<(&[u8], Holder)>,
    ) -> Stamp {
        let entries = entries_json(entries);
        let seal = match (rules, seal_for) {
            (Some(rules), Some((key, holder))) => Some(seal(key, holder, rules, &entries)),
            _ => None,
        };
        Stamp {
            prefix: prefix.to_string(),
            status,
            entries,
            rules: rules.map(str::to_string),
            seal,
        }
    }

    /// The annotations, by full name: `None` is one to remove (a stale
    /// fingerprint or seal must not outlive the record it vouched for).
    pub fn annotations(&self) -> [(String, Option<String>); 4] {
        let name = |short: &str| format!("{}/{short}", self.prefix);
        [
            (
                name(STATUS_ANNOTATION),
                Some(self.status.as_str().to_string()),
            ),
            (name(VERIFIED_IMAGES_ANNOTATION), Some(self.entries.clone())),
            (name(RULES_ANNOTATION), self.rules.clone()),
            (name(SEAL_ANNOTATION), self.seal.clone()),
        ]
    }
}

/// `verified-images`: a JSON object from each image to its digest and keys
/// (and owner), ordered by image.
fn entries_json(entries: &[Entry]) -> String {
    let mut map = Map::new();
    for entry in entries {
        let mut value = json!({"digest": entry.digest, "key": entry.keys});
        if let Some(owner) = &entry.owner {
            value["owner"] = Value::String(owner.clone());
        }
        if entry.bundle {
            value["signature"] = Value::String(BUNDLE_SIGNATURE.to_string());
        }
        map.insert(entry.image.clone(), value);
    }
    Value::Object(map).to_string()
}

/// HMAC-SHA256, in hex, over everything a record claims and whom it is for.
fn seal(key: &[u8], holder: Holder, rules: &str, entries: &str) -> String {
    hex(&mac(key, holder, rules, entries).finalize().into_bytes())
}

fn mac(key: &[u8], holder: Holder, rules: &str, entries: &str) -> Hmac<Sha256> {
    // Any key length is valid for HMAC.
    let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    // Each field is length-prefixed, so no two records spell the same message.
    let mut mac = Fields(mac);
    for field in [
        "signed-images-policy record v1",
        holder.kind,
        holder.namespace,
        holder.name,
        rules,
        entries,
    ] {
        mac.text(field);
    }
    mac.0
}

/// A record as read from a resource's annotations.
#[derive(Debug)]
pub(crate) struct Recorded {
    entries_text: String,
    entries: Map<String, Value>,
    rules: Option<String>,
    seal: Option<String>,
}

impl Recorded {
    /// The record among `annotations`, `None` when there is none.
    pub fn read(annotations: &Map<String, Value>, prefix: &str) -> Option<Recorded> {
        let get = |short: &str| {
            annotations
                .get(&format!("{prefix}/{short}"))
                .and_then(Value::as_str)
        };
        let entries_text = get(VERIFIED_IMAGES_ANNOTATION)?.to_string();
        let entries = match serde_json::from_str(&entries_text) {
            Ok(Value::Object(entries)) => entries,
            _ => return None,
        };
        Some(Recorded {
            entries_text,
            entries,
            rules: get(RULES_ANNOTATION).map(str::to_string),
            seal: get(SEAL_ANNOTATION).map(str::to_string),
        })
    }

    /// Whether the record vouches for its entries under `rules` on `holder`:
    /// the same fingerprint and a seal the key made for it (a record is
    /// never read without a key: the fingerprint is stamped in clear on
    /// every admitted object, so an unsealed record anyone could have written
    /// proves nothing). `Err` says why not.
    pub fn vouches(&self, rules: &str, key: &[u8], holder: Holder) -> Result<(), String> {
        match &self.rules {
            None => return Err("it names no rules".to_string()),
            Some(recorded) if recorded != rules => {
                return Err("it was verified under other rules".to_string())
            }
            Some(_) => {}
        }
        let sealed = self.seal.as_deref().and_then(unhex).is_some_and(|seal| {
            mac(key, holder, rules, &self.entries_text)
                .verify_slice(&seal)
                .is_ok()
        });
        if sealed {
            Ok(())
        } else {
            Err("its seal is missing or was not made for it".to_string())
        }
    }

    /// The entry for an image as a site now writes it: the entry of that
    /// very string, or the one it is the pin of (`name:tag` recorded,
    /// `name:tag@digest` written, with the recorded digest).
    pub fn entry_for(&self, written: &str) -> Option<Entry> {
        if let Some(entry) = self.entry(written) {
            return (!written.contains('@') || written.ends_with(&format!("@{}", entry.digest)))
                .then_some(entry);
        }
        let (name, digest) = written.split_once('@')?;
        // `nginx` is pinned as `nginx:latest@...`: either may be recorded.
        let candidates = [Some(name), name.strip_suffix(":latest")];
        candidates.into_iter().flatten().find_map(|recorded| {
            let entry = self.entry(recorded)?;
            let pinned = ImageRef::parse(recorded).ok()?.pinned(&entry.digest);
            (entry.digest == digest && pinned == written).then_some(entry)
        })
    }

    fn entry(&self, image: &str) -> Option<Entry> {
        let value = self.entries.get(image)?;
        let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
        Some(Entry {
            image: image.to_string(),
            digest: text("digest")?,
            keys: text("key").unwrap_or_default(),
            owner: text("owner"),
            bundle: text("signature").is_some_and(|s| s == BUNDLE_SIGNATURE),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn holder(name: &str) -> Holder<'_> {
        Holder {
            kind: "ReplicaSet",
            namespace: "default",
            name,
        }
    }

    fn written(image: &str, key: Option<&[u8]>, on: Holder) -> Recorded {
        let entry = Entry {
            image: image.to_string(),
            digest: DIGEST.to_string(),
            keys: "a".to_string(),
            owner: None,
            bundle: false,
        };
        let stamp = Stamp::new(
            "p",
            Status::Verified,
            &[entry],
            Some("rules-1"),
            key.map(|k| (k, on)),
        );
        let annotations: Map<String, Value> = stamp
            .annotations()
            .into_iter()
            .filter_map(|(name, value)| Some((name, Value::String(value?))))
            .collect();
        Recorded::read(&annotations, "p").unwrap()
    }

    #[test]
    fn a_sealed_record_vouches_only_for_its_holder_its_rules_and_its_key() {
        let record = written("app:1", Some(KEY), holder("web-1"));
        assert_eq!(record.vouches("rules-1", KEY, holder("web-1")), Ok(()));
        for (rules, key, on) in [
            ("rules-2", KEY, holder("web-1")),
            (
                "rules-1",
                b"another key, just as long as it is" as &[u8],
                holder("web-1"),
            ),
            ("rules-1", KEY, holder("web-2")),
            (
                "rules-1",
                KEY,
                Holder {
                    kind: "Deployment",
                    ..holder("web-1")
                },
            ),
            (
                "rules-1",
                KEY,
                Holder {
                    namespace: "other",
                    ..holder("web-1")
                },
            ),
        ] {
            assert!(record.vouches(rules, key, on).is_err());
        }
        // Without a seal, the key refuses it.
        let unsealed = written("app:1", None, holder("web-1"));
        assert!(unsealed.vouches("rules-1", KEY, holder("web-1")).is_err());
    }

    #[test]
    fn an_edited_entry_breaks_the_seal() {
        let record = written("app:1", Some(KEY), holder("web-1"));
        let mut annotations = Map::new();
        annotations.insert(
            "p/verified-images".to_string(),
            Value::String(record.entries_text.replace("app:1", "evil:1")),
        );
        annotations.insert("p/rules".to_string(), Value::String("rules-1".into()));
        annotations.insert(
            "p/seal".to_string(),
            Value::String(record.seal.clone().unwrap()),
        );
        let edited = Recorded::read(&annotations, "p").unwrap();
        assert!(edited.vouches("rules-1", KEY, holder("web-1")).is_err());
    }

    #[test]
    fn an_entry_is_found_as_written_or_as_its_pin() {
        let record = written("app:1", None, holder("x"));
        assert_eq!(record.entry_for("app:1").unwrap().digest, DIGEST);
        assert_eq!(
            record.entry_for(&format!("app:1@{DIGEST}")).unwrap().image,
            "app:1"
        );
        let other = DIGEST.replace('1', "2");
        assert_eq!(record.entry_for(&format!("app:1@{other}")), None);
        assert_eq!(record.entry_for("app:2"), None);
        assert_eq!(record.entry_for("App:1"), None);
        let bare = written("nginx", None, holder("x"));
        assert!(bare.entry_for(&format!("nginx:latest@{DIGEST}")).is_some());
        assert_eq!(bare.entry_for("nginx:latest"), None);
    }
}
