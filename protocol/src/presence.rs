//! Presence messages: `GET /ws/presence`.
//!
//! ```text
//! client -> worker   announce{channels<=32} | subscribe{channels<=256} | ping
//! worker -> client   presence{channel,online} | pong | error{code,message}
//! ```
//! Each `announce` (and each `subscribe`) replaces the connection's previous list.
use serde::{Deserialize, Serialize};

use crate::parse::{strict_wire_message, Field, Schema, ERROR, PING, PONG};
use crate::{ChannelId, Version, MAX_ANNOUNCE_CHANNELS, MAX_SUBSCRIBE_CHANNELS};

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
    PING,
];

strict_wire_message!(PresenceClientMessage, CLIENT_SCHEMAS);

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
    PONG,
    ERROR,
];

strict_wire_message!(PresenceServerMessage, SERVER_SCHEMAS, server);

impl PresenceServerMessage {
    pub fn presence(channel: ChannelId, online: bool) -> Self {
        Self::Presence {
            v: Version,
            channel,
            online,
        }
    }
}
