//! The AEAD provider seam of SFrame: everything in [`crate::sframe`] and [`crate::frame`] (the
//! format, key schedule, header, counters, replay window, codec layouts) is written once, and the
//! AEAD itself comes from a provider.
//!
//! - [`SoftAead`]: RustCrypto (`aes-gcm`; `aes` + `ctr` + `hmac`/`sha2` for the CTR-HMAC
//!   suites), natively, in the tests and inside the wasm for small frames. The cipher is built
//!   once per key (AES round keys, the GHASH key, the keyed HMAC state) and reused for every
//!   frame.
//! - The platform: in the browser the crypto Worker runs AES-GCM on WebCrypto (the CPU's AES
//!   instructions) with a non-extractable `CryptoKey` imported once per key, on the nonce and
//!   AAD this crate computes ([`crate::frame::SealJob`], [`crate::frame::OpenJob`]). WebCrypto
//!   is asynchronous, so that provider is not an implementation of [`FrameAead`] but the same
//!   three values handed out and the result handed back; `e2e/frame-providers.test.mjs` runs
//!   the RFC 9605 vectors through it.
//!
//! RFC 9605 §4.5.1, the CTR-HMAC construction (its pseudocode):
//! ```text
//! enc_key, auth_key = key[..16], key[16..48]
//! ct  = AES-CTR(enc_key, nonce || 0x00000000, pt)
//! tag = truncate(HMAC-SHA256(auth_key, len(aad) (u64) || len(ct) (u64) || Nt (u64)
//!                                      || nonce || aad || ct), Nt)
//! ```

use aes::Aes128;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes128Gcm;
use ctr::cipher::{InnerIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::sframe::{Suite, AES_KEY_LEN, MAX_KEY_LEN, NONCE_LEN};
use crate::E2eeError;

/// An SFrame AEAD: encrypts or decrypts in place, the tag apart.
pub trait FrameAead {
    /// The suite (tag length).
    fn suite(&self) -> Suite;

    /// Encrypts `buf` in place under `nonce` and `aad`; writes the tag into `tag`
    /// (`suite().tag_len()` bytes).
    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), E2eeError>;

    /// Checks `tag` and decrypts `buf` in place. On [`E2eeError::AuthenticationFailed`] the
    /// content of `buf` is unspecified (the caller discards it).
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), E2eeError>;
}

/// The RustCrypto provider, keyed once. Key schedules wipe themselves on drop (`zeroize`
/// features, see `Cargo.toml`).
pub enum SoftAead {
    /// AES-128-GCM (suite 4).
    Gcm(Box<Aes128Gcm>),
    /// AES-128-CTR with HMAC-SHA256 truncated to the suite's tag (suites 1-3).
    CtrHmac {
        /// Which of the three.
        suite: Suite,
        /// The AES key schedule.
        aes: Box<Aes128>,
        /// HMAC keyed with `auth_key` (cloned per frame: the key is absorbed once).
        mac: Box<Hmac<Sha256>>,
    },
}

impl SoftAead {
    /// Keys the provider with `sframe_key` (its first `suite.key_len()` bytes).
    pub fn new(suite: Suite, key: &[u8; MAX_KEY_LEN]) -> Result<Self, E2eeError> {
        if suite.is_gcm() {
            let gcm =
                Aes128Gcm::new_from_slice(&key[..AES_KEY_LEN]).map_err(|_| E2eeError::Internal)?;
            return Ok(SoftAead::Gcm(Box::new(gcm)));
        }
        let aes = Aes128::new_from_slice(&key[..AES_KEY_LEN]).map_err(|_| E2eeError::Internal)?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[AES_KEY_LEN..])
            .map_err(|_| E2eeError::Internal)?;
        Ok(SoftAead::CtrHmac {
            suite,
            aes: Box::new(aes),
            mac: Box::new(mac),
        })
    }
}

fn ctr_apply(aes: &Aes128, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..NONCE_LEN].copy_from_slice(nonce);
    let core = ctr::CtrCore::<&Aes128, ctr::flavors::Ctr32BE>::inner_iv_init(aes, &iv.into());
    ctr::cipher::StreamCipherCoreWrapper::from_core(core).apply_keystream(buf);
}

