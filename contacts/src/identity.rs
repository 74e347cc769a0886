//! The long-term identity: an X25519 HPKE key pair (DHKEM(X25519, HKDF-SHA256)) made from a
//! 32-byte seed, and a display name; its passphrase-encrypted backup.
//!
//! Backup file (binary, all integers big-endian):
//! ```text
//! "SOTTOID" (7) || version 0x01 || m_cost KiB (u32) || t_cost (u32) || p_cost (u32)
//!   || salt (16) || nonce (12) || AES-256-GCM(key, nonce, pt, aad = everything before it)
//! key = Argon2id(passphrase, salt, m_cost, t_cost, p_cost) -> 32 bytes
//! pt  = seed (32) || lp8(display name)
//! ```
//! The KDF parameters travel in the file (authenticated as AAD) so that they can be raised
//! later; on import they must lie within [`KdfParams`]' bounds, so a crafted file cannot
//! make the importer allocate gigabytes or spin for minutes.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, Serializable};
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::{b64url, b64url_exact, put_lp8, Reader};
use crate::ContactsError;

pub(crate) type Kem = X25519HkdfSha256;
pub(crate) type KemPrivateKey = <Kem as hpke::Kem>::PrivateKey;
pub(crate) type KemPublicKey = <Kem as hpke::Kem>::PublicKey;

/// Longest display name, in bytes of UTF-8.
pub const MAX_DISPLAY_NAME_BYTES: usize = 64;
/// Longest passphrase, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

/// A display name: 1 to 64 bytes of UTF-8 without control characters, trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn new(name: &str) -> Result<Self, ContactsError> {
        let trimmed = name.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_DISPLAY_NAME_BYTES
            || trimmed.chars().any(char::is_control)
        {
            return Err(ContactsError::BadDisplayName);
        }
        Ok(Self(trimmed.to_owned()))
    }
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ContactsError> {
        let s = std::str::from_utf8(bytes).map_err(|_| ContactsError::BadDisplayName)?;
        // What was sent must already be in canonical (trimmed) form.
        let name = Self::new(s)?;
        if name.0 != s {
            return Err(ContactsError::BadDisplayName);
        }
        Ok(name)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for DisplayName {
    /// Names are user data: `Debug` says how long, not what.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DisplayName(<{} bytes>)", self.0.len())
    }
}

/// u-coordinates of the small-order Curve25519 points and the non-canonical p-1, p, p+1
/// (libsodium's list), top bit ignored as X25519 ignores it.
fn is_small_order(bytes: &[u8; 32]) -> bool {
    const fn prime_plus(last: u8) -> [u8; 32] {
        let mut b = [0xffu8; 32];
        b[31] = 0x7f;
        b[0] = last;
        b
    }
    const LIST: [[u8; 32]; 7] = [
        [0; 32],
        {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        },
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        prime_plus(0xec),
        prime_plus(0xed),
        prime_plus(0xee),
    ];
    let mut masked = *bytes;
    masked[31] &= 0x7f;
    LIST.contains(&masked)
}

/// A long-term public key (X25519, 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Refuses small-order points and anything hpke refuses.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, ContactsError> {
        if is_small_order(bytes) {
            return Err(ContactsError::BadPublicKey);
        }
        KemPublicKey::from_bytes(bytes).map_err(|_| ContactsError::BadPublicKey)?;
        Ok(Self(*bytes))
    }
    pub fn from_base64url(text: &str) -> Result<Self, ContactsError> {
        Self::from_bytes(&b64url_exact::<32>(text)?)
    }
    pub fn to_base64url(&self) -> String {
        b64url(&self.0)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub(crate) fn to_kem(self) -> Result<KemPublicKey, ContactsError> {
        KemPublicKey::from_bytes(&self.0).map_err(|_| ContactsError::BadPublicKey)
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64url())
    }
}

/// The long-term identity of one person (all their tabs and devices share it through the
/// backup): a secret seed (zeroized on drop, never printed), the key pair derived from it, and
/// a display name.
pub struct Identity {
    seed: Zeroizing<[u8; 32]>,
    secret: KemPrivateKey,
    public: PublicKey,
    name: DisplayName,
}

