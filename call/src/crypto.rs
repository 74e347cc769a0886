//! The boundary to the crypto Worker: what the core asks (`Action::Crypto`) and what comes
//! back (`Input::Crypto`). The core never holds a key; sealed keys travel through it as
//! opaque base64url bytes, exactly as the Worker's `CallCrypto` takes and returns them.
//!
//! Requests are answered in the order they were made (one Worker, one message queue); the
//! core relies on that for `SetRoster` followed by `ReceiveKey`, and on nothing else.
//!
//! Both cross between two wasm modules as JSON, externally tagged (`{"receive-key":{"from":
//! "a","key":"AQID"}}`): serde reads that form without buffering the whole value first,
//! which an internally tagged form (`{"op":"receive-key",...}`) needs, and that buffering is
//! the largest piece of code in either module.
use serde::{Deserialize, Serialize};
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::room::PeerInfo;
use sotto_protocol::PeerId;

use crate::Bytes;

/// What the core asks the crypto Worker to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum CryptoRequest {
    /// `setRoster(roster, now)`, then `safetyCode()`: a new pending sender key sealed to
    /// every valid entry. Answered with [`CryptoResult::Roster`].
    SetRoster { roster: Vec<PeerInfo> },
    /// `acknowledge(from, epoch)`. Answered with [`CryptoResult::Acknowledged`].
    Acknowledge { from: PeerId, epoch: u64 },
    /// `commitSenderKey()`, but only if `pendingEpoch === epoch` (else nothing changes).
    /// Answered with [`CryptoResult::Committed`] carrying `senderEpoch`.
    Commit { epoch: u64 },
    /// `resealFor(peer)`. Answered with [`CryptoResult::Resealed`].
    Reseal { peer: PeerId },
    /// `receiveKey(from, key, now)`. Answered with [`CryptoResult::KeyReceived`].
    ReceiveKey { from: PeerId, key: B64UrlBytes },
    /// For each peer: `hasKeyFrom(peer, now)`, the newest epoch held from it
    /// (`GroupKeys::receive_epochs(peer)[0]`), and `stats().peers[peer].dropped_unknown_key`
    /// (frames from it that no key held opened: a key is missing even if an older one is
    /// held). Answered with [`CryptoResult::KeysHeld`].
    KeysFrom { peers: Vec<PeerId> },
    /// `sealChat(utf8(text))`. Answered with [`CryptoResult::ChatSealed`].
    SealChat { text: String },
    /// `openChat(from, sealed, now)`, decoded as UTF-8 (fatal). Answered with
    /// [`CryptoResult::ChatOpened`].
    OpenChat { from: PeerId, sealed: Bytes },
}

/// One sealed key for one peer (`setRoster`'s `messages[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyMessage {
    pub to: PeerId,
    pub key: B64UrlBytes,
}

/// Why `setRoster` left an entry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    OwnPeerId,
    BadPeerId,
    DuplicatePeer,
    BadIdentity,
}

impl RejectReason {
    const ALL: [Self; 4] = [
        Self::OwnPeerId,
        Self::BadPeerId,
        Self::DuplicatePeer,
        Self::BadIdentity,
    ];

    /// The reason for a `setRoster` rejection code, if it is one of these.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OwnPeerId => "own-peer-id",
            Self::BadPeerId => "bad-peer-id",
            Self::DuplicatePeer => "duplicate-peer",
            Self::BadIdentity => "bad-identity",
        }
    }
}

/// One entry `setRoster` left out (`rejected[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    pub peer: PeerId,
    pub reason: RejectReason,
}

/// One peer in [`CryptoResult::KeysHeld`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHolding {
    pub peer: PeerId,
    /// A usable key from the peer is held.
    pub held: bool,
    /// The newest epoch held from the peer.
    #[serde(default)]
    pub epoch: Option<u64>,
    /// Frames from the peer dropped for want of a key, so far.
    pub dropped_unknown_key: u64,
}

/// The safety code (`safetyCode()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyCode {
    pub digits: String,
    pub words: Vec<String>,
}

/// What the crypto Worker answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum CryptoResult {
    Roster {
        /// The new key's epoch: pending, or current when `committed`.
        epoch: u64,
        /// True when the roster had no valid peer: the key is in use at once.
        committed: bool,
        messages: Vec<KeyMessage>,
        rejected: Vec<Rejection>,
        safety_code: SafetyCode,
    },
    Acknowledged {
        complete: bool,
    },
    Committed {
        /// The epoch now used for sending (`senderEpoch`).
        epoch: u64,
    },
    Resealed {
        to: PeerId,
        key: B64UrlBytes,
        epoch: u64,
    },
    KeyReceived {
        epoch: u64,
        duplicate: bool,
    },
    KeysHeld {
        /// The asked peers, each with whether a usable key is held and its drop counter.
        peers: Vec<KeyHolding>,
    },
    ChatSealed {
        sealed: Bytes,
    },
    ChatOpened {
        text: String,
    },
    /// The operation threw: its stable `.code`, and its message.
    Failed {
        code: CryptoErrorCode,
        #[serde(default)]
        message: String,
    },
}

