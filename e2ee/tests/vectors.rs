//! RFC 9605 test vectors (Appendix C), read from `tests/data/*.json`: header encodings, the
//! AES-CTR-HMAC AEAD, and full SFrame encryption. Each is checked three ways: against an
//! independent reference implementation written here from the RFC text, against Sotto's own
//! SFrame (`sotto_e2ee::sframe`, `frame::sframe_encrypt`/`sframe_decrypt` over the RustCrypto
//! provider, `aead::SoftAead`), and against another SFrame implementation, the `sframe` crate,
//! wherever it has the cipher suite: frames made by either open with the other (interop).
//! The platform provider (WebCrypto in the crypto Worker) runs the same vectors in
//! `e2e/frame-providers.test.mjs`.
//!
//! `sframe-rfc9605-aes256.json` and the `aes_256_ctr_hmac` group carry cipher suites 6-8
//! (AES-256-CTR with HMAC-SHA-512, tags of 80/64/32 bits), which RFC 9605 does not register;
//! they are checked against the reference implementation only, with those parameters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sframe::frame::{EncryptedFrame, MediaFrame, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use sotto_e2ee::aead::{FrameAead, SoftAead};
use sotto_e2ee::frame::{sframe_decrypt, sframe_encrypt, FrameKey};
use sotto_e2ee::sframe::{self as ours, Suite, MAX_KEY_LEN};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k}"))
}
fn b(v: &Value, k: &str) -> Vec<u8> {
    hex(v[k].as_str().unwrap_or_else(|| panic!("{k}")))
}

/// Parameters of a cipher suite: (AES key len, HMAC hash is SHA-512, tag len, is CTR mode).
fn params(suite: u64) -> (usize, bool, usize, bool) {
    match suite {
        1 => (16, false, 10, true),
        2 => (16, false, 8, true),
        3 => (16, false, 4, true),
        4 => (16, false, 16, false),
        5 => (32, true, 16, false),
        6 => (32, true, 10, true),
        7 => (32, true, 8, true),
        8 => (32, true, 4, true),
        _ => panic!("suite {suite}"),
    }
}

fn hmac_tag(sha512: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    if sha512 {
        let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
}

fn aes_ctr(key: &[u8], iv: &[u8], buf: &mut [u8]) {
    if key.len() == 16 {
        ctr::Ctr32BE::<aes::Aes128>::new_from_slices(key, iv)
            .unwrap()
            .apply_keystream(buf);
    } else {
        ctr::Ctr32BE::<aes::Aes256>::new_from_slices(key, iv)
            .unwrap()
            .apply_keystream(buf);
    }
}

/// RFC 9605 §4.5.1, AES-CTR with SHA2 (reference, from the RFC's pseudocode):
/// ```text
/// def AEAD.Encrypt(key, nonce, aad, pt):
///   enc_key, auth_key = derive_subkeys(key)
///   initial_counter = nonce + 0x00000000 # append four zero bytes
///   ct = AES-CTR.Encrypt(enc_key, initial_counter, pt)
///   tag = compute_tag(auth_key, nonce, aad, ct)
///   return ct + tag
/// def compute_tag(auth_key, nonce, aad, ct):
///   aad_len = encode_big_endian(len(aad), 8)
///   ct_len = encode_big_endian(len(ct), 8)
///   tag_len = encode_big_endian(Nt, 8)
///   auth_data = aad_len + ct_len + tag_len + nonce + aad + ct
///   tag = HMAC(auth_key, auth_data)
///   return truncate(tag, Nt)
/// ```
fn ctr_hmac_encrypt(suite: u64, key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let (nka, sha512, nt, _) = params(suite);
    let (enc_key, auth_key) = key.split_at(nka);
    let mut iv = nonce.to_vec();
    iv.extend_from_slice(&[0, 0, 0, 0]);
    let mut ct = pt.to_vec();
    aes_ctr(enc_key, &iv, &mut ct);
    let mut auth = Vec::new();
    auth.extend_from_slice(&(aad.len() as u64).to_be_bytes());
    auth.extend_from_slice(&(ct.len() as u64).to_be_bytes());
    auth.extend_from_slice(&(nt as u64).to_be_bytes());
    auth.extend_from_slice(nonce);
    auth.extend_from_slice(aad);
    auth.extend_from_slice(&ct);
    let tag = hmac_tag(sha512, auth_key, &auth);
    ct.extend_from_slice(&tag[..nt]);
    ct
}

fn gcm_encrypt(key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, Payload};
    let nonce: [u8; 12] = nonce.try_into().unwrap();
    let payload = Payload { msg: pt, aad };
    if key.len() == 16 {
        aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&nonce.into(), payload)
            .unwrap()
    } else {
        aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&nonce.into(), payload)
            .unwrap()
    }
}

