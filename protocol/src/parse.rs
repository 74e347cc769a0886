//! The strict parser shared by every message family.
//!
//! Two passes over at most 65,536 bytes: a first pass reads the top-level object as raw
//! fields, so that each refusal gets its own code (version, type, unknown or duplicate field,
//! bad id); the second pass is the plain serde derive of the typed message, which is the
//! authority on structure (missing fields and wrong types end up as `invalid-message`).
use std::collections::HashSet;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::{ChannelId, Identity, Payload, PeerId, ProtocolError, MAX_MESSAGE_BYTES};

/// How the first pass checks one field (the second pass checks everything again).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    PeerId,
    Identity,
    Payload,
    /// A list of channel ids, at most this many.
    Channels(usize),
    /// Checked by the typed pass only.
    Other,
}

/// One message type: its `"type"` string and its fields besides `v` and `type`.
pub(crate) struct Schema {
    pub ty: &'static str,
    pub fields: &'static [(&'static str, Field)],
}

/// `ping` (client to worker), in every family.
pub(crate) const PING: Schema = Schema {
    ty: "ping",
    fields: &[],
};
/// `pong` (worker to client), in every family.
pub(crate) const PONG: Schema = Schema {
    ty: "pong",
    fields: &[],
};
/// `error{code,message}` (worker to client), in every family.
pub(crate) const ERROR: Schema = Schema {
    ty: "error",
    fields: &[("code", Field::Other), ("message", Field::Other)],
};

/// The raw top-level fields of an object, in order, duplicates kept.
struct RawFields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((key, value));
                }
                Ok(RawFields(out))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn json_error(e: &serde_json::Error) -> ProtocolError {
    match e.classify() {
        serde_json::error::Category::Data => ProtocolError::InvalidMessage,
        _ => ProtocolError::MalformedJson,
    }
}

fn string_field(raw: &RawValue) -> Result<String, ProtocolError> {
    serde_json::from_str::<String>(raw.get()).map_err(|_| ProtocolError::InvalidMessage)
}

fn check_field(kind: Field, raw: &RawValue) -> Result<(), ProtocolError> {
    match kind {
        Field::PeerId => PeerId::parse(&string_field(raw)?).map(drop),
        Field::Identity => Identity::parse(&string_field(raw)?).map(drop),
        Field::Payload => Payload::new(string_field(raw)?).map(drop),
        Field::Channels(max) => {
            let items: Vec<&RawValue> =
                serde_json::from_str(raw.get()).map_err(|_| ProtocolError::InvalidMessage)?;
            if items.len() > max {
                return Err(ProtocolError::TooManyChannels);
            }
            for item in items {
                ChannelId::parse(&string_field(item)?)?;
            }
            Ok(())
        }
        Field::Other => Ok(()),
    }
}

/// Parses one message from bytes (a text frame's contents).
pub(crate) fn parse_bytes<T: DeserializeOwned>(
    bytes: &[u8],
    schemas: &[Schema],
) -> Result<T, ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::MessageTooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ProtocolError::NotUtf8)?;
    parse_str(text, schemas)
}

/// Parses one message from text.
pub(crate) fn parse_str<T: DeserializeOwned>(
    text: &str,
    schemas: &[Schema],
) -> Result<T, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::MessageTooLarge);
    }
    let RawFields(fields) = serde_json::from_str(text).map_err(|e| json_error(&e))?;

    let mut seen = HashSet::with_capacity(fields.len());
    if !fields.iter().all(|(k, _)| seen.insert(k.as_str())) {
        return Err(ProtocolError::DuplicateField);
    }
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);

    match get("v") {
        Some(v) if v.get().trim() == crate::PROTOCOL_VERSION_TEXT => {}
        _ => return Err(ProtocolError::UnsupportedVersion),
    }
    let ty = string_field(get("type").ok_or(ProtocolError::InvalidMessage)?)?;
    let fields = fields.iter().map(|(name, raw)| (name.as_str(), *raw));
    check_schema(schemas, &ty, fields, check_field)?;
    serde_json::from_str(text).map_err(|_| ProtocolError::InvalidMessage)
}

/// The schema of message type `ty`, once every field but `v` and `type` is one it lists and
/// passes `check` for its kind: the rule this parser and the hand-written codec share.
pub(crate) fn check_schema<'s, 'a, R>(
    schemas: &'s [Schema],
    ty: &str,
    fields: impl IntoIterator<Item = (&'a str, R)>,
    check: impl Fn(Field, R) -> Result<(), ProtocolError>,
) -> Result<&'s Schema, ProtocolError> {
    let schema = schemas
        .iter()
        .find(|s| s.ty == ty)
        .ok_or(ProtocolError::UnknownType)?;
    for (name, raw) in fields {
        if name == "v" || name == "type" {
            continue;
        }
        let (_, kind) = schema
            .fields
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or(ProtocolError::UnknownField)?;
        check(*kind, raw)?;
    }
    Ok(schema)
}

/// Gives a message enum the strict wire methods every family shares: `parse` (text),
/// `parse_bytes` (raw frame bytes: size, then UTF-8) and `to_json`, over its `Schema` table.
macro_rules! strict_wire_message {
    ($ty:ty, $schemas:expr, server) => {
        $crate::parse::strict_wire_message!($ty, $schemas);
        $crate::parse::server_replies!($ty);
    };
    ($ty:ty, $schemas:expr) => {
        impl $ty {
            /// Parses a text frame; never panics.
            pub fn parse(text: &str) -> Result<Self, $crate::ProtocolError> {
                $crate::parse::parse_str(text, $schemas)
            }

            /// Parses raw frame bytes (checks size, then UTF-8); never panics.
            pub fn parse_bytes(bytes: &[u8]) -> Result<Self, $crate::ProtocolError> {
                $crate::parse::parse_bytes(bytes, $schemas)
            }

            /// Serializes to the wire form.
            pub fn to_json(&self) -> Result<String, $crate::ProtocolError> {
                serde_json::to_string(self).map_err(|_| $crate::ProtocolError::Internal)
            }
        }
    };
}
pub(crate) use strict_wire_message;

/// The `error` and `pong` replies every worker-to-client family has (its
/// `Error { v, code, message }` and `Pong { v }` variants).
macro_rules! server_replies {
    ($ty:ty) => {
        impl $ty {
            /// The `error` message for `e`: its stable code and fixed text.
            pub fn error(e: $crate::ProtocolError) -> Self {
                Self::Error {
                    v: $crate::Version,
                    code: e.code().to_owned(),
                    message: e.to_string(),
                }
            }

            pub fn pong() -> Self {
                Self::Pong { v: $crate::Version }
            }
        }
    };
}
pub(crate) use server_replies;
