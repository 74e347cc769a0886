//! Room messages: `GET /ws/room/<room-id>`.
//!
//! ```text
//! client -> worker   join{peer,identity} (first, once) | signal{to,payload} | ping | leave
//! worker -> client   welcome{you,peers,max_peers} | peer-joined{peer} | peer-left{peer}
//!                    | signal{from,to,payload} | pong | error{code,message}
//! ```
use serde::{Deserialize, Serialize};

use crate::parse::{server_replies, Field, Schema, ERROR, PING, PONG};
use crate::{Identity, Payload, PeerId, Version};

/// A member of a room as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerInfo {
    pub peer: PeerId,
    pub identity: Identity,
}

/// What a client sends on a room socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message, once: enter the room as `peer`.
    Join {
        v: Version,
        peer: PeerId,
        identity: Identity,
    },
    /// Relay `payload` to peer `to` in the same room.
    Signal {
        v: Version,
        to: PeerId,
        payload: Payload,
    },
    /// Keepalive; answered with `pong`.
    Ping { v: Version },
    /// Leave the room; the worker closes the socket.
    Leave { v: Version },
}

const CLIENT_SCHEMAS: &[Schema] = &[
    Schema {
        ty: "join",
        fields: &[("peer", Field::PeerId), ("identity", Field::Identity)],
    },
    Schema {
        ty: "signal",
        fields: &[("to", Field::PeerId), ("payload", Field::Payload)],
    },
    PING,
    Schema {
        ty: "leave",
        fields: &[],
    },
];

impl ClientMessage {
    /// Parses a text frame; never panics.
    pub fn parse(text: &str) -> Result<Self, crate::ProtocolError> {
        crate::parse::parse_str(text, CLIENT_SCHEMAS)
    }

    /// Parses raw frame bytes (checks size, then UTF-8); never panics.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, crate::ProtocolError> {
        crate::parse::parse_bytes(bytes, CLIENT_SCHEMAS)
    }

    /// Serializes to the wire form (by the hand-written codec: the same bytes as serde_json
    /// writes from the derive, see `tests/codec_differential.rs`).
    pub fn to_json(&self) -> Result<String, crate::ProtocolError> {
        Ok(crate::codec::client_message(self))
    }

    /// The wire form as the serde derive writes it (what `to_json` is checked against).
    #[doc(hidden)]
    pub fn to_json_serde(&self) -> Result<String, crate::ProtocolError> {
        serde_json::to_string(self).map_err(|_| crate::ProtocolError::Internal)
    }
}

impl ClientMessage {
    pub fn join(peer: PeerId, identity: Identity) -> Self {
        Self::Join {
            v: Version,
            peer,
            identity,
        }
    }

    pub fn signal(to: PeerId, payload: Payload) -> Self {
        Self::Signal {
            v: Version,
            to,
            payload,
        }
    }

    pub fn ping() -> Self {
        Self::Ping { v: Version }
    }

    pub fn leave() -> Self {
        Self::Leave { v: Version }
    }
}

/// What the worker sends on a room socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ServerMessage {
    /// Answer to `join`: who is already here (not including `you`).
    Welcome {
        v: Version,
        you: PeerId,
        peers: Vec<PeerInfo>,
        max_peers: u32,
    },
    PeerJoined {
        v: Version,
        peer: PeerInfo,
    },
    PeerLeft {
        v: Version,
        peer: PeerId,
    },
    /// A relayed signal; `from` is set by the worker from the sender's joined peer id.
    Signal {
        v: Version,
        from: PeerId,
        to: PeerId,
        payload: Payload,
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

pub(crate) const SERVER_SCHEMAS: &[Schema] = &[
    Schema {
        ty: "welcome",
        fields: &[
            ("you", Field::PeerId),
            ("peers", Field::Other),
            ("max_peers", Field::Other),
        ],
    },
    Schema {
        ty: "peer-joined",
        fields: &[("peer", Field::Other)],
    },
    Schema {
        ty: "peer-left",
        fields: &[("peer", Field::PeerId)],
    },
    Schema {
        ty: "signal",
        fields: &[
            ("from", Field::PeerId),
            ("to", Field::PeerId),
            ("payload", Field::Payload),
        ],
    },
    PONG,
    ERROR,
];

server_replies!(ServerMessage);

impl ServerMessage {
    /// Parses a text frame; never panics. The client's parser is the hand-written codec
    /// (`codec.rs`: no serde buffering in the page's wasm); it gives the same answers as the
    /// serde derive ([`ServerMessage::parse_serde`]), checked by `tests/codec_differential.rs`.
    pub fn parse(text: &str) -> Result<Self, crate::ProtocolError> {
        crate::codec::server_message(text)
    }

    /// Parses raw frame bytes (checks size, then UTF-8); never panics.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, crate::ProtocolError> {
        if bytes.len() > crate::MAX_MESSAGE_BYTES {
            return Err(crate::ProtocolError::MessageTooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| crate::ProtocolError::NotUtf8)?;
        Self::parse(text)
    }

    /// The strict parser over the serde derive (`parse.rs`), which `parse` must agree with.
    #[doc(hidden)]
    pub fn parse_serde(text: &str) -> Result<Self, crate::ProtocolError> {
        crate::parse::parse_str(text, SERVER_SCHEMAS)
    }

    /// Serializes to the wire form.
    pub fn to_json(&self) -> Result<String, crate::ProtocolError> {
        serde_json::to_string(self).map_err(|_| crate::ProtocolError::Internal)
    }
}
