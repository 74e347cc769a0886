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

    /// From raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, E2eeError> {
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
