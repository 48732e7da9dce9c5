//! The JSON Schemas of the uplink (`spec/schema/` at the repository root)
//! against the types and the golden messages.
//!
//! 1. The schemas generated from the types (`locker_proto::uplink::schema`)
//!    must be, byte for byte, the files under `spec/schema/`: a message
//!    changed, added or removed in the code changes the schema an
//!    implementer reads, and this test makes that change visible.
//! 2. Every golden uplink message (`tests/golden/uplink/*.json`) is valid
//!    against the schema of its direction and invalid against the other.
//! 3. The schemas refuse what a writer must not write: a wrong type, a
//!    missing member, a tag of the wrong length, an integer out of its
//!    type, text or a list over its bound… each case is also decoded by the
//!    crate, to show where the schema (the writer's shape) is stricter than
//!    a reader (`spec/uplink.md` §3.2).
//!
//! After an intended change to an uplink type, rewrite the schemas with the
//! golden files' switch and review the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p locker-proto --test uplink_schema
//! ```
//!
//! `spec/` is outside this crate: the published crate leaves this test out
//! (`exclude` in `Cargo.toml`); it runs in the workspace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use locker_proto::uplink::{DownEnvelope, UpEnvelope, schema};
use serde_json::{Map, Value, json};
use support::updating;

const REGENERATE: &str = "UPDATE_GOLDEN=1 cargo test -p locker-proto --test uplink_schema";

/// `spec/schema/` at the repository root.
fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/schema")
}

/// The schemas, by the file they are checked in as.
fn schemas() -> [(&'static str, Value); 2] {
    [
        ("upward.schema.json", json(schema::upward())),
        ("downward.schema.json", json(schema::downward())),
    ]
}

fn json(schema: schemars::Schema) -> Value {
    serde_json::to_value(schema).unwrap()
}

/// Members sorted by name at every level, so the file is the same whatever
/// order serde_json's maps keep (`preserve_order` is a feature any crate of
/// a build may turn on).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            names.sort();
            let mut out = Map::new();
            for name in names {
                out.insert(name.clone(), sorted(&members[name]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn render(schema: &Value) -> String {
    serde_json::to_string_pretty(&sorted(schema)).unwrap() + "\n"
}

fn validator(schema: &Value) -> Validator {
    jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("not a usable schema: {e}"))
}

/// The errors `validator` finds in `message`, one per line.
fn errors(validator: &Validator, message: &Value) -> String {
    validator
        .iter_errors(message)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_checked_in_schemas_are_the_ones_the_types_generate() {
    for (file, schema) in schemas() {
        let path = schema_dir().join(file);
        let generated = render(&schema);
        if updating() {
            std::fs::create_dir_all(schema_dir()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; generate it with `{REGENERATE}`", path.display()));
        if generated != checked_in {
            let line = generated
                .lines()
                .zip(checked_in.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(generated.lines().count().min(checked_in.lines().count()));
            panic!(
                "spec/schema/{file} differs from the schema the uplink types generate, from \
                 line {} on (an uplink type changed, or the file was edited by hand). If the \
                 change to the types is intended, regenerate with `{REGENERATE}` and review the \
                 diff (and spec/uplink.md, which must say the same)",
                line + 1
            );
        }
    }
}

#[test]
fn both_schemas_are_valid_json_schema_draft_2020_12() {
    for (file, schema) in schemas() {
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{file} is not a valid JSON Schema: {e}");
        }
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{file}"
        );
    }
}

/// Every golden message, with its file name and whether it is upward.
fn golden_messages() -> Vec<(String, Value, bool)> {
    let dir = support::golden_dir("uplink");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && name != "mac_vectors.json")
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            let message: Value = serde_json::from_str(&text).unwrap();
            let up = serde_json::from_value::<UpEnvelope>(message.clone()).is_ok();
            let down = serde_json::from_value::<DownEnvelope>(message.clone()).is_ok();
            assert!(
                up != down,
                "{name} must decode as exactly one of UpEnvelope and DownEnvelope"
            );
            (name, message, up)
        })
        .collect()
}

#[test]
fn every_golden_message_is_valid_against_its_direction_and_invalid_against_the_other() {
    let upward = validator(&json(schema::upward()));
    let downward = validator(&json(schema::downward()));
    let messages = golden_messages();
    let ups = messages.iter().filter(|(_, _, up)| *up).count();
    assert!(
        ups > 0 && ups < messages.len(),
        "golden messages of both directions"
    );
    for (name, message, up) in &messages {
        let (own, other) = if *up {
            (&upward, &downward)
        } else {
            (&downward, &upward)
        };
        assert!(
            own.is_valid(message),
            "{name} breaks the {} schema:\n{}",
            if *up { "upward" } else { "downward" },
            errors(own, message)
        );
        assert!(
            !other.is_valid(message),
            "{name} is valid against the other direction's schema too"
        );
    }
}

/// A golden message changed as a writer must not change it.
struct Miswritten {
    what: &'static str,
    golden: &'static str,
    edit: fn(&mut Value),
    /// Whether the crate's decoder reads it all the same: the schema is the
    /// writer's shape, and a reader is more lenient (spec/uplink.md §3.2).
    reader_accepts: bool,
}

fn at<'v>(message: &'v mut Value, pointer: &str) -> &'v mut Value {
    message
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the golden message"))
}

