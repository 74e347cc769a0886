//! Pairing: from a contact link to a pairwise secret both sides hold.
//!
//! Alice made the link (public key `pkA`, secret `s`, [`crate::link`]); Bob opened it.
//! ```text
//! Bob:   ctx2, enc2 = HPKE SetupAuthPSKS(pkA, info2, psk, psk_id, skB)
//!        ct2        = ctx2.Seal(aad = "sotto/v1 pairing auth", pt = lp8(name B))
//!        pairwise   = ctx2.Export("sotto/v1 pairwise secret", 32)
//!        request    = 0x01 || enc1 || HPKE SealPSK(pkA, info1, aad = 0x01, psk, psk_id,
//!                                                  pt = pkB || enc2 || ct2)
//!        -> posted to the link's request mailbox
//! Alice: opens the outer layer with skA and psk (only a link holder made it; only Alice can
//!        read it, so the server never sees pkB), then SetupAuthPSKR(enc2, skA, pkB, psk) and
//!        opens ct2: it opens only if the sender holds skB (Auth mode) and the link secret.
//!        pairwise = ctx2.Export(...). The invite is used up.
//!        accept = 0x01 || nonce (12) || AES-256-GCM(HKDF(pairwise, "sotto/v1 pairing accept"),
//!                 aad = 0x01 || pkA || pkB, pt = lp8(name A))
//!        -> posted to the link's reply mailbox
//! Bob:   opens accept with the pairwise secret: only the holder of skA could derive it.
//! info1 = "sotto/v1 pairing request" || pkA; info2 = "sotto/v1 pairing auth" || pkA;
//! psk_id = "sotto/v1 contact link psk".
//! ```
//! Both sides end with the same 32-byte pairwise secret and each other's long-term key,
//! verified because the link went out of band (QR code, a message the user trusts).
//! A server that sees the request learns nothing: the outer layer is sealed to pkA, and the
//! mailbox ids come from the link's secret.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, PskBundle, Serializable};
use zeroize::Zeroizing;

use crate::contact::{Contact, PairwiseSecret};
use crate::encoding::{hkdf, put_lp8, Reader};
use crate::identity::{DisplayName, Identity, Kem, PublicKey};
use crate::ids::MailboxId;
use crate::link::{ContactLink, LinkKeys, PendingInvite};
use crate::ContactsError;

type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

const VERSION: u8 = 1;
const PSK_ID: &[u8] = b"sotto/v1 contact link psk";
const AUTH_AAD: &[u8] = b"sotto/v1 pairing auth";
const EXPORT_LABEL: &[u8] = b"sotto/v1 pairwise secret";
/// Longest pairing request: version, enc, pkB, enc2, name, two tags.
pub const MAX_REQUEST_LEN: usize = 1 + 32 + 16 + 32 + 32 + 16 + 1 + 64;
/// Longest acceptance.
pub const MAX_ACCEPT_LEN: usize = 1 + 12 + 1 + 64 + 16;

fn info(label: &[u8], pk_a: &PublicKey) -> Vec<u8> {
    [label, pk_a.as_bytes()].concat()
}

fn bundle(keys: &LinkKeys) -> Result<PskBundle<'_>, ContactsError> {
    PskBundle::new(keys.psk.as_ref(), PSK_ID).map_err(|_| ContactsError::Internal)
}

/// Bob's side, between sending the request and receiving the acceptance.
pub struct OutgoingPairing {
    their_key: PublicKey,
    pairwise: PairwiseSecret,
    reply_mailbox: MailboxId,
}

/// What Bob sends, and where.
pub struct PairingRequest {
    pub mailbox: MailboxId,
    pub bytes: Vec<u8>,
}

