//! A participant's per-epoch sender key: the root of its two SFrame base keys (audio and video,
//! see [`crate::frame`]) and of its chat key, with the cipher suites its frames use.
//!
//! ```text
//! PRK            = HKDF-Extract("", sender key)
//! frame base key = HKDF-Expand(PRK, "sotto/v2 audio frames" | "sotto/v2 video frames", 16)
//!                  then RFC 9605 §4.4.2 with the KID and the suite of that kind
//! chat key       = HKDF-Expand(PRK, "sotto/v1 chat", 16)
//! ```
//! The suites travel with the key in its key message ([`crate::key_exchange`]), so a receiver
//! opens each kind with the suite its sender chose.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::frame::FrameSuites;

/// Length of a sender (SFrame base) key.
pub const SENDER_KEY_LEN: usize = 16;

/// A 16-byte sender key and the frame suites it is used with. The key is zeroized on drop and
/// redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SenderKey {
    bytes: [u8; SENDER_KEY_LEN],
    #[zeroize(skip)]
    suites: FrameSuites,
}

impl SenderKey {
    /// A fresh random sender key, with Sotto's default suites.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut bytes = [0u8; SENDER_KEY_LEN];
        rng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Wraps raw key bytes, with Sotto's default suites ([`FrameSuites::DEFAULT`]).
    pub fn from_bytes(bytes: [u8; SENDER_KEY_LEN]) -> Self {
        Self::with_suites(bytes, FrameSuites::DEFAULT)
    }

    /// Wraps raw key bytes used with `suites` (as a key message announced them).
    pub fn with_suites(bytes: [u8; SENDER_KEY_LEN], suites: FrameSuites) -> Self {
        Self { bytes, suites }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; SENDER_KEY_LEN] {
        &self.bytes
    }

    /// The suites of the frames sent under this key.
    pub fn suites(&self) -> FrameSuites {
        self.suites
    }
}

impl core::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SenderKey(<redacted>)")
    }
}
