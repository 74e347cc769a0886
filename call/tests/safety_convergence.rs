//! The call converges in a full room on a slow path: eight participants join one by one at
//! uneven intervals while every socket message (both ways, order kept) and every crypto Worker
//! answer (order kept) comes late at random, as on a loaded machine or a distant server. Each
//! join supersedes the safety round under way; once the roster stops changing every
//! participant must be connected to every other, decode everyone, and show the same ready
//! safety code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod sim;

use sim::Sim;
use sotto_call::Config;

/// Runs a room of eight; returns (ms from the last join until everyone is connected and
/// decoding, ms until everyone shows the same ready code).
fn full_room(seed: u64, slow_network_ms: u64, slow_crypto_ms: u64) -> (u64, u64) {
    let mut sim = Sim::new(seed, Config::default());
    sim.slow_network_ms = slow_network_ms;
    sim.slow_crypto_ms = slow_crypto_ms;
    for _ in 0..8 {
        sim.join();
        let gap = sim.rng.range(200, 2_500);
        sim.run_for(gap);
    }
    let last_join = sim.now;
    sim.settle(60_000);
    let connected = sim.now - last_join;
    sim.settle_safety(40_000);
    (connected, sim.now - last_join)
}

#[test]
fn eight_joining_one_by_one_over_a_slow_path_converge_and_agree_on_one_code() {
    for seed in 1..=3 {
        for (network, crypto) in [(0, 0), (300, 0), (0, 300)] {
            let (connected, code) = full_room(seed, network, crypto);
            println!(
                "seed {seed}, messages up to {network} ms late, crypto answers up to {crypto} ms late: \
                 connected {connected} ms and one code {code} ms after the last join"
            );
        }
    }
}

/// Known failure, kept as the reproduction (see the closing note of 2026-11-24): with messages
/// up to 600 ms late and crypto answers up to 400 ms late, seed 2's p02 and p04 never connect:
/// ICE restarts, both drop each other as vanished, take each other back, and p02 then refuses
/// p04's re-sent keys as stale-epoch, so the pair stays broken. `cargo test -p sotto-call
/// --test safety_convergence -- --ignored` runs it.
#[test]
#[ignore = "known failure on a very slow path: a revived pair stays broken (stale-epoch)"]
fn a_very_slow_path_seed_2() {
    let (connected, code) = full_room(2, 600, 400);
    println!("connected {connected} ms, one code {code} ms after the last join");
}
