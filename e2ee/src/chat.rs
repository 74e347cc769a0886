//! Chat messages, sealed with a per-sender, per-epoch chat key derived from the sender key.
//!
//! ```text
//! chat_key = HKDF-Expand(HKDF-Extract(salt = "", IKM = sender key), "sotto/v1 chat", 16)
//!
//! +---------+----------------+----------------+---------------------------------+
//! | version | epoch (u64 BE) | seq (u64 BE)   | AES-128-GCM ciphertext || tag   |
//! | 0x01    |                |                |                                 |
//! +---------+----------------+----------------+---------------------------------+
//! nonce = 0x00000000 || seq (u64 BE)          (unique: seq strictly increases per sender)
//! aad   = version || epoch || seq || "sotto/v1 chat" || lp(room id) || lp(sender peer id)
//! ```
//! The receiver opens only with the key it holds for that sender and epoch, and only if `seq`
//! is greater than the last it accepted from that sender for that key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::put_lp;
use crate::room::RoomId;
use crate::sender_key::SenderKey;
use crate::E2eeError;

/// Version byte of the chat message format.
pub const CHAT_VERSION: u8 = 1;
/// Clear header length: version, epoch, seq.
pub const CHAT_HEADER_LEN: usize = 1 + 8 + 8;
const TAG_LEN: usize = 16;
/// Largest chat plaintext accepted (64 KiB).
pub const MAX_CHAT_LEN: usize = 64 * 1024;
const CHAT_LABEL: &[u8] = b"sotto/v1 chat";

/// A chat AEAD key (AES-128-GCM). Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChatKey([u8; 16]);

impl ChatKey {
    /// Derives the chat key of a sender key.
    pub fn derive(sender_key: &SenderKey) -> Self {
        let hk = Hkdf::<Sha256>::new(None, sender_key.as_bytes());
        let mut key = [0u8; 16];
        let _ = hk.expand(CHAT_LABEL, &mut key); // 16 <= 255 * 32: cannot fail
        Self(key)
    }
}

impl core::fmt::Debug for ChatKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChatKey(<redacted>)")
    }
}

/// The clear header of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatHeader {
    /// Sender epoch whose key sealed the message.
    pub epoch: u64,
    /// Per-sender sequence number.
    pub seq: u64,
}

impl ChatHeader {
    fn to_bytes(self) -> [u8; CHAT_HEADER_LEN] {
        let mut h = [0u8; CHAT_HEADER_LEN];
        h[0] = CHAT_VERSION;
        h[1..9].copy_from_slice(&self.epoch.to_be_bytes());
        h[9..].copy_from_slice(&self.seq.to_be_bytes());
        h
    }
}

/// Splits a chat message into its header and ciphertext (strict: version, minimum length,
/// maximum length).
pub fn parse_chat(bytes: &[u8]) -> Result<(ChatHeader, &[u8]), E2eeError> {
    if bytes.len() < CHAT_HEADER_LEN + TAG_LEN
        || bytes.len() > CHAT_HEADER_LEN + MAX_CHAT_LEN + TAG_LEN
    {
        return Err(E2eeError::MalformedChat);
    }
    let (header, ct) = bytes.split_at(CHAT_HEADER_LEN);
    if header[0] != CHAT_VERSION {
        return Err(E2eeError::MalformedChat);
    }
    let epoch = u64::from_be_bytes(
        header[1..9]
            .try_into()
            .map_err(|_| E2eeError::MalformedChat)?,
    );
    let seq = u64::from_be_bytes(
        header[9..]
            .try_into()
            .map_err(|_| E2eeError::MalformedChat)?,
    );
    Ok((ChatHeader { epoch, seq }, ct))
}

fn aad(header: ChatHeader, room: &RoomId, sender_peer: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CHAT_HEADER_LEN + CHAT_LABEL.len() + 20 + sender_peer.len());
    aad.extend_from_slice(&header.to_bytes());
    aad.extend_from_slice(CHAT_LABEL);
    put_lp(&mut aad, room.as_bytes());
    put_lp(&mut aad, sender_peer.as_bytes());
    aad
}

fn nonce(seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Seals one chat message. The caller guarantees `seq` is never reused with `key`.
pub fn seal_chat(
    key: &ChatKey,
    room: &RoomId,
    sender_peer: &str,
    header: ChatHeader,
    plaintext: &[u8],
) -> Result<Vec<u8>, E2eeError> {
    if plaintext.len() > MAX_CHAT_LEN {
        return Err(E2eeError::FrameTooLarge);
    }
    let cipher = Aes128Gcm::new_from_slice(&key.0).map_err(|_| E2eeError::Internal)?;
    let aad = aad(header, room, sender_peer);
    let ct = cipher
        .encrypt(
            &nonce(header.seq).into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| E2eeError::Internal)?;
    let mut out = Vec::with_capacity(CHAT_HEADER_LEN + ct.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens the ciphertext of a chat message whose header was parsed by [`parse_chat`].
pub fn open_chat(
    key: &ChatKey,
    room: &RoomId,
    sender_peer: &str,
    header: ChatHeader,
    ciphertext: &[u8],
) -> Result<Vec<u8>, E2eeError> {
    let cipher = Aes128Gcm::new_from_slice(&key.0).map_err(|_| E2eeError::Internal)?;
    let aad = aad(header, room, sender_peer);
    cipher
        .decrypt(
            &nonce(header.seq).into(),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| E2eeError::AuthenticationFailed)
}
