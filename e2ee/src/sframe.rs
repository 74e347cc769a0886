//! SFrame (RFC 9605) itself, written here over the AEAD provider seam of [`crate::aead`]:
//! cipher suites, the header, the key schedule and the nonce. Nothing in this module knows about
//! codecs, media kinds or who holds which key (see [`crate::frame`]).
//!
//! ```text
//! header (§4.3), config byte  X KKK Y CCC:
//!    X = 0: KID = KKK                 X = 1: KID in the KKK+1 bytes after the config byte
//!    Y = 0: CTR = CCC                 Y = 1: CTR in the CCC+1 bytes after the KID
//!    both big-endian, minimal (this parser refuses a longer encoding of the same value)
//!
//! key schedule (§4.4.2), per base key, KID and suite:
//!    sframe_secret = HKDF-Extract("", base_key)
//!    sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  || KID (u64) || suite (u16), Nk)
//!    sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " || KID (u64) || suite (u16), Nn)
//!
//! encryption (§4.4.3):
//!    nonce = sframe_salt XOR CTR (big-endian, Nn bytes)
//!    aad   = header || metadata
//!    SFrame ciphertext = header || AEAD.Encrypt(sframe_key, nonce, aad, plaintext)   (ct || tag)
//! ```
//! The suites Sotto speaks (§4.5; all with HKDF-SHA256, Nn = 12):
//!
//! | id | suite                          | Nk            | tag (Nt) | used for                  |
//! |----|--------------------------------|---------------|----------|---------------------------|
//! | 1  | AES_128_CTR_HMAC_SHA256_80     | 48 (16 + 32)  | 10       | audio, if a sender asks   |
//! | 2  | AES_128_CTR_HMAC_SHA256_64     | 48 (16 + 32)  | 8        | audio (Sotto's default)   |
//! | 3  | AES_128_CTR_HMAC_SHA256_32     | 48 (16 + 32)  | 4        | RFC vectors only (refused)|
//! | 4  | AES_128_GCM_SHA256_128         | 16            | 16       | video (always), audio     |
//!
//! `tests/vectors.rs` checks every piece against the RFC's test vectors and against another
//! SFrame implementation (the `sframe` crate).

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::E2eeError;

/// AEAD nonce length of every suite (Nn).
pub const NONCE_LEN: usize = 12;
/// Longest header: config byte, 8 KID bytes, 8 CTR bytes.
pub const MAX_HEADER_LEN: usize = 17;
/// Longest key of any suite (Nk of the CTR-HMAC suites: AES-128 key and HMAC-SHA256 key).
pub const MAX_KEY_LEN: usize = 48;
/// Length of the AES key of every suite.
pub const AES_KEY_LEN: usize = 16;

/// An RFC 9605 cipher suite Sotto can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// `AES_128_CTR_HMAC_SHA256_80` (0x0001): 10-byte tag.
    AesCtr128HmacSha256_80,
    /// `AES_128_CTR_HMAC_SHA256_64` (0x0002): 8-byte tag.
    AesCtr128HmacSha256_64,
    /// `AES_128_CTR_HMAC_SHA256_32` (0x0003): 4-byte tag.
    AesCtr128HmacSha256_32,
    /// `AES_128_GCM_SHA256_128` (0x0004): 16-byte tag.
    AesGcm128Sha256,
}

impl Suite {
    /// Every suite, for tests.
    pub const ALL: [Suite; 4] = [
        Suite::AesCtr128HmacSha256_80,
        Suite::AesCtr128HmacSha256_64,
        Suite::AesCtr128HmacSha256_32,
        Suite::AesGcm128Sha256,
    ];

    /// The registered identifier (RFC 9605 §8.2).
    pub const fn id(self) -> u16 {
        match self {
            Suite::AesCtr128HmacSha256_80 => 1,
            Suite::AesCtr128HmacSha256_64 => 2,
            Suite::AesCtr128HmacSha256_32 => 3,
            Suite::AesGcm128Sha256 => 4,
        }
    }

    /// The suite with identifier `id`, if Sotto speaks it.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Suite::AesCtr128HmacSha256_80),
            2 => Some(Suite::AesCtr128HmacSha256_64),
            3 => Some(Suite::AesCtr128HmacSha256_32),
            4 => Some(Suite::AesGcm128Sha256),
            _ => None,
        }
    }

    /// Length of the authentication tag (Nt).
    pub const fn tag_len(self) -> usize {
        match self {
            Suite::AesCtr128HmacSha256_80 => 10,
            Suite::AesCtr128HmacSha256_64 => 8,
            Suite::AesCtr128HmacSha256_32 => 4,
            Suite::AesGcm128Sha256 => 16,
        }
    }

    /// Length of the key (Nk).
    pub const fn key_len(self) -> usize {
        match self {
            Suite::AesGcm128Sha256 => AES_KEY_LEN,
            _ => MAX_KEY_LEN,
        }
    }

    /// Is this AES-GCM (the suite a platform's AES-GCM can run)?
    pub const fn is_gcm(self) -> bool {
        matches!(self, Suite::AesGcm128Sha256)
    }
}

/// An SFrame header: key id and counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Key id.
    pub kid: u64,
    /// Counter.
    pub ctr: u64,
}

/// Bytes of a value in minimal big-endian form (at least 1).
fn byte_len(v: u64) -> usize {
    (8 - (v.leading_zeros() / 8) as usize).max(1)
}

