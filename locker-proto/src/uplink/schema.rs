//! JSON Schemas of the uplink's JSON encoding, generated from the message
//! types themselves.
//!
//! [`upward`] describes an [`UpEnvelope`] and [`downward`] a
//! [`DownEnvelope`] (JSON Schema draft 2020-12), each in one self-contained
//! document: every payload is a definition under `$defs` (`#/$defs/Alert`),
//! no reference leaves the file. They are checked in at the repository root
//! as `spec/schema/upward.schema.json` and `spec/schema/downward.schema.json`
//! for implementers in other languages; `tests/uplink_schema.rs` fails when
//! those files and these functions disagree, and validates every golden
//! message against them.
//!
//! # What the schemas describe: the writer
//!
//! A schema accepts exactly the shapes a conforming **writer** produces
//! (`spec/uplink.md` §3.2): every member present (`null` for none), no
//! member beyond those listed, names in the case the protocol writes them,
//! byte strings as lowercase hex of the right length, every integer within
//! its Rust type (`u8` 0–255 … `u64` 0–2⁶⁴−1), `v` equal to
//! [`UPLINK_VERSION`], enums externally tagged. A **reader** accepts more
//! (unknown members, a missing `Option` member, uppercase hex, the Rust
//! names of `Actor`, `Purpose` and `ServiceReason`, `{"name": null}` for a
//! variant without fields): validate what you send, not what you will
//! accept.
//!
//! A schema cannot check everything a message must be; the prose of
//! `spec/uplink.md` is normative and says the rest: MACs (the downward tag,
//! a remote open's tag, code hashes) and anything computed over bytes; text
//! bounds, which are in bytes of UTF-8 while JSON Schema's `maxLength`
//! counts characters (the schema gives the bound as `maxLength`, necessary
//! but not sufficient for non-ASCII text); rules across fields or messages
//! (ids that grow, `seq` without gaps, an answer naming a request that was
//! sent, `first` + compartments ≤ `total`); and exact reading of 64-bit
//! integers.
//!
//! ```
//! use locker_proto::uplink::schema;
//!
//! let up = serde_json::to_value(schema::upward())?;
//! assert_eq!(up["$schema"], "https://json-schema.org/draft/2020-12/schema");
//! assert_eq!(up["properties"]["v"]["const"], 1);
//! assert!(up["$defs"]["Heartbeat"]["required"].as_array().is_some());
//! let down = serde_json::to_value(schema::downward())?;
//! assert_eq!(down["$defs"]["HexArray16"]["pattern"], "^[0-9a-f]{32}$");
//! # Ok::<(), serde_json::Error>(())
//! ```

use core::marker::PhantomData;
use std::borrow::Cow;
use std::format;
use std::string::String;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, json_schema};
use serde_json::Value;

use super::envelope::{DownEnvelope, UPLINK_VERSION, UpEnvelope};
use super::types::{HexArray, HexBytes};

/// The JSON Schema of an upward message ([`UpEnvelope`], gateway →
/// backend), as a conforming gateway writes it.
pub fn upward() -> Schema {
    envelope::<UpEnvelope>(
        "UpEnvelope",
        "An upward message of the locker uplink (gateway → backend), protocol version 1, \
         as a conforming gateway writes it in JSON. Generated from locker-proto's types; \
         spec/uplink.md is normative and says what a schema cannot (MACs, byte bounds of text, \
         rules across fields and messages).",
    )
}

/// The JSON Schema of a downward message ([`DownEnvelope`], backend →
/// gateway), as a conforming backend writes it.
pub fn downward() -> Schema {
    envelope::<DownEnvelope>(
        "DownEnvelope",
        "A downward message of the locker uplink (backend → gateway), protocol version 1, \
         as a conforming backend writes it in JSON. Generated from locker-proto's types; \
         spec/uplink.md is normative and says what a schema cannot (the tag and the MACs, \
         byte bounds of text, rules across fields and messages).",
    )
}

fn envelope<T: JsonSchema>(title: &str, description: &str) -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        // What is written: every member, `null` for none (the derived
        // decoders also read a missing `Option` member as none).
        .for_serialize()
        .with_transform(WriterShape)
        .with_transform(PlainDescriptions)
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert("title".into(), title.into());
    schema.insert("description".into(), description.into());
    if let Some(v) = schema
        .pointer_mut("/properties/v")
        .and_then(Value::as_object_mut)
    {
        v.insert("const".into(), UPLINK_VERSION.into());
    }
    schema
}

/// Narrows every generated schema to what a writer produces: integers
/// within their Rust type (schemars bounds only the narrow ones), objects
/// without members beyond those listed, and no `default` (the decoder's
/// default for a missing `tag` or `forged_refused` is a reader's leniency,
/// not something to write).
#[derive(Clone, Copy)]
struct WriterShape;

impl Transform for WriterShape {
    fn transform(&mut self, schema: &mut Schema) {
        let range: Option<(Value, Value)> = match schema.get("format").and_then(Value::as_str) {
            Some("uint32") => Some((0.into(), u32::MAX.into())),
            Some("uint64") => Some((0.into(), u64::MAX.into())),
            Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
            Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
            _ => None,
        };
        if let Some((min, max)) = range {
            schema.insert("minimum".into(), min);
            schema.insert("maximum".into(), max);
        }
        if schema.get("properties").is_some() && schema.get("additionalProperties").is_none() {
            schema.insert("additionalProperties".into(), false.into());
        }
        schema.remove("default");
        transform_subschemas(self, schema);
    }
}

