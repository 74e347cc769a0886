//! Safety codes: order independence, substitution detection, length.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::{IdentityKeyPair, SafetyCode};

#[test]
fn equal_for_honest_parties_in_any_order() {
    let mut rng = TestRng::new(31);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 0);
    let code = a.safety_code();
    assert_eq!(code, b.safety_code());
    assert_eq!(code, c.safety_code());
    assert_eq!(code.digits(), c.safety_code().digits());
    assert_eq!(code.words(), b.safety_code().words());

    let keys = [a.my_identity(), b.my_identity(), c.my_identity()];
    let rev = [c.my_identity(), a.my_identity(), b.my_identity()];
    assert_eq!(
        SafetyCode::compute(room.room_id(), &keys),
        SafetyCode::compute(room.room_id(), &rev)
    );
    assert_eq!(SafetyCode::compute(room.room_id(), &keys), code);
}

#[test]
fn differs_if_a_key_is_substituted_or_the_room_differs() {
    let mut rng = TestRng::new(32);
    let room = room(&mut rng);
    let other = common::room(&mut rng);
    let ids: Vec<_> = (0..3)
        .map(|_| IdentityKeyPair::generate(&mut rng).public_key())
        .collect();
    let good = SafetyCode::compute(room.room_id(), &ids);
    let mitm = IdentityKeyPair::generate(&mut rng).public_key();
    for i in 0..3 {
        let mut sub = ids.clone();
        sub[i] = mitm.clone();
        let bad = SafetyCode::compute(room.room_id(), &sub);
        assert_ne!(good, bad);
        assert_ne!(good.digits(), bad.digits());
        assert_ne!(good.words(), bad.words());
    }
    assert_ne!(good, SafetyCode::compute(other.room_id(), &ids));
    assert_ne!(good, SafetyCode::compute(room.room_id(), &ids[..2]));
}

#[test]
fn renders_at_least_80_bits() {
    let mut rng = TestRng::new(33);
    let room = room(&mut rng);
    let ids: Vec<_> = (0..2)
        .map(|_| IdentityKeyPair::generate(&mut rng).public_key())
        .collect();
    let code = SafetyCode::compute(room.room_id(), &ids);
    let digits = code.digits();
    let groups: Vec<&str> = digits.split(' ').collect();
    assert_eq!(groups.len(), 6);
    assert!(groups
        .iter()
        .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit())));
    let digit_bits = 30.0 * 10f64.log2();
    assert!(digit_bits >= 80.0, "{digit_bits}");
    let words = code.words();
    assert_eq!(words.len(), 10);
    assert!(words.len() * 8 >= 80); // 256-word list: 8 bits per word
}