/// The crypto Worker's error codes (`e2ee` and the bridge); any other string reads as
/// `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CryptoErrorCode {
    BadEncoding,
    BadPublicKey,
    BadPeerId,
    BadKeyMessage,
    UnknownPeer,
    WrongSenderIdentity,
    StaleEpoch,
    UnknownKey,
    ReplayedFrame,
    AuthenticationFailed,
    MalformedFrame,
    FrameTooLarge,
    MalformedChat,
    CounterExhausted,
    RotationIncomplete,
    ChatKeyPending,
    BadArgument,
    NotInitialised,
    UnknownOperation,
    Internal,
    #[serde(other)]
    Unknown,
}

impl CryptoErrorCode {
    const ALL: [Self; 20] = [
        Self::BadEncoding,
        Self::BadPublicKey,
        Self::BadPeerId,
        Self::BadKeyMessage,
        Self::UnknownPeer,
        Self::WrongSenderIdentity,
        Self::StaleEpoch,
        Self::UnknownKey,
        Self::ReplayedFrame,
        Self::AuthenticationFailed,
        Self::MalformedFrame,
        Self::FrameTooLarge,
        Self::MalformedChat,
        Self::CounterExhausted,
        Self::RotationIncomplete,
        Self::ChatKeyPending,
        Self::BadArgument,
        Self::NotInitialised,
        Self::UnknownOperation,
        Self::Internal,
    ];

    /// The variant for an error code the crypto Worker gave (`E2eeError::code()`, the
    /// bridge's own); any other string is `Unknown` (reported as `internal`).
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(Self::Unknown)
    }

    pub const fn code(self) -> &'static str {
        match self {
            Self::BadEncoding => "bad-encoding",
            Self::BadPublicKey => "bad-public-key",
            Self::BadPeerId => "bad-peer-id",
            Self::BadKeyMessage => "bad-key-message",
            Self::UnknownPeer => "unknown-peer",
            Self::WrongSenderIdentity => "wrong-sender-identity",
            Self::StaleEpoch => "stale-epoch",
            Self::UnknownKey => "unknown-key",
            Self::ReplayedFrame => "replayed-frame",
            Self::AuthenticationFailed => "authentication-failed",
            Self::MalformedFrame => "malformed-frame",
            Self::FrameTooLarge => "frame-too-large",
            Self::MalformedChat => "malformed-chat",
            Self::CounterExhausted => "counter-exhausted",
            Self::RotationIncomplete => "rotation-incomplete",
            Self::ChatKeyPending => "chat-key-pending",
            Self::BadArgument => "bad-argument",
            Self::NotInitialised => "not-initialised",
            Self::UnknownOperation => "unknown-operation",
            Self::Internal => "internal",
            Self::Unknown => "internal",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_results_have_the_documented_shape() {
        let r = CryptoRequest::ReceiveKey {
            from: PeerId::parse("a").unwrap(),
            key: B64UrlBytes(vec![1, 2, 3]),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"receive-key":{"from":"a","key":"AQID"}}"#
        );
        let roster: CryptoResult = serde_json::from_str(
            r#"{"roster":{"epoch":2,"committed":false,"messages":[{"to":"b","key":"AQID"}],
                "rejected":[{"peer":"c","reason":"bad-identity"}],
                "safety_code":{"digits":"123","words":["a"]}}}"#,
        )
        .unwrap();
        assert!(matches!(roster, CryptoResult::Roster { epoch: 2, .. }));
        let failed: CryptoResult =
            serde_json::from_str(r#"{"failed":{"code":"something-new"}}"#).unwrap();
        assert_eq!(
            failed,
            CryptoResult::Failed {
                code: CryptoErrorCode::Unknown,
                message: String::new()
            }
        );
        for code in ["stale-epoch", "chat-key-pending", "rotation-incomplete"] {
            let c: CryptoErrorCode = serde_json::from_str(&format!("\"{code}\"")).unwrap();
            assert_eq!(c.code(), code);
        }
    }

    #[test]
    fn codes_read_back_as_serde_reads_them() {
        // from_code (used where no JSON is at hand) agrees with the serde names, variant by
        // variant, and knows every variant but the catch-all.
        for c in CryptoErrorCode::ALL {
            let serde: CryptoErrorCode =
                serde_json::from_str(&format!("\"{}\"", c.code())).unwrap();
            assert_eq!((CryptoErrorCode::from_code(c.code()), serde), (c, c));
        }
        assert_eq!(
            CryptoErrorCode::from_code("made-up"),
            CryptoErrorCode::Unknown
        );
        assert_eq!(CryptoErrorCode::from_code(""), CryptoErrorCode::Unknown);
        for r in RejectReason::ALL {
            let serde: RejectReason = serde_json::from_str(&format!("\"{}\"", r.as_str())).unwrap();
            assert_eq!((RejectReason::from_code(r.as_str()), serde), (Some(r), r));
        }
        assert_eq!(RejectReason::from_code("too-many-peers"), None);
    }
}