fn remove(message: &mut Value, pointer: &str) {
    let (parent, member) = pointer.rsplit_once('/').unwrap();
    at(message, parent).as_object_mut().unwrap().remove(member);
}

const MISWRITTEN: &[Miswritten] = &[
    Miswritten {
        what: "a number written as a string",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body/heartbeat/backlog") = json!("0"),
        reader_accepts: false,
    },
    Miswritten {
        what: "null for a member that is not optional",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body/heartbeat/backlog") = Value::Null,
        reader_accepts: false,
    },
    Miswritten {
        what: "a required member missing",
        golden: "heartbeat.json",
        edit: |m| remove(m, "/body/heartbeat/at"),
        reader_accepts: false,
    },
    Miswritten {
        what: "the envelope's id missing",
        golden: "heartbeat.json",
        edit: |m| remove(m, "/id"),
        reader_accepts: false,
    },
    Miswritten {
        what: "a u32 above 2^32 - 1",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body/heartbeat/backlog") = json!(1u64 << 32),
        reader_accepts: false,
    },
    Miswritten {
        what: "a negative unsigned integer",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body/heartbeat/at/mono_ms") = json!(-1),
        reader_accepts: false,
    },
    Miswritten {
        what: "a u8 above 255",
        golden: "node_boot.json",
        edit: |m| *at(m, "/body/node_boot/node") = json!(256),
        reader_accepts: false,
    },
    Miswritten {
        what: "an integer with a fraction",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body/heartbeat/backlog") = json!(1.5),
        reader_accepts: false,
    },
    Miswritten {
        what: "a version other than 1",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/v") = json!(2),
        // Read, then refused by `check_version`: not this version's message.
        reader_accepts: true,
    },
    Miswritten {
        what: "a body the protocol does not know",
        golden: "heartbeat.json",
        edit: |m| *at(m, "/body") = json!({"teleport_parcel": {}}),
        reader_accepts: false,
    },
    Miswritten {
        what: "an enum object with two members",
        golden: "alert_door_ajar.json",
        edit: |m| *at(m, "/body/alert/evidence") = json!({"door": "Open", "node": 2}),
        reader_accepts: false,
    },
    Miswritten {
        what: "a unit variant in the wrong case",
        golden: "alert_door_ajar.json",
        edit: |m| *at(m, "/body/alert/kind") = json!("DoorAjar"),
        reader_accepts: false,
    },
    Miswritten {
        what: "a bus word in snake_case (it keeps its Rust name)",
        golden: "alert_door_ajar.json",
        edit: |m| *at(m, "/body/alert/evidence/door") = json!("open"),
        reader_accepts: false,
    },
    Miswritten {
        what: "an audit link one byte short",
        golden: "audit_door_closed.json",
        edit: |m| {
            let link = at(m, "/body/audit/link");
            *link = json!(link.as_str().unwrap()[2..].to_owned());
        },
        reader_accepts: false,
    },
    Miswritten {
        what: "text over its bound (an error description of 97 bytes)",
        golden: "call_error_busy.json",
        edit: |m| *at(m, "/body/call_error/description") = json!("x".repeat(97)),
        reader_accepts: false,
    },
    Miswritten {
        what: "a list over its bound (17 compartments on a layout page)",
        golden: "layout.json",
        edit: |m| {
            let page = at(m, "/body/layout/compartments").as_array_mut().unwrap();
            let first = page[0].clone();
            page.resize(17, first);
        },
        reader_accepts: false,
    },
    Miswritten {
        what: "a downward tag of 15 bytes",
        golden: "remote_open.json",
        edit: |m| *at(m, "/tag") = json!("00".repeat(15)),
        reader_accepts: false,
    },
    Miswritten {
        what: "a remote open's tag of 17 bytes",
        golden: "remote_open.json",
        edit: |m| *at(m, "/body/remote_open/tag") = json!("00".repeat(17)),
        reader_accepts: false,
    },
    Miswritten {
        what: "a tag that is not hex",
        golden: "remote_open.json",
        edit: |m| *at(m, "/tag") = json!("zz".repeat(16)),
        reader_accepts: false,
    },
    Miswritten {
        what: "a code hash as a number",
        golden: "announce_parcel.json",
        edit: |m| *at(m, "/body/announce_parcel/credential/code_hash") = json!(7),
        reader_accepts: false,
    },
    Miswritten {
        what: "an offline token of 65 bytes",
        golden: "announce_parcel_offline_token.json",
        edit: |m| *at(m, "/body/announce_parcel/credential/offline_token") = json!("ab".repeat(65)),
        reader_accepts: false,
    },
    Miswritten {
        what: "an offline token of an odd number of digits",
        golden: "announce_parcel_offline_token.json",
        edit: |m| *at(m, "/body/announce_parcel/credential/offline_token") = json!("abc"),
        reader_accepts: false,
    },
    // Where the writer's shape is stricter than a reader.
    Miswritten {
        what: "a member the protocol does not have",
        golden: "heartbeat.json",
        edit: |m| {
            at(m, "/body/heartbeat")
                .as_object_mut()
                .unwrap()
                .insert("mood".into(), json!("fine"));
        },
        reader_accepts: true,
    },
    Miswritten {
        what: "an optional member left out instead of null",
        golden: "statistics.json",
        edit: |m| remove(m, "/body/statistics/mean_dwell_s"),
        reader_accepts: true,
    },
    Miswritten {
        what: "a downward message without its tag",
        golden: "get_diagnostics.json",
        // Read as a tag of zeros, then refused as unauthenticated.
        edit: |m| remove(m, "/tag"),
        reader_accepts: true,
    },
    Miswritten {
        what: "a tag in uppercase hex",
        golden: "remote_open.json",
        edit: |m| {
            let tag = at(m, "/tag");
            *tag = json!(tag.as_str().unwrap().to_uppercase());
        },
        reader_accepts: true,
    },
    Miswritten {
        what: "an actor under its Rust name",
        golden: "parcel_event_deposited.json",
        edit: |m| *at(m, "/body/parcel_event/actor") = json!("Courier"),
        reader_accepts: true,
    },
    Miswritten {
        what: "a unit variant written as an object with null",
        golden: "get_diagnostics.json",
        edit: |m| *at(m, "/body") = json!({"get_diagnostics": null}),
        reader_accepts: true,
    },
];

