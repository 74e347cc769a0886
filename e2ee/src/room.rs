//! The room secret and what is derived from it.
//!
//! ```text
//!   room secret (32 random bytes, URL fragment only, base64url 43 chars)
//!        │ HKDF-Extract(salt = "sotto/v1 room", IKM = secret)
//!        ▼
//!       PRK ──HKDF-Expand(info = "sotto/v1 room id", 16)──►  room id  (server sees it, base64url 22 chars)
//!        ├────HKDF-Expand(info = "sotto/v1 room psk", 32)─►  room PSK (HPKE AuthPSK, never leaves the client)
//!        └────HKDF-Expand(info = "sotto/v2 roster key", 16)► roster key (AES-128-GCM, seals the
//!                                                            identity each participant announces)
//! ```
//! HKDF-Expand outputs under distinct `info` labels are independent PRF outputs: knowing the room
//! id reveals nothing of the PSK, and vice versa (RFC 5869 §3.2).

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::{b64url, b64url_exact};
use crate::E2eeError;

const ROOM_SALT: &[u8] = b"sotto/v1 room";
const ROOM_ID_LABEL: &[u8] = b"sotto/v1 room id";
const ROOM_PSK_LABEL: &[u8] = b"sotto/v1 room psk";
const ROSTER_KEY_LABEL: &[u8] = b"sotto/v2 roster key";

/// Length of the room secret in bytes.
pub const ROOM_SECRET_LEN: usize = 32;
/// Length of the room id in bytes.
pub const ROOM_ID_LEN: usize = 16;

/// The 32-byte room secret. It lives only in the URL fragment and in memory; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RoomSecret([u8; ROOM_SECRET_LEN]);

impl RoomSecret {
    /// A fresh random room secret.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut bytes = [0u8; ROOM_SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A fresh room secret from the operating system's (or browser's) CSPRNG.
    pub fn generate_from_os() -> Self {
        Self::generate(&mut crate::os_rng())
    }

    /// Parses the base64url (no padding, 43 characters) form.
    pub fn from_base64url(text: &str) -> Result<Self, E2eeError> {
        b64url_exact::<ROOM_SECRET_LEN>(text).map(Self)
    }

    /// The base64url (no padding, 43 characters) form, for the URL fragment.
    pub fn to_base64url(&self) -> String {
        b64url(&self.0)
    }

    /// Derives the room id, the room PSK and the roster key.
    pub fn derive(&self) -> RoomKeys {
        let hk = Hkdf::<Sha256>::new(Some(ROOM_SALT), &self.0);
        let mut id = [0u8; ROOM_ID_LEN];
        let mut psk = RoomPsk([0u8; 32]);
        let mut roster = RosterKey([0u8; 16]);
        // Every length is far below 255 * HashLen, so expand cannot fail.
        let _ = hk.expand(ROOM_ID_LABEL, &mut id);
        let _ = hk.expand(ROOM_PSK_LABEL, &mut psk.0);
        let _ = hk.expand(ROSTER_KEY_LABEL, &mut roster.0);
        RoomKeys {
            room_id: RoomId::from_bytes(id),
            psk,
            roster,
        }
    }
}

impl core::fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RoomSecret(<redacted>)")
    }
}

/// The room id: 16 bytes, shown to the signaling server as base64url (22 characters).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RoomId {
    bytes: [u8; ROOM_ID_LEN],
    text: String,
}

impl RoomId {
    fn from_bytes(bytes: [u8; ROOM_ID_LEN]) -> Self {
        Self {
            bytes,
            text: b64url(&bytes),
        }
    }

    /// Parses the base64url form (22 characters).
    pub fn from_base64url(text: &str) -> Result<Self, E2eeError> {
        b64url_exact::<ROOM_ID_LEN>(text).map(Self::from_bytes)
    }

    /// The base64url form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; ROOM_ID_LEN] {
        &self.bytes
    }
}

/// The 32-byte HPKE pre-shared key of the room. Zeroized on drop; crate-private contents.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RoomPsk(pub(crate) [u8; 32]);

/// The 16-byte AES-128-GCM key that seals announced identities (`sealed_identity`). Zeroized on
/// drop; crate-private contents.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RosterKey(pub(crate) [u8; 16]);

/// What a participant derives from the room secret: the public room id, the private PSK and
/// the private roster key.
#[derive(Clone)]
pub struct RoomKeys {
    room_id: RoomId,
    psk: RoomPsk,
    roster: RosterKey,
}

impl RoomKeys {
    /// The room id the signaling server sees.
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }

    pub(crate) fn psk(&self) -> &[u8; 32] {
        &self.psk.0
    }

    pub(crate) fn roster_key(&self) -> &[u8; 16] {
        &self.roster.0
    }
}

impl core::fmt::Debug for RoomKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RoomKeys")
            .field("room_id", &self.room_id.as_str())
            .field("psk", &"<redacted>")
            .field("roster_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn encodings_have_the_promised_lengths_and_round_trip() {
        let secret = RoomSecret([42u8; 32]);
        let text = secret.to_base64url();
        assert_eq!(text.len(), 43);
        let again = RoomSecret::from_base64url(&text).unwrap();
        assert_eq!(again.0, secret.0);
        let keys = secret.derive();
        assert_eq!(keys.room_id().as_str().len(), 22);
        assert_eq!(
            RoomId::from_base64url(keys.room_id().as_str()).unwrap(),
            *keys.room_id()
        );
    }

    #[test]
    fn id_psk_and_roster_key_are_distinct_and_depend_on_the_secret() {
        let a = RoomSecret([1u8; 32]).derive();
        let b = RoomSecret([2u8; 32]).derive();
        assert_ne!(a.room_id(), b.room_id());
        assert_ne!(a.psk(), b.psk());
        assert_ne!(a.roster_key(), b.roster_key());
        assert_ne!(&a.psk()[..16], a.room_id().as_bytes());
        assert_ne!(a.roster_key(), a.room_id().as_bytes());
        assert_ne!(a.roster_key(), &a.psk()[..16]);
    }

    /// The roster key is HKDF-Expand(PRK, "sotto/v2 roster key", 16) of the same PRK as the id
    /// and the PSK (an independent derivation with the hkdf crate's two steps spelled out).
    #[test]
    fn roster_key_follows_the_key_schedule() {
        let secret = [9u8; 32];
        let (prk, _) = Hkdf::<Sha256>::extract(Some(b"sotto/v1 room"), &secret);
        let hk = Hkdf::<Sha256>::from_prk(&prk).unwrap();
        let mut expected = [0u8; 16];
        hk.expand(b"sotto/v2 roster key", &mut expected).unwrap();
        assert_eq!(RoomSecret(secret).derive().roster_key(), &expected);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let secret = RoomSecret([0xAB; 32]);
        let s = format!("{secret:?} {:?}", secret.derive());
        assert!(s.contains("<redacted>"));
        assert!(!s.contains(&secret.to_base64url()));
    }

    #[test]
    fn rejects_bad_text() {
        assert!(RoomSecret::from_base64url("").is_err());
        assert!(RoomSecret::from_base64url(&"A".repeat(44)).is_err());
        assert!(RoomSecret::from_base64url(&"+".repeat(43)).is_err());
    }
}
