//! Whole calls in the simulated network (see `sim/mod.rs`): several real `CallCore`s, the
//! real room machine as the server, the real crypto, a fake WebRTC, simulated time.
//! What the browser e2e suite covers for the call flow, natively and in milliseconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod sim;

use sim::{Faults, Sim, Tamper};
use sotto_call::event::LeaveReason;
use sotto_call::{AppEvent, Config, ErrorCode, Input, MediaKind, SignalingPhase};
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{Identity, PeerId, Version};

fn errors(sim: &Sim, client: usize) -> Vec<String> {
    sim.events(client)
        .filter_map(|e| match e {
            AppEvent::Error(err) => Some(err.code.code().to_owned()),
            _ => None,
        })
        .collect()
}

fn left(sim: &Sim, client: usize) -> Vec<(PeerId, LeaveReason)> {
    sim.events(client)
        .filter_map(|e| match e {
            AppEvent::ParticipantLeft { peer, reason } => Some((peer.clone(), *reason)),
            _ => None,
        })
        .collect()
}

/// `n` participants join within `spread_ms` of each other, then the call settles.
fn call(seed: u64, n: usize, config: Config) -> Sim {
    let mut sim = Sim::new(seed, config);
    for _ in 0..n {
        sim.join();
        sim.run_for(300);
    }
    sim.settle(30_000);
    sim
}

#[test]
fn an_eight_way_join_storm_converges() {
    let mut sim = Sim::new(8, Config::default());
    for _ in 0..8 {
        sim.join();
        let gap = sim.rng.range(0, 30);
        sim.run_for(gap);
    }
    let took = sim.settle(30_000);
    sim.check_transform_order().unwrap();
    for i in 0..8 {
        let joined = sim.count_events(i, |e| matches!(e, AppEvent::ParticipantJoined { .. }));
        assert_eq!(joined, 7, "p{i:02} saw every other participant join once");
        assert!(left(&sim, i).is_empty(), "nobody left p{i:02}'s call");
        assert_eq!(errors(&sim, i), Vec::<String>::new(), "p{i:02}");
        assert_eq!(sim.ice_restarts(i), 0);
    }
    // one safety code (commit, then reveal: every round through sealed envelopes)
    sim.settle_safety(10_000);
    let failed: u64 = sim.frames.values().map(|f| f.failed).sum();
    let sent: u64 = sim.frames.values().map(|f| f.sent).sum();
    println!("8-way join storm: converged in {took} ms; {failed} of {sent} frames failed to decrypt during the storm");
}

#[test]
fn glare_is_resolved_by_the_polite_side() {
    let mut sim = Sim::new(3, Config::default());
    // A server that hides the two from each other...
    sim.tamper = Some(Box::new(|_, msg, _| match msg {
        ServerMessage::Welcome { you, max_peers, .. } => Tamper::Replace(ServerMessage::Welcome {
            v: Version,
            you: you.clone(),
            peers: vec![],
            max_peers: *max_peers,
        }),
        ServerMessage::PeerJoined { .. } => Tamper::Drop,
        _ => Tamper::Keep,
    }));
    sim.join();
    sim.join();
    sim.run_for(2_000);
    assert!(sim.pcs.is_empty());
    // ...then announces each to the other at the same moment: both say hello, both offer.
    sim.tamper = None;
    let (a, b) = (sim.info(0), sim.info(1));
    sim.inject(
        0,
        &ServerMessage::PeerJoined {
            v: Version,
            peer: b,
        },
    );
    sim.inject(
        1,
        &ServerMessage::PeerJoined {
            v: Version,
            peer: a,
        },
    );
    sim.settle(20_000);
    sim.check_transform_order().unwrap();
    let made = |c: usize| sim.pcs.keys().filter(|(x, _)| *x == c).count();
    // p00 < p01: p00 is polite, dropped its own offer and answered on a new connection
    assert_eq!((made(0), made(1)), (2, 1), "the offers crossed once");
    assert!(errors(&sim, 0).is_empty() && errors(&sim, 1).is_empty());
}