fn hkdf_extract_expand(sha512: bool, ikm: &[u8], info: &[u8], len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut okm = vec![0u8; len];
    if sha512 {
        let (prk, hk) = hkdf::Hkdf::<sha2::Sha512>::extract(Some(&[]), ikm);
        hk.expand(info, &mut okm).unwrap();
        (prk.to_vec(), okm)
    } else {
        let (prk, hk) = hkdf::Hkdf::<sha2::Sha256>::extract(Some(&[]), ikm);
        hk.expand(info, &mut okm).unwrap();
        (prk.to_vec(), okm)
    }
}

fn crate_suite(suite: u64) -> Option<CipherSuite> {
    match suite {
        1 => Some(CipherSuite::AesCtr128HmacSha256_80),
        2 => Some(CipherSuite::AesCtr128HmacSha256_64),
        3 => Some(CipherSuite::AesCtr128HmacSha256_32),
        4 => Some(CipherSuite::AesGcm128Sha256),
        5 => Some(CipherSuite::AesGcm256Sha512),
        _ => None,
    }
}

#[test]
fn header_encodings() {
    let v = load("sframe-rfc9605.json");
    let cases = v["header"].as_array().unwrap();
    assert_eq!(cases.len(), 289);
    for case in cases {
        let (kid, ctr, encoded) = (u(case, "kid"), u(case, "ctr"), b(case, "encoded"));
        let header = SframeHeader::new(kid, ctr);
        assert_eq!(Vec::from(&header), encoded, "kid {kid} ctr {ctr}");
        assert_eq!(header.len(), encoded.len());
        let parsed = SframeHeader::deserialize(&encoded).unwrap();
        assert_eq!((parsed.key_id(), parsed.counter()), (kid, ctr));
        // ours writes and reads the same bytes
        let h = ours::Header { kid, ctr };
        assert_eq!(h.to_vec(), encoded, "ours: kid {kid} ctr {ctr}");
        assert_eq!(ours::Header::parse(&encoded).unwrap(), (h, encoded.len()));
        // the frames' strict parser accepts exactly the KIDs that fit the config byte
        let mut with_tag = encoded.clone();
        with_tag.extend_from_slice(&[0u8; 16]);
        let strict = sotto_e2ee::frame::parse_header(&with_tag, 16);
        assert_eq!(strict.is_ok(), kid < 8, "kid {kid} ctr {ctr}");
        assert!(ours::Header::parse(&encoded[..encoded.len() - 1]).is_err() || encoded.len() == 1);
        // and refuses a truncated one
        assert!(
            SframeHeader::deserialize(&encoded[..encoded.len() - 1]).is_err() || encoded.len() == 1
        );
    }
}