impl Identity {
    /// A fresh identity.
    pub fn generate(
        rng: &mut impl rand_core::CryptoRng,
        name: DisplayName,
    ) -> Result<Self, ContactsError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(seed, name)
    }

    pub(crate) fn from_seed(
        seed: Zeroizing<[u8; 32]>,
        name: DisplayName,
    ) -> Result<Self, ContactsError> {
        let (secret, public) = Kem::derive_keypair(seed.as_ref());
        let bytes: [u8; 32] = public.to_bytes().into();
        // derive_keypair clamps, so the key is never of small order; checked anyway.
        let public = PublicKey::from_bytes(&bytes).map_err(|_| ContactsError::Internal)?;
        Ok(Self {
            seed,
            secret,
            public,
            name,
        })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }
    pub fn name(&self) -> &DisplayName {
        &self.name
    }
    pub fn set_name(&mut self, name: DisplayName) {
        self.name = name;
    }
    /// For storage ([`crate::storage`]).
    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }
    pub(crate) fn secret(&self) -> &KemPrivateKey {
        &self.secret
    }
    pub(crate) fn kem_public(&self) -> Result<KemPublicKey, ContactsError> {
        self.public.to_kem()
    }

    /// The passphrase-encrypted backup file (see the module docs).
    pub fn export_backup(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<Vec<u8>, ContactsError> {
        check_passphrase(passphrase)?;
        params.check()?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + 32 + 1 + 64 + 16);
        out.extend_from_slice(MAGIC);
        out.push(BACKUP_VERSION);
        out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
        out.extend_from_slice(&params.t_cost.to_be_bytes());
        out.extend_from_slice(&params.p_cost.to_be_bytes());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        let key = derive_backup_key(passphrase, &salt, params)?;
        let mut pt = Zeroizing::new(Vec::with_capacity(32 + 1 + MAX_DISPLAY_NAME_BYTES));
        pt.extend_from_slice(self.seed.as_ref());
        put_lp8(&mut pt, self.name.0.as_bytes());
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| ContactsError::Internal)?;
        let ct = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &pt,
                    aad: &out,
                },
            )
            .map_err(|_| ContactsError::Internal)?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a backup file made by [`Identity::export_backup`].
    pub fn import_backup(bytes: &[u8], passphrase: &str) -> Result<Self, ContactsError> {
        check_passphrase(passphrase)?;
        if bytes.len() > MAX_BACKUP_LEN {
            return Err(ContactsError::MalformedBackup);
        }
        let mut r = Reader::new(bytes, ContactsError::MalformedBackup);
        if r.take(MAGIC.len())? != MAGIC || r.u8()? != BACKUP_VERSION {
            return Err(ContactsError::MalformedBackup);
        }
        let params = KdfParams {
            m_cost_kib: r.u32()?,
            t_cost: r.u32()?,
            p_cost: r.u32()?,
        };
        params.check().map_err(|_| ContactsError::MalformedBackup)?;
        let salt: [u8; SALT_LEN] = r.array()?;
        let nonce: [u8; NONCE_LEN] = r.array()?;
        let ct = r.rest();
        if ct.len() < 32 + 1 + 1 + 16 {
            return Err(ContactsError::MalformedBackup);
        }
        let key = derive_backup_key(passphrase, &salt, params)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| ContactsError::Internal)?;
        let pt = Zeroizing::new(
            cipher
                .decrypt(
                    (&nonce).into(),
                    Payload {
                        msg: ct,
                        aad: &bytes[..HEADER_LEN],
                    },
                )
                .map_err(|_| ContactsError::BackupRejected)?,
        );
        // Authentic from here on: a parse failure means a bug in an exporter.
        let mut r = Reader::new(&pt, ContactsError::MalformedBackup);
        let seed = Zeroizing::new(r.array::<32>()?);
        let name = DisplayName::from_bytes(r.lp8()?).map_err(|_| ContactsError::MalformedBackup)?;
        r.finish()?;
        Self::from_seed(seed, name)
    }
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

const MAGIC: &[u8; 7] = b"SOTTOID";
const BACKUP_VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 7 + 1 + 12 + SALT_LEN + NONCE_LEN;
const MAX_BACKUP_LEN: usize = HEADER_LEN + 32 + 1 + MAX_DISPLAY_NAME_BYTES + 16;

/// Argon2id cost parameters of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// What `export_backup` should use: 64 MiB, 3 passes, 1 lane (above OWASP's Argon2id
    /// minimum of 19 MiB / 2 passes; about a second in a browser's wasm).
    pub const RECOMMENDED: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// Bounds accepted on import (and export): memory 8 KiB..=1 GiB, passes 1..=10, lanes 1..=4.
    /// The lower bound only keeps Argon2 valid; exports should use [`KdfParams::RECOMMENDED`].
    pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
    pub const MAX_T_COST: u32 = 10;
    pub const MAX_P_COST: u32 = 4;

    fn check(self) -> Result<(), ContactsError> {
        let ok = (1..=Self::MAX_P_COST).contains(&self.p_cost)
            && (1..=Self::MAX_T_COST).contains(&self.t_cost)
            && self.m_cost_kib >= 8 * self.p_cost
            && self.m_cost_kib <= Self::MAX_M_COST_KIB;
        if ok {
            Ok(())
        } else {
            Err(ContactsError::MalformedBackup)
        }
    }
}

