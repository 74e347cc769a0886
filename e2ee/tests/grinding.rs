//! A man in the middle that holds the room link grinds the safety code.
//!
//! Setting: honest Alice and Bob; the attacker runs two views, `{Alice, fake Bob}` and
//! `{Bob, fake Alice}`, with substitute identity keys it chose, and wins if the codes the two
//! humans read match. The codes are cut to a few bits here so that the attacks finish.
//!
//! - v1 (each participant hashes its own view of the keys): the attacker picks both substitute
//!   keys, so it searches for a collision between two lists: k bits in about 2^(k/2) keys per
//!   side. 24 bits fall after a few thousand keys.
//! - v2 (commit, then reveal): in the view it completes second, the attacker must commit before
//!   the honest member reveals a fresh nonce. Grinding against a guess of that nonce is all
//!   computation can do, and it does no better than chance: 2^20 grinding tries spread over
//!   2^16 attack rounds at 12 bits win about 2^16 / 2^12 = 16 times, each round being one
//!   attempt. An attacker that waits for the nonce and then commits anew finds its 16-bit
//!   match, and is refused (the round is superseded; a restart brings a fresh nonce).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]
mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::*;
use rand_core::Rng;
use sotto_e2ee::room::RoomId;
use sotto_e2ee::verification::{commitment, SafetyNonce, Verification, VerificationCode};
use sotto_e2ee::{IdentityKeyPair, IdentityPublicKey, SafetyCode};

/// Cheap distinct candidate nonces for grinding: a random stem and a counter.
struct Candidates([u8; 32], u64);

impl Candidates {
    fn new(rng: &mut TestRng) -> Self {
        let mut stem = [0u8; 32];
        rng.fill_bytes(&mut stem);
        Self(stem, 0)
    }

    fn next(&mut self) -> SafetyNonce {
        self.1 += 1;
        self.0[24..].copy_from_slice(&self.1.to_be_bytes());
        SafetyNonce::from_bytes(&self.0).unwrap()
    }
}

/// The first `bits` bits of a hash, as a number.
fn prefix(bytes: &[u8; 32], bits: u32) -> u64 {
    let top = u64::from_be_bytes(bytes[..8].try_into().unwrap());
    top >> (64 - bits)
}

fn random_key(rng: &mut TestRng) -> IdentityPublicKey {
    loop {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        if let Ok(k) = IdentityPublicKey::from_bytes(&b) {
            return k;
        }
    }
}

/// The v1 code was ground by a birthday search: the attacker makes key pairs for both fake
/// participants until a fake-Bob view and a fake-Alice view share the first 24 bits.
#[test]
fn the_v1_code_falls_to_a_birthday_search() {
    const BITS: u32 = 24;
    let mut rng = TestRng::new(1);
    let room = room(&mut rng);
    let alice = IdentityKeyPair::generate(&mut rng).public_key();
    let bob = IdentityKeyPair::generate(&mut rng).public_key();
    let started = Instant::now();
    // prefix of Alice's code (with fake Bob k) -> k, and of Bob's code (with fake Alice k)
    let mut alice_side: HashMap<u64, usize> = HashMap::new();
    let mut bob_side: HashMap<u64, usize> = HashMap::new();
    let mut found = None;
    for i in 0..(1usize << 14) {
        // real key pairs: the attacker needs the secret keys to sit in the middle
        let fake_bob = IdentityKeyPair::generate(&mut rng).public_key();
        let fake_alice = IdentityKeyPair::generate(&mut rng).public_key();
        let a = SafetyCode::compute(room.room_id(), &[alice.clone(), fake_bob]);
        let b = SafetyCode::compute(room.room_id(), &[bob.clone(), fake_alice]);
        let (pa, pb) = (prefix(a.as_bytes(), BITS), prefix(b.as_bytes(), BITS));
        alice_side.insert(pa, i);
        bob_side.insert(pb, i);
        if let Some(&j) = bob_side.get(&pa) {
            found = Some((i, j));
            break;
        }
        if let Some(&j) = alice_side.get(&pb) {
            found = Some((j, i));
            break;
        }
    }
    let (i, j) = found.expect("a 24-bit match within 2^14 keys per side");
    let keys = 2 * (i.max(j) + 1);
    println!(
        "v1, {BITS} bits: matched after {keys} key pairs ({:.1} x 2^12) in {:.2} s",
        keys as f64 / 4096.0,
        started.elapsed().as_secs_f64()
    );
    // far below the 2^24 a second preimage would cost
    assert!(keys < 1 << 16);
}

