//! Application events. The `type` of each is the name of the `Call` event the bridge
//! dispatches (its other fields are the event's `detail`), except the four that settle a
//! promise instead: `joined` and `join-failed` (`joinCall`), `chat-sent` and `chat-failed`
//! (`sendChat`).
use serde::Serialize;
use sotto_protocol::PeerId;

use crate::crypto::SafetyState;
use crate::error::CallError;
use crate::input::PcState;

/// Why a participant left (`participant-left`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaveReason {
    /// The server said so (or a rejoin grace ran out).
    Left,
    /// The media path stayed down past `peerTimeoutMs`.
    Vanished,
    /// The same peer id came back with another identity key.
    Replaced,
    /// An unusable roster entry (bad identity key, bad or own peer id).
    Rejected,
}

/// Whether this participant holds a usable key from a peer (`participant-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// No key yet, and not yet overdue (never emitted).
    New,
    /// A key from the peer is here: its media and chat can be decrypted.
    Ready,
    /// Connected for `keyWaitMs` without a usable key from the peer (it is being asked).
    WaitingForKeys,
}

/// `signaling-state`'s `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalingPhase {
    Reconnecting,
    /// A deliberate rejoin after every peer vanished.
    Resyncing,
    Connected,
}

/// Why `verified-key-changed` fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifiedKeyChange {
    KeyChanged,
    UnverifiedJoined,
}

impl VerifiedKeyChange {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyChanged => "key-changed",
            Self::UnverifiedJoined => "unverified-joined",
        }
    }
}

/// One event for the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AppEvent {
    /// The first welcome was handled: `joinCall` resolves.
    Joined,
    /// The join failed (refused by the server, or no connection): `joinCall` rejects with
    /// this error; the core has closed itself (a `closed` event follows).
    JoinFailed {
        error: CallError,
    },
    /// A participant whose sealed identity opened (the server cannot invent one): its
    /// identity key, whether it is verified, and its display name if one came already.
    ParticipantJoined {
        peer: PeerId,
        identity: String,
        verified: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A participant's display name arrived or changed (it travels sealed).
    ParticipantName {
        peer: PeerId,
        name: String,
    },
    ParticipantLeft {
        peer: PeerId,
        reason: LeaveReason,
    },
    ParticipantState {
        peer: PeerId,
        state: KeyState,
    },
    ConnectionState {
        peer: PeerId,
        state: PcState,
    },
    IceRestart {
        peer: PeerId,
        attempt: u32,
    },
    /// `peer` (this participant's own id too) moved to a new sender key.
    KeyEpoch {
        peer: PeerId,
        epoch: u64,
    },
    /// The safety code: `verifying` (no code yet: `words` empty, `hex` empty), `ready` (5 words
    /// and the 64 hex digits to compare), or `failed` (a reveal did not match).
    SafetyCode {
        words: Vec<String>,
        hex: String,
        state: SafetyState,
    },
    /// `setVerified(peer, verified)` took effect (verification belongs to the identity key).
    VerificationChanged {
        peer: PeerId,
        identity: String,
        verified: bool,
    },
    /// A warning: a participant verified before came back with another identity key
    /// (`key-changed`, `previous` is the verified key), or an unverified participant joined a
    /// call in which someone was verified (`unverified-joined`). An `error` event with code
    /// `verified-key-changed` goes with it.
    VerifiedKeyChanged {
        peer: PeerId,
        identity: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
        reason: VerifiedKeyChange,
    },
    SignalingState {
        state: SignalingPhase,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
    },
    Chat {
        from: PeerId,
        text: String,
    },
    /// `sendChat` resolves with `delivered`.
    ChatSent {
        request: u64,
        delivered: u32,
    },
    /// `sendChat` rejects with `error`.
    ChatFailed {
        request: u64,
        error: CallError,
    },
    /// An `error` event; the call goes on.
    Error(CallError),
    /// The call is over: the bridge stops the Worker and everything else.
    Closed,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn events_are_named_as_the_call_events() {
        let peer = PeerId::parse("p").unwrap();
        let json = |e: &AppEvent| serde_json::to_string(e).unwrap();
        assert_eq!(
            json(&AppEvent::ParticipantLeft {
                peer: peer.clone(),
                reason: LeaveReason::Vanished
            }),
            r#"{"type":"participant-left","peer":"p","reason":"vanished"}"#
        );
        assert_eq!(
            json(&AppEvent::SignalingState {
                state: SignalingPhase::Reconnecting,
                code: Some(1006)
            }),
            r#"{"type":"signaling-state","state":"reconnecting","code":1006}"#
        );
        assert_eq!(
            json(&AppEvent::SafetyCode {
                words: vec!["w".into()],
                hex: "0a".into(),
                state: SafetyState::Ready,
            }),
            r#"{"type":"safety-code","words":["w"],"hex":"0a","state":"ready"}"#
        );
        assert_eq!(
            json(&AppEvent::VerifiedKeyChanged {
                peer: peer.clone(),
                identity: "K2".into(),
                previous: Some("K1".into()),
                reason: VerifiedKeyChange::KeyChanged,
            }),
            r#"{"type":"verified-key-changed","peer":"p","identity":"K2","previous":"K1","reason":"key-changed"}"#
        );
        assert_eq!(
            json(&AppEvent::ParticipantJoined {
                peer: peer.clone(),
                identity: "K".into(),
                verified: false,
                name: None,
            }),
            r#"{"type":"participant-joined","peer":"p","identity":"K","verified":false}"#
        );
        assert_eq!(
            json(&AppEvent::Error(CallError::new(ErrorCode::NoPeers, "x"))),
            r#"{"type":"error","code":"no-peers","message":"x"}"#
        );
        assert_eq!(
            json(&AppEvent::ParticipantState {
                peer,
                state: KeyState::WaitingForKeys
            }),
            r#"{"type":"participant-state","peer":"p","state":"waiting-for-keys"}"#
        );
    }
}