#[test]
fn lost_reordered_and_duplicated_signaling_heals() {
    let mut sim = Sim::new(5, Config::default());
    sim.faults = Faults {
        drop: 0.15,
        duplicate: 0.15,
        reorder_ms: 400,
        until: 25_000,
        ..Faults::default()
    };
    for _ in 0..4 {
        sim.join();
        sim.run_for(300);
    }
    sim.run_until(25_000);
    let took = sim.settle(90_000);
    sim.check_transform_order().unwrap();
    // chat after the faults: everyone gets everything, in order per sender
    for (i, text) in [(0, "one"), (1, "two"), (0, "three")] {
        sim.command(
            i,
            Input::SendChat {
                request: 1,
                text: text.into(),
            },
        );
        sim.run_for(50);
    }
    sim.run_for(2_000);
    for i in 1..4 {
        let from0: Vec<&str> = sim.clients[i]
            .chats
            .iter()
            .filter(|(f, _)| f.as_str() == "p00")
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(from0, ["one", "three"], "p{i:02}");
    }
    println!("15% loss, 15% duplication, 400 ms reordering for 25 s: converged {took} ms later");
}

#[test]
fn a_replaying_server_cannot_derail_the_call() {
    let mut sim = Sim::new(6, Config::default());
    sim.faults = Faults {
        replay: 0.3,
        until: 20_000,
        ..Faults::default()
    };
    for _ in 0..4 {
        sim.join();
        sim.run_for(400);
    }
    sim.run_until(20_000);
    sim.settle(60_000);
    sim.check_transform_order().unwrap();
}

#[test]
fn an_injecting_server_is_reported_and_the_call_goes_on() {
    let mut sim = call(7, 3, Config::default());
    let before = errors(&sim, 0).len();
    for junk in [
        "not json",
        // a server of protocol v1
        r#"{"v":1,"type":"pong"}"#,
        r#"{"v":2,"type":"welcome","you":"someone-else","peers":[],"max_peers":8}"#,
        r#"{"v":2,"type":"signal","from":"p01","to":"p00","payload":"{\"type\":\"offer\"}"}"#,
        r#"{"v":2,"type":"signal","from":"p01","to":"p02","payload":"{}"}"#,
        r#"{"v":2,"type":"signal","from":"nobody","to":"p00","payload":"{\"type\":\"key-ack\",\"epoch\":9}"}"#,
    ] {
        sim.inject_text(0, junk);
    }
    // a newcomer whose sealed identity does not open (made without the room secret), and one
    // with p00's own id
    let evil = PeerInfo {
        peer: PeerId::parse("evil").unwrap(),
        identity: Identity::parse("AAAA").unwrap(),
    };
    sim.inject(
        0,
        &ServerMessage::PeerJoined {
            v: Version,
            peer: evil,
        },
    );
    sim.inject(
        0,
        &ServerMessage::PeerJoined {
            v: Version,
            peer: sim.info(0),
        },
    );
    sim.run_for(2_000);
    let new: Vec<String> = errors(&sim, 0)[before..].to_vec();
    assert!(
        new.iter().filter(|c| *c == "bad-server-message").count() >= 2,
        "{new:?}"
    );
    // the v1 message: named for what it is, never silent
    assert!(new.contains(&"unsupported-version".to_owned()), "{new:?}");
    // an unsealed payload from p01: refused by the crypto Worker
    assert!(new.contains(&"envelope-rejected".to_owned()), "{new:?}");
    assert_eq!(
        new.iter().filter(|c| *c == "bad-roster-entry").count(),
        1,
        "{new:?}"
    );
    assert_eq!(
        new.iter().filter(|c| *c == "forged-participant").count(),
        1,
        "{new:?}"
    );
    // the forged one was never shown, so it never left either
    let evil = PeerId::parse("evil").unwrap();
    assert_eq!(
        sim.count_events(
            0,
            |e| matches!(e, AppEvent::ParticipantJoined { peer, .. } if peer == &evil)
        ),
        0
    );
    assert!(!left(&sim, 0).iter().any(|(p, _)| p == &evil));
    // a forged leave and rejoin of p01 at p00: p00 drops and re-adds it, keys heal
    sim.inject(
        0,
        &ServerMessage::PeerLeft {
            v: Version,
            peer: sim.info(1).peer,
        },
    );
    sim.run_for(100);
    sim.inject(
        0,
        &ServerMessage::PeerJoined {
            v: Version,
            peer: sim.info(1),
        },
    );
    let took = sim.settle(30_000);
    sim.check_transform_order().unwrap();
    println!("forged leave and rejoin: healed in {took} ms");
}