#[test]
fn what_a_writer_must_not_write_is_refused_by_the_schema() {
    let upward = validator(&json(schema::upward()));
    let downward = validator(&json(schema::downward()));
    let dir = support::golden_dir("uplink");
    for case in MISWRITTEN {
        let text = std::fs::read_to_string(dir.join(case.golden)).unwrap();
        let mut message: Value = serde_json::from_str(&text).unwrap();
        let up = serde_json::from_value::<UpEnvelope>(message.clone()).is_ok();
        let schema = if up { &upward } else { &downward };
        assert!(
            schema.is_valid(&message),
            "{}: the golden message itself is valid",
            case.golden
        );
        (case.edit)(&mut message);
        assert!(
            !schema.is_valid(&message),
            "{} ({}) passes the schema",
            case.what,
            case.golden
        );
        let read = if up {
            serde_json::from_value::<UpEnvelope>(message).is_ok()
        } else {
            serde_json::from_value::<DownEnvelope>(message).is_ok()
        };
        assert_eq!(
            read,
            case.reader_accepts,
            "{} ({}): the crate's decoder {} it",
            case.what,
            case.golden,
            if read { "reads" } else { "refuses" }
        );
    }
}

#[test]
fn text_bounds_are_in_bytes_which_the_schema_bounds_from_above_only() {
    // 96 characters, 192 bytes of UTF-8: the schema's maxLength counts
    // characters and lets it through; the decoder counts bytes and refuses
    // it. spec/schema/README.md says so.
    let text = std::fs::read_to_string(support::golden_dir("uplink").join("call_error_busy.json"))
        .unwrap();
    let mut message: Value = serde_json::from_str(&text).unwrap();
    *at(&mut message, "/body/call_error/description") = json!("é".repeat(96));
    assert!(validator(&json(schema::upward())).is_valid(&message));
    assert!(serde_json::from_value::<UpEnvelope>(message).is_err());
}