impl Header {
    /// Writes the header into `out` (which must hold [`MAX_HEADER_LEN`] bytes); returns its
    /// length.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        let mut n = 1;
        let mut config = 0u8;
        for (v, shift) in [(self.kid, 4), (self.ctr, 0)] {
            let bytes = v.to_be_bytes();
            if v < 8 {
                // v < 8: the last byte holds it all, and it fits the 3 bits
                config |= bytes[7] << shift;
            } else {
                let len = byte_len(v);
                // len is 1..=8, so len - 1 fits the 3 bits
                config |= (0x08 | u8::try_from(len - 1).unwrap_or(7)) << shift;
                out[n..n + len].copy_from_slice(&bytes[8 - len..]);
                n += len;
            }
        }
        out[0] = config;
        n
    }

    /// The encoded header as a vector (tests, documentation).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = self.encode(&mut out);
        out[..n].to_vec()
    }

    /// Parses a header at the start of `bytes`: the header and its length. Refuses a cut
    /// header and a longer-than-minimal encoding of a KID or CTR (there is exactly one
    /// encoding of each header).
    pub fn parse(bytes: &[u8]) -> Result<(Header, usize), E2eeError> {
        let config = *bytes.first().ok_or(E2eeError::MalformedFrame)?;
        let mut n = 1;
        let mut values = [0u64; 2];
        for (slot, shift) in values.iter_mut().zip([4u32, 0]) {
            let field = (config >> shift) & 0x0f;
            if field & 0x08 == 0 {
                *slot = u64::from(field);
                continue;
            }
            let len = usize::from(field & 0x07) + 1;
            let raw = bytes.get(n..n + len).ok_or(E2eeError::MalformedFrame)?;
            let mut v = 0u64;
            for &b in raw {
                v = (v << 8) | u64::from(b);
            }
            // minimal: a value below 8 goes in the config byte, and no leading zero byte
            if v < 8 || byte_len(v) != len {
                return Err(E2eeError::MalformedFrame);
            }
            *slot = v;
            n += len;
        }
        Ok((
            Header {
                kid: values[0],
                ctr: values[1],
            },
            n,
        ))
    }
}

/// The key and salt of one (base key, KID, suite): RFC 9605 §4.4.2. Wiped on drop.
pub struct KeyAndSalt {
    /// `sframe_key` (the first `suite.key_len()` bytes are used).
    pub key: Zeroizing<[u8; MAX_KEY_LEN]>,
    /// `sframe_salt`.
    pub salt: [u8; NONCE_LEN],
}

/// Derives `sframe_key` and `sframe_salt` for `suite` and `kid` from `base_key`.
pub fn derive(suite: Suite, kid: u64, base_key: &[u8]) -> Result<KeyAndSalt, E2eeError> {
    let hk = Hkdf::<Sha256>::new(Some(&[]), base_key);
    let mut label = [0u8; 23 + 8 + 2];
    let mut expand = |prefix: &[u8], out: &mut [u8]| {
        let n = prefix.len();
        label[..n].copy_from_slice(prefix);
        label[n..n + 8].copy_from_slice(&kid.to_be_bytes());
        label[n + 8..n + 10].copy_from_slice(&suite.id().to_be_bytes());
        hk.expand(&label[..n + 10], out)
            .map_err(|_| E2eeError::Internal)
    };
    let mut key = Zeroizing::new([0u8; MAX_KEY_LEN]);
    expand(b"SFrame 1.0 Secret key ", &mut key[..suite.key_len()])?;
    let mut salt = [0u8; NONCE_LEN];
    expand(b"SFrame 1.0 Secret salt ", &mut salt)?;
    Ok(KeyAndSalt { key, salt })
}

/// `nonce = sframe_salt XOR CTR` (RFC 9605 §4.4.3).
pub fn nonce(salt: &[u8; NONCE_LEN], ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = *salt;
    for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
        *b ^= c;
    }
    n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_and_minimal_encoding() {
        for (kid, ctr, len) in [
            (0u64, 0u64, 1usize),
            (7, 7, 1),
            (7, 8, 2),
            (8, 0, 2),
            (0, 255, 2),
            (0, 256, 3),
            (0, (1 << 24) - 1, 4),
            (0, 1 << 24, 5),
            (u64::MAX, u64::MAX, 17),
        ] {
            let h = Header { kid, ctr };
            let bytes = h.to_vec();
            assert_eq!(bytes.len(), len, "{kid} {ctr}");
            assert_eq!(Header::parse(&bytes).unwrap(), (h, len));
            // every shorter prefix is refused
            for cut in 0..len {
                assert!(Header::parse(&bytes[..cut]).is_err(), "{kid} {ctr} {cut}");
            }
        }
        // CTR 5 written in an extra byte, CTR 0x0100 with a leading zero: refused
        assert!(Header::parse(&[0x08, 0x05]).is_err());
        assert!(Header::parse(&[0x09, 0x00, 0xff]).is_err());
        assert!(Header::parse(&[0x80, 0x03]).is_err());
    }

    #[test]
    fn nonce_xors_the_counter_into_the_last_eight_bytes() {
        let salt = [0xffu8; NONCE_LEN];
        let n = nonce(&salt, 0x0102);
        assert_eq!(&n[..10], &[0xff; 10]);
        assert_eq!(&n[10..], &[0xfe, 0xfd]);
    }

    #[test]
    fn suite_ids_round_trip() {
        for s in Suite::ALL {
            assert_eq!(Suite::from_id(s.id()), Some(s));
        }
        assert_eq!(Suite::from_id(0), None);
        assert_eq!(Suite::from_id(5), None);
    }
}
