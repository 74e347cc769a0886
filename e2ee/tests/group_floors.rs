//! Key freshness: epoch floors per identity key that survive forged leaves and re-joins, the
//! taint a leave puts on every key in hand, the ring of receive keys, chat under a key not yet
//! received.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::{Codec, E2eeError, GroupKeys};

fn key16(bytes: &[u8]) -> [u8; 16] {
    bytes.try_into().unwrap()
}

/// `of`'s key for `epoch` as `holder` holds it.
fn held_key(holder: &GroupKeys, of: &str, epoch: u64) -> [u8; 16] {
    let keys = holder.export_keys_for_testing();
    let (_, _, k) = keys
        .receive_keys
        .iter()
        .find(|(p, e, _)| p == of && *e == epoch)
        .expect("key held");
    key16(k)
}

/// The server tells `victim` that `peer` left, then that it joined again (same identity).
fn forge_leave_and_rejoin(
    rng: &mut TestRng,
    victim: &mut GroupKeys,
    peer: &GroupKeys,
    others: &[&GroupKeys],
    now_ms: u64,
) {
    roster(rng, victim, others, now_ms);
    let mut back = others.to_vec();
    back.push(peer);
    roster(rng, victim, &back, now_ms);
}

/// The attack of issue 11 §2: a former participant kept A's old key; the server forges A's
/// leave and re-join at B and replays A's old key message. B must refuse the key message, and
/// the forged frames must not decrypt as A's.
#[test]
fn forged_leave_and_rejoin_cannot_bring_back_an_old_key() {
    let mut rng = TestRng::new(21);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    roster(&mut rng, &mut b, &[&a, &c], 0);
    // A's epoch 1, sealed to B while C is in the call: the server records the message
    let recorded = roster(&mut rng, &mut a, &[&b, &c], 0);
    let old_to_b = recorded.iter().find(|m| m.to == "b").unwrap().clone();
    let old_to_c = recorded.iter().find(|m| m.to == "c").unwrap().clone();
    b.receive_key_message("a", &old_to_b.bytes, 0).unwrap();
    roster(&mut rng, &mut c, &[&a, &b], 0);
    c.receive_key_message("a", &old_to_c.bytes, 0).unwrap();
    let kept = held_key(&c, "a", 1); // C keeps A's epoch 1 key when it leaves
                                     // C leaves; A and B rotate and B gets A's epoch 2
    roster(&mut rng, &mut b, &[&a], 100);
    let m2 = roster(&mut rng, &mut a, &[&b], 100).remove(0);
    assert_eq!(b.receive_key_message("a", &m2.bytes, 100).unwrap().epoch, 2);
    a.acknowledge("b", 2);
    a.commit_sender_key();

    // long after: the server forges A's leave and re-join at B and replays the old message
    forge_leave_and_rejoin(&mut rng, &mut b, &a, &[], 60_000);
    assert_eq!(
        b.receive_key_message("a", &old_to_b.bytes, 60_000),
        Err(E2eeError::StaleEpoch)
    );
    // even the newest key B had before the forged leave is not taken back
    assert_eq!(
        b.receive_key_message("a", &m2.bytes, 60_000),
        Err(E2eeError::StaleEpoch)
    );
    assert!(!b.has_key_from("a", None));
    // the former participant sends video under A's old key, shown as A's: refused
    let mut c_as_a = member(&mut rng, &room, "c");
    c_as_a.install_sender_key_for_testing(kept, 1).unwrap();
    let forged = c_as_a
        .encrypt_frame(Codec::Vp8, &vp8_delta_frame(300))
        .unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &forged, 60_000),
        Err(E2eeError::UnknownKey)
    );
    assert_eq!(b.stats().peers["a"].dropped_unknown_key, 1);
    // a re-send of the key A had before the forged leave is refused too; only A's next
    // rotation (A rotates on every leave and join it sees) is accepted
    let m3 = a.reseal_for(&mut rng, "b").unwrap();
    assert_eq!(m3.epoch, 2);
    assert_eq!(
        b.receive_key_message("a", &m3.message.bytes, 60_000),
        Err(E2eeError::StaleEpoch)
    );
    let m4 = roster(&mut rng, &mut a, &[&b], 60_000).remove(0);
    let update = b.receive_key_message("a", &m4.bytes, 60_000).unwrap();
    assert_eq!((update.epoch, update.duplicate), (3, false));
    a.acknowledge("b", 3);
    a.commit_sender_key();
    let frame = vp8_delta_frame(200);
    let enc = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &enc, 60_001).unwrap(),
        frame
    );
}

