//! The sealed roster: the identity key a participant announces in `join` travels sealed under
//! a key only holders of the room secret have, bound to the room and the announcing peer id.
//!
//! ```text
//! roster key = HKDF-Expand(PRK_room, "sotto/v2 roster key", 16)          (see `room`)
//! blob       = 0x02 || nonce (12, random) || AES-128-GCM(roster key, nonce,
//!                pt  = identity public key (32),
//!                aad = 0x02 || "sotto/v2 roster" || lp(room id) || lp(peer id)) || tag (16)
//! text       = base64url(blob), no padding: 61 bytes -> 82 characters (the wire allows 256)
//! ```
//! The server stores and forwards the text; without the room secret it can neither read the key
//! nor make a blob that opens, so a participant it invents is refused
//! ([`E2eeError::ForgedParticipant`]). A blob opens only under the peer id it was sealed for, so
//! a genuine blob cannot be moved to another peer id or another room. It can be replayed under
//! its own peer id (a ghost of someone who left); a ghost holds no identity secret key, so it
//! can neither open nor send a sealed envelope (see `envelope`).
//!
//! Opening checks, in order: at most 256 characters of canonical base64url, a non-empty blob
//! (else [`E2eeError::MalformedIdentityBlob`]), version 2 ([`E2eeError::IdentityBlobVersion`]),
//! exactly 61 bytes (malformed), a valid peer id, the AEAD (forged), a valid X25519 key
//! ([`E2eeError::BadPublicKey`]).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;

use crate::encoding::{b64url, b64url_decode, check_peer_id, put_lp};
use crate::identity::IdentityPublicKey;
use crate::room::RoomKeys;
use crate::E2eeError;

/// Version byte of the sealed identity.
pub const IDENTITY_BLOB_VERSION: u8 = 2;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Length of a sealed identity in bytes.
pub const IDENTITY_BLOB_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;
/// Length of a sealed identity as base64url text.
pub const IDENTITY_BLOB_TEXT_LEN: usize = (IDENTITY_BLOB_LEN * 4).div_ceil(3);
/// The wire protocol's limit on the identity field, in characters.
pub const MAX_IDENTITY_TEXT_LEN: usize = 256;
const _: () = assert!(IDENTITY_BLOB_TEXT_LEN <= MAX_IDENTITY_TEXT_LEN);

const LABEL: &[u8] = b"sotto/v2 roster";

fn aad(room: &RoomKeys, peer: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + LABEL.len() + 4 + 16 + peer.len());
    aad.push(IDENTITY_BLOB_VERSION);
    aad.extend_from_slice(LABEL);
    put_lp(&mut aad, room.room_id().as_bytes());
    put_lp(&mut aad, peer.as_bytes());
    aad
}

fn cipher(room: &RoomKeys) -> Result<Aes128Gcm, E2eeError> {
    Aes128Gcm::new_from_slice(room.roster_key()).map_err(|_| E2eeError::Internal)
}

