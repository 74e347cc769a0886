//! Sealed peer envelopes (protocol v2): every peer-to-peer signaling payload (offer, answer,
//! ICE candidates, hello, sender keys and their acks, display names, safety commit and reveal,
//! anything later) is sealed end to end before it reaches the server, one single-shot HPKE
//! **AuthPSK** per message (robust to drops and reordering), suite as in `key_exchange`.
//!
//! ```text
//! info   = "sotto/v2 envelope" || lp(room id) || lp(sender peer id) || lp(recipient peer id)
//! psk    = room PSK,  psk_id = "sotto/v1 room psk" || room id,  skS = sender identity key
//! header = 0x02 || seq (u64 BE)            aad = header
//! envelope = header (9) || enc (32) || AES-128-GCM ciphertext of the payload || tag (16)
//! ```
//! It opens only for the holder of the recipient's identity key, only if sealed by the holder of
//! the sender identity the recipient expects for that peer id, in this room (id and PSK), for
//! this ordered pair of peer ids (a reflected message names the pair the other way round), with
//! the header unchanged. `seq` counts per ordered pair of identity keys from 1 up
//! ([`PairSequences`]): the receiver refuses a seq at or below the last it accepted from that
//! sender identity (replays, also across a forged leave and re-join).
//!
//! Size: the wire's `payload` is at most 60,000 characters of base64url, so an envelope is at
//! most [`MAX_ENVELOPE_LEN`] = 45,000 bytes and a payload at most
//! [`MAX_ENVELOPE_PLAINTEXT`] = 44,943 bytes.

use sotto_vecmap::VecMap;

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, PskBundle, Serializable};

use crate::encoding::{check_peer_id, put_lp};
use crate::identity::{IdentityKem, IdentityKeyPair, IdentityPublicKey};
use crate::room::RoomKeys;
use crate::E2eeError;

/// Version byte of the envelope format.
pub const ENVELOPE_VERSION: u8 = 2;
/// Clear header: version and seq.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 8;
const ENC_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Bytes an envelope adds to its payload: header, encapsulated key, tag.
pub const ENVELOPE_OVERHEAD: usize = ENVELOPE_HEADER_LEN + ENC_LEN + TAG_LEN;
/// The wire protocol's limit on a signal's `payload`, in characters of base64url.
pub const MAX_PAYLOAD_TEXT_LEN: usize = 60_000;
/// Largest envelope: its base64url form (no padding) is exactly [`MAX_PAYLOAD_TEXT_LEN`].
pub const MAX_ENVELOPE_LEN: usize = MAX_PAYLOAD_TEXT_LEN / 4 * 3;
/// Largest payload that can be sealed.
pub const MAX_ENVELOPE_PLAINTEXT: usize = MAX_ENVELOPE_LEN - ENVELOPE_OVERHEAD;
const _: () = assert!((MAX_ENVELOPE_LEN * 4).div_ceil(3) <= MAX_PAYLOAD_TEXT_LEN);
const _: () = assert!(((MAX_ENVELOPE_LEN + 1) * 4).div_ceil(3) > MAX_PAYLOAD_TEXT_LEN);

const INFO_LABEL: &[u8] = b"sotto/v2 envelope";
const PSK_ID_LABEL: &[u8] = b"sotto/v1 room psk";

type EncappedKey = <IdentityKem as hpke::Kem>::EncappedKey;

fn header(seq: u64) -> [u8; ENVELOPE_HEADER_LEN] {
    let mut h = [0u8; ENVELOPE_HEADER_LEN];
    h[0] = ENVELOPE_VERSION;
    h[1..].copy_from_slice(&seq.to_be_bytes());
    h
}

/// A parsed (still sealed) envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedEnvelope<'a> {
    /// The sender's sequence number for this pair.
    pub seq: u64,
    /// The HPKE encapsulated key.
    pub enc: &'a [u8; ENC_LEN],
    /// The sealed payload and tag.
    pub ciphertext: &'a [u8],
}