#[test]
fn a_vanished_peer_is_dropped_after_the_timeout_and_keys_rotate() {
    let mut sim = call(9, 3, Config::default());
    let epoch0 = sim.clients[0].core.epoch().unwrap();
    let cut = sim.now;
    sim.links_down.insert((0, 2));
    sim.links_down.insert((1, 2));
    sim.run_for(17_000);
    for i in [0, 1] {
        let when = sim.clients[i].events.iter().find_map(|(t, e)| match e {
            AppEvent::ParticipantLeft {
                peer,
                reason: LeaveReason::Vanished,
            } if peer.as_str() == "p02" => Some(*t),
            _ => None,
        });
        let when = when.unwrap_or_else(|| panic!("p{i:02} dropped p02: {:?}", left(&sim, i)));
        assert!(
            when - cut >= 15_000,
            "not before the timeout ({} ms)",
            when - cut
        );
        assert!(
            sim.ice_restarts(i) <= 5,
            "p{i:02}: {} restarts",
            sim.ice_restarts(i)
        );
    }
    let epoch1 = sim.clients[0].core.epoch().unwrap();
    assert!(epoch1 > epoch0, "p00 rotated ({epoch0} -> {epoch1})");
    let p0_at_1 = sim.clients[1]
        .core
        .participants()
        .into_iter()
        .find(|p| p.peer.as_str() == "p00")
        .unwrap();
    assert_eq!(p0_at_1.epoch, Some(epoch1), "p01 holds p00's new key");
    let failed: u64 = [(0, 1), (1, 0)].iter().map(|k| sim.frames[k].failed).sum();
    assert_eq!(failed, 0, "frames between the two who stayed never failed");
}

#[test]
fn a_frozen_participant_is_dropped_and_comes_back_when_thawed() {
    let mut sim = call(10, 3, Config::default());
    let epoch0 = sim.clients[0].core.epoch().unwrap();
    sim.freeze(2);
    sim.run_for(20_000);
    for i in [0, 1] {
        assert!(
            left(&sim, i).contains(&(PeerId::parse("p02").unwrap(), LeaveReason::Vanished)),
            "p{i:02}"
        );
    }
    assert!(sim.clients[0].core.epoch().unwrap() > epoch0);
    sim.thaw(2);
    let took = sim.settle(60_000);
    sim.check_transform_order().unwrap();
    sim.settle_safety(10_000);
    println!("frozen 20 s: back in the call {took} ms after thawing");
}