/// Seals `identity` as the identity `peer` announces in this room; returns the base64url text
/// for the `identity` field of `join`.
pub fn seal_identity(
    rng: &mut impl rand_core::CryptoRng,
    room: &RoomKeys,
    peer: &str,
    identity: &IdentityPublicKey,
) -> Result<String, E2eeError> {
    check_peer_id(peer)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ct = cipher(room)?
        .encrypt(
            &nonce.into(),
            Payload {
                msg: identity.as_bytes(),
                aad: &aad(room, peer),
            },
        )
        .map_err(|_| E2eeError::Internal)?;
    let mut blob = Vec::with_capacity(IDENTITY_BLOB_LEN);
    blob.push(IDENTITY_BLOB_VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    if blob.len() != IDENTITY_BLOB_LEN {
        return Err(E2eeError::Internal);
    }
    Ok(b64url(&blob))
}

/// Opens the sealed identity `text` announced by `peer` in this room.
pub fn open_identity(
    room: &RoomKeys,
    peer: &str,
    text: &str,
) -> Result<IdentityPublicKey, E2eeError> {
    let blob =
        b64url_decode(text, MAX_IDENTITY_TEXT_LEN).map_err(|_| E2eeError::MalformedIdentityBlob)?;
    match blob.first() {
        None => return Err(E2eeError::MalformedIdentityBlob),
        Some(&IDENTITY_BLOB_VERSION) => {}
        Some(_) => return Err(E2eeError::IdentityBlobVersion),
    }
    if blob.len() != IDENTITY_BLOB_LEN {
        return Err(E2eeError::MalformedIdentityBlob);
    }
    check_peer_id(peer)?;
    let (nonce, ct) = blob[1..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| E2eeError::MalformedIdentityBlob)?;
    let plain = cipher(room)?
        .decrypt(
            &nonce.into(),
            Payload {
                msg: ct,
                aad: &aad(room, peer),
            },
        )
        .map_err(|_| E2eeError::ForgedParticipant)?;
    let key: [u8; KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| E2eeError::MalformedIdentityBlob)?;
    IdentityPublicKey::from_bytes(&key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::{IdentityKeyPair, RoomSecret};

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        crate::os_rng()
    }

    fn setup() -> (RoomKeys, IdentityPublicKey, String) {
        let room = RoomSecret::generate(&mut rng()).derive();
        let pk = IdentityKeyPair::generate(&mut rng()).public_key();
        let blob = seal_identity(&mut rng(), &room, "alice", &pk).unwrap();
        (room, pk, blob)
    }

    fn with_bytes(text: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut bytes = b64url_decode(text, 1000).unwrap();
        f(&mut bytes);
        b64url(&bytes)
    }

    #[test]
    fn round_trips_and_fits_the_wire_field() {
        let (room, pk, blob) = setup();
        assert_eq!(blob.len(), IDENTITY_BLOB_TEXT_LEN);
        assert_eq!(blob.len(), 82);
        assert!(blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(open_identity(&room, "alice", &blob), Ok(pk.clone()));
        // a fresh nonce each time: two seals of the same key differ
        let again = seal_identity(&mut rng(), &room, "alice", &pk).unwrap();
        assert_ne!(again, blob);
        assert_eq!(open_identity(&room, "alice", &again), Ok(pk));
    }

    #[test]
    fn another_room_or_peer_id_is_a_forged_participant() {
        let (room, _, blob) = setup();
        let other = RoomSecret::generate(&mut rng()).derive();
        assert_eq!(
            open_identity(&other, "alice", &blob),
            Err(E2eeError::ForgedParticipant)
        );
        for peer in ["bob", "alice2", "Alice", "alic"] {
            assert_eq!(
                open_identity(&room, peer, &blob),
                Err(E2eeError::ForgedParticipant),
                "{peer}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let (room, _, blob) = setup();
        for i in 0..IDENTITY_BLOB_LEN {
            for bit in 0..8 {
                let bad = with_bytes(&blob, |b| b[i] ^= 1 << bit);
                let expected = if i == 0 {
                    E2eeError::IdentityBlobVersion
                } else {
                    E2eeError::ForgedParticipant
                };
                assert_eq!(open_identity(&room, "alice", &bad), Err(expected), "{i}");
            }
        }
    }

    #[test]
    fn truncated_oversized_and_non_base64url_are_malformed() {
        let (room, _, blob) = setup();
        let cases = [
            String::new(),
            blob[..81].to_owned(),
            with_bytes(&blob, |b| b.truncate(60)),
            with_bytes(&blob, |b| b.truncate(1)),
            with_bytes(&blob, |b| b.push(0)),
            format!("{blob}A"),
            format!("{blob}=="),
            blob.replace(['A', '-'], "+"),
            "A".repeat(257),
            " ".repeat(82),
        ];
        for case in cases {
            if case == blob {
                continue;
            }
            assert_eq!(
                open_identity(&room, "alice", &case),
                Err(E2eeError::MalformedIdentityBlob),
                "{case:?}"
            );
        }
    }

    #[test]
    fn another_version_is_refused_as_such() {
        let (room, _, blob) = setup();
        for v in [0u8, 1, 3, 0x82, 0xff] {
            let bad = with_bytes(&blob, |b| b[0] = v);
            assert_eq!(
                open_identity(&room, "alice", &bad),
                Err(E2eeError::IdentityBlobVersion)
            );
            // also with another length: the version is what is reported
            let longer = with_bytes(&blob, |b| {
                b[0] = v;
                b.extend_from_slice(&[0; 32]);
            });
            assert_eq!(
                open_identity(&room, "alice", &longer),
                Err(E2eeError::IdentityBlobVersion)
            );
        }
    }

    #[test]
    fn a_small_order_key_sealed_by_an_insider_is_refused() {
        let room = RoomSecret::generate(&mut rng()).derive();
        // seal the all-zero point by hand (seal_identity only takes valid keys)
        let mut nonce = [0u8; NONCE_LEN];
        nonce[0] = 1;
        let ct = cipher(&room)
            .unwrap()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &[0u8; 32],
                    aad: &aad(&room, "mallory"),
                },
            )
            .unwrap();
        let blob = b64url(&[&[IDENTITY_BLOB_VERSION][..], &nonce, &ct].concat());
        assert_eq!(
            open_identity(&room, "mallory", &blob),
            Err(E2eeError::BadPublicKey)
        );
    }

    #[test]
    fn bad_peer_ids_are_refused() {
        let (room, pk, blob) = setup();
        assert_eq!(
            seal_identity(&mut rng(), &room, "", &pk),
            Err(E2eeError::BadPeerId)
        );
        assert_eq!(open_identity(&room, "", &blob), Err(E2eeError::BadPeerId));
        let long = "x".repeat(crate::MAX_PEER_ID_LEN + 1);
        assert_eq!(
            open_identity(&room, &long, &blob),
            Err(E2eeError::BadPeerId)
        );
    }
}
