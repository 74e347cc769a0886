//! Protocol v2 through `GroupKeys`: the sealed roster (identities that do not open are forged
//! participants) and sealed peer envelopes (honest flow, and every refusal: replay, reflection,
//! another room, another pair, another sender identity, tampering, truncation, version, size).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use proptest::prelude::*;
use sotto_e2ee::envelope::{MAX_ENVELOPE_LEN, MAX_ENVELOPE_PLAINTEXT, MAX_PAYLOAD_TEXT_LEN};
use sotto_e2ee::sealed_identity::{open_identity, seal_identity};
use sotto_e2ee::{
    E2eeError, GroupKeys, IdentityKeyPair, RoomKeys, RosterRejection, SealedRosterEntry,
};

/// Everyone gets everyone else's sealed identity as its roster (keys are not delivered).
fn sealed_sync(rng: &mut TestRng, members: &mut [&mut GroupKeys]) {
    let entries: Vec<SealedRosterEntry> = members
        .iter()
        .map(|m| SealedRosterEntry::new(m.my_peer_id(), m.my_sealed_identity(rng).unwrap()))
        .collect();
    for m in members.iter_mut() {
        let others: Vec<_> = entries
            .iter()
            .filter(|e| e.peer != m.my_peer_id())
            .cloned()
            .collect();
        let out = m.set_sealed_roster(rng, &others, 0).unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert_eq!(out.messages.len(), others.len());
    }
}

fn pair(seed: u64) -> (TestRng, RoomKeys, GroupKeys, GroupKeys) {
    let mut rng = TestRng::new(seed);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "alice");
    let mut b = member(&mut rng, &room, "bob");
    sealed_sync(&mut rng, &mut [&mut a, &mut b]);
    (rng, room, a, b)
}

#[test]
fn honest_flow_both_ways_with_increasing_numbers() {
    let (mut rng, _, mut a, mut b) = pair(1);
    for i in 1..=5u64 {
        let text = format!("offer {i}");
        let env = a.seal_envelope(&mut rng, "bob", text.as_bytes()).unwrap();
        assert_eq!((env.to.as_str(), env.seq), ("bob", i));
        let opened = b.open_envelope("alice", &env.bytes).unwrap();
        assert_eq!(opened.payload, text.as_bytes());
        assert_eq!((opened.from.as_str(), opened.seq), ("alice", i));
        let reply = b.seal_envelope(&mut rng, "alice", b"answer").unwrap();
        assert_eq!(reply.seq, i);
        assert_eq!(
            a.open_envelope("bob", &reply.bytes).unwrap().payload,
            b"answer"
        );
    }
    // empty payloads are fine; envelopes of the same payload differ (fresh HPKE encapsulation)
    let e1 = a.seal_envelope(&mut rng, "bob", b"").unwrap();
    let e2 = a.seal_envelope(&mut rng, "bob", b"").unwrap();
    assert_ne!(e1.bytes[9..], e2.bytes[9..]);
    b.open_envelope("alice", &e1.bytes).unwrap();
    b.open_envelope("alice", &e2.bytes).unwrap();
    let stats = b.envelope_stats();
    assert_eq!((stats.sealed, stats.opened, stats.rejected), (5, 7, 0));
}

#[test]
fn gaps_are_accepted_replays_and_reorders_are_refused() {
    let (mut rng, _, mut a, mut b) = pair(2);
    let envs: Vec<_> = (0..4)
        .map(|_| a.seal_envelope(&mut rng, "bob", b"x").unwrap())
        .collect();
    b.open_envelope("alice", &envs[0].bytes).unwrap();
    assert_eq!(
        b.open_envelope("alice", &envs[0].bytes),
        Err(E2eeError::EnvelopeReplayed)
    );
    // 2 is dropped by the network: 3 still opens, then 2 is too old
    b.open_envelope("alice", &envs[2].bytes).unwrap();
    assert_eq!(
        b.open_envelope("alice", &envs[1].bytes),
        Err(E2eeError::EnvelopeReplayed)
    );
    b.open_envelope("alice", &envs[3].bytes).unwrap();
    assert_eq!(b.envelope_stats().replayed, 2);
}