/// Starts pairing with the maker of `link`: the request to post, and the state to keep.
pub fn start_pairing(
    rng: &mut impl rand_core::CryptoRng,
    me: &Identity,
    link: &ContactLink,
) -> Result<(OutgoingPairing, PairingRequest), ContactsError> {
    let pk_a = link.public_key();
    if pk_a == me.public_key() {
        return Err(ContactsError::SelfPairing);
    }
    let keys = link.keys()?;
    let pk_a_kem = pk_a.to_kem()?;
    let mode2 = OpModeS::<Kem>::AuthPsk((me.secret().clone(), me.kem_public()?), bundle(&keys)?);
    let (enc2, mut ctx2) = hpke::setup_sender_with_rng::<AesGcm128, HkdfSha256, Kem>(
        &mode2,
        &pk_a_kem,
        &info(b"sotto/v1 pairing auth", &pk_a),
        rng,
    )
    .map_err(|_| ContactsError::Internal)?;
    let mut name = Vec::with_capacity(65);
    put_lp8(&mut name, me.name().as_str().as_bytes());
    let ct2 = ctx2
        .seal(&name, AUTH_AAD)
        .map_err(|_| ContactsError::Internal)?;
    let mut pairwise = Zeroizing::new([0u8; 32]);
    ctx2.export(EXPORT_LABEL, pairwise.as_mut())
        .map_err(|_| ContactsError::Internal)?;

    let mut inner = Vec::with_capacity(64 + ct2.len());
    inner.extend_from_slice(me.public_key().as_bytes());
    inner.extend_from_slice(&enc2.to_bytes());
    inner.extend_from_slice(&ct2);
    let mode1 = OpModeS::<Kem>::Psk(bundle(&keys)?);
    let (enc1, ct1) = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, Kem>(
        &mode1,
        &pk_a_kem,
        &info(b"sotto/v1 pairing request", &pk_a),
        &inner,
        &[VERSION],
        rng,
    )
    .map_err(|_| ContactsError::Internal)?;
    let mut bytes = Vec::with_capacity(1 + 32 + ct1.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&enc1.to_bytes());
    bytes.extend_from_slice(&ct1);
    Ok((
        OutgoingPairing {
            their_key: pk_a,
            pairwise: PairwiseSecret::new(pairwise),
            reply_mailbox: keys.reply_mailbox,
        },
        PairingRequest {
            mailbox: keys.request_mailbox,
            bytes,
        },
    ))
}

fn accept_key(pairwise: &PairwiseSecret) -> Result<Zeroizing<[u8; 32]>, ContactsError> {
    Ok(Zeroizing::new(hkdf::<32>(
        b"sotto/v1 pairing accept",
        pairwise.bytes(),
        &[b"key"],
    )?))
}

fn accept_aad(pk_a: &PublicKey, pk_b: &PublicKey) -> Vec<u8> {
    [&[VERSION][..], pk_a.as_bytes(), pk_b.as_bytes()].concat()
}

