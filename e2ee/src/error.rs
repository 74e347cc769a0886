//! The crate's one error type. Every variant has a stable, kebab-case [`E2eeError::code`] that
//! the browser bridge hands to JavaScript; messages never contain key material or user data.

/// Everything that can go wrong in `sotto-e2ee`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum E2eeError {
    /// Text that should be base64url (no padding) is not, or decodes to the wrong length.
    #[error("malformed base64url encoding or wrong length")]
    BadEncoding,
    /// A public key is not a valid X25519 public key.
    #[error("invalid identity public key")]
    BadPublicKey,
    /// A peer id is empty or longer than the limit.
    #[error("peer id is empty or too long")]
    BadPeerId,
    /// A key message does not parse (version, length).
    #[error("malformed key message")]
    BadKeyMessage,
    /// A key message came from a peer that is not in the roster.
    #[error("key message from a peer that is not in the roster")]
    UnknownPeer,
    /// A key message did not open with the identity key announced for its sender (or was not for
    /// us, or for another room, or was tampered with: HPKE cannot tell these apart).
    #[error("key message was not sealed by the sender's announced identity for us")]
    WrongSenderIdentity,
    /// A key message for an epoch that is not newer than one already accepted from that sender.
    #[error("key message for a stale epoch")]
    StaleEpoch,
    /// No key for the frame's KID / the message's epoch from this sender.
    #[error("no key for this sender and key id")]
    UnknownKey,
    /// A frame or chat message counter was seen before or is too old for the replay window.
    #[error("replayed or too old frame")]
    ReplayedFrame,
    /// An authentic copy of a frame accepted moments ago (its counter within
    /// [`crate::frame::DUPLICATE_SPAN`] of the highest accepted): a duplicate delivery by the
    /// network or the sending browser (Firefox repeats some frames on loopback), dropped and
    /// counted apart from replays.
    #[error("duplicate delivery of a frame")]
    DuplicateFrame,
    /// The AEAD tag did not verify.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The frame does not parse (SFrame header, codec structure, escaping).
    #[error("malformed frame")]
    MalformedFrame,
    /// The frame (plain or protected) is larger than [`crate::frame::MAX_FRAME_LEN`].
    #[error("frame too large")]
    FrameTooLarge,
    /// A chat message does not parse.
    #[error("malformed chat message")]
    MalformedChat,
    /// The per-key frame counter or chat sequence number is exhausted; rotate the key.
    #[error("counter exhausted, rotate the sender key")]
    CounterExhausted,
    /// The last sender-key rotation did not complete (sealing, randomness or the epoch counter
    /// failed): nothing is encrypted until a later rotation has been committed (fail closed).
    #[error("sender key rotation incomplete: not sending until a rotation succeeds")]
    RotationIncomplete,
    /// A chat message under an epoch of its sender newer than any key held for that sender:
    /// its key has not arrived yet. Keep the message briefly and retry when a key arrives.
    #[error("chat message under a key that has not arrived yet")]
    ChatKeyPending,
    /// A sealed identity blob is not base64url or has the wrong length (truncated, oversized).
    #[error("malformed sealed identity")]
    MalformedIdentityBlob,
    /// A sealed identity blob has a version this build does not know.
    #[error("sealed identity of an unknown version")]
    IdentityBlobVersion,
    /// A sealed identity blob did not open with this room's roster key for this peer id: made
    /// without the room secret (a server injecting a participant), for another room or another
    /// peer id, or altered.
    #[error("sealed identity did not open: forged participant")]
    ForgedParticipant,
    /// A sealed envelope is shorter than its header and tag, or longer than the limit.
    #[error("malformed sealed envelope")]
    MalformedEnvelope,
    /// A sealed envelope has a version this build does not know.
    #[error("sealed envelope of an unknown version")]
    EnvelopeVersion,
    /// A payload to seal is larger than [`crate::envelope::MAX_ENVELOPE_PLAINTEXT`].
    #[error("payload too large for a sealed envelope")]
    EnvelopeTooLarge,
    /// A sealed envelope did not open: not sealed by the sender's identity to us, for this
    /// room and this ordered pair of peer ids (reflected, another room or pair, tampered).
    #[error("sealed envelope refused")]
    EnvelopeRejected,
    /// A sealed envelope whose sequence number is not above the last accepted from its sender.
    #[error("sealed envelope replayed")]
    EnvelopeReplayed,
    /// A safety reveal that does not match the commitment held from that peer.
    #[error("safety reveal does not match the peer's commitment")]
    SafetyRevealMismatch,
    /// A safety reveal from a peer whose commitment was never received.
    #[error("safety reveal without a commitment")]
    SafetyNoCommit,
    /// An internal cryptographic operation failed (should not happen).
    #[error("internal cryptographic failure")]
    Internal,
}

