//! Sealed peer envelopes to and from roster peers (protocol v2, see [`crate::envelope`]): the
//! identity keys are the ones in the roster, the sequence numbers are kept per identity pair
//! for the whole call.

use serde::Serialize;

use super::GroupKeys;
use crate::encoding::check_peer_id;
use crate::envelope::{open_envelope, seal_envelope};
use crate::E2eeError;

/// A payload sealed to one roster peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEnvelope {
    /// Recipient peer id.
    pub to: String,
    /// Its sequence number for this pair.
    pub seq: u64,
    /// The envelope (send as base64url in `signal.payload`).
    pub bytes: Vec<u8>,
}

/// A payload opened from one roster peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedEnvelope {
    /// Sender peer id.
    pub from: String,
    /// Its sequence number for this pair.
    pub seq: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Envelope counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EnvelopeStats {
    /// Envelopes sealed.
    pub sealed: u64,
    /// Envelopes opened and accepted.
    pub opened: u64,
    /// Refused: malformed, unknown version, or did not open (`envelope-rejected`).
    pub rejected: u64,
    /// Refused: authentic but seq not above the last accepted (`envelope-replayed`).
    pub replayed: u64,
    /// Refused: from a peer id not in the roster (`unknown-peer`).
    pub unknown_peer: u64,
}

impl GroupKeys {
    /// Seals `payload` to roster peer `to` with the next sequence number of our pair. Send the
    /// envelopes to a peer in the order they were sealed: the receiver refuses a number at or
    /// below one it accepted.
    pub fn seal_envelope(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        to: &str,
        payload: &[u8],
    ) -> Result<SealedEnvelope, E2eeError> {
        let recipient = self
            .peers
            .get(to)
            .ok_or(E2eeError::UnknownPeer)?
            .identity
            .clone();
        if payload.len() > crate::envelope::MAX_ENVELOPE_PLAINTEXT {
            return Err(E2eeError::EnvelopeTooLarge);
        }
        let seq = self.sequences.next_to(&recipient)?;
        let bytes = seal_envelope(
            rng,
            &self.room,
            &self.identity,
            &self.my_peer_id,
            to,
            &recipient,
            seq,
            payload,
        )?;
        self.envelope_stats.sealed += 1;
        Ok(SealedEnvelope {
            to: to.to_owned(),
            seq,
            bytes,
        })
    }

    /// Opens an envelope from roster peer `from`: refused unless sealed by `from`'s identity to
    /// mine, for this room and this ordered pair of peer ids, unaltered, with a sequence number
    /// above the last accepted from that identity. Every refusal is counted.
    pub fn open_envelope(&mut self, from: &str, bytes: &[u8]) -> Result<OpenedEnvelope, E2eeError> {
        let result = self.open_envelope_inner(from, bytes);
        let stats = &mut self.envelope_stats;
        match &result {
            Ok(_) => stats.opened += 1,
            Err(E2eeError::EnvelopeReplayed) => stats.replayed += 1,
            Err(E2eeError::UnknownPeer) => stats.unknown_peer += 1,
            Err(_) => stats.rejected += 1,
        }
        result
    }

    fn open_envelope_inner(
        &mut self,
        from: &str,
        bytes: &[u8],
    ) -> Result<OpenedEnvelope, E2eeError> {
        check_peer_id(from).map_err(|_| E2eeError::UnknownPeer)?;
        let sender = &self.peers.get(from).ok_or(E2eeError::UnknownPeer)?.identity;
        let (seq, payload) = open_envelope(
            &self.room,
            &self.identity,
            &self.my_peer_id,
            from,
            sender,
            bytes,
        )?;
        self.sequences.check_from(sender, seq)?;
        self.sequences.accept_from(sender, seq);
        Ok(OpenedEnvelope {
            from: from.to_owned(),
            seq,
            payload,
        })
    }

    /// Envelope counters.
    pub fn envelope_stats(&self) -> EnvelopeStats {
        self.envelope_stats
    }
}
