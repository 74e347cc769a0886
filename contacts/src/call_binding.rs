//! Binding a call's fresh identity key to the long-term contact relation.
//!
//! Calls keep fresh per-call identity keys (forward secrecy); a contact proves that the
//! per-call key it uses in a room is its own with a tag only the pair can compute:
//! ```text
//! key = HKDF(salt = "sotto/v1 call binding", IKM = pairwise secret, info = "key" || direction), 32
//! tag = HMAC-SHA256(key, "sotto/v1 call binding" || lp8(room id) || call public key (32))
//! ```
//! (HMAC as `HKDF-Extract(salt = key, IKM = message)`, which is HMAC-SHA256 by definition.)
//! The sender sends the tag sealed inside the call (an envelope to the contact); the receiver
//! checks it for the contact it expects and then marks that call key as the verified contact.
//! The direction in the key means a tag cannot be reflected; the room id means it cannot be
//! replayed in another room. A tag does not prove anything to a third party (deniable), and
//! it binds nothing if the pairwise secret leaked. Not wired into the call yet.
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::contact::{Contact, Direction};
use crate::encoding::{hkdf, put_lp8};
use crate::ContactsError;

/// Longest room id accepted (sotto's room ids are 22 characters).
pub const MAX_ROOM_ID_LEN: usize = 64;

fn tag(
    pairwise: &[u8; 32],
    dir: Direction,
    room_id: &str,
    call_key: &[u8; 32],
) -> Result<[u8; 32], ContactsError> {
    if room_id.is_empty() || room_id.len() > MAX_ROOM_ID_LEN {
        return Err(ContactsError::BadRoomLink);
    }
    let key = Zeroizing::new(hkdf::<32>(
        b"sotto/v1 call binding",
        pairwise,
        &[b"key", &[dir.byte()]],
    )?);
    let mut msg = Vec::with_capacity(21 + 1 + room_id.len() + 32);
    msg.extend_from_slice(b"sotto/v1 call binding");
    put_lp8(&mut msg, room_id.as_bytes());
    msg.extend_from_slice(call_key);
    let (mac, _) = Hkdf::<Sha256>::extract(Some(key.as_ref()), &msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac);
    Ok(out)
}

impl Contact {
    /// The tag proving to this contact that `my_call_key` is ours in room `room_id`.
    pub fn bind_call_key(
        &self,
        room_id: &str,
        my_call_key: &[u8; 32],
    ) -> Result<[u8; 32], ContactsError> {
        tag(
            self.pairwise().bytes(),
            self.outgoing(),
            room_id,
            my_call_key,
        )
    }

    /// True if `tag` proves that `their_call_key` is this contact's in room `room_id`
    /// (constant-time comparison).
    pub fn verify_call_key(
        &self,
        room_id: &str,
        their_call_key: &[u8; 32],
        tag_bytes: &[u8],
    ) -> Result<bool, ContactsError> {
        let expected = tag(
            self.pairwise().bytes(),
            self.incoming(),
            room_id,
            their_call_key,
        )?;
        Ok(tag_bytes.len() == 32 && bool::from(expected.ct_eq(tag_bytes)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::identity::tests::identity;
    use crate::pairing::tests::pair;

    #[test]
    fn a_tag_binds_the_call_key_to_the_contact_the_room_and_the_direction() {
        let (alice, bob, carol) = (identity("Alice"), identity("Bob"), identity("Carol"));
        let (bob_at_alice, alice_at_bob) = pair(&alice, &bob);
        let (carol_at_alice, alice_at_carol) = pair(&alice, &carol);
        let call_key = [9u8; 32];
        let tag = bob_at_alice.bind_call_key("room-1", &call_key).unwrap();
        assert!(alice_at_bob
            .verify_call_key("room-1", &call_key, &tag)
            .unwrap());
        // Another call key, another room, a reflected tag, another contact: refused.
        assert!(!alice_at_bob
            .verify_call_key("room-1", &[8; 32], &tag)
            .unwrap());
        assert!(!alice_at_bob
            .verify_call_key("room-2", &call_key, &tag)
            .unwrap());
        assert!(!bob_at_alice
            .verify_call_key("room-1", &call_key, &tag)
            .unwrap());
        assert!(!alice_at_carol
            .verify_call_key("room-1", &call_key, &tag)
            .unwrap());
        // Carol cannot make a tag that passes as Alice's for Bob.
        let forged = carol_at_alice.bind_call_key("room-1", &call_key).unwrap();
        assert!(!alice_at_bob
            .verify_call_key("room-1", &call_key, &forged)
            .unwrap());
        // Any flipped bit, a short tag.
        for i in 0..32 {
            let mut bad = tag;
            bad[i] ^= 1;
            assert!(!alice_at_bob
                .verify_call_key("room-1", &call_key, &bad)
                .unwrap());
        }
        assert!(!alice_at_bob
            .verify_call_key("room-1", &call_key, &tag[..31])
            .unwrap());
        assert_eq!(
            bob_at_alice
                .bind_call_key("", &call_key)
                .unwrap_err()
                .code(),
            "bad-room-link"
        );
    }
}