fn check_passphrase(passphrase: &str) -> Result<(), ContactsError> {
    if passphrase.is_empty() || passphrase.len() > MAX_PASSPHRASE_BYTES {
        Err(ContactsError::BadPassphrase)
    } else {
        Ok(())
    }
}

fn derive_backup_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, ContactsError> {
    let p = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| ContactsError::MalformedBackup)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| ContactsError::Internal)?;
    Ok(key)
}

impl Drop for Identity {
    fn drop(&mut self) {
        // The seed is Zeroizing; the hpke private key (x25519-dalek StaticSecret) zeroizes on
        // its own drop. Nothing else holds secret bytes.
        self.seed.zeroize();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    /// Small parameters so that debug-build tests stay fast; exports use RECOMMENDED.
    pub(crate) const FAST: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    pub(crate) fn identity(name: &str) -> Identity {
        Identity::generate(&mut rng(), DisplayName::new(name).unwrap()).unwrap()
    }

    #[test]
    fn backup_round_trip_keeps_key_and_name() {
        let id = identity("Alice");
        let file = id.export_backup(&mut rng(), "correct horse", FAST).unwrap();
        let back = Identity::import_backup(&file, "correct horse").unwrap();
        assert_eq!(back.public_key(), id.public_key());
        assert_eq!(back.name(), id.name());
    }

    #[test]
    fn recommended_parameters_are_accepted() {
        assert!(KdfParams::RECOMMENDED.check().is_ok());
    }

    #[test]
    fn wrong_passphrase_and_any_altered_byte_are_refused() {
        let id = identity("Alice");
        let file = id.export_backup(&mut rng(), "pass", FAST).unwrap();
        assert_eq!(
            Identity::import_backup(&file, "Pass").unwrap_err(),
            ContactsError::BackupRejected
        );
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            let e = Identity::import_backup(&bad, "pass").unwrap_err();
            assert!(
                matches!(
                    e,
                    ContactsError::BackupRejected | ContactsError::MalformedBackup
                ),
                "byte {i}: {e:?}"
            );
        }
    }

    #[test]
    fn kdf_parameters_out_of_bounds_are_refused_before_hashing() {
        let id = identity("Alice");
        let file = id.export_backup(&mut rng(), "pass", FAST).unwrap();
        // m_cost = 4 GiB: would allocate before failing if not bounded.
        let mut huge = file.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Identity::import_backup(&huge, "pass").unwrap_err(),
            ContactsError::MalformedBackup
        );
        let mut passes = file.clone();
        passes[12..16].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(
            Identity::import_backup(&passes, "pass").unwrap_err(),
            ContactsError::MalformedBackup
        );
        assert_eq!(
            id.export_backup(&mut rng(), "pass", KdfParams { t_cost: 0, ..FAST })
                .unwrap_err(),
            ContactsError::MalformedBackup
        );
    }

    #[test]
    fn empty_or_huge_passphrase_is_refused() {
        let id = identity("A");
        assert_eq!(
            id.export_backup(&mut rng(), "", FAST).unwrap_err(),
            ContactsError::BadPassphrase
        );
        let long = "x".repeat(MAX_PASSPHRASE_BYTES + 1);
        assert_eq!(
            id.export_backup(&mut rng(), &long, FAST).unwrap_err(),
            ContactsError::BadPassphrase
        );
    }

    #[test]
    fn debug_prints_no_secret_and_no_name() {
        let id = identity("Zebulon");
        let text = format!("{id:?} {:?}", id.name());
        assert!(!text.contains("Zebulon"));
        assert!(text.contains("redacted"));
        assert!(!text.contains(&b64url(id.seed.as_ref())));
    }

    #[test]
    fn display_names_are_checked() {
        assert!(DisplayName::new("  Ann  ").is_ok_and(|n| n.as_str() == "Ann"));
        assert_eq!(
            DisplayName::new("").unwrap_err(),
            ContactsError::BadDisplayName
        );
        assert_eq!(
            DisplayName::new("a\u{7}b").unwrap_err(),
            ContactsError::BadDisplayName
        );
        assert_eq!(
            DisplayName::new(&"é".repeat(33)).unwrap_err(),
            ContactsError::BadDisplayName
        );
        assert_eq!(
            DisplayName::from_bytes(b" padded").unwrap_err(),
            ContactsError::BadDisplayName
        );
    }

    #[test]
    fn small_order_public_keys_are_refused() {
        assert_eq!(
            PublicKey::from_bytes(&[0; 32]).unwrap_err(),
            ContactsError::BadPublicKey
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&one).unwrap_err(),
            ContactsError::BadPublicKey
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_bytes_import_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(Identity::import_backup(&bytes, "pass").is_err());
        }
    }
}
