//! Errors the core reports (`error` events, a refused join, a refused chat), each with a
//! stable code string: the ones `client-wasm/README.md` documents, a server's own code passed
//! on, or a crypto Worker code passed on.
use serde::{Serialize, Serializer};
use sotto_protocol::{PeerId, ProtocolError};

use crate::crypto::CryptoErrorCode;
use crate::MediaKind;

/// A stable error code. Serializes as its [`ErrorCode::code`] string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A command was wrong (empty chat text, ...).
    BadArgument,
    /// The signaling server could not be reached before the first welcome.
    SignalingUnavailable,
    /// The server refused or reported an error whose code is not a known protocol code.
    ServerError,
    /// The server sent something that is not a valid protocol message.
    BadServerMessage,
    /// The call was closed.
    Closed,
    /// Chat with nobody connected to receive it.
    NoPeers,
    /// Chat text over 16 KiB.
    ChatTooLarge,
    /// A peer's payload was malformed or out of place.
    BadPeerMessage,
    /// A chat frame was not binary, or too large.
    BadChatMessage,
    /// A key from a peer was refused (when the crypto Worker gave no code of its own).
    KeyExchangeFailed,
    /// A chat message was dropped (its key never came, too many waiting, or refused).
    ChatRejected,
    /// A sender was sending media its encrypt transform had not seen; it was stopped.
    UnencryptedMediaBlocked,
    /// A peer did not acknowledge this participant's key after every re-send.
    KeyNotAcknowledged,
    /// The server announced a participant who cannot be in the call (own id, duplicate,
    /// unusable identity key); that entry was left out.
    BadRosterEntry,
    /// A WebRTC operation the core asked for failed (a description refused, ...).
    NegotiationFailed,
    /// The server announced a participant whose sealed identity does not open with the room
    /// secret (it was made up, moved to another peer id, or altered): ignored, counted.
    ForgedParticipant,
    /// A sealed envelope from a peer did not open (altered, reflected, from another room, pair
    /// or identity, malformed): dropped, counted. `reason` is the crypto code.
    EnvelopeRejected,
    /// An authentic envelope came again (its sequence number was not above the last one
    /// accepted from that peer): dropped, counted.
    EnvelopeReplayed,
    /// A verified participant's identity key changed, or an unverified participant joined a
    /// call in which someone was verified (`reason`: `key-changed`, `unverified-joined`).
    VerifiedKeyChanged,
    /// Something inside failed (a message could not be built, a reply had the wrong shape).
    Internal,
    /// A server's own `error` code (`room-full`, `origin-not-allowed`, ...).
    Server(ProtocolError),
    /// A crypto Worker code (`stale-epoch`, `rotation-incomplete`, ...).
    Crypto(CryptoErrorCode),
}

impl ErrorCode {
    /// The stable string.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadArgument => "bad-argument",
            Self::SignalingUnavailable => "signaling-unavailable",
            Self::ServerError => "server-error",
            Self::BadServerMessage => "bad-server-message",
            Self::Closed => "closed",
            Self::NoPeers => "no-peers",
            Self::ChatTooLarge => "chat-too-large",
            Self::BadPeerMessage => "bad-peer-message",
            Self::BadChatMessage => "bad-chat-message",
            Self::KeyExchangeFailed => "key-exchange-failed",
            Self::ChatRejected => "chat-rejected",
            Self::UnencryptedMediaBlocked => "unencrypted-media-blocked",
            Self::KeyNotAcknowledged => "key-not-acknowledged",
            Self::BadRosterEntry => "bad-roster-entry",
            Self::NegotiationFailed => "negotiation-failed",
            Self::ForgedParticipant => "forged-participant",
            Self::EnvelopeRejected => "envelope-rejected",
            Self::EnvelopeReplayed => "envelope-replayed",
            Self::VerifiedKeyChanged => "verified-key-changed",
            Self::Internal => "internal",
            Self::Server(e) => e.code(),
            Self::Crypto(c) => c.code(),
        }
    }

    /// The code for a server's `error{code}`: a known protocol code, else `server-error`.
    pub fn from_server(code: &str) -> Self {
        ProtocolError::from_code(code).map_or(Self::ServerError, Self::Server)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// An error for the application: a code, a fixed message (never user data), and what it is
/// about where that matters (`peer`, `kind`, `reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<MediaKind>,
    /// For `bad-roster-entry`: `own-peer-id`, `bad-peer-id`, `duplicate-peer`, `bad-identity`,
    /// `too-many-peers`; for `envelope-rejected`: the crypto code; for `verified-key-changed`:
    /// `key-changed` or `unverified-joined`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl CallError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            peer: None,
            kind: None,
            reason: None,
        }
    }

    pub fn about(mut self, peer: &PeerId) -> Self {
        self.peer = Some(peer.clone());
        self
    }

    pub fn with_kind(mut self, kind: MediaKind) -> Self {
        self.kind = Some(kind);
        self
    }

    pub fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_strings() {
        assert_eq!(
            ErrorCode::UnencryptedMediaBlocked.code(),
            "unencrypted-media-blocked"
        );
        assert_eq!(
            ErrorCode::from_server("room-full"),
            ErrorCode::Server(ProtocolError::RoomFull)
        );
        assert_eq!(ErrorCode::from_server("made-up").code(), "server-error");
        assert_eq!(
            ErrorCode::Crypto(CryptoErrorCode::StaleEpoch).code(),
            "stale-epoch"
        );
        let e = CallError::new(ErrorCode::BadRosterEntry, "left out")
            .about(&PeerId::parse("p1").unwrap())
            .because("own-peer-id");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"bad-roster-entry","message":"left out","peer":"p1","reason":"own-peer-id"}"#
        );
    }
}
