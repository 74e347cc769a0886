//! Identity keys: one HPKE key pair per participant, KEM DHKEM(X25519, HKDF-SHA256).
//!
//! The public key goes into the roster as base64url (43 characters); the server relays it but
//! cannot use it. The secret key never leaves [`IdentityKeyPair`]; it is an
//! `x25519_dalek::StaticSecret` inside `hpke`, which zeroizes on drop.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, Serializable};

use crate::encoding::{b64url, b64url_exact};
use crate::E2eeError;

pub(crate) type IdentityKem = X25519HkdfSha256;
type KemPrivateKey = <IdentityKem as hpke::Kem>::PrivateKey;
type KemPublicKey = <IdentityKem as hpke::Kem>::PublicKey;

/// A participant's identity key pair (secret part redacted from `Debug`, zeroized on drop).
#[derive(Clone)]
pub struct IdentityKeyPair {
    secret: KemPrivateKey,
    public: IdentityPublicKey,
}

impl IdentityKeyPair {
    /// A fresh key pair.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let (secret, public) = IdentityKem::gen_keypair_with_rng(rng);
        let bytes: [u8; 32] = public.to_bytes().into();
        Self {
            secret,
            public: IdentityPublicKey { bytes },
        }
    }

    /// A fresh key pair from the operating system's (or browser's) CSPRNG.
    pub fn generate_from_os() -> Self {
        Self::generate(&mut crate::os_rng())
    }

    /// The public half, for the roster.
    pub fn public_key(&self) -> IdentityPublicKey {
        self.public.clone()
    }

    pub(crate) fn secret(&self) -> &KemPrivateKey {
        &self.secret
    }

    pub(crate) fn kem_public(&self) -> Result<KemPublicKey, E2eeError> {
        self.public.to_kem()
    }
}

impl core::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The u-coordinates of the Curve25519 points of small order, little-endian, and the
/// non-canonical encodings p-1, p, p+1 (the list libsodium refuses). The top bit is ignored,
/// as X25519 itself ignores it.
const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
    [0; 32],
    {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    },
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    field_prime_plus(-1),
    field_prime_plus(0),
    field_prime_plus(1),
];

/// p + delta for p = 2^255 - 19 and delta in -1..=1, little-endian.
const fn field_prime_plus(delta: i8) -> [u8; 32] {
    let mut bytes = [0xffu8; 32];
    bytes[31] = 0x7f;
    bytes[0] = match delta {
        -1 => 0xec,
        0 => 0xed,
        _ => 0xee,
    };
    bytes
}

fn is_small_order(bytes: &[u8; 32]) -> bool {
    let mut masked = *bytes;
    masked[31] &= 0x7f;
    SMALL_ORDER_POINTS.contains(&masked)
}

/// A participant's public identity key (32 bytes, X25519).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityPublicKey {
    bytes: [u8; 32],
}

impl IdentityPublicKey {
    /// Parses the base64url form (43 characters). Rejects encodings that are not 32 bytes.
    pub fn from_base64url(text: &str) -> Result<Self, E2eeError> {
        Self::from_bytes(&b64url_exact::<32>(text)?)
    }

    /// From raw bytes. Refuses the X25519 points of small order (and their non-canonical
    /// encodings): a Diffie-Hellman with them gives an all-zero secret, so HPKE would fail
    /// to seal to them later, and a server that injected one could stall key rotation.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, E2eeError> {
        if is_small_order(bytes) {
            return Err(E2eeError::BadPublicKey);
        }
        // Round-trip through the KEM type so anything hpke would refuse is refused here.
        KemPublicKey::from_bytes(bytes).map_err(|_| E2eeError::BadPublicKey)?;
        Ok(Self { bytes: *bytes })
    }

    /// The base64url form (43 characters).
    pub fn to_base64url(&self) -> String {
        b64url(&self.bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub(crate) fn to_kem(&self) -> Result<KemPublicKey, E2eeError> {
        KemPublicKey::from_bytes(&self.bytes).map_err(|_| E2eeError::BadPublicKey)
    }
}

impl core::fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "IdentityPublicKey({})", self.to_base64url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_points_are_refused_in_every_encoding() {
        for point in SMALL_ORDER_POINTS {
            let mut high = point;
            high[31] |= 0x80;
            for bytes in [point, high] {
                assert_eq!(
                    IdentityPublicKey::from_bytes(&bytes),
                    Err(E2eeError::BadPublicKey),
                    "{bytes:02x?}"
                );
            }
        }
    }

    #[test]
    fn ordinary_keys_are_accepted() {
        let key = IdentityKeyPair::generate_from_os().public_key();
        assert_eq!(IdentityPublicKey::from_bytes(key.as_bytes()), Ok(key));
    }
}
