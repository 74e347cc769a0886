//! Native benchmark of protocol v2's crypto: sealing and opening a peer envelope (HPKE AuthPSK,
//! one per signaling message), sealing and opening an identity, and one safety-code step.
//! `cargo bench -p sotto-e2ee --bench envelopes`
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::hint::black_box;
use std::time::Instant;

use sotto_e2ee::envelope::MAX_ENVELOPE_PLAINTEXT;
use sotto_e2ee::sealed_identity::{open_identity, seal_identity};
use sotto_e2ee::verification::{commitment, SafetyNonce, VerificationCode};
use sotto_e2ee::{GroupKeys, IdentityKeyPair, RoomSecret, SealedRosterEntry};

fn time<T>(label: &str, iters: u32, mut f: impl FnMut() -> T) {
    for _ in 0..iters / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
    println!("{label:<44} {iters:>8} {us:>12.1}");
}

fn main() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let room = RoomSecret::generate(&mut rng).derive();
    let ia = IdentityKeyPair::generate(&mut rng);
    let mut a = GroupKeys::new(&mut rng, room.clone(), ia, "alice".into());
    let ib = IdentityKeyPair::generate(&mut rng);
    let mut b = GroupKeys::new(&mut rng, room.clone(), ib, "bob".into());
    let blob_a = a.my_sealed_identity(&mut rng).unwrap();
    let blob_b = b.my_sealed_identity(&mut rng).unwrap();
    a.set_sealed_roster(&mut rng, &[SealedRosterEntry::new("bob", blob_b)], 0)
        .unwrap();
    b.set_sealed_roster(
        &mut rng,
        &[SealedRosterEntry::new("alice", blob_a.clone())],
        0,
    )
    .unwrap();
    println!("{:<44} {:>8} {:>12}", "operation", "iters", "us/op");
    for (name, size) in [
        ("ICE candidate", 120usize),
        ("SDP offer", 3_000),
        ("largest payload", MAX_ENVELOPE_PLAINTEXT),
    ] {
        let payload = vec![b'x'; size];
        let iters = if size > 10_000 { 500 } else { 2_000 };
        time(&format!("seal envelope, {name} ({size} B)"), iters, || {
            a.seal_envelope(&mut rng, "bob", &payload).unwrap()
        });
        // open fresh envelopes (each seq is accepted once)
        let envs: Vec<_> = (0..iters + iters / 10)
            .map(|_| a.seal_envelope(&mut rng, "bob", &payload).unwrap().bytes)
            .collect();
        let mut it = envs.iter();
        time(&format!("open envelope, {name} ({size} B)"), iters, || {
            b.open_envelope("alice", it.next().unwrap()).unwrap()
        });
    }
    let pk = a.my_identity();
    time("seal identity", 20_000, || {
        seal_identity(&mut rng, &room, "alice", &pk).unwrap()
    });
    time("open identity", 20_000, || {
        open_identity(&room, "alice", &blob_a).unwrap()
    });
    let nonce = SafetyNonce::generate(&mut rng);
    time("safety commitment", 100_000, || {
        commitment(room.room_id(), "alice", &pk, &nonce)
    });
    let members: Vec<_> = (0..8)
        .map(|_| {
            (
                IdentityKeyPair::generate(&mut rng).public_key(),
                SafetyNonce::generate(&mut rng),
            )
        })
        .collect();
    let refs: Vec<_> = members.iter().map(|(k, n)| (k, n)).collect();
    time("safety code, 8 members", 100_000, || {
        VerificationCode::compute(room.room_id(), &refs)
    });
}