/// Alice's side: opens a pairing request for `invite`. On success the invite must be
/// forgotten (see [`InviteBook`], which does that) and `accept` posted to `reply_mailbox`.
pub fn accept_pairing(
    rng: &mut impl rand_core::CryptoRng,
    me: &Identity,
    invite: &PendingInvite,
    request: &[u8],
) -> Result<(Contact, PairingAccept), ContactsError> {
    if request.len() > MAX_REQUEST_LEN || request.len() < 1 + 32 + 64 + 16 + 16 + 2 {
        return Err(ContactsError::MalformedPairing);
    }
    let mut r = Reader::new(request, ContactsError::MalformedPairing);
    if r.u8()? != VERSION {
        return Err(ContactsError::MalformedPairing);
    }
    let enc1 = EncappedKey::from_bytes(r.take(32)?).map_err(|_| ContactsError::PairingRejected)?;
    let ct1 = r.rest();
    let keys = invite.keys()?;
    let pk_a = me.public_key();
    let inner = Zeroizing::new(
        hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
            &OpModeR::<Kem>::Psk(bundle(&keys)?),
            me.secret(),
            &enc1,
            &info(b"sotto/v1 pairing request", &pk_a),
            ct1,
            &[VERSION],
        )
        .map_err(|_| ContactsError::PairingRejected)?,
    );
    // Authentic to a link holder from here; the inner layer proves who.
    let mut r = Reader::new(&inner, ContactsError::MalformedPairing);
    let pk_b = PublicKey::from_bytes(&r.array()?)?;
    if pk_b == pk_a {
        return Err(ContactsError::SelfPairing);
    }
    let enc2 = EncappedKey::from_bytes(r.take(32)?).map_err(|_| ContactsError::PairingRejected)?;
    let ct2 = r.rest();
    let mode2 = OpModeR::<Kem>::AuthPsk(pk_b.to_kem()?, bundle(&keys)?);
    let mut ctx2 = hpke::setup_receiver::<AesGcm128, HkdfSha256, Kem>(
        &mode2,
        me.secret(),
        &enc2,
        &info(b"sotto/v1 pairing auth", &pk_a),
    )
    .map_err(|_| ContactsError::PairingRejected)?;
    let name = ctx2
        .open(ct2, AUTH_AAD)
        .map_err(|_| ContactsError::PairingRejected)?;
    let mut nr = Reader::new(&name, ContactsError::MalformedPairing);
    let their_name = DisplayName::from_bytes(nr.lp8()?)?;
    nr.finish()?;
    let mut pairwise = Zeroizing::new([0u8; 32]);
    ctx2.export(EXPORT_LABEL, pairwise.as_mut())
        .map_err(|_| ContactsError::Internal)?;
    let pairwise = PairwiseSecret::new(pairwise);

    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new_from_slice(accept_key(&pairwise)?.as_ref())
        .map_err(|_| ContactsError::Internal)?;
    let mut pt = Vec::with_capacity(65);
    put_lp8(&mut pt, me.name().as_str().as_bytes());
    let ct = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: &pt,
                aad: &accept_aad(&pk_a, &pk_b),
            },
        )
        .map_err(|_| ContactsError::Internal)?;
    let mut bytes = Vec::with_capacity(1 + 12 + ct.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&ct);
    let contact = Contact::new(pk_a, pk_b, their_name, pairwise);
    Ok((
        contact,
        PairingAccept {
            mailbox: keys.reply_mailbox,
            bytes,
        },
    ))
}

/// What Alice sends back, and where.
pub struct PairingAccept {
    pub mailbox: MailboxId,
    pub bytes: Vec<u8>,
}

impl OutgoingPairing {
    /// Where the acceptance will arrive.
    pub fn reply_mailbox(&self) -> MailboxId {
        self.reply_mailbox
    }

    /// Bob's side: opens the acceptance; the contact is complete and verified.
    pub fn finish(&self, me: &Identity, accept: &[u8]) -> Result<Contact, ContactsError> {
        if accept.len() > MAX_ACCEPT_LEN || accept.len() < 1 + 12 + 2 + 16 {
            return Err(ContactsError::MalformedPairing);
        }
        let mut r = Reader::new(accept, ContactsError::MalformedPairing);
        if r.u8()? != VERSION {
            return Err(ContactsError::MalformedPairing);
        }
        let nonce: [u8; 12] = r.array()?;
        let cipher = Aes256Gcm::new_from_slice(accept_key(&self.pairwise)?.as_ref())
            .map_err(|_| ContactsError::Internal)?;
        let pt = cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: r.rest(),
                    aad: &accept_aad(&self.their_key, &me.public_key()),
                },
            )
            .map_err(|_| ContactsError::PairingRejected)?;
        let mut nr = Reader::new(&pt, ContactsError::MalformedPairing);
        let name = DisplayName::from_bytes(nr.lp8()?)?;
        nr.finish()?;
        Ok(Contact::new(
            me.public_key(),
            self.their_key,
            name,
            self.pairwise.clone(),
        ))
    }
}

/// The links a maker handed out, each usable once.
#[derive(Debug, Default)]
pub struct InviteBook {
    invites: Vec<PendingInvite>,
}

impl InviteBook {
    /// Invites older than this are forgotten by [`InviteBook::expire`] (7 days).
    pub const LIFETIME_MS: u64 = 7 * 24 * 3_600_000;

