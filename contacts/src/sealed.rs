//! Sealed messages between contacts.
//!
//! **Ring messages** (live, short-lived) are sealed with a key only the pair holds:
//! ```text
//! ring key = HKDF(salt = "sotto/v1 ring", IKM = pairwise secret, info = "key" || direction), 32
//! sealed   = 0x01 || nonce (12, random) || AES-256-GCM(ring key, nonce, encoded message,
//!                                                    aad = 0x01 || "sotto/v1 ring" || direction)
//! ```
//! The direction in the key and AAD means a message cannot be reflected back to its sender.
//! Freshness (replays) is the ring state machine's job: messages carry their call id and
//! send time.
//!
//! **Offline messages** (text or a missed-call notice, held up to 7 days in a mailbox) are
//! sealed to the recipient's long-term key with single-shot HPKE AuthPSK, suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM:
//! ```text
//! skS = sender's long-term key, pkR = recipient's, psk = HKDF(pairwise, "sotto/v1 offline psk")
//! psk_id = "sotto/v1 offline", info = "sotto/v1 offline" || pkS || pkR, aad = 0x01
//! sealed = 0x01 || enc (32) || ciphertext || tag (16)
//! pt     = kind (1) || sent_at_ms (u64) || body
//!          kind 1 text: body = UTF-8, at most 4,000 bytes
//!          kind 2 missed call: body = call id (16)
//! ```
//! Only the recipient's secret key opens it, and only the sender's secret key (with the pair's
//! secret) makes one that opens: the server learns neither key nor anything about the text.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, PskBundle, Serializable};
use zeroize::Zeroizing;

use crate::contact::{Contact, Direction};
use crate::encoding::{hkdf, Reader};
use crate::identity::{Identity, Kem};
use crate::ring::{CallId, RingMessage};
use crate::ContactsError;

type EncappedKey = <Kem as hpke::Kem>::EncappedKey;
const VERSION: u8 = 1;
/// Longest sealed ring message accepted.
pub const MAX_SEALED_RING_LEN: usize = 1 + 12 + crate::ring::MAX_RING_MESSAGE_LEN + 16;
/// Longest offline text, in bytes of UTF-8.
pub const MAX_OFFLINE_TEXT_BYTES: usize = 4000;
/// Longest sealed offline message.
pub const MAX_SEALED_OFFLINE_LEN: usize = 1 + 32 + 1 + 8 + MAX_OFFLINE_TEXT_BYTES + 16;

fn ring_key(pairwise: &[u8; 32], dir: Direction) -> Result<Zeroizing<[u8; 32]>, ContactsError> {
    Ok(Zeroizing::new(hkdf::<32>(
        b"sotto/v1 ring",
        pairwise,
        &[b"key", &[dir.byte()]],
    )?))
}

fn ring_aad(dir: Direction) -> Vec<u8> {
    [&[VERSION][..], b"sotto/v1 ring", &[dir.byte()]].concat()
}