/// The variant where the server withheld A's newer key from B, so B never saw it: after a
/// forged leave and re-join, the old key message is still refused.
#[test]
fn withheld_newer_key_then_old_key_replayed_after_forged_leave_and_rejoin() {
    let mut rng = TestRng::new(22);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let c = member(&mut rng, &room, "c");
    roster(&mut rng, &mut b, &[&a, &c], 0);
    let old = roster(&mut rng, &mut a, &[&b, &c], 0)
        .into_iter()
        .find(|m| m.to == "b")
        .unwrap();
    b.receive_key_message("a", &old.bytes, 0).unwrap();
    // C leaves; A's epoch 2 for B is withheld by the server
    roster(&mut rng, &mut b, &[&a], 100);
    let withheld = roster(&mut rng, &mut a, &[&b], 100).remove(0);
    // A's epoch 1 key is still usable for the grace window, then gone
    assert!(b.has_key_from("a", Some(2_099)));
    assert!(!b.has_key_from("a", Some(2_100)));
    // forged leave and re-join of A, then the replay
    forge_leave_and_rejoin(&mut rng, &mut b, &a, &[], 5_000);
    assert_eq!(
        b.receive_key_message("a", &old.bytes, 5_000),
        Err(E2eeError::StaleEpoch)
    );
    assert!(b.receive_epochs("a").is_empty());
    // the genuine newer key, when it finally arrives, is accepted
    assert_eq!(
        b.receive_key_message("a", &withheld.bytes, 5_000)
            .unwrap()
            .epoch,
        2
    );
}

/// Floors belong to identity keys, not peer ids: a different participant given the same
/// peer id starts from scratch, while the same identity keeps its floor.
#[test]
fn floors_belong_to_identity_keys() {
    let mut rng = TestRng::new(23);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    roster(&mut rng, &mut b, &[&a], 0);
    for _ in 0..3 {
        let m = roster(&mut rng, &mut a, &[&b], 0).remove(0);
        b.receive_key_message("a", &m.bytes, 0).unwrap();
    }
    assert_eq!(b.receive_epochs("a")[0], 3);
    // a new participant under the same peer id, with its own identity: its epoch 1 is fine
    let mut a2 = member(&mut rng, &room, "a");
    roster(&mut rng, &mut b, &[&a2], 10);
    let m = roster(&mut rng, &mut a2, &[&b], 10).remove(0);
    assert_eq!(b.receive_key_message("a", &m.bytes, 10).unwrap().epoch, 1);
    assert_eq!(b.receive_epochs("a"), vec![1]);
}

#[test]
fn the_same_epoch_again_is_a_duplicate_and_a_different_key_for_it_is_refused() {
    let mut rng = TestRng::new(24);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    roster(&mut rng, &mut b, &[&a], 0);
    let m = roster(&mut rng, &mut a, &[&b], 0).remove(0);
    assert!(!b.receive_key_message("a", &m.bytes, 0).unwrap().duplicate);
    let frame = b"first".to_vec();
    a.acknowledge("b", 1);
    a.commit_sender_key();
    let enc = a.encrypt_frame(Codec::Opus, &frame).unwrap();
    assert_eq!(b.decrypt_frame("a", Codec::Opus, &enc, 1).unwrap(), frame);
    // a fresh sealing of the same key (a re-send) is a duplicate and changes nothing: the
    // replay window of that key is kept (the frame again is a duplicate, not accepted afresh)
    let again = a.reseal_for(&mut rng, "b").unwrap();
    assert_ne!(again.message.bytes, m.bytes);
    let update = b.receive_key_message("a", &again.message.bytes, 2).unwrap();
    assert_eq!((update.epoch, update.duplicate), (1, true));
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &enc, 2),
        Err(E2eeError::DuplicateFrame)
    );
    // A (or anyone holding A's identity key) sealing another key under the same epoch: refused
    a.install_sender_key_for_testing([9; 16], 1).unwrap();
    let other = a.reseal_for(&mut rng, "b").unwrap();
    assert_eq!(other.epoch, 1);
    assert_eq!(
        b.receive_key_message("a", &other.message.bytes, 3),
        Err(E2eeError::StaleEpoch)
    );
    assert_ne!(held_key(&b, "a", 1), [9; 16]);
}