impl E2eeError {
    /// A stable, kebab-case code for programs to switch on.
    pub fn code(&self) -> &'static str {
        match self {
            E2eeError::BadEncoding => "bad-encoding",
            E2eeError::BadPublicKey => "bad-public-key",
            E2eeError::BadPeerId => "bad-peer-id",
            E2eeError::BadKeyMessage => "bad-key-message",
            E2eeError::UnknownPeer => "unknown-peer",
            E2eeError::WrongSenderIdentity => "wrong-sender-identity",
            E2eeError::StaleEpoch => "stale-epoch",
            E2eeError::UnknownKey => "unknown-key",
            E2eeError::ReplayedFrame => "replayed-frame",
            E2eeError::DuplicateFrame => "duplicate-frame",
            E2eeError::AuthenticationFailed => "authentication-failed",
            E2eeError::MalformedFrame => "malformed-frame",
            E2eeError::FrameTooLarge => "frame-too-large",
            E2eeError::MalformedChat => "malformed-chat",
            E2eeError::CounterExhausted => "counter-exhausted",
            E2eeError::RotationIncomplete => "rotation-incomplete",
            E2eeError::ChatKeyPending => "chat-key-pending",
            E2eeError::MalformedIdentityBlob => "malformed-identity-blob",
            E2eeError::IdentityBlobVersion => "identity-blob-version",
            E2eeError::ForgedParticipant => "forged-participant",
            E2eeError::MalformedEnvelope => "malformed-envelope",
            E2eeError::EnvelopeVersion => "envelope-version",
            E2eeError::EnvelopeTooLarge => "envelope-too-large",
            E2eeError::EnvelopeRejected => "envelope-rejected",
            E2eeError::EnvelopeReplayed => "envelope-replayed",
            E2eeError::SafetyRevealMismatch => "safety-reveal-mismatch",
            E2eeError::SafetyNoCommit => "safety-no-commit",
            E2eeError::Internal => "internal",
        }
    }
}

/// Why a roster entry was dropped (the rest of the roster still rotates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RosterRejection {
    /// The entry carries this participant's own peer id.
    OwnPeerId,
    /// The peer id is empty, longer than 64 characters or not base64url.
    BadPeerId,
    /// The peer id appeared earlier in the same roster.
    DuplicatePeer,
    /// The identity is not a valid X25519 public key in base64url (including small-order points).
    BadIdentity,
    /// The sealed identity did not open with the room's roster key for this peer id (made
    /// without the room secret, for another room or peer id, altered, malformed).
    ForgedParticipant,
}

impl RosterRejection {
    /// A stable, kebab-case code for programs to switch on.
    pub fn code(self) -> &'static str {
        match self {
            RosterRejection::OwnPeerId => "own-peer-id",
            RosterRejection::BadPeerId => "bad-peer-id",
            RosterRejection::DuplicatePeer => "duplicate-peer",
            RosterRejection::BadIdentity => "bad-identity",
            RosterRejection::ForgedParticipant => "forged-participant",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::E2eeError;

    #[test]
    fn codes_are_distinct_and_kebab_case() {
        let all = [
            E2eeError::BadEncoding,
            E2eeError::BadPublicKey,
            E2eeError::BadPeerId,
            E2eeError::BadKeyMessage,
            E2eeError::UnknownPeer,
            E2eeError::WrongSenderIdentity,
            E2eeError::StaleEpoch,
            E2eeError::UnknownKey,
            E2eeError::ReplayedFrame,
            E2eeError::DuplicateFrame,
            E2eeError::AuthenticationFailed,
            E2eeError::MalformedFrame,
            E2eeError::FrameTooLarge,
            E2eeError::MalformedChat,
            E2eeError::CounterExhausted,
            E2eeError::RotationIncomplete,
            E2eeError::ChatKeyPending,
            E2eeError::MalformedIdentityBlob,
            E2eeError::IdentityBlobVersion,
            E2eeError::ForgedParticipant,
            E2eeError::MalformedEnvelope,
            E2eeError::EnvelopeVersion,
            E2eeError::EnvelopeTooLarge,
            E2eeError::EnvelopeRejected,
            E2eeError::EnvelopeReplayed,
            E2eeError::SafetyRevealMismatch,
            E2eeError::SafetyNoCommit,
            E2eeError::Internal,
        ];
        let mut codes: Vec<&str> = all.iter().map(E2eeError::code).collect();
        for c in &codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{c}"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn roster_rejection_codes_are_distinct_and_kebab_case() {
        use super::RosterRejection::*;
        let all = [
            OwnPeerId,
            BadPeerId,
            DuplicatePeer,
            BadIdentity,
            ForgedParticipant,
        ];
        let mut codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
        assert!(codes
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