impl Contact {
    /// Seals a ring message to this contact.
    pub fn seal_ring(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        msg: &RingMessage,
    ) -> Result<Vec<u8>, ContactsError> {
        let dir = self.outgoing();
        let key = ring_key(self.pairwise().bytes(), dir)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| ContactsError::Internal)?;
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let pt = msg.encode()?;
        let ct = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &pt,
                    aad: &ring_aad(dir),
                },
            )
            .map_err(|_| ContactsError::Internal)?;
        Ok([&[VERSION][..], &nonce, &ct].concat())
    }

    /// Opens a ring message from this contact.
    pub fn open_ring(&self, sealed: &[u8]) -> Result<RingMessage, ContactsError> {
        if sealed.len() > MAX_SEALED_RING_LEN || sealed.len() < 1 + 12 + 16 {
            return Err(ContactsError::MalformedRing);
        }
        let mut r = Reader::new(sealed, ContactsError::MalformedRing);
        if r.u8()? != VERSION {
            return Err(ContactsError::MalformedRing);
        }
        let nonce: [u8; 12] = r.array()?;
        let dir = self.incoming();
        let key = ring_key(self.pairwise().bytes(), dir)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| ContactsError::Internal)?;
        let pt = cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: r.rest(),
                    aad: &ring_aad(dir),
                },
            )
            .map_err(|_| ContactsError::SealedRejected)?;
        RingMessage::decode(&pt)
    }

    fn offline_psk(&self) -> Result<Zeroizing<[u8; 32]>, ContactsError> {
        Ok(Zeroizing::new(hkdf::<32>(
            b"sotto/v1 offline",
            self.pairwise().bytes(),
            &[b"sotto/v1 offline psk"],
        )?))
    }

    /// Seals an offline message to this contact's long-term key, from `me`.
    pub fn seal_offline(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        me: &Identity,
        msg: &OfflineMessage,
    ) -> Result<Vec<u8>, ContactsError> {
        if me.public_key() != self.my_key() {
            return Err(ContactsError::UnknownContact);
        }
        let psk = self.offline_psk()?;
        let bundle = PskBundle::new(psk.as_ref(), b"sotto/v1 offline")
            .map_err(|_| ContactsError::Internal)?;
        let mode = OpModeS::<Kem>::AuthPsk((me.secret().clone(), me.kem_public()?), bundle);
        let info = [
            &b"sotto/v1 offline"[..],
            me.public_key().as_bytes(),
            self.public_key().as_bytes(),
        ]
        .concat();
        let pt = Zeroizing::new(msg.encode()?);
        let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, Kem>(
            &mode,
            &self.public_key().to_kem()?,
            &info,
            &pt,
            &[VERSION],
            rng,
        )
        .map_err(|_| ContactsError::Internal)?;
        Ok([&[VERSION][..], &enc.to_bytes(), &ct].concat())
    }

    /// Opens an offline message this contact sealed to `me`.
    pub fn open_offline(
        &self,
        me: &Identity,
        sealed: &[u8],
    ) -> Result<OfflineMessage, ContactsError> {
        if me.public_key() != self.my_key() {
            return Err(ContactsError::UnknownContact);
        }
        if sealed.len() > MAX_SEALED_OFFLINE_LEN || sealed.len() < 1 + 32 + 16 {
            return Err(ContactsError::MalformedOffline);
        }
        let mut r = Reader::new(sealed, ContactsError::MalformedOffline);
        if r.u8()? != VERSION {
            return Err(ContactsError::MalformedOffline);
        }
        let enc =
            EncappedKey::from_bytes(r.take(32)?).map_err(|_| ContactsError::SealedRejected)?;
        let psk = self.offline_psk()?;
        let bundle = PskBundle::new(psk.as_ref(), b"sotto/v1 offline")
            .map_err(|_| ContactsError::Internal)?;
        let mode = OpModeR::<Kem>::AuthPsk(self.public_key().to_kem()?, bundle);
        let info = [
            &b"sotto/v1 offline"[..],
            self.public_key().as_bytes(),
            me.public_key().as_bytes(),
        ]
        .concat();
        let pt = Zeroizing::new(
            hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
                &mode,
                me.secret(),
                &enc,
                &info,
                r.rest(),
                &[VERSION],
            )
            .map_err(|_| ContactsError::SealedRejected)?,
        );
        OfflineMessage::decode(&pt)
    }
}

/// A message for a contact who is offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineMessage {
    Text { sent_at_ms: u64, text: String },
    MissedCall { sent_at_ms: u64, call: CallId },
}

