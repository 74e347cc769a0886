//! The boundary to the crypto Worker: what the core asks (`Action::Crypto`) and what comes
//! back (`Input::Crypto`). The core never holds a key; sealed keys travel through it as
//! opaque base64url bytes, exactly as the Worker's `CallCrypto` takes and returns them.
//!
//! Protocol v2: every peer payload is sealed by the Worker (`Seal`) before it reaches the
//! socket and opened there (`Open`) before the core reads it; roster identities are sealed
//! blobs the Worker opens (`SetRoster` answers which entries it admitted, with their identity
//! keys); the safety code's commit-then-reveal rounds run in the Worker (`Safety*`: a round
//! starts shortly after every roster change).
//!
//! Requests are answered in the order they were made (one Worker, one message queue); the
//! core relies on that for `SetRoster` followed by `ReceiveKey`, `Seal` or `Open` (a peer is
//! in the Worker's roster for every request made after the `SetRoster` that listed it), and
//! for sending sealed envelopes in the order they were sealed (their per-pair sequence
//! numbers must arrive in order).
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
    /// `set_sealed_roster(roster, now)` (each identity is the sealed blob the server
    /// relayed): a new pending sender key sealed to every entry that opened. Answered with
    /// [`CryptoResult::Roster`].
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
    /// `seal_envelope(to, payload)`: the JSON of a peer payload, sealed to `to` with the next
    /// sequence number of the pair. Answered with [`CryptoResult::Sealed`].
    Seal { to: PeerId, payload: String },
    /// `open_envelope(from, envelope)` (`signal.payload` as received: base64url). Answered
    /// with [`CryptoResult::Opened`].
    Open { from: PeerId, envelope: String },
    /// `receive_safety_commitment(from, c)` (a `safety-commit` that came out of an envelope
    /// from `from`). Answered with [`CryptoResult::Safety`].
    SafetyCommit { from: PeerId, c: B64UrlBytes },
    /// `receive_safety_reveal(from, n)`. Answered with [`CryptoResult::Safety`].
    SafetyReveal { from: PeerId, n: B64UrlBytes },
    /// `start_safety_round()`: a new round over the Worker's roster (the core asks once the
    /// roster has stayed the same for a moment after a change, so that a burst of joins is
    /// one round, not one per join). Answered with [`CryptoResult::Safety`].
    SafetyStart,
    /// `restart_safety_round()` (the round was superseded and the roster stayed the same for
    /// the settling delay). Answered with [`CryptoResult::Safety`].
    SafetyRestart,
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
    /// The sealed identity did not open with the room's roster key for this peer id: the
    /// server (or anyone without the room secret) made it up, moved it or altered it.
    ForgedParticipant,
}

impl RejectReason {
    const ALL: [Self; 5] = [
        Self::OwnPeerId,
        Self::BadPeerId,
        Self::DuplicatePeer,
        Self::BadIdentity,
        Self::ForgedParticipant,
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
            Self::ForgedParticipant => "forged-participant",
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

/// A roster entry the Worker admitted: its sealed identity opened to this identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admitted {
    pub peer: PeerId,
    /// The identity public key, base64url (43 characters).
    pub identity: String,
}

/// Where this participant's safety code round stands (`safety-code`'s `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SafetyState {
    /// Commitments or reveals are still on their way (or the round was superseded): there is
    /// no code to compare yet.
    Verifying,
    /// Everyone's commitment and reveal are in: compare this code.
    Ready,
    /// A reveal did not match its commitment: not verified until the next round.
    Failed,
}

/// The safety code of a completed round: 5 words (40 bits, to read aloud) and the full 256-bit
/// code as 64 hex digits (to compare as a QR code or a pasted fingerprint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyCode {
    pub words: Vec<String>,
    pub hex: String,
}

/// A round's message for some peers: the commitment or the nonce, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyMessage {
    pub value: B64UrlBytes,
    pub to: Vec<PeerId>,
}