/// Parses the wire form strictly: length within bounds, known version.
pub fn parse_envelope(bytes: &[u8]) -> Result<ParsedEnvelope<'_>, E2eeError> {
    match bytes.first() {
        None => return Err(E2eeError::MalformedEnvelope),
        Some(&ENVELOPE_VERSION) => {}
        Some(_) => return Err(E2eeError::EnvelopeVersion),
    }
    if bytes.len() < ENVELOPE_OVERHEAD || bytes.len() > MAX_ENVELOPE_LEN {
        return Err(E2eeError::MalformedEnvelope);
    }
    let (h, rest) = bytes.split_at(ENVELOPE_HEADER_LEN);
    let (enc, ciphertext) = rest.split_at(ENC_LEN);
    let seq = u64::from_be_bytes(
        h[1..]
            .try_into()
            .map_err(|_| E2eeError::MalformedEnvelope)?,
    );
    let enc = enc.try_into().map_err(|_| E2eeError::MalformedEnvelope)?;
    Ok(ParsedEnvelope {
        seq,
        enc,
        ciphertext,
    })
}

fn info(room: &RoomKeys, sender_peer: &str, recipient_peer: &str) -> Vec<u8> {
    let mut info =
        Vec::with_capacity(INFO_LABEL.len() + 22 + sender_peer.len() + recipient_peer.len());
    info.extend_from_slice(INFO_LABEL);
    put_lp(&mut info, room.room_id().as_bytes());
    put_lp(&mut info, sender_peer.as_bytes());
    put_lp(&mut info, recipient_peer.as_bytes());
    info
}

fn psk_id(room: &RoomKeys) -> Vec<u8> {
    [PSK_ID_LABEL, room.room_id().as_bytes()].concat()
}