#[test]
fn a_replay_is_refused_across_a_forged_leave_and_rejoin() {
    let (mut rng, _, mut a, mut b) = pair(3);
    let env = a.seal_envelope(&mut rng, "bob", b"hello").unwrap();
    b.open_envelope("alice", &env.bytes).unwrap();
    let alice_blob = a.my_sealed_identity(&mut rng).unwrap();
    // the server says alice left, then announces her (genuine) sealed identity again
    b.set_sealed_roster(&mut rng, &[], 10).unwrap();
    b.set_sealed_roster(&mut rng, &[SealedRosterEntry::new("alice", alice_blob)], 20)
        .unwrap();
    assert_eq!(
        b.open_envelope("alice", &env.bytes),
        Err(E2eeError::EnvelopeReplayed)
    );
    // and alice's next envelope still opens
    let next = a.seal_envelope(&mut rng, "bob", b"again").unwrap();
    assert_eq!(b.open_envelope("alice", &next.bytes).unwrap().seq, 2);
}

#[test]
fn a_reflected_envelope_is_refused() {
    let (mut rng, _, mut a, _) = pair(4);
    let env = a.seal_envelope(&mut rng, "bob", b"offer").unwrap();
    // the server sends alice's envelope to bob back to alice, as from bob
    assert_eq!(
        a.open_envelope("bob", &env.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
}

#[test]
fn another_pair_is_refused() {
    let mut rng = TestRng::new(5);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "alice");
    let mut b = member(&mut rng, &room, "bob");
    let mut c = member(&mut rng, &room, "carol");
    sealed_sync(&mut rng, &mut [&mut a, &mut b, &mut c]);
    let to_bob = a.seal_envelope(&mut rng, "bob", b"for bob").unwrap();
    // delivered to carol as from alice (sealed to bob's key and pair)
    assert_eq!(
        c.open_envelope("alice", &to_bob.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
    // delivered to bob as from carol
    assert_eq!(
        b.open_envelope("carol", &to_bob.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
    // carol's envelope to bob delivered to bob as from alice
    let from_carol = c.seal_envelope(&mut rng, "bob", b"carol").unwrap();
    assert_eq!(
        b.open_envelope("alice", &from_carol.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
    // the genuine ones still open afterwards: nothing was recorded for the refused ones
    b.open_envelope("alice", &to_bob.bytes).unwrap();
    b.open_envelope("carol", &from_carol.bytes).unwrap();
}

#[test]
fn another_room_is_refused() {
    let mut rng = TestRng::new(6);
    let room1 = room(&mut rng);
    let room2 = room(&mut rng);
    let ia = IdentityKeyPair::generate(&mut rng);
    let ib = IdentityKeyPair::generate(&mut rng);
    // the same identities and peer ids in two rooms
    let mut a1 = GroupKeys::new(&mut rng, room1.clone(), ia.clone(), "alice".into());
    let mut b1 = GroupKeys::new(&mut rng, room1, ib.clone(), "bob".into());
    let mut a2 = GroupKeys::new(&mut rng, room2.clone(), ia, "alice".into());
    let mut b2 = GroupKeys::new(&mut rng, room2, ib, "bob".into());
    sealed_sync(&mut rng, &mut [&mut a1, &mut b1]);
    sealed_sync(&mut rng, &mut [&mut a2, &mut b2]);
    let env = a1.seal_envelope(&mut rng, "bob", b"room 1").unwrap();
    assert_eq!(
        b2.open_envelope("alice", &env.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
    b1.open_envelope("alice", &env.bytes).unwrap();
    // and a sealed identity of room 1 is a forged participant in room 2
    let blob = a1.my_sealed_identity(&mut rng).unwrap();
    let out = b2
        .set_sealed_roster(&mut rng, &[SealedRosterEntry::new("alice", blob)], 0)
        .unwrap();
    assert_eq!(out.rejected[0].reason, RosterRejection::ForgedParticipant);
}

#[test]
fn another_sender_identity_is_refused() {
    let (mut rng, room, mut a, mut b) = pair(7);
    // mallory holds the room secret but not alice's identity key; she seals as "alice"
    let mut mallory = member(&mut rng, &room, "alice");
    let bob_blob = b.my_sealed_identity(&mut rng).unwrap();
    mallory
        .set_sealed_roster(&mut rng, &[SealedRosterEntry::new("bob", bob_blob)], 0)
        .unwrap();
    let forged = mallory
        .seal_envelope(&mut rng, "bob", b"evil offer")
        .unwrap();
    assert_eq!(
        b.open_envelope("alice", &forged.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
    // an insider that swaps alice's identity in bob's roster for its own: now alice's genuine
    // envelopes are refused (and the safety code shows the swap)
    let mallory_blob = seal_identity(&mut rng, &room, "alice", &mallory.my_identity()).unwrap();
    b.set_sealed_roster(
        &mut rng,
        &[SealedRosterEntry::new("alice", mallory_blob)],
        0,
    )
    .unwrap();
    let genuine = a.seal_envelope(&mut rng, "bob", b"offer").unwrap();
    assert_eq!(
        b.open_envelope("alice", &genuine.bytes),
        Err(E2eeError::EnvelopeRejected)
    );
}

#[test]
fn every_flipped_bit_and_every_truncation_is_refused() {
    let (mut rng, _, mut a, mut b) = pair(8);
    let env = a
        .seal_envelope(&mut rng, "bob", b"a=fingerprint:sha-256 AB:CD")
        .unwrap();
    for i in 0..env.bytes.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = env.bytes.clone();
            bad[i] ^= 1 << bit;
            let expected = if i == 0 {
                E2eeError::EnvelopeVersion
            } else {
                E2eeError::EnvelopeRejected
            };
            assert_eq!(b.open_envelope("alice", &bad), Err(expected), "byte {i}");
        }
    }
    for len in 0..env.bytes.len() {
        let err = b.open_envelope("alice", &env.bytes[..len]).unwrap_err();
        assert!(
            matches!(
                err,
                E2eeError::MalformedEnvelope | E2eeError::EnvelopeRejected
            ),
            "{len}: {err:?}"
        );
    }
    let mut longer = env.bytes.clone();
    longer.push(0);
    assert_eq!(
        b.open_envelope("alice", &longer),
        Err(E2eeError::EnvelopeRejected)
    );
    // nothing refused moved the sequence number: the genuine envelope still opens
    assert_eq!(b.open_envelope("alice", &env.bytes).unwrap().seq, 1);
}

#[test]
fn another_version_and_unknown_peers_are_refused() {
    let (mut rng, _, mut a, mut b) = pair(9);
    let env = a.seal_envelope(&mut rng, "bob", b"x").unwrap();
    for v in [0u8, 1, 3, 0xff] {
        let mut bad = env.bytes.clone();
        bad[0] = v;
        assert_eq!(
            b.open_envelope("alice", &bad),
            Err(E2eeError::EnvelopeVersion)
        );
    }
    assert_eq!(
        b.open_envelope("carol", &env.bytes),
        Err(E2eeError::UnknownPeer)
    );
    assert_eq!(b.open_envelope("", &env.bytes), Err(E2eeError::UnknownPeer));
    assert_eq!(
        a.seal_envelope(&mut rng, "carol", b"x"),
        Err(E2eeError::UnknownPeer)
    );
    let stats = b.envelope_stats();
    assert_eq!((stats.rejected, stats.unknown_peer), (4, 2));
}

#[test]
fn the_largest_payload_fits_the_wire_and_one_more_byte_is_refused() {
    let (mut rng, _, mut a, mut b) = pair(10);
    let payload = vec![b'v'; MAX_ENVELOPE_PLAINTEXT];
    let env = a.seal_envelope(&mut rng, "bob", &payload).unwrap();
    assert_eq!(env.bytes.len(), MAX_ENVELOPE_LEN);
    let text = base64_url(&env.bytes);
    assert!(text.len() <= MAX_PAYLOAD_TEXT_LEN, "{}", text.len());
    assert_eq!(
        b.open_envelope("alice", &env.bytes).unwrap().payload,
        payload
    );
    let too_big = vec![0u8; MAX_ENVELOPE_PLAINTEXT + 1];
    assert_eq!(
        a.seal_envelope(&mut rng, "bob", &too_big),
        Err(E2eeError::EnvelopeTooLarge)
    );
    // a refused seal used no sequence number
    let next = a.seal_envelope(&mut rng, "bob", b"next").unwrap();
    assert_eq!(next.seq, 2);
}

#[test]
fn a_forged_participant_gets_no_key_and_no_envelope() {
    let mut rng = TestRng::new(11);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "alice");
    let b = member(&mut rng, &room, "bob");
    // the server invents "eve": it has no room secret, so it seals under a room of its own
    let server_room = common::room(&mut rng);
    let mut eve = member(&mut rng, &server_room, "eve");
    let eve_blob = seal_identity(&mut rng, &server_room, "eve", &eve.my_identity()).unwrap();
    let entries = vec![
        SealedRosterEntry::new("bob", b.my_sealed_identity(&mut rng).unwrap()),
        SealedRosterEntry::new("eve", eve_blob),
    ];
    let out = a.set_sealed_roster(&mut rng, &entries, 0).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].peer, "eve");
    assert_eq!(out.rejected[0].reason.code(), "forged-participant");
    assert_eq!(
        out.messages
            .iter()
            .map(|m| m.to.as_str())
            .collect::<Vec<_>>(),
        ["bob"]
    );
    assert_eq!(
        a.roster().into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
        ["bob"]
    );
    assert_eq!(
        a.seal_envelope(&mut rng, "eve", b"offer"),
        Err(E2eeError::UnknownPeer)
    );
    // eve's envelopes are refused even if she names alice correctly
    eve.set_roster(
        &mut rng,
        &[sotto_e2ee::RosterEntry::new("alice", &a.my_identity())],
        0,
    )
    .unwrap();
    let from_eve = eve.seal_envelope(&mut rng, "alice", b"offer").unwrap();
    assert_eq!(
        a.open_envelope("eve", &from_eve.bytes),
        Err(E2eeError::UnknownPeer)
    );
}

#[test]
fn sealed_identities_round_trip_and_bind_the_peer_id() {
    let mut rng = TestRng::new(12);
    let room = room(&mut rng);
    let a = member(&mut rng, &room, "alice");
    let blob = a.my_sealed_identity(&mut rng).unwrap();
    assert!(blob.len() <= 256);
    assert_eq!(open_identity(&room, "alice", &blob), Ok(a.my_identity()));
    assert_eq!(
        open_identity(&room, "bob", &blob),
        Err(E2eeError::ForgedParticipant)
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Fixed {
    room: RoomKeys,
    alice: GroupKeys,
    bob: GroupKeys,
    blob: String,
    envelope: Vec<u8>,
}

fn fixed() -> Fixed {
    let (mut rng, room, mut alice, bob) = pair(13);
    let blob = alice.my_sealed_identity(&mut rng).unwrap();
    let envelope = alice
        .seal_envelope(&mut rng, "bob", b"payload")
        .unwrap()
        .bytes;
    Fixed {
        room,
        alice,
        bob,
        blob,
        envelope,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text as a sealed identity: it opens only if it is the genuine blob, and otherwise
    /// fails with one of the typed errors (never a panic).
    #[test]
    fn any_identity_text_opens_or_fails_cleanly(text in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let f = fixed();
        for candidate in [text, base64_url(&bytes)] {
            match open_identity(&f.room, "alice", &candidate) {
                Ok(pk) => {
                    prop_assert_eq!(&candidate, &f.blob);
                    prop_assert_eq!(pk, f.alice.my_identity());
                }
                Err(e) => prop_assert!(matches!(
                    e,
                    E2eeError::MalformedIdentityBlob
                        | E2eeError::IdentityBlobVersion
                        | E2eeError::ForgedParticipant
                        | E2eeError::BadPublicKey
                ), "{e:?}"),
            }
        }
    }

    /// A mutated genuine blob never opens.
    #[test]
    fn a_mutated_identity_never_opens(pos in 0usize..82, c in proptest::char::range('-', 'z')) {
        let f = fixed();
        let mut chars: Vec<char> = f.blob.chars().collect();
        prop_assume!(chars[pos] != c);
        chars[pos] = c;
        let text: String = chars.into_iter().collect();
        prop_assert!(open_identity(&f.room, "alice", &text).is_err());
    }

    /// Any bytes as an envelope from a roster peer: refused with a typed error, and nothing
    /// recorded (the genuine envelope still opens afterwards).
    #[test]
    fn any_envelope_bytes_are_refused_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..400), head in any::<bool>()) {
        let mut f = fixed();
        let mut input = bytes;
        if head {
            // a valid-looking header so the input reaches HPKE
            input.splice(0..0, f.envelope[..9].iter().copied());
        }
        prop_assume!(input != f.envelope);
        let err = f.bob.open_envelope("alice", &input).unwrap_err();
        prop_assert!(matches!(
            err,
            E2eeError::MalformedEnvelope | E2eeError::EnvelopeVersion | E2eeError::EnvelopeRejected
        ), "{err:?}");
        prop_assert_eq!(f.bob.open_envelope("alice", &f.envelope).unwrap().seq, 1);
    }
}