#[test]
fn a_leave_taints_every_key_in_hand() {
    let mut rng = TestRng::new(25);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    let mut d = member(&mut rng, &room, "d");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c, &mut d], 0);
    let a_frame = a.encrypt_frame(Codec::Opus, b"a one").unwrap();
    let a_frame2 = a.encrypt_frame(Codec::Opus, b"a two").unwrap();
    let d_frame = d.encrypt_frame(Codec::Opus, b"d one").unwrap();
    let a_resend = a.reseal_for(&mut rng, "b").unwrap();
    // C leaves at t = 1,000 (B sees it first)
    roster(&mut rng, &mut b, &[&a, &d], 1_000);
    // every key in hand still opens frames during the grace window...
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &a_frame, 2_999).unwrap(),
        b"a one"
    );
    assert!(b.has_key_from("d", Some(2_999)));
    // ...and none after it, of any remaining sender
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &a_frame2, 3_000),
        Err(E2eeError::UnknownKey)
    );
    assert_eq!(
        b.decrypt_frame("d", Codec::Opus, &d_frame, 3_000),
        Err(E2eeError::UnknownKey)
    );
    assert!(!b.has_key_from("a", None));
    // a key made before the leave is not accepted any more, even a re-send of the newest
    assert_eq!(
        b.receive_key_message("a", &a_resend.message.bytes, 3_000),
        Err(E2eeError::StaleEpoch)
    );
    // keys made on the leave are
    let from_a = roster(&mut rng, &mut a, &[&b, &d], 1_000);
    let to_b = from_a.iter().find(|m| m.to == "b").unwrap();
    assert_eq!(
        b.receive_key_message("a", &to_b.bytes, 3_000)
            .unwrap()
            .epoch,
        2
    );
    assert!(b.has_key_from("a", Some(1_000_000)));
}

/// Up to four keys per sender: frames sent under each of the last four epochs (e.g. several
/// roster changes in a row) still open during the grace window.
#[test]
fn the_ring_keeps_four_keys_per_sender() {
    let mut rng = TestRng::new(26);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    roster(&mut rng, &mut b, &[&a], 0);
    let mut frames = Vec::new();
    for epoch in 1..=5u64 {
        let m = roster(&mut rng, &mut a, &[&b], epoch * 100).remove(0);
        b.receive_key_message("a", &m.bytes, epoch * 100).unwrap();
        a.acknowledge("b", epoch);
        assert_eq!(a.commit_sender_key(), epoch);
        frames.push(a.encrypt_frame(Codec::Opus, &[epoch as u8; 8]).unwrap());
    }
    assert_eq!(b.receive_epochs("a"), vec![5, 4, 3, 2]);
    for epoch in 2..=5u64 {
        assert_eq!(
            b.decrypt_frame("a", Codec::Opus, &frames[epoch as usize - 1], 600)
                .unwrap(),
            vec![epoch as u8; 8],
            "epoch {epoch}"
        );
    }
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[0], 600),
        Err(E2eeError::UnknownKey)
    );
}

#[test]
fn chat_under_a_key_not_received_yet_is_pending_not_lost() {
    let mut rng = TestRng::new(27);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 0);
    let old = a.seal_chat(b"under epoch 1").unwrap();
    // A rotates and commits after its timeout; the key to B is late
    let late = roster(&mut rng, &mut a, &[&b, &c], 10)
        .into_iter()
        .find(|m| m.to == "b")
        .unwrap();
    a.commit_sender_key();
    let msg = a.seal_chat(b"right after the rotation").unwrap();
    assert_eq!(b.open_chat("a", &msg, 20), Err(E2eeError::ChatKeyPending));
    assert_eq!(b.stats().chat_pending, 1);
    assert_eq!(b.stats().chat_dropped, 0);
    b.receive_key_message("a", &late.bytes, 30).unwrap();
    assert_eq!(
        b.open_chat("a", &msg, 30).unwrap(),
        b"right after the rotation"
    );
    // an older epoch whose key is gone is not pending: it will never come
    b.expire(1_000_000);
    assert_eq!(
        b.open_chat("a", &old, 1_000_000),
        Err(E2eeError::UnknownKey)
    );
    // nor is an epoch below the floor a leave raised: C leaves, B's epoch 2 key of A expires,
    // a chat under epoch 2 is refused while one under A's next epoch (3) is pending
    let stale = a.seal_chat(b"epoch 2 again").unwrap();
    roster(&mut rng, &mut b, &[&a], 2_000_000);
    b.expire(3_000_000);
    assert_eq!(
        b.open_chat("a", &stale, 3_000_000),
        Err(E2eeError::UnknownKey)
    );
    roster(&mut rng, &mut a, &[&b], 2_000_000);
    a.commit_sender_key();
    let fresh = a.seal_chat(b"epoch 3").unwrap();
    assert_eq!(
        b.open_chat("a", &fresh, 3_000_000),
        Err(E2eeError::ChatKeyPending)
    );
    // from a sender not in the roster: unknown key, not pending
    assert_eq!(
        b.open_chat("zed", &fresh, 3_000_000),
        Err(E2eeError::UnknownKey)
    );
}