/// Honest Alice and Bob, each with the state machine of v2. Alice's view is
/// `{alice, "b" = fake Bob}`, Bob's `{bob, "a" = fake Alice}`.
struct Round {
    room: RoomId,
    bob: IdentityPublicKey,
    va: Verification,
    vb: Verification,
}

impl Round {
    fn new(rng: &mut TestRng) -> Self {
        let room = room(rng).room_id().clone();
        let alice = IdentityKeyPair::generate(rng).public_key();
        let bob = IdentityKeyPair::generate(rng).public_key();
        Self {
            va: Verification::new(room.clone(), "a".into(), alice.clone()),
            vb: Verification::new(room.clone(), "b".into(), bob.clone()),
            room,
            bob,
        }
    }

    /// Alice's side: the attacker as "b" with `fake_bob`, committing honestly to a random
    /// nonce. Returns Alice's code.
    fn alice_view(&mut self, rng: &mut TestRng, fake_bob: &IdentityPublicKey) -> VerificationCode {
        self.va
            .start_round(rng, &[("b".to_owned(), fake_bob.clone())]);
        let n = SafetyNonce::generate(rng);
        let c = commitment(&self.room, "b", fake_bob, &n);
        let p = self.va.receive_commitment("b", fake_bob, c);
        assert!(
            p.reveal.is_some(),
            "Alice reveals once she holds the commitment"
        );
        self.va
            .receive_reveal("b", fake_bob, n)
            .unwrap()
            .code
            .unwrap()
    }

    /// Bob's code over `{bob: nb, fake_alice: n}` as Bob computes it.
    fn bob_code(
        &self,
        fake_alice: &IdentityPublicKey,
        nb: &SafetyNonce,
        n: &SafetyNonce,
    ) -> VerificationCode {
        VerificationCode::compute(&self.room, &[(&self.bob, nb), (fake_alice, n)])
    }
}

/// Alice's code is fixed first (her view complete); then every attack round is one round of
/// Bob's: the attacker grinds candidate nonces against a guess of Bob's nonce, commits to the
/// best one, and wins if Bob's code matches Alice's on `BITS` bits.
#[test]
fn the_v2_code_cannot_be_ground_over_2_16_attack_rounds() {
    const BITS: u32 = 12;
    const ROUNDS: u32 = 1 << 16;
    const GRIND: u32 = 4; // candidate nonces tried against a guess of Bob's, per round
    let mut rng = TestRng::new(2);
    let mut round = Round::new(&mut rng);
    let fake_bob = random_key(&mut rng);
    let fake_alice = random_key(&mut rng);
    let code_a = round.alice_view(&mut rng, &fake_bob);
    let target = prefix(code_a.as_bytes(), BITS);
    let view = [("a".to_owned(), fake_alice.clone())];
    let started = Instant::now();
    let mut wins = 0u32;
    let mut hits_on_the_guess = 0u32;
    let mut candidates = Candidates::new(&mut rng);
    for _ in 0..ROUNDS {
        // Bob's round: the attacker sees Bob's commitment (a hash), not his nonce
        let start = round.vb.start_round(&mut rng, &view);
        assert!(start.progress.reveal.is_none());
        let guess = SafetyNonce::generate(&mut rng);
        let mut chosen = SafetyNonce::generate(&mut rng);
        for _ in 0..GRIND {
            let candidate = candidates.next();
            let predicted = round.bob_code(&fake_alice, &guess, &candidate);
            if prefix(predicted.as_bytes(), BITS) == target {
                chosen = candidate;
                hits_on_the_guess += 1;
                break;
            }
        }
        let c = commitment(&round.room, "a", &fake_alice, &chosen);
        let mine = chosen.clone();
        let reveal = round
            .vb
            .receive_commitment("a", &fake_alice, c)
            .reveal
            .expect("Bob reveals once he holds the commitment");
        let code_b = round
            .vb
            .receive_reveal("a", &fake_alice, chosen)
            .unwrap()
            .code
            .unwrap();
        assert_eq!(code_b, round.bob_code(&fake_alice, &reveal.nonce, &mine));
        if prefix(code_b.as_bytes(), BITS) == target {
            wins += 1;
        }
    }
    let expected = f64::from(ROUNDS) / f64::from(1u32 << BITS);
    let sigma = expected.sqrt();
    println!(
        "v2, {BITS} bits: {wins} wins in {ROUNDS} rounds (chance: {expected:.0} +- {sigma:.0}); \
         {} grinding tries, {hits_on_the_guess} matched the guessed nonce; {:.1} s",
        ROUNDS * GRIND,
        started.elapsed().as_secs_f64()
    );
    // chance level: at most 6 standard deviations above ROUNDS / 2^BITS (binomial, p = 2^-12)
    assert!(f64::from(wins) <= expected + 6.0 * sigma, "{wins} wins");
    // and the model can register a match at all (0 wins in a Poisson(16) has p = 1e-7)
    assert!(wins > 0, "the model is broken");
}