#[test]
fn a_signaling_outage_ends_in_a_rejoin() {
    let mut sim = call(11, 3, Config::default());
    sim.cut_signaling(0);
    sim.run_for(8_000);
    let states: Vec<SignalingPhase> = sim
        .events(0)
        .filter_map(|e| match e {
            AppEvent::SignalingState { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert!(states.contains(&SignalingPhase::Reconnecting), "{states:?}");
    sim.restore_signaling(0);
    let took = sim.settle(60_000);
    sim.check_transform_order().unwrap();
    assert_eq!(
        sim.events(0)
            .filter_map(|e| match e {
                AppEvent::SignalingState { state, .. } => Some(*state),
                _ => None,
            })
            .last(),
        Some(SignalingPhase::Connected)
    );
    println!("8 s signaling outage: back in the call {took} ms after it ended");
}

#[test]
fn a_server_restart_does_not_interrupt_the_call() {
    let mut sim = call(12, 3, Config::default());
    let epochs: Vec<_> = (0..3).map(|i| sim.clients[i].core.epoch()).collect();
    let pcs = sim.pcs.len();
    let before = sim.frames.clone();
    sim.restart_server();
    sim.run_for(3_000);
    assert!(
        sim.frames_flow_since(&before),
        "media flows without the server"
    );
    sim.settle(30_000);
    for (i, epoch) in epochs.iter().enumerate() {
        assert!(left(&sim, i).is_empty(), "p{i:02}: {:?}", left(&sim, i));
        assert_eq!(
            sim.clients[i].core.epoch(),
            *epoch,
            "no rotation for a server restart"
        );
    }
    assert_eq!(sim.pcs.len(), pcs, "no new peer connection");
    // a newcomer after the restart gets in
    sim.join();
    sim.settle(30_000);
}

#[test]
fn an_instantly_failing_ice_path_is_restarted_with_back_off() {
    let config = Config {
        peer_timeout_ms: 120_000,
        ..Config::default()
    };
    let mut sim = call(13, 2, config);
    let epochs = (sim.clients[0].core.epoch(), sim.clients[1].core.epoch());
    let start = sim.now;
    sim.links_down.insert((0, 1));
    sim.instant_fail.insert((0, 1));
    sim.run_for(55_000);
    // p01 joined last: it offered, so it is the one that restarts
    let times: Vec<u64> = sim.clients[1]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, AppEvent::IceRestart { .. }))
        .map(|(t, _)| *t - start)
        .collect();
    assert_eq!(sim.ice_restarts(0), 0, "only the offerer restarts");
    assert!(
        times.len() <= 10,
        "{} restarts in 55 s, the first: {:?}",
        times.len(),
        &times[..times.len().min(12)]
    );
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, gap) in gaps.iter().enumerate() {
        let floor = [1_000, 2_000, 4_000].get(i).copied().unwrap_or(8_000);
        assert!(
            *gap >= floor,
            "restart {} came {gap} ms after the one before: {times:?}",
            i + 2
        );
    }
    sim.links_down.clear();
    sim.instant_fail.clear();
    sim.settle(30_000);
    assert_eq!(
        (sim.clients[0].core.epoch(), sim.clients[1].core.epoch()),
        epochs,
        "a restart is no membership change"
    );
    assert!(left(&sim, 0).is_empty() && left(&sim, 1).is_empty());
    println!(
        "instant ICE failure for 55 s: {} restarts at {times:?} ms",
        times.len()
    );
}

#[test]
fn media_that_bypasses_its_transform_is_blocked() {
    let mut sim = Sim::new(14, Config::default());
    sim.join();
    sim.run_for(300);
    let bad = sim.join();
    sim.clients[bad].skips_transform = true;
    // the flag applies to connections made from now: p01's are made on its welcome
    sim.run_for(6_000);
    let blocked: Vec<(Option<MediaKind>, Option<PeerId>)> = sim
        .events(bad)
        .filter_map(|e| match e {
            AppEvent::Error(err) if err.code == ErrorCode::UnencryptedMediaBlocked => {
                Some((err.kind, err.peer.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(blocked
        .iter()
        .all(|(_, p)| p.as_ref().map(PeerId::as_str) == Some("p00")));
    assert_eq!(sim.clients[bad].core.stats().invariant.trips, 2);
    assert!(sim
        .pcs
        .values()
        .filter(|p| p.client == bad)
        .all(|p| p.blocked.len() == 2));
    assert!(
        errors(&sim, 0).is_empty(),
        "the honest browser trips nothing"
    );
    // a replaced track never reaches a blocked sender (the fake asserts it)
    sim.command(
        bad,
        Input::ReplaceTrack {
            kind: MediaKind::Video,
        },
    );
    sim.run_for(100);
}
