//! A participant's per-epoch sender key: the SFrame base key (RFC 9605 §4.4.1) and the root of
//! its chat key.
//!
//! For the cipher suite `AES_128_GCM_SHA256_128` (0x0004) the base key is 16 bytes
//! (`AEAD.Nk`). SFrame derives the frame key and salt from it:
//!
//! ```text
//! sframe_secret = HKDF-Extract("", base_key)
//! sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key " + KID + CipherSuite, AEAD.Nk)
//! sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " + KID + CipherSuite, AEAD.Nn)
//! ```
//! and Sotto derives the chat key under its own label from the same extract:
//! `chat_key = HKDF-Expand(HKDF-Extract("", base_key), "sotto/v1 chat", 16)`.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a sender (SFrame base) key.
pub const SENDER_KEY_LEN: usize = 16;

/// A 16-byte SFrame base key. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SenderKey([u8; SENDER_KEY_LEN]);

impl SenderKey {
    /// A fresh random sender key.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut bytes = [0u8; SENDER_KEY_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps raw key bytes (received from a key message, or a test).
    pub fn from_bytes(bytes: [u8; SENDER_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; SENDER_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SenderKey(<redacted>)")
    }
}
