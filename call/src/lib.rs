//! # sotto-call
//!
//! Sotto's call core, sans I/O: everything a participant decides during a call (who is in
//! it, who offers, how negotiation and ICE recover, when keys rotate, what every wire message
//! says, when to give up on a peer, when media must be stopped) as one state machine, with
//! no browser, clock, socket or randomness inside.
//!
//! ```text
//!   JS bridge (WebSocket, RTCPeerConnection, crypto Worker, events)
//!      │ handle(Input, now)        ▲ poll_action() -> Action
//!      │ handle_timeout(now)       │ poll_timeout() -> Option<ms>
//!      ▼                           │
//!   CallCore ── signaling ── roster ── negotiate/recovery ── rotation ── chat ── invariant
//!      │ every wire message: sotto-protocol (room messages, PeerPayload)
//!      └ keys: CryptoRequest / CryptoResult to the crypto Worker (keys never come here)
//! ```
//!
//! | module          | concept                                                            |
//! |-----------------|--------------------------------------------------------------------|
//! | [`input`]       | what happens (server text, socket, WebRTC, crypto results, commands) |
//! | [`action`]      | what the bridge must do                                            |
//! | [`event`]       | application events (`Call` events, promise settlements)            |
//! | [`crypto`]      | requests to and results from the crypto Worker                     |
//! | [`error`]       | error codes (stable strings)                                       |
//! | [`config`]      | timing and media options                                           |
//! | [`sdp`]         | audio privacy in descriptions (CBR Opus, no audio-level extension)  |
//! | [`recovery`]    | ICE restart back-off and the vanish clock of one connection       |
//! | [`roster`]      | welcome reconciliation                                             |
//! | [`rotation`]    | two-phase sender-key rotation, re-sends, key requests               |
//! | [`chat`]        | incoming chat in order, waiting briefly for keys                   |
//! | [`invariant`]   | the fail-open invariant (sent vs seen by the encrypt transform)    |
//! | `signaling`     | the room socket: join, keepalive, reconnect with jitter            |
//! | `connection`, `peer` | per-connection and per-participant state                      |
//!
//! Time is milliseconds from any monotonic origin (`performance.now()`); it never goes
//! backwards inside the core (a smaller `now` is taken as the last one).

pub mod action;
mod backoff;
pub mod chat;
pub mod config;
mod connection;
mod core;
pub mod crypto;
pub mod error;
pub mod event;
mod ids;
pub mod input;
pub mod invariant;
mod peer;
pub mod recovery;
pub mod roster;
pub mod rotation;
pub mod sdp;
mod signaling;
use sotto_vecmap as vecmap;

pub use action::{Action, Role};
pub use config::{Config, Privacy, ReconnectConfig};
pub use core::{CallCore, CoreStats, ParticipantInfo};
pub use crypto::{CryptoRequest, CryptoResult};
pub use error::{CallError, ErrorCode};
pub use event::{AppEvent, KeyState, LeaveReason, SignalingPhase, VerifiedKeyChange};
pub use ids::{Bytes, ConnId, MediaKind, RequestId, SocketId};
pub use input::{IceCandidate, Input, PcState, PeerOp, SdpKind, SenderSample};
