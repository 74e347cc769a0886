//! # sotto-e2ee
//!
//! Sotto's end-to-end encryption core, pure Rust, no platform code (the browser bridge is
//! `client-wasm`). One concept per module:
//!
//! | module              | what                                                                |
//! |---------------------|---------------------------------------------------------------------|
//! | [`room`]            | room secret (URL fragment) -> room id, room PSK, roster key (HKDF)  |
//! | [`identity`]        | per-participant HPKE X25519 key pair                                |
//! | [`sealed_identity`] | v2: the announced identity sealed under the roster key              |
//! | [`sender_key`]      | per-sender, per-epoch SFrame base key                               |
//! | [`key_exchange`]    | sender key sealed with HPKE AuthPSK (RFC 9180), key message format  |
//! | [`envelope`]        | v2: sealed peer envelopes, HPKE AuthPSK per message, per-pair seq   |
//! | [`sframe`]          | SFrame (RFC 9605): suites, header, key schedule, nonce              |
//! | [`aead`]            | the AEAD provider seam: RustCrypto here, the platform's in the bridge |
//! | [`codec`]           | codecs, their clear prefix and media kind                           |
//! | [`h264`]            | NAL-aware H.264 layout with emulation prevention                    |
//! | [`frame`]           | SFrame (RFC 9605) frame sender/receiver                             |
//! | [`replay`]          | sliding replay window                                               |
//! | [`chat`]            | chat messages under a key derived from the sender key               |
//! | [`verification`]    | v2: safety code by commit, then reveal (5 words + 256-bit hex)      |
//! | [`safety`]          | v1 safety code (digits and words) over the room and identity keys   |
//! | [`group`]           | [`GroupKeys`], the state machine the client drives                  |
//!
//! Randomness is always passed in (`&mut impl rand_core::CryptoRng`) except in functions named
//! `*_from_os`; time is passed in as `now_ms`. See `KEY-SCHEDULE.md` for the whole key schedule.

pub mod aead;
pub mod av1;
pub mod chat;
pub mod codec;
mod encoding;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod group;
pub mod h264;
pub mod identity;
pub mod key_exchange;
pub mod replay;
pub mod room;
pub mod safety;
pub mod sealed_identity;
pub mod sender_key;
pub mod sframe;
pub mod verification;
mod wordlist;

pub use codec::{Codec, MediaKind};
pub use error::{E2eeError, RosterRejection};
pub use frame::FrameSuites;
#[cfg(feature = "testing")]
pub use group::TestingKeys;
pub use group::{
    EnvelopeStats, FrameStats, GroupKeys, KeyUpdate, OpenedEnvelope, OutgoingKeyMessage, PeerStats,
    RejectedEntry, Resealed, RosterEntry, RosterOutcome, SealedEnvelope, SealedRosterEntry,
    DEFAULT_GRACE_MS,
};
pub use identity::{IdentityKeyPair, IdentityPublicKey};
pub use room::{RoomId, RoomKeys, RoomSecret};
pub use safety::SafetyCode;
pub use sender_key::SenderKey;
pub use sframe::Suite;

/// Longest peer id accepted, in bytes.
pub const MAX_PEER_ID_LEN: usize = 256;

/// The operating system's (browser's, on wasm32) CSPRNG, for the `*_from_os` conveniences.
pub(crate) fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

#[cfg(test)]
mod tests {
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    /// Compiles only with the `zeroize` features of the AES and HMAC crates on (see
    /// `Cargo.toml`): the cipher types hpke, the frames and the chat code use wipe their round
    /// keys and keyed hash states when dropped. (`aes-gcm/zeroize` turns on `ghash/zeroize`
    /// and `polyval/zeroize` too.)
    #[test]
    fn aes_and_aes_gcm_state_is_wiped_on_drop() {
        wipes_on_drop::<aes::Aes128>();
        wipes_on_drop::<aes_gcm::Aes128Gcm>();
        wipes_on_drop::<ctr::Ctr32BE<aes::Aes128>>();
        // the keyed HMAC-SHA256 of the CTR-HMAC suites is two SHA-256 block states, which
        // wipe themselves on drop with sha2's `zeroize` feature, as the hasher does:
        wipes_on_drop::<sha2::Sha256>();
    }
}