/// The attacker waits for Bob's nonce, grinds a nonce of its own that matches Alice's code on
/// 16 bits (it always finds one within 2^20 tries), commits to it anew and reveals it. Bob
/// does not take it: his round is superseded. When Bob restarts, the attacker may commit to the
/// ground nonce again, but Bob's nonce is fresh, and the match is gone.
#[test]
fn an_attacker_that_commits_after_the_reveal_is_refused() {
    const BITS: u32 = 16;
    const BUDGET: u32 = 1 << 20;
    let mut rng = TestRng::new(3);
    let started = Instant::now();
    let mut tries_total = 0u64;
    for attack in 0..4 {
        let mut round = Round::new(&mut rng);
        let fake_bob = random_key(&mut rng);
        let fake_alice = random_key(&mut rng);
        let code_a = round.alice_view(&mut rng, &fake_bob);
        let target = prefix(code_a.as_bytes(), BITS);
        round
            .vb
            .start_round(&mut rng, &[("a".to_owned(), fake_alice.clone())]);
        let first = SafetyNonce::generate(&mut rng);
        let c1 = commitment(&round.room, "a", &fake_alice, &first);
        let bob_nonce = round
            .vb
            .receive_commitment("a", &fake_alice, c1)
            .reveal
            .unwrap()
            .nonce;
        // with Bob's nonce in hand, a 16-bit match is a short search
        let mut tries = 0u32;
        let ground = loop {
            tries += 1;
            assert!(
                tries <= BUDGET,
                "attack {attack}: no match within the budget"
            );
            let candidate = SafetyNonce::generate(&mut rng);
            let code = round.bob_code(&fake_alice, &bob_nonce, &candidate);
            if prefix(code.as_bytes(), BITS) == target {
                break candidate;
            }
        };
        tries_total += u64::from(tries);
        let c2 = commitment(&round.room, "a", &fake_alice, &ground);
        let p = round.vb.receive_commitment("a", &fake_alice, c2);
        assert!(p.superseded && p.reveal.is_none(), "attack {attack}");
        let p = round
            .vb
            .receive_reveal("a", &fake_alice, ground.clone())
            .unwrap();
        assert!(
            p.code.is_none(),
            "attack {attack}: Bob took the ground nonce"
        );
        assert_eq!(round.vb.status().code(), "superseded");
        // the attacker gets Bob to start over and commits to its ground nonce again; Bob's
        // nonce is new (the revealed commitment did not carry over: Bob waited for a new one)
        let restart = round.vb.restart(&mut rng).unwrap();
        assert!(restart.progress.reveal.is_none());
        let fresh = round
            .vb
            .receive_commitment("a", &fake_alice, c2)
            .reveal
            .unwrap()
            .nonce;
        assert_ne!(fresh, bob_nonce);
        let code_b = round
            .vb
            .receive_reveal("a", &fake_alice, ground)
            .unwrap()
            .code
            .unwrap();
        assert_ne!(prefix(code_b.as_bytes(), BITS), target, "attack {attack}");
    }
    println!(
        "v2, 16 bits: 4 attacks found their match after Bob's reveal ({:.2} x 2^16 tries on \
         average) and all 4 were refused; {:.2} s",
        tries_total as f64 / 4.0 / 65536.0,
        started.elapsed().as_secs_f64()
    );
}