/// Seals `payload` from `sender` (peer id `sender_peer`) to `recipient_pk` (peer id
/// `recipient_peer`) with sequence number `seq` (from [`PairSequences::next_to`]).
#[allow(clippy::too_many_arguments)]
pub fn seal_envelope(
    rng: &mut impl rand_core::CryptoRng,
    room: &RoomKeys,
    sender: &IdentityKeyPair,
    sender_peer: &str,
    recipient_peer: &str,
    recipient_pk: &IdentityPublicKey,
    seq: u64,
    payload: &[u8],
) -> Result<Vec<u8>, E2eeError> {
    check_peer_id(sender_peer)?;
    check_peer_id(recipient_peer)?;
    if payload.len() > MAX_ENVELOPE_PLAINTEXT {
        return Err(E2eeError::EnvelopeTooLarge);
    }
    let psk_id = psk_id(room);
    let bundle = PskBundle::new(room.psk(), &psk_id).map_err(|_| E2eeError::Internal)?;
    let mode =
        OpModeS::<IdentityKem>::AuthPsk((sender.secret().clone(), sender.kem_public()?), bundle);
    let header = header(seq);
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, IdentityKem>(
        &mode,
        &recipient_pk.to_kem()?,
        &info(room, sender_peer, recipient_peer),
        payload,
        &header,
        rng,
    )
    .map_err(|_| E2eeError::Internal)?;
    let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens an envelope that `sender_peer` (whose identity is `sender_pk`) sent to us
/// (`recipient`, peer id `recipient_peer`). Returns its seq and the payload. Does not check
/// the seq: that is [`PairSequences`]' job.
pub fn open_envelope(
    room: &RoomKeys,
    recipient: &IdentityKeyPair,
    recipient_peer: &str,
    sender_peer: &str,
    sender_pk: &IdentityPublicKey,
    bytes: &[u8],
) -> Result<(u64, Vec<u8>), E2eeError> {
    check_peer_id(sender_peer)?;
    check_peer_id(recipient_peer)?;
    let parsed = parse_envelope(bytes)?;
    let enc = EncappedKey::from_bytes(parsed.enc).map_err(|_| E2eeError::EnvelopeRejected)?;
    let psk_id = psk_id(room);
    let bundle = PskBundle::new(room.psk(), &psk_id).map_err(|_| E2eeError::Internal)?;
    let mode = OpModeR::<IdentityKem>::AuthPsk(sender_pk.to_kem()?, bundle);
    let payload = hpke::single_shot_open::<AesGcm128, HkdfSha256, IdentityKem>(
        &mode,
        recipient.secret(),
        &enc,
        &info(room, sender_peer, recipient_peer),
        parsed.ciphertext,
        &header(parsed.seq),
    )
    .map_err(|_| E2eeError::EnvelopeRejected)?;
    Ok((parsed.seq, payload))
}

/// Sequence numbers of one participant's envelopes, per ordered pair of identity keys: the
/// last assigned to each recipient identity, the last accepted from each sender identity. Kept
/// for the whole call (a peer that leaves and comes back keeps its numbers).
#[derive(Debug, Default, Clone)]
pub struct PairSequences {
    sent: VecMap<IdentityPublicKey, u64>,
    accepted: VecMap<IdentityPublicKey, u64>,
}

impl PairSequences {
    /// The next seq for an envelope to `recipient`: 1, 2, 3, ...
    pub fn next_to(&mut self, recipient: &IdentityPublicKey) -> Result<u64, E2eeError> {
        let last = self.sent.get_or_insert(recipient.clone(), 0);
        *last = last.checked_add(1).ok_or(E2eeError::CounterExhausted)?;
        Ok(*last)
    }

    /// Refuses a seq from `sender` at or below the last accepted from it (0 is never valid).
    pub fn check_from(&self, sender: &IdentityPublicKey, seq: u64) -> Result<(), E2eeError> {
        if seq <= self.last_from(sender) {
            Err(E2eeError::EnvelopeReplayed)
        } else {
            Ok(())
        }
    }

    /// Records `seq` from `sender` as accepted (call after the envelope opened).
    pub fn accept_from(&mut self, sender: &IdentityPublicKey, seq: u64) {
        let last = self.accepted.get_or_insert(sender.clone(), 0);
        *last = (*last).max(seq);
    }

    /// The last seq accepted from `sender` (0 if none).
    pub fn last_from(&self, sender: &IdentityPublicKey) -> u64 {
        self.accepted.get(sender).copied().unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::encoding::b64url;

    #[test]
    fn size_limits_match_the_wire() {
        assert_eq!(MAX_ENVELOPE_LEN, 45_000);
        assert_eq!(MAX_ENVELOPE_PLAINTEXT, 44_943);
        assert_eq!(ENVELOPE_OVERHEAD, 57);
        assert_eq!(b64url(&vec![0xffu8; MAX_ENVELOPE_LEN]).len(), 60_000);
        assert_eq!(b64url(&vec![0xffu8; MAX_ENVELOPE_LEN + 1]).len(), 60_002);
    }

    #[test]
    fn parse_is_strict() {
        let mut ok = vec![ENVELOPE_VERSION];
        ok.extend_from_slice(&7u64.to_be_bytes());
        ok.extend_from_slice(&[1u8; ENC_LEN + TAG_LEN]);
        let p = parse_envelope(&ok).unwrap();
        assert_eq!(p.seq, 7);
        assert_eq!(p.ciphertext.len(), TAG_LEN);
        assert_eq!(parse_envelope(&[]), Err(E2eeError::MalformedEnvelope));
        assert_eq!(
            parse_envelope(&ok[..ok.len() - 1]),
            Err(E2eeError::MalformedEnvelope)
        );
        let mut v1 = ok.clone();
        v1[0] = 1;
        assert_eq!(parse_envelope(&v1), Err(E2eeError::EnvelopeVersion));
        let mut big = ok.clone();
        big.resize(MAX_ENVELOPE_LEN, 0);
        assert!(parse_envelope(&big).is_ok());
        big.push(0);
        assert_eq!(parse_envelope(&big), Err(E2eeError::MalformedEnvelope));
    }

    #[test]
    fn sequences_count_per_identity_and_refuse_old_numbers() {
        let mut rng = crate::os_rng();
        let a = IdentityKeyPair::generate(&mut rng).public_key();
        let b = IdentityKeyPair::generate(&mut rng).public_key();
        let mut seqs = PairSequences::default();
        assert_eq!(seqs.next_to(&a), Ok(1));
        assert_eq!(seqs.next_to(&a), Ok(2));
        assert_eq!(seqs.next_to(&b), Ok(1));
        assert_eq!(seqs.check_from(&a, 0), Err(E2eeError::EnvelopeReplayed));
        assert_eq!(seqs.check_from(&a, 5), Ok(()));
        seqs.accept_from(&a, 5);
        assert_eq!(seqs.check_from(&a, 5), Err(E2eeError::EnvelopeReplayed));
        assert_eq!(seqs.check_from(&a, 4), Err(E2eeError::EnvelopeReplayed));
        assert_eq!(seqs.check_from(&a, 6), Ok(()));
        assert_eq!(seqs.check_from(&b, 1), Ok(()));
        // never moves back
        seqs.accept_from(&a, 3);
        assert_eq!(seqs.last_from(&a), 5);
        // exhausted counter
        seqs.sent.insert(a.clone(), u64::MAX);
        assert_eq!(seqs.next_to(&a), Err(E2eeError::CounterExhausted));
    }
}
