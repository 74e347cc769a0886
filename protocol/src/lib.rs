//! Sotto's wire protocol, version 2 (`docs/wire-protocol.md` is the contract).
//!
//! ```text
//!   browser client  --- room.rs / presence.rs (JSON over WebSocket) ---  signaling worker
//!        |                                                                (opaque relay)
//!        '--- peer.rs (PeerPayload, inside `signal.payload`) ---> other browser clients
//! ```
//!
//! Every message is one JSON object with `"v": 2` and a `"type"`; unknown fields, unknown types
//! and other versions (a version 1 client gets `unsupported-version`) are rejected with a typed
//! [`ProtocolError`] whose [`ProtocolError::code`] is the stable string sent in `error`
//! messages. The parse functions never panic.
//!
//! Version 2 (issues 13 and 14) changes no message shape: the `identity` of `join` and of
//! roster entries is a sealed identity (opaque to the worker: only holders of the room secret
//! open it), and every `signal.payload` is a sealed envelope (base64url) that only its
//! recipient opens; the [`peer::PeerPayload`] inside gains the safety-code rounds and the
//! display name.

pub mod b64;
mod codec;
mod error;
mod ids;
pub mod json;
mod parse;
pub mod peer;
pub mod presence;
pub mod room;
mod version;

pub use error::ProtocolError;
pub use ids::{ChannelId, Identity, Payload, PeerId, RoomId};
pub use version::Version;

/// The one protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 2;
/// [`PROTOCOL_VERSION`] as the `"v"` field writes it (the parser compares the raw text).
pub(crate) const PROTOCOL_VERSION_TEXT: &str = "2";
/// Largest text frame accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 65_536;
/// Largest `signal.payload`, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 60_000;
/// At most this many channels in one `announce`.
pub const MAX_ANNOUNCE_CHANNELS: usize = 32;
/// At most this many channels in one `subscribe`.
pub const MAX_SUBSCRIBE_CHANNELS: usize = 256;