/// What a step of the safety code round asks of the core: send the commitment, then the
/// reveal, to these peers; show the code; restart after a settling delay when superseded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyStep {
    pub state: SafetyState,
    #[serde(default)]
    pub commit: Option<SafetyMessage>,
    #[serde(default)]
    pub reveal: Option<SafetyMessage>,
    #[serde(default)]
    pub code: Option<SafetyCode>,
    #[serde(default)]
    pub superseded: bool,
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
        /// The whole roster the Worker now holds: every entry whose sealed identity opened.
        admitted: Vec<Admitted>,
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
    /// A sealed envelope for `signal.payload` (base64url).
    Sealed {
        to: PeerId,
        envelope: String,
    },
    /// An envelope that opened: the peer payload's JSON.
    Opened {
        from: PeerId,
        payload: String,
    },
    Safety(SafetyStep),
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
    MalformedIdentityBlob,
    IdentityBlobVersion,
    ForgedParticipant,
    MalformedEnvelope,
    EnvelopeVersion,
    EnvelopeTooLarge,
    EnvelopeRejected,
    EnvelopeReplayed,
    SafetyRevealMismatch,
    SafetyNoCommit,
    #[serde(other)]
    Unknown,
}

impl CryptoErrorCode {
    const ALL: [Self; 30] = [
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
        Self::MalformedIdentityBlob,
        Self::IdentityBlobVersion,
        Self::ForgedParticipant,
        Self::MalformedEnvelope,
        Self::EnvelopeVersion,
        Self::EnvelopeTooLarge,
        Self::EnvelopeRejected,
        Self::EnvelopeReplayed,
        Self::SafetyRevealMismatch,
        Self::SafetyNoCommit,
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
            Self::MalformedIdentityBlob => "malformed-identity-blob",
            Self::IdentityBlobVersion => "identity-blob-version",
            Self::ForgedParticipant => "forged-participant",
            Self::MalformedEnvelope => "malformed-envelope",
            Self::EnvelopeVersion => "envelope-version",
            Self::EnvelopeTooLarge => "envelope-too-large",
            Self::EnvelopeRejected => "envelope-rejected",
            Self::EnvelopeReplayed => "envelope-replayed",
            Self::SafetyRevealMismatch => "safety-reveal-mismatch",
            Self::SafetyNoCommit => "safety-no-commit",
            Self::Unknown => "internal",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
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
                "rejected":[{"peer":"c","reason":"forged-participant"}],
                "admitted":[{"peer":"b","identity":"AAAA"}]}}"#,
        )
        .unwrap();
        let CryptoResult::Roster {
            epoch: 2,
            rejected,
            admitted,
            ..
        } = roster
        else {
            panic!("{roster:?}")
        };
        assert_eq!(rejected[0].reason, RejectReason::ForgedParticipant);
        assert_eq!(admitted[0].identity, "AAAA");
        let step: CryptoResult = serde_json::from_str(
            r#"{"safety":{"state":"verifying","commit":{"value":"AQID","to":["b"]}}}"#,
        )
        .unwrap();
        let CryptoResult::Safety(step) = step else {
            panic!("{step:?}")
        };
        assert!(step.reveal.is_none() && !step.superseded && step.commit.is_some());
        assert_eq!(
            serde_json::to_string(&CryptoRequest::SafetyRestart).unwrap(),
            r#""safety-restart""#
        );
        let opened: CryptoResult =
            serde_json::from_str(r#"{"opened":{"from":"a","payload":"{}"}}"#).unwrap();
        assert!(matches!(opened, CryptoResult::Opened { .. }));
        let step: CryptoResult = serde_json::from_str(
            r#"{"safety":{"state":"ready","code":{"words":["w"],"hex":"00"}}}"#,
        )
        .unwrap();
        assert!(matches!(
            step,
            CryptoResult::Safety(SafetyStep {
                state: SafetyState::Ready,
                ..
            })
        ));
        let failed: CryptoResult =
            serde_json::from_str(r#"{"failed":{"code":"something-new"}}"#).unwrap();
        assert_eq!(
            failed,
            CryptoResult::Failed {
                code: CryptoErrorCode::Unknown,
                message: String::new()
            }
        );
        for code in [
            "stale-epoch",
            "chat-key-pending",
            "rotation-incomplete",
            "envelope-replayed",
            "forged-participant",
        ] {
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