fn ctr_hmac_tag(
    mac: &Hmac<Sha256>,
    tag_len: usize,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ct: &[u8],
) -> Hmac<Sha256> {
    let mut m = mac.clone();
    m.update(&(aad.len() as u64).to_be_bytes());
    m.update(&(ct.len() as u64).to_be_bytes());
    m.update(&(tag_len as u64).to_be_bytes());
    m.update(nonce);
    m.update(aad);
    m.update(ct);
    m
}

impl FrameAead for SoftAead {
    fn suite(&self) -> Suite {
        match self {
            SoftAead::Gcm(_) => Suite::AesGcm128Sha256,
            SoftAead::CtrHmac { suite, .. } => *suite,
        }
    }

    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), E2eeError> {
        let tag_len = self.suite().tag_len();
        let tag = tag.get_mut(..tag_len).ok_or(E2eeError::Internal)?;
        match self {
            SoftAead::Gcm(gcm) => {
                let t = gcm
                    .encrypt_inout_detached(&(*nonce).into(), aad, buf.into())
                    .map_err(|_| E2eeError::Internal)?;
                tag.copy_from_slice(&t);
            }
            SoftAead::CtrHmac { aes, mac, .. } => {
                ctr_apply(aes, nonce, buf);
                let full = ctr_hmac_tag(mac, tag_len, nonce, aad, buf).finalize();
                tag.copy_from_slice(&full.into_bytes()[..tag_len]);
            }
        }
        Ok(())
    }

    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), E2eeError> {
        let tag_len = self.suite().tag_len();
        if tag.len() != tag_len {
            return Err(E2eeError::AuthenticationFailed);
        }
        match self {
            SoftAead::Gcm(gcm) => {
                let tag: [u8; 16] = tag.try_into().map_err(|_| E2eeError::Internal)?;
                gcm.decrypt_inout_detached(&(*nonce).into(), aad, buf.into(), &tag.into())
                    .map_err(|_| E2eeError::AuthenticationFailed)
            }
            SoftAead::CtrHmac { aes, mac, .. } => {
                let full = ctr_hmac_tag(mac, tag_len, nonce, aad, buf).finalize();
                if !bool::from(full.into_bytes()[..tag_len].ct_eq(tag)) {
                    return Err(E2eeError::AuthenticationFailed);
                }
                ctr_apply(aes, nonce, buf);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every suite: a round trip, and every flipped bit of tag, ciphertext or AAD refused.
    #[test]
    fn round_trip_and_tamper_every_suite() {
        let key = [7u8; MAX_KEY_LEN];
        let nonce = [3u8; NONCE_LEN];
        for suite in Suite::ALL {
            let aead = SoftAead::new(suite, &key).unwrap();
            let plain: Vec<u8> = (0..100u8).collect();
            let mut buf = plain.clone();
            let mut tag = [0u8; 16];
            aead.seal(&nonce, b"aad", &mut buf, &mut tag).unwrap();
            let tag = &tag[..suite.tag_len()];
            assert_ne!(buf, plain);
            let mut opened = buf.clone();
            aead.open(&nonce, b"aad", &mut opened, tag).unwrap();
            assert_eq!(opened, plain, "{suite:?}");
            for i in 0..tag.len() * 8 {
                let mut t = tag.to_vec();
                t[i / 8] ^= 1 << (i % 8);
                let mut b = buf.clone();
                assert!(aead.open(&nonce, b"aad", &mut b, &t).is_err());
            }
            let mut b = buf.clone();
            b[50] ^= 1;
            assert!(aead.open(&nonce, b"aad", &mut b, tag).is_err());
            let mut b = buf.clone();
            assert!(aead.open(&nonce, b"aae", &mut b, tag).is_err());
            let mut b = buf.clone();
            assert!(aead.open(&[4u8; NONCE_LEN], b"aad", &mut b, tag).is_err());
            // a tag of the wrong length is refused, not truncated
            let mut b = buf.clone();
            assert!(aead.open(&nonce, b"aad", &mut b, &tag[1..]).is_err());
        }
    }
}
