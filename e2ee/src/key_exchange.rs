//! Sender-key distribution: a sender key sealed to one recipient with HPKE **AuthPSK** mode.
//!
//! Suite: KEM DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001), AEAD AES-128-GCM
//! (0x0001). AES-128 matches both the 128-bit security level of X25519 and the SFrame suite
//! `AES_128_GCM_SHA256_128`, so one AES implementation serves everything.
//!
//! RFC 9180 §5.1.4 (Authentication Using Both a PSK and an Asymmetric Key):
//! ```text
//! def SetupAuthPSKS(pkR, info, psk, psk_id, skS):
//!   shared_secret, enc = AuthEncap(pkR, skS)
//!   return enc, KeyScheduleS(mode_auth_psk, shared_secret, info, psk, psk_id)
//! def SetupAuthPSKR(enc, skR, info, psk, psk_id, pkS):
//!   shared_secret = AuthDecap(enc, skR, pkS)
//!   return KeyScheduleR(mode_auth_psk, shared_secret, info, psk, psk_id)
//! ```
//! A message opens only for the holder of `skR`, if it was sealed with the `skS` matching the
//! `pkS` the receiver expects, with the same PSK (the room PSK) and the same `info`:
//!
//! ```text
//! info   = "sotto/v1 sender key" || lp(room id) || lp(sender peer id)
//!          || lp(recipient peer id) || epoch (u64 BE)        lp(x) = u16 BE length || x
//! psk    = room PSK (32 bytes),  psk_id = "sotto/v1 room psk" || room id
//! aad    = version || epoch || audio suite || video suite    (the clear header)
//! ```
//!
//! Key message (77 bytes, parsed strictly):
//! ```text
//! +---------+----------------+-------------+-------------+-------------------+------------------------------+
//! | version | epoch (u64 BE) | audio suite | video suite | enc (32 bytes,    | ciphertext: sender key (16)  |
//! | 0x02    |                | (u16 BE)    | (u16 BE)    | X25519 ephemeral) | + AES-GCM tag (16)           |
//! +---------+----------------+-------------+-------------+-------------------+------------------------------+
//!   1 byte     8 bytes          2 bytes       2 bytes       32 bytes            32 bytes
//! ```
//! The suites are the RFC 9605 cipher suites the sender's frames use under this key, per media
//! kind ([`FrameSuites`]); they are authenticated as part of the AAD. A receiver refuses a
//! message naming a suite it does not speak, or anything but AES-GCM for video
//! ([`FrameSuites::is_acceptable`]), as [`E2eeError::BadKeyMessage`] before opening it.
//! (Version 1, 73 bytes, had no suites: AES-GCM for everything.)

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, PskBundle, Serializable};

use crate::encoding::{check_peer_id, put_lp};
use crate::frame::FrameSuites;
use crate::identity::{IdentityKem, IdentityKeyPair, IdentityPublicKey};
use crate::room::RoomKeys;
use crate::sender_key::{SenderKey, SENDER_KEY_LEN};
use crate::sframe::Suite;
use crate::E2eeError;

/// Version byte of the key message format.
pub const KEY_MESSAGE_VERSION: u8 = 2;
const ENC_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 8 + 2 + 2;
/// Exact length of a key message.
pub const KEY_MESSAGE_LEN: usize = HEADER_LEN + ENC_LEN + SENDER_KEY_LEN + TAG_LEN;

const INFO_LABEL: &[u8] = b"sotto/v1 sender key";
const PSK_ID_LABEL: &[u8] = b"sotto/v1 room psk";

type EncappedKey = <IdentityKem as hpke::Kem>::EncappedKey;

/// A parsed (still sealed) key message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMessage {
    /// The sender's epoch this key belongs to.
    pub epoch: u64,
    /// The suites of the frames sent under this key.
    pub suites: FrameSuites,
    /// The HPKE encapsulated key.
    pub enc: [u8; ENC_LEN],
    /// The sealed sender key and tag.
    pub ciphertext: [u8; SENDER_KEY_LEN + TAG_LEN],
}

impl KeyMessage {
    /// Parses the wire form: exact length, known version; nothing else is accepted.
    pub fn parse(bytes: &[u8]) -> Result<Self, E2eeError> {
        if bytes.len() != KEY_MESSAGE_LEN {
            return Err(E2eeError::BadKeyMessage);
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        let (enc, ct) = rest.split_at(ENC_LEN);
        let (version, rest) = header.split_at(1);
        let (epoch, suites) = rest.split_at(8);
        if version != [KEY_MESSAGE_VERSION] {
            return Err(E2eeError::BadKeyMessage);
        }
        let epoch = u64::from_be_bytes(epoch.try_into().map_err(|_| E2eeError::BadKeyMessage)?);
        let suite = |b: &[u8]| {
            let id = u16::from_be_bytes(b.try_into().map_err(|_| E2eeError::BadKeyMessage)?);
            Suite::from_id(id).ok_or(E2eeError::BadKeyMessage)
        };
        let suites = FrameSuites {
            audio: suite(&suites[..2])?,
            video: suite(&suites[2..])?,
        };
        if !suites.is_acceptable() {
            return Err(E2eeError::BadKeyMessage);
        }
        Ok(Self {
            epoch,
            suites,
            enc: enc.try_into().map_err(|_| E2eeError::BadKeyMessage)?,
            ciphertext: ct.try_into().map_err(|_| E2eeError::BadKeyMessage)?,
        })
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(KEY_MESSAGE_LEN);
        out.extend_from_slice(&header(self.epoch, self.suites));
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ciphertext);
        out
    }
}