    pub fn add(&mut self, invite: PendingInvite) {
        self.invites.push(invite);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &PendingInvite> {
        self.invites.iter()
    }

    pub fn len(&self) -> usize {
        self.invites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.invites.is_empty()
    }

    /// The mailboxes to fetch pairing requests from.
    pub fn request_mailboxes(&self) -> Vec<MailboxId> {
        self.invites
            .iter()
            .filter_map(|i| i.request_mailbox().ok())
            .collect()
    }

    /// Opens a request that arrived in `mailbox`; on success the invite is gone for good.
    pub fn accept(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        me: &Identity,
        mailbox: MailboxId,
        request: &[u8],
    ) -> Result<(Contact, PairingAccept), ContactsError> {
        let index = self
            .invites
            .iter()
            .position(|i| i.request_mailbox().ok() == Some(mailbox))
            .ok_or(ContactsError::LinkUsed)?;
        let result = accept_pairing(rng, me, &self.invites[index], request)?;
        self.invites.remove(index);
        Ok(result)
    }

    pub fn expire(&mut self, now_ms: u64) {
        self.invites
            .retain(|i| now_ms.saturating_sub(i.created_at_ms()) < Self::LIFETIME_MS);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::tests::{identity, rng};
    use proptest::prelude::*;

    /// Alice makes a link, Bob uses it, Alice accepts, Bob finishes: (alice's contact for bob,
    /// bob's contact for alice).
    pub(crate) fn pair(alice: &Identity, bob: &Identity) -> (Contact, Contact) {
        let mut book = InviteBook::default();
        let (link, invite) = PendingInvite::create(&mut rng(), alice, 0);
        book.add(invite);
        let link = ContactLink::parse(&link.to_url("https://x/")).unwrap();
        let (outgoing, request) = start_pairing(&mut rng(), bob, &link).unwrap();
        let (bob_at_alice, accept) = book
            .accept(&mut rng(), alice, request.mailbox, &request.bytes)
            .unwrap();
        assert_eq!(accept.mailbox, outgoing.reply_mailbox());
        let alice_at_bob = outgoing.finish(bob, &accept.bytes).unwrap();
        (bob_at_alice, alice_at_bob)
    }

    #[test]
    fn both_sides_end_with_the_same_secret_and_verified_keys() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let (b, a) = pair(&alice, &bob);
        assert_eq!(b.public_key(), bob.public_key());
        assert_eq!(a.public_key(), alice.public_key());
        assert_eq!(b.name().as_str(), "Bob");
        assert_eq!(a.name().as_str(), "Alice");
        assert!(a.is_verified() && b.is_verified());
        assert_eq!(a.pairwise().bytes(), b.pairwise().bytes());
        assert_eq!(a.safety_number(), b.safety_number());
    }

    #[test]
    fn each_pairing_has_its_own_secret() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let (b1, _) = pair(&alice, &bob);
        let (b2, _) = pair(&alice, &bob);
        assert_ne!(b1.pairwise().bytes(), b2.pairwise().bytes());
        // The safety number depends only on the long-term keys: stable.
        assert_eq!(b1.safety_number(), b2.safety_number());
    }

    #[test]
    fn a_link_works_once() {
        let (alice, bob, carol) = (identity("Alice"), identity("Bob"), identity("Carol"));
        let mut book = InviteBook::default();
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
        book.add(invite);
        let (_, req_b) = start_pairing(&mut rng(), &bob, &link).unwrap();
        let (_, req_c) = start_pairing(&mut rng(), &carol, &link).unwrap();
        book.accept(&mut rng(), &alice, req_b.mailbox, &req_b.bytes)
            .unwrap();
        assert!(book.is_empty());
        let e = book
            .accept(&mut rng(), &alice, req_c.mailbox, &req_c.bytes)
            .err()
            .unwrap();
        assert_eq!(e, ContactsError::LinkUsed);
        // Replaying Bob's request is refused the same way.
        let e = book
            .accept(&mut rng(), &alice, req_b.mailbox, &req_b.bytes)
            .err()
            .unwrap();
        assert_eq!(e.code(), "contact-link-used");
    }