/// Turns the Rust docs the descriptions come from into text for readers in
/// any language: Rust examples dropped (JSON and text blocks kept),
/// intra-doc links reduced to the name they show.
#[derive(Clone, Copy)]
struct PlainDescriptions;

impl Transform for PlainDescriptions {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(Value::String(description)) = schema.get_mut("description") {
            *description = plain(description);
        }
        transform_subschemas(self, schema);
    }
}

/// `doc` without its Rust code blocks, and with every `` [`name`](path) ``
/// and `` [`name`] `` written as `` `name` `` (links to web pages stay).
fn plain(doc: &str) -> String {
    let mut text = String::new();
    // Inside a fenced block: whether it is kept (JSON and plain text are
    // for everyone; Rust examples are for Rust users).
    let mut block: Option<bool> = None;
    for line in doc.lines() {
        let fence = line.trim_start().strip_prefix("```");
        let keep = match (fence, block) {
            (Some(lang), None) => {
                let kept = matches!(lang.trim(), "json" | "text");
                block = Some(kept);
                kept
            }
            (Some(_), Some(kept)) => {
                block = None;
                kept
            }
            (None, kept) => kept.unwrap_or(true),
        };
        if keep {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut out = String::new();
    let mut rest = text.trim_end();
    while let Some((before, link)) = rest.split_once("[`") {
        let Some((name, after)) = link.split_once("`]") else {
            break;
        };
        out.push_str(before);
        rest = after;
        let web_link = rest
            .strip_prefix('(')
            .and_then(|target| target.split_once(')'))
            .filter(|(target, _)| target.contains("://"));
        if web_link.is_some() {
            out.push_str("[`");
            out.push_str(name);
            out.push_str("`]");
            continue;
        }
        out.push('`');
        out.push_str(name);
        out.push('`');
        if let Some((_, after)) = rest.strip_prefix('(').and_then(|t| t.split_once(')')) {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Exactly `N` bytes: `2N` lowercase hex digits.
impl<const N: usize> JsonSchema for HexArray<N> {
    fn schema_name() -> Cow<'static, str> {
        format!("HexArray{N}").into()
    }

    fn schema_id() -> Cow<'static, str> {
        format!("locker_proto::uplink::HexArray<{N}>").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let digits = 2 * N;
        json_schema!({
            "description": format!(
                "Exactly {N} bytes as lowercase hexadecimal, two digits per byte \
                 (readers also accept uppercase)."
            ),
            "type": "string",
            "minLength": digits,
            "maxLength": digits,
            "pattern": format!("^[0-9a-f]{{{digits}}}$"),
        })
    }
}

/// At most `N` bytes: an even number of lowercase hex digits, at most `2N`.
impl<const N: usize> JsonSchema for HexBytes<N> {
    fn schema_name() -> Cow<'static, str> {
        format!("HexBytes{N}").into()
    }

    fn schema_id() -> Cow<'static, str> {
        format!("locker_proto::uplink::HexBytes<{N}>").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": format!(
                "At most {N} bytes as lowercase hexadecimal, two digits per byte \
                 (readers also accept uppercase)."
            ),
            "type": "string",
            "maxLength": 2 * N,
            "pattern": format!("^([0-9a-f]{{2}}){{0,{N}}}$"),
        })
    }
}

/// The schema of a `heapless::String<N>` field (`#[schemars(with = …)]`):
/// text of at most `N` bytes of UTF-8. Never built.
pub(crate) struct Text<const N: usize>;

impl<const N: usize> JsonSchema for Text<N> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Text{N}").into()
    }

    fn schema_id() -> Cow<'static, str> {
        format!("locker_proto::uplink::schema::Text<{N}>").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": N,
            "$comment": format!(
                "At most {N} bytes of UTF-8; maxLength counts characters, so it bounds \
                 non-ASCII text from above only."
            ),
        })
    }
}

/// The schema of a `heapless::Vec<T, N>` field (`#[schemars(with = …)]`):
/// at most `N` elements. Never built.
pub(crate) struct List<T, const N: usize>(PhantomData<T>);

impl<T: JsonSchema, const N: usize> JsonSchema for List<T, N> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("List{N}_{}", T::schema_name()).into()
    }

    fn schema_id() -> Cow<'static, str> {
        format!(
            "locker_proto::uplink::schema::List<{}, {N}>",
            T::schema_id()
        )
        .into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": generator.subschema_for::<T>(),
            "maxItems": N,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn descriptions_keep_json_and_text_and_lose_rust_examples_and_link_targets() {
        let doc = "An id; see [`DedupWindow`](super::DedupWindow) and [`Verdict`].\n\n\
                   ```\nlet x = 1;\n```\nIn JSON:\n```json\n{\"v\": 1}\n```\n\
                   [`postcard`](https://postcard.jamesmunns.com) stays a link.";
        assert_eq!(
            plain(doc),
            "An id; see `DedupWindow` and `Verdict`.\n\nIn JSON:\n```json\n{\"v\": 1}\n```\n\
             [`postcard`](https://postcard.jamesmunns.com) stays a link."
        );
    }
}