fn header(epoch: u64, suites: FrameSuites) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = KEY_MESSAGE_VERSION;
    h[1..9].copy_from_slice(&epoch.to_be_bytes());
    h[9..11].copy_from_slice(&suites.audio.id().to_be_bytes());
    h[11..].copy_from_slice(&suites.video.id().to_be_bytes());
    h
}

/// The HPKE `info`: binds the key to this room, this sender, this recipient and this epoch.
fn info(room: &RoomKeys, sender_peer: &str, recipient_peer: &str, epoch: u64) -> Vec<u8> {
    let mut info =
        Vec::with_capacity(INFO_LABEL.len() + 16 + sender_peer.len() + recipient_peer.len() + 16);
    info.extend_from_slice(INFO_LABEL);
    put_lp(&mut info, room.room_id().as_bytes());
    put_lp(&mut info, sender_peer.as_bytes());
    put_lp(&mut info, recipient_peer.as_bytes());
    info.extend_from_slice(&epoch.to_be_bytes());
    info
}

fn psk_id(room: &RoomKeys) -> Vec<u8> {
    [PSK_ID_LABEL, room.room_id().as_bytes()].concat()
}

/// Seals `key` (the sender's key for `epoch`, with its frame suites) to `recipient_pk` with
/// HPKE AuthPSK. Refuses suites no receiver would accept ([`FrameSuites::is_acceptable`]).
#[allow(clippy::too_many_arguments)]
pub fn seal_sender_key(
    rng: &mut impl rand_core::CryptoRng,
    room: &RoomKeys,
    sender: &IdentityKeyPair,
    sender_peer: &str,
    recipient_peer: &str,
    recipient_pk: &IdentityPublicKey,
    epoch: u64,
    key: &SenderKey,
) -> Result<Vec<u8>, E2eeError> {
    check_peer_id(sender_peer)?;
    check_peer_id(recipient_peer)?;
    let suites = key.suites();
    if !suites.is_acceptable() {
        return Err(E2eeError::Internal);
    }
    let psk_id = psk_id(room);
    let bundle = PskBundle::new(room.psk(), &psk_id).map_err(|_| E2eeError::Internal)?;
    let mode =
        OpModeS::<IdentityKem>::AuthPsk((sender.secret().clone(), sender.kem_public()?), bundle);
    let pk_r = recipient_pk.to_kem()?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, IdentityKem>(
        &mode,
        &pk_r,
        &info(room, sender_peer, recipient_peer, epoch),
        key.as_bytes(),
        &header(epoch, suites),
        rng,
    )
    .map_err(|_| E2eeError::Internal)?;
    let enc: [u8; ENC_LEN] = enc.to_bytes().into();
    let ciphertext = ct.as_slice().try_into().map_err(|_| E2eeError::Internal)?;
    Ok(KeyMessage {
        epoch,
        suites,
        enc,
        ciphertext,
    }
    .to_bytes())
}

/// Opens a key message sent by `sender_peer` (whose announced identity is `sender_pk`) to us
/// (`recipient`, `recipient_peer`). Returns the epoch and the sender key (with the suites the
/// message announced).
///
/// Any mismatch of sender identity, recipient, room (PSK or id), epoch or a single flipped byte
/// makes the AEAD fail: reported as [`E2eeError::WrongSenderIdentity`].
pub fn open_sender_key(
    room: &RoomKeys,
    recipient: &IdentityKeyPair,
    recipient_peer: &str,
    sender_peer: &str,
    sender_pk: &IdentityPublicKey,
    bytes: &[u8],
) -> Result<(u64, SenderKey), E2eeError> {
    check_peer_id(sender_peer)?;
    check_peer_id(recipient_peer)?;
    let msg = KeyMessage::parse(bytes)?;
    let enc = EncappedKey::from_bytes(&msg.enc).map_err(|_| E2eeError::BadKeyMessage)?;
    let psk_id = psk_id(room);
    let bundle = PskBundle::new(room.psk(), &psk_id).map_err(|_| E2eeError::Internal)?;
    let mode = OpModeR::<IdentityKem>::AuthPsk(sender_pk.to_kem()?, bundle);
    let plain = zeroize::Zeroizing::new(
        hpke::single_shot_open::<AesGcm128, HkdfSha256, IdentityKem>(
            &mode,
            recipient.secret(),
            &enc,
            &info(room, sender_peer, recipient_peer, msg.epoch),
            &msg.ciphertext,
            &header(msg.epoch, msg.suites),
        )
        .map_err(|_| E2eeError::WrongSenderIdentity)?,
    );
    let key: [u8; SENDER_KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| E2eeError::BadKeyMessage)?;
    Ok((msg.epoch, SenderKey::with_suites(key, msg.suites)))
}
