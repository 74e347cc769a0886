//! The safety code participants compare out of band to detect a key-substituting server.
//!
//! ```text
//! code = SHA-256("sotto/v1 safety code" || room id (16 bytes) || n (u32 BE)
//!                || identity public keys, each 32 bytes, sorted bytewise)
//! digits = 6 groups of 5 digits: group i = (bytes[5i..5i+5] as u40 BE) mod 100000  (~99.7 bits)
//! words  = 10 words: WORDS[bytes[20 + i]]                                          (80 bits)
//! ```
//! Sorting makes the code independent of roster order; any substituted key changes it.
//! Equality compares the whole hash in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identity::IdentityPublicKey;
use crate::room::RoomId;
use crate::wordlist::WORDS;

const LABEL: &[u8] = b"sotto/v1 safety code";
/// Number of 5-digit groups shown.
pub const DIGIT_GROUPS: usize = 6;
/// Number of words shown.
pub const WORD_COUNT: usize = 10;

/// A safety code over a room and its participants' identity keys.
#[derive(Clone)]
pub struct SafetyCode([u8; 32]);

impl SafetyCode {
    /// Computes the code over `room` and the identity keys of everyone in the call (including
    /// oneself), in any order.
    pub fn compute(room: &RoomId, keys: &[IdentityPublicKey]) -> Self {
        let mut sorted: Vec<&[u8; 32]> = keys.iter().map(IdentityPublicKey::as_bytes).collect();
        sorted.sort();
        let mut h = Sha256::new();
        h.update(LABEL);
        h.update(room.as_bytes());
        h.update(
            u32::try_from(sorted.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for k in sorted {
            h.update(k);
        }
        Self(h.finalize().into())
    }

    /// 30 digits in 6 groups of 5, separated by spaces (about 99.7 bits).
    pub fn digits(&self) -> String {
        let groups: Vec<String> = self.0[..DIGIT_GROUPS * 5]
            .chunks_exact(5)
            .map(|c| {
                let n = c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                format!("{:05}", n % 100_000)
            })
            .collect();
        groups.join(" ")
    }

    /// 10 words (80 bits).
    pub fn words(&self) -> Vec<&'static str> {
        self.0[20..20 + WORD_COUNT]
            .iter()
            .map(|&b| WORDS[usize::from(b)])
            .collect()
    }

    /// The full 32-byte hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SafetyCode {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SafetyCode {}

impl core::fmt::Debug for SafetyCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SafetyCode({})", self.digits())
    }
}
