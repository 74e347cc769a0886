//! Presence messages: `GET /ws/presence`.
//!
//! ```text
//! client -> worker   announce{channels<=32} | subscribe{channels<=256} | ping
//! worker -> client   presence{channel,online} | pong | error{code,message}
//! ```
//! Each `announce` (and each `subscribe`) replaces the connection's previous list.
use serde::{Deserialize, Serialize};

use crate::parse::{parse_bytes, parse_str, Field, Schema};
use crate::{ChannelId, ProtocolError, Version, MAX_ANNOUNCE_CHANNELS, MAX_SUBSCRIBE_CHANNELS};

/// What a client sends on a presence socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PresenceClientMessage {
    /// "I am online on these channels" (replaces the previous announce).
    Announce {
        v: Version,
        channels: Vec<ChannelId>,
    },
    /// "Tell me when these channels go online or offline" (replaces the previous subscribe).
    Subscribe {
        v: Version,
        channels: Vec<ChannelId>,
    },
    Ping {
        v: Version,
    },
}

const CLIENT_SCHEMAS: &[Schema] = &[
    Schema {
        ty: "announce",
        fields: &[("channels", Field::Channels(MAX_ANNOUNCE_CHANNELS))],
    },
    Schema {
        ty: "subscribe",
        fields: &[("channels", Field::Channels(MAX_SUBSCRIBE_CHANNELS))],
    },
    Schema {
        ty: "ping",
        fields: &[],
    },
];

impl PresenceClientMessage {
    /// Parses a text frame; never panics.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        parse_str(text, CLIENT_SCHEMAS)
    }

    /// Parses raw frame bytes; never panics.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        parse_bytes(bytes, CLIENT_SCHEMAS)
    }

    /// Serializes to the wire form.
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        serde_json::to_string(self).map_err(|_| ProtocolError::Internal)
    }
}

/// What the worker sends on a presence socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PresenceServerMessage {
    Presence {
        v: Version,
        channel: ChannelId,
        online: bool,
    },
    Pong {
        v: Version,
    },
    Error {
        v: Version,
        code: String,
        message: String,
    },
}

const SERVER_SCHEMAS: &[Schema] = &[
    Schema {
        ty: "presence",
        fields: &[("channel", Field::Other), ("online", Field::Other)],
    },
    Schema {
        ty: "pong",
        fields: &[],
    },
    Schema {
        ty: "error",
        fields: &[("code", Field::Other), ("message", Field::Other)],
    },
];

impl PresenceServerMessage {
    /// Parses a text frame from the worker; never panics.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        parse_str(text, SERVER_SCHEMAS)
    }

    /// Serializes to the wire form.
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        serde_json::to_string(self).map_err(|_| ProtocolError::Internal)
    }

    /// The `error` message for `e`.
    pub fn error(e: ProtocolError) -> Self {
        Self::Error {
            v: Version,
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }

    pub fn presence(channel: ChannelId, online: bool) -> Self {
        Self::Presence {
            v: Version,
            channel,
            online,
        }
    }

    pub fn pong() -> Self {
        Self::Pong { v: Version }
    }
}