    #[test]
    fn a_request_without_the_link_secret_is_rejected() {
        let (alice, mallory) = (identity("Alice"), identity("Mallory"));
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
        // Mallory knows Alice's public key but not the secret: a link with a made-up secret.
        let mut made_up = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rng(), &mut made_up);
        let fake = ContactLink::parse(&format!(
            "c1.{}.{}",
            alice.public_key().to_base64url(),
            crate::encoding::b64url(&made_up)
        ))
        .unwrap();
        assert_eq!(fake.public_key(), link.public_key());
        let (_, req) = start_pairing(&mut rng(), &mallory, &fake).unwrap();
        let e = accept_pairing(&mut rng(), &alice, &invite, &req.bytes)
            .err()
            .unwrap();
        assert_eq!(e, ContactsError::PairingRejected);
        // A request made for another invite of Alice's does not open this one.
        let (link2, _) = PendingInvite::create(&mut rng(), &alice, 0);
        let (_, req) = start_pairing(&mut rng(), &mallory, &link2).unwrap();
        assert_eq!(
            accept_pairing(&mut rng(), &alice, &invite, &req.bytes)
                .err()
                .unwrap(),
            ContactsError::PairingRejected
        );
    }

    #[test]
    fn an_inner_layer_under_another_key_is_rejected() {
        // The holder of the link claims Bob's public key without Bob's secret key: the outer
        // layer opens, the Auth-mode inner layer does not.
        let (alice, bob, mallory) = (identity("Alice"), identity("Bob"), identity("Mallory"));
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
        let (_, req) = start_pairing(&mut rng(), &mallory, &link).unwrap();
        // Re-seal Mallory's inner layer with Bob's public key in place of hers.
        let keys = invite.keys().unwrap();
        let enc1 = EncappedKey::from_bytes(&req.bytes[1..33]).unwrap();
        let mut inner = hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
            &OpModeR::<Kem>::Psk(bundle(&keys).unwrap()),
            alice.secret(),
            &enc1,
            &info(b"sotto/v1 pairing request", &alice.public_key()),
            &req.bytes[33..],
            &[VERSION],
        )
        .unwrap();
        inner[..32].copy_from_slice(bob.public_key().as_bytes());
        let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, Kem>(
            &OpModeS::<Kem>::Psk(bundle(&keys).unwrap()),
            &alice.public_key().to_kem().unwrap(),
            &info(b"sotto/v1 pairing request", &alice.public_key()),
            &inner,
            &[VERSION],
            &mut rng(),
        )
        .unwrap();
        let forged = [&[VERSION][..], &enc.to_bytes(), &ct].concat();
        assert_eq!(
            accept_pairing(&mut rng(), &alice, &invite, &forged)
                .err()
                .unwrap(),
            ContactsError::PairingRejected
        );
    }

    #[test]
    fn own_link_and_altered_accept_are_refused() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
        assert_eq!(
            start_pairing(&mut rng(), &alice, &link).err().unwrap(),
            ContactsError::SelfPairing
        );
        let (outgoing, req) = start_pairing(&mut rng(), &bob, &link).unwrap();
        let (_, accept) = accept_pairing(&mut rng(), &alice, &invite, &req.bytes).unwrap();
        for i in 0..accept.bytes.len() {
            let mut bad = accept.bytes.clone();
            bad[i] ^= 0x80;
            assert!(outgoing.finish(&bob, &bad).is_err(), "byte {i}");
        }
        for i in 0..req.bytes.len() {
            let mut bad = req.bytes.clone();
            bad[i] ^= 0x80;
            assert!(
                accept_pairing(&mut rng(), &alice, &invite, &bad).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn invites_expire() {
        let alice = identity("Alice");
        let mut book = InviteBook::default();
        book.add(PendingInvite::create(&mut rng(), &alice, 1000).1);
        book.expire(1000 + InviteBook::LIFETIME_MS - 1);
        assert_eq!(book.len(), 1);
        book.expire(1000 + InviteBook::LIFETIME_MS);
        assert!(book.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_bytes_fail_cleanly_as_request_or_accept(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (alice, bob) = (identity("Alice"), identity("Bob"));
            let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
            prop_assert!(accept_pairing(&mut rng(), &alice, &invite, &bytes).is_err());
            let (outgoing, _) = start_pairing(&mut rng(), &bob, &link).unwrap();
            prop_assert!(outgoing.finish(&bob, &bytes).is_err());
        }
    }
}