#[test]
fn aes_ctr_hmac_aead() {
    let v = load("sframe-rfc9605.json");
    let mut n = 0;
    for group in ["aes_ctr_hmac", "aes_256_ctr_hmac"] {
        for case in v[group].as_array().unwrap() {
            let suite = u(case, "cipher_suite");
            let key = b(case, "key");
            let (nka, _, _, _) = params(suite);
            assert_eq!(&key[..nka], b(case, "enc_key").as_slice());
            assert_eq!(&key[nka..], b(case, "auth_key").as_slice());
            let ct = ctr_hmac_encrypt(
                suite,
                &key,
                &b(case, "nonce"),
                &b(case, "aad"),
                &b(case, "pt"),
            );
            assert_eq!(ct, b(case, "ct"), "suite {suite}");
            // ours, where the suite is one of RFC 9605's (AES-128)
            if let Some(s) = Suite::from_id(suite as u16).filter(|_| nka == 16) {
                let mut k = [0u8; MAX_KEY_LEN];
                k[..key.len()].copy_from_slice(&key);
                let aead = SoftAead::new(s, &k).unwrap();
                let nonce: [u8; 12] = b(case, "nonce").try_into().unwrap();
                let mut buf = b(case, "pt");
                let mut tag = [0u8; 16];
                aead.seal(&nonce, &b(case, "aad"), &mut buf, &mut tag)
                    .unwrap();
                buf.extend_from_slice(&tag[..s.tag_len()]);
                assert_eq!(buf, b(case, "ct"), "ours, suite {suite}");
                let (body, t) = ct.split_at(ct.len() - s.tag_len());
                let mut opened = body.to_vec();
                aead.open(&nonce, &b(case, "aad"), &mut opened, t).unwrap();
                assert_eq!(opened, b(case, "pt"));
            }
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn full_sframe_encryption() {
    let v = load("sframe-rfc9605.json");
    let w = load("sframe-rfc9605-aes256.json");
    let mut cases: Vec<&Value> = v["sframe"].as_array().unwrap().iter().collect();
    cases.extend(w["sframe_aes_256_ctr_hmac"].as_array().unwrap());
    assert_eq!(cases.len(), 8);
    let mut ours_checked = 0;
    for case in cases {
        let suite = u(case, "cipher_suite");
        let (kid, ctr) = (u(case, "kid"), u(case, "ctr"));
        let (base_key, metadata, pt, ct) = (
            b(case, "base_key"),
            b(case, "metadata"),
            b(case, "pt"),
            b(case, "ct"),
        );
        let (_, sha512, _, is_ctr) = params(suite);

        // RFC 9605 §4.4.2 key derivation
        let mut key_label = b"SFrame 1.0 Secret key ".to_vec();
        key_label.extend_from_slice(&kid.to_be_bytes());
        key_label.extend_from_slice(&(suite as u16).to_be_bytes());
        let mut salt_label = b"SFrame 1.0 Secret salt ".to_vec();
        salt_label.extend_from_slice(&kid.to_be_bytes());
        salt_label.extend_from_slice(&(suite as u16).to_be_bytes());
        assert_eq!(key_label, b(case, "sframe_key_label"));
        assert_eq!(salt_label, b(case, "sframe_salt_label"));
        let nk = b(case, "sframe_key").len();
        let (secret, sframe_key) = hkdf_extract_expand(sha512, &base_key, &key_label, nk);
        let (_, sframe_salt) = hkdf_extract_expand(sha512, &base_key, &salt_label, 12);
        assert_eq!(secret, b(case, "sframe_secret"), "suite {suite}");
        assert_eq!(sframe_key, b(case, "sframe_key"), "suite {suite}");
        assert_eq!(sframe_salt, b(case, "sframe_salt"), "suite {suite}");

        // RFC 9605 §4.4.3 encryption
        let header = Vec::from(&SframeHeader::new(kid, ctr));
        let mut nonce = sframe_salt.clone();
        for (i, byte) in ctr.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= byte;
        }
        assert_eq!(nonce, b(case, "nonce"));
        let aad = [header.as_slice(), metadata.as_slice()].concat();
        assert_eq!(aad, b(case, "aad"));
        let sealed = if is_ctr {
            ctr_hmac_encrypt(suite, &sframe_key, &nonce, &aad, &pt)
        } else {
            gcm_encrypt(&sframe_key, &nonce, &aad, &pt)
        };
        assert_eq!([header.as_slice(), &sealed].concat(), ct, "suite {suite}");

        // ours: key schedule, nonce, and the whole SFrame encryption and decryption
        if let Some(s) = Suite::from_id(suite as u16) {
            ours_checked += 1;
            let derived = ours::derive(s, kid, &base_key).unwrap();
            assert_eq!(
                &derived.key[..s.key_len()],
                sframe_key.as_slice(),
                "suite {suite}"
            );
            assert_eq!(
                derived.salt.as_slice(),
                sframe_salt.as_slice(),
                "suite {suite}"
            );
            assert_eq!(ours::nonce(&derived.salt, ctr).as_slice(), nonce.as_slice());
            let key = FrameKey::from_base(s, kid, &base_key).unwrap();
            assert_eq!(
                sframe_encrypt(&key, ctr, &metadata, &pt).unwrap(),
                ct,
                "ours, suite {suite}"
            );
            let (h, plain) = sframe_decrypt(&key, &metadata, &ct).unwrap();
            assert_eq!((h.kid, h.ctr, plain.as_slice()), (kid, ctr, pt.as_slice()));
            let mut bad = ct.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(sframe_decrypt(&key, &metadata, &bad).is_err());
            assert!(sframe_decrypt(&key, b"other metadata", &ct).is_err());
        }

        // and the sframe crate, where it has the suite
        if let Some(cs) = crate_suite(suite) {
            let enc_key = EncryptionKey::derive_from(cs, kid, &base_key).unwrap();
            let mut counter = SingleUseCounter::new(ctr);
            let frame = MediaFrame::try_with_meta_data(&mut counter, &pt, &metadata).unwrap();
            let encrypted = frame.encrypt(&enc_key).unwrap();
            assert_eq!(
                &encrypted.as_ref()[metadata.len()..],
                ct.as_slice(),
                "sframe crate, suite {suite}"
            );
            let dec_key = DecryptionKey::derive_from(cs, kid, &base_key).unwrap();
            let received = EncryptedFrame::try_with_meta_data(&ct, &metadata).unwrap();
            assert_eq!(received.decrypt(&dec_key).unwrap().payload(), pt.as_slice());
            // a flipped bit fails
            let mut bad = ct.clone();
            *bad.last_mut().unwrap() ^= 1;
            let received = EncryptedFrame::try_with_meta_data(&bad, &metadata).unwrap();
            assert!(received.decrypt(&dec_key).is_err());
        }
    }
    assert_eq!(ours_checked, 4, "suites 1-4 through our SFrame");
}

/// Interoperability beyond the fixed vectors: for every suite both speak, many KIDs, counters,
/// metadata and plaintexts, frames sealed by our SFrame open with the `sframe` crate and frames
/// sealed by the crate open with ours, byte for byte the same.
#[test]
fn interop_with_the_sframe_crate_both_ways() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut n = 0;
    for suite in Suite::ALL {
        let cs = crate_suite(u64::from(suite.id())).unwrap();
        for round in 0..40u64 {
            let kid = [0, 7, 8, 291, u64::MAX][(round % 5) as usize];
            let ctr = match round % 4 {
                0 => round,
                1 => next() % 256,
                2 => next() % (1 << 40),
                _ => next(),
            };
            let base: Vec<u8> = (0..16).map(|_| next() as u8).collect();
            let meta: Vec<u8> = (0..(next() % 20)).map(|_| next() as u8).collect();
            let pt: Vec<u8> = (0..(next() % 300)).map(|_| next() as u8).collect();

            let key = FrameKey::from_base(suite, kid, &base).unwrap();
            let mine = sframe_encrypt(&key, ctr, &meta, &pt).unwrap();
            let dec_key = DecryptionKey::derive_from(cs, kid, &base).unwrap();
            let received = EncryptedFrame::try_with_meta_data(&mine, &meta).unwrap();
            assert_eq!(received.decrypt(&dec_key).unwrap().payload(), pt.as_slice());

            let enc_key = EncryptionKey::derive_from(cs, kid, &base).unwrap();
            let mut counter = SingleUseCounter::new(ctr);
            let theirs = MediaFrame::try_with_meta_data(&mut counter, &pt, &meta)
                .unwrap()
                .encrypt(&enc_key)
                .unwrap();
            let theirs = &theirs.as_ref()[meta.len()..];
            assert_eq!(theirs, mine.as_slice(), "{suite:?} kid {kid} ctr {ctr}");
            let (h, plain) = sframe_decrypt(&key, &meta, theirs).unwrap();
            assert_eq!((h.kid, h.ctr, plain.as_slice()), (kid, ctr, pt.as_slice()));
            n += 1;
        }
    }
    assert_eq!(n, 160);
}