impl OfflineMessage {
    fn encode(&self) -> Result<Vec<u8>, ContactsError> {
        let mut out = Vec::new();
        match self {
            Self::Text { sent_at_ms, text } => {
                if text.is_empty() || text.len() > MAX_OFFLINE_TEXT_BYTES {
                    return Err(ContactsError::MalformedOffline);
                }
                out.push(1);
                out.extend_from_slice(&sent_at_ms.to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            Self::MissedCall { sent_at_ms, call } => {
                out.push(2);
                out.extend_from_slice(&sent_at_ms.to_be_bytes());
                out.extend_from_slice(&call.0);
            }
        }
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<Self, ContactsError> {
        let mut r = Reader::new(bytes, ContactsError::MalformedOffline);
        let kind = r.u8()?;
        let sent_at_ms = r.u64()?;
        match kind {
            1 => {
                let body = r.rest();
                if body.is_empty() || body.len() > MAX_OFFLINE_TEXT_BYTES {
                    return Err(ContactsError::MalformedOffline);
                }
                let text = std::str::from_utf8(body)
                    .map_err(|_| ContactsError::MalformedOffline)?
                    .to_owned();
                Ok(Self::Text { sent_at_ms, text })
            }
            2 => {
                let call = CallId(r.array()?);
                r.finish()?;
                Ok(Self::MissedCall { sent_at_ms, call })
            }
            _ => Err(ContactsError::MalformedOffline),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::tests::{identity, rng};
    use crate::pairing::tests::pair;
    use crate::ring::{DeviceId, RingBody};
    use proptest::prelude::*;

    fn invite() -> RingMessage {
        RingMessage {
            call: CallId([1; 16]),
            device: DeviceId([2; 8]),
            sent_at_ms: 1_000,
            body: RingBody::Invite {
                expires_at_ms: 31_000,
                room_link: "https://sotto.example/#abc".into(),
            },
        }
    }

    #[test]
    fn ring_messages_open_only_for_the_pair_and_direction() {
        let (alice, bob, carol) = (identity("Alice"), identity("Bob"), identity("Carol"));
        let (bob_at_alice, alice_at_bob) = pair(&alice, &bob);
        let (carol_at_alice, _) = pair(&alice, &carol);
        let sealed = bob_at_alice.seal_ring(&mut rng(), &invite()).unwrap();
        assert_eq!(alice_at_bob.open_ring(&sealed).unwrap(), invite());
        // Reflected back to Alice: refused.
        assert_eq!(
            bob_at_alice.open_ring(&sealed).unwrap_err(),
            ContactsError::SealedRejected
        );
        // Another pair: refused.
        assert_eq!(
            carol_at_alice.open_ring(&sealed).unwrap_err(),
            ContactsError::SealedRejected
        );
        // The room link's fragment is not visible in the sealed bytes.
        assert!(!sealed.windows(3).any(|w| w == b"abc"));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(alice_at_bob.open_ring(&bad).is_err());
        }
    }

    #[test]
    fn offline_messages_open_only_with_the_recipients_key() {
        let (alice, bob, carol) = (identity("Alice"), identity("Bob"), identity("Carol"));
        let (bob_at_alice, alice_at_bob) = pair(&alice, &bob);
        let msg = OfflineMessage::Text {
            sent_at_ms: 7,
            text: "call me back".into(),
        };
        let sealed = bob_at_alice.seal_offline(&mut rng(), &alice, &msg).unwrap();
        assert_eq!(alice_at_bob.open_offline(&bob, &sealed).unwrap(), msg);
        // Carol, holding Bob's contact record but not Bob's secret key, cannot open it.
        let (_, alice_at_carol) = pair(&alice, &carol);
        assert!(alice_at_carol.open_offline(&carol, &sealed).is_err());
        // Sealed by anyone but Alice (Carol, paired with Bob): refused as not from Alice.
        let (bob_at_carol, _) = pair(&carol, &bob);
        let forged = bob_at_carol.seal_offline(&mut rng(), &carol, &msg).unwrap();
        assert_eq!(
            alice_at_bob.open_offline(&bob, &forged).unwrap_err(),
            ContactsError::SealedRejected
        );
        // Wrong identity for the record.
        assert_eq!(
            bob_at_alice
                .seal_offline(&mut rng(), &carol, &msg)
                .unwrap_err(),
            ContactsError::UnknownContact
        );
        let missed = OfflineMessage::MissedCall {
            sent_at_ms: 9,
            call: CallId([3; 16]),
        };
        let sealed = bob_at_alice
            .seal_offline(&mut rng(), &alice, &missed)
            .unwrap();
        assert_eq!(alice_at_bob.open_offline(&bob, &sealed).unwrap(), missed);
        assert!(!sealed.windows(12).any(|w| w == b"call me back"));
    }

    #[test]
    fn offline_text_limits() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let (bob_at_alice, _) = pair(&alice, &bob);
        for text in [String::new(), "x".repeat(MAX_OFFLINE_TEXT_BYTES + 1)] {
            let msg = OfflineMessage::Text {
                sent_at_ms: 0,
                text,
            };
            assert_eq!(
                bob_at_alice
                    .seal_offline(&mut rng(), &alice, &msg)
                    .unwrap_err(),
                ContactsError::MalformedOffline
            );
        }
        let msg = OfflineMessage::Text {
            sent_at_ms: 0,
            text: "x".repeat(MAX_OFFLINE_TEXT_BYTES),
        };
        let sealed = bob_at_alice.seal_offline(&mut rng(), &alice, &msg).unwrap();
        assert!(sealed.len() <= MAX_SEALED_OFFLINE_LEN);
    }

    proptest! {
        #[test]
        fn offline_decode_any_bytes_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = OfflineMessage::decode(&bytes);
        }

        #[test]
        fn offline_round_trip(text in "\\PC{1,200}", at in any::<u64>()) {
            let msg = OfflineMessage::Text { sent_at_ms: at, text };
            prop_assert_eq!(OfflineMessage::decode(&msg.encode().unwrap()).unwrap(), msg);
        }
    }
}
