//! Protocol v2 in the simulated network (see `sim/mod.rs`: real cores, the real room machine,
//! the real crypto Worker mapping): a server without the room secret cannot bring anyone into
//! the call; altered, swapped or replayed envelopes are refused and counted; honest
//! participants see each other's names and agree on one safety code; verification follows
//! the identity key and warns when it changes; relay-only participants never send or accept
//! another kind of candidate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod sim;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sim::{Faults, Sim, Tamper};
use sotto_call::crypto::SafetyState;
use sotto_call::{AppEvent, Config, Input, Privacy, SignalingPhase, VerifiedKeyChange};
use sotto_e2ee::IdentityKeyPair;
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{Identity, Payload, PeerId, Version};

fn id(s: &str) -> PeerId {
    PeerId::parse(s).unwrap()
}

/// (code, reason, peer) of every error event of `client`.
fn errors(sim: &Sim, client: usize) -> Vec<(String, Option<String>, Option<String>)> {
    sim.events(client)
        .filter_map(|e| match e {
            AppEvent::Error(err) => Some((
                err.code.code().to_owned(),
                err.reason.map(str::to_owned),
                err.peer.as_ref().map(|p| p.as_str().to_owned()),
            )),
            _ => None,
        })
        .collect()
}

fn call(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(seed, Config::default());
    for _ in 0..n {
        sim.join();
        sim.run_for(300);
    }
    sim.settle(30_000);
    sim
}

fn signal(from: &PeerId, to: &PeerId, payload: &str) -> ServerMessage {
    ServerMessage::Signal {
        v: Version,
        from: from.clone(),
        to: to.clone(),
        payload: Payload::new(payload.to_owned()).unwrap(),
    }
}

#[test]
fn a_server_without_the_room_secret_cannot_bring_anyone_into_the_call() {
    let mut sim = call(31, 3);
    let mallory = id("mallory");
    // What a server can make without the secret: a sealed identity of the right shape
    // (version 2, 61 random bytes), or a genuine one moved from its peer id to another.
    let mut made_up = vec![2u8];
    made_up.extend((0..60).map(|_| sim.rng.range(0, 255) as u8));
    let made_up = Identity::parse(&URL_SAFE_NO_PAD.encode(&made_up)).unwrap();
    let moved = sim.info(1).identity;
    for (client, identity) in [(0, made_up.clone()), (1, made_up.clone()), (2, moved)] {
        let peer = PeerInfo {
            peer: mallory.clone(),
            identity,
        };
        sim.inject(client, &ServerMessage::PeerJoined { v: Version, peer });
    }
    sim.run_for(50);
    // ...and signals "from" it: a payload in clear, random bytes, a genuine envelope of
    // another pair relabelled
    let genuine = sim
        .recorded
        .iter()
        .rev()
        .find_map(|(c, text)| match ServerMessage::parse(text) {
            Ok(ServerMessage::Signal { payload, .. }) if *c == 0 => Some(payload),
            _ => None,
        })
        .expect("p00 received a signal");
    let random = URL_SAFE_NO_PAD.encode((0..200).map(|i| i as u8).collect::<Vec<_>>());
    for round in 0..5 {
        for client in 0..3 {
            let me = sim.clients[client].peer.clone();
            for payload in [
                r#"{"type":"offer","sdp":"v=0"}"#,
                r#"{"type":"hello"}"#,
                random.as_str(),
                genuine.as_str(),
            ] {
                sim.inject(client, &signal(&mallory, &me, payload));
            }
        }
        sim.run_for(400 + round * 100);
    }
    // A newcomer whose welcome lists the forged participant too.
    let mut listed = false;
    sim.tamper = Some(Box::new(move |_, msg, _| match msg {
        ServerMessage::Welcome {
            you,
            peers,
            max_peers,
            ..
        } if !listed => {
            listed = true;
            let mut peers = peers.clone();
            peers.push(PeerInfo {
                peer: id("mallory"),
                identity: made_up.clone(),
            });
            Tamper::Replace(ServerMessage::Welcome {
                v: Version,
                you: you.clone(),
                peers,
                max_peers: *max_peers,
            })
        }
        _ => Tamper::Keep,
    }));
    sim.join();
    let took = sim.settle(30_000);
    sim.check_transform_order().unwrap();
    for client in 0..4 {
        let c = &sim.clients[client];
        // nobody shows it...
        assert_eq!(
            sim.count_events(client, |e| matches!(e, AppEvent::ParticipantJoined { peer, .. } | AppEvent::ParticipantLeft { peer, .. } if peer == &mallory)),
            0,
            "p{client:02} never showed mallory"
        );
        assert!(c.core.participants().iter().all(|p| p.peer != mallory));
        // ...nobody connects to it or sends it media...
        assert!(
            !sim.pcs
                .values()
                .any(|pc| pc.client == client && pc.remote_peer == mallory),
            "p{client:02} made no connection to mallory"
        );
        // ...nothing is ever sealed to it...
        assert!(!sim
            .sealed_to
            .iter()
            .any(|(from, to)| *from == client && to == &mallory));
        // ...and each was told, with a typed error, and counted it
        let stats = c.core.stats();
        assert!(stats.forged_participants >= 1, "p{client:02}: {stats:?}");
        assert!(
            errors(&sim, client)
                .iter()
                .any(|(code, reason, peer)| code == "forged-participant"
                    && reason.as_deref() == Some("forged-participant")
                    && peer.as_deref() == Some("mallory")),
            "p{client:02}: {:?}",
            errors(&sim, client)
        );
        // its signals never made anyone rejoin to look for it
        assert_eq!(
            sim.count_events(client, |e| matches!(
                e,
                AppEvent::SignalingState {
                    state: SignalingPhase::Resyncing,
                    ..
                }
            )),
            0
        );
    }
    let hex = sim.settle_safety(10_000);
    println!(
        "forged participant: 3 forged roster entries, 60 forged signals and a forged welcome entry: \
         nobody showed, connected to or sealed anything to it; the call of 4 converged in {took} ms \
         and agreed on the code {}…",
        &hex[..8]
    );
}

/// One character of a base64url text changed (still base64url).
fn altered(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = at % bytes.len();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn altered_swapped_or_replayed_envelopes_are_refused_and_counted_and_no_connection_forms() {
    let mut sim = call(32, 3);
    let before: Vec<_> = (0..3).map(|i| sim.clients[i].core.stats()).collect();
    let (p00, p01) = (id("p00"), id("p01"));
    let mut n = 0usize;
    // While it lasts: every signal to p00 has one character changed; every signal p01 sends
    // p02 reaches p02 as if from p00 (a swapped sender); every signal to p03 (a newcomer) is
    // altered too; and old signals are replayed to everyone.
    sim.tamper = Some(Box::new(move |client, msg, _| match msg {
        ServerMessage::Signal {
            from, to, payload, ..
        } => {
            n += 1;
            if client == 0 || client == 3 {
                Tamper::Replace(signal(from, to, &altered(payload.as_str(), n * 7)))
            } else if client == 2 && from == &p01 {
                Tamper::Replace(signal(&p00, to, payload.as_str()))
            } else {
                Tamper::Keep
            }
        }
        _ => Tamper::Keep,
    }));
    sim.faults = Faults {
        replay: 0.3,
        only_signals: true,
        until: sim.now + 8_000,
        ..Faults::default()
    };
    let newcomer = sim.join();
    sim.run_for(8_000);
    let during = sim.frames.clone();
    // p00 and the newcomer opened nothing of each other: no connection, no media
    let p03 = &sim.clients[newcomer].peer;
    let link = sim.clients[0]
        .core
        .participants()
        .into_iter()
        .find(|p| &p.peer == p03)
        .map(|p| p.connection_state);
    assert_ne!(link, Some(sotto_call::PcState::Connected), "{link:?}");
    for pair in [(0, newcomer), (newcomer, 0)] {
        assert_eq!(
            during.get(&pair).map_or(0, |f| f.ok),
            0,
            "no frame decrypted between p00 and the newcomer"
        );
    }
    let after: Vec<_> = (0..3).map(|i| sim.clients[i].core.stats()).collect();
    let rejected0 = after[0].envelopes_rejected - before[0].envelopes_rejected;
    let rejected2 = after[2].envelopes_rejected - before[2].envelopes_rejected;
    let replayed: u64 = (0..3)
        .map(|i| after[i].envelopes_replayed - before[i].envelopes_replayed)
        .sum();
    assert!(rejected0 > 0, "p00 refused the altered envelopes");
    assert!(
        rejected2 > 0,
        "p02 refused p01's envelopes relabelled as p00's"
    );
    assert!(replayed > 0, "the replays were refused as replays");
    for (client, code) in [(0, "envelope-rejected"), (2, "envelope-rejected")] {
        let errs = errors(&sim, client);
        assert!(
            errs.iter()
                .any(|(c, reason, _)| c == code && reason.as_deref() == Some("envelope-rejected")),
            "p{client:02}: {errs:?}"
        );
    }
    assert!((0..4).any(|c| errors(&sim, c)
        .iter()
        .any(|(code, _, _)| code == "envelope-replayed")));
    // the server stops: everyone, the newcomer included, converges
    sim.tamper = None;
    let took = sim.settle(40_000);
    sim.check_transform_order().unwrap();
    // commitments and reveals lost to the tampering: a stalled round starts afresh
    sim.settle_safety(30_000);
    println!(
        "tampering server: p00 refused {rejected0} altered envelopes, p02 {rejected2} relabelled ones, \
         {replayed} replays refused; no connection formed meanwhile; converged {took} ms after it stopped"
    );
}

#[test]
fn honest_participants_see_each_others_names_and_agree_on_a_code_that_changes_with_the_roster() {
    let mut sim = Sim::new(33, Config::default());
    for i in 0..4 {
        sim.join_with(Config {
            display_name: Some(format!("  Person {i}\u{7} ")),
            ..Config::default()
        });
        sim.run_for(300);
    }
    let took = sim.settle(30_000);
    let first = sim.settle_safety(10_000);
    for i in 0..4 {
        for p in sim.clients[i].core.participants() {
            let j: usize = p.peer.as_str()[1..].parse().unwrap();
            assert_eq!(
                p.name,
                Some(format!("Person {j}")),
                "p{i:02} sees p{j:02}'s name"
            );
            assert!(!p.verified);
            assert_eq!(p.identity, sim.clients[j].crypto.public_key());
        }
        assert!(errors(&sim, i).is_empty(), "p{i:02}: {:?}", errors(&sim, i));
    }
    // what the server relayed: nothing readable (names, SDP, candidates, keys)
    for (_, text) in &sim.recorded {
        for needle in [
            "Person",
            "sdp",
            "candidate",
            "sender-key",
            "safety",
            "v=0",
            "typ host",
        ] {
            assert!(!text.contains(needle), "{needle} in {text}");
        }
    }
    sim.leave(3);
    sim.clients[3].honest = false;
    sim.settle(30_000);
    let second = sim.settle_safety(10_000);
    assert_ne!(first, second, "the code changes with the roster");
    println!(
        "4 named participants: converged in {took} ms, names shown everywhere, one code ({}…), \
         another after a leave ({}…); the server relayed {} messages, none readable",
        &first[..8],
        &second[..8],
        sim.recorded.len()
    );
}

#[test]
fn verification_follows_the_identity_key_and_warns_when_it_changes() {
    let mut sim = call(34, 2);
    sim.settle_safety(10_000);
    let (p00, p01) = (id("p00"), id("p01"));
    let key01 = sim.clients[1].crypto.public_key();
    sim.command(
        0,
        Input::SetVerified {
            peer: p01.clone(),
            verified: true,
        },
    );
    let info = sim.clients[0].core.participants();
    assert!(info[0].verified && info[0].identity == key01);
    assert_eq!(
        sim.count_events(0, |e| matches!(e, AppEvent::VerificationChanged { peer, verified: true, identity } if peer == &p01 && identity == &key01)),
        1
    );
    // A peer that is not there cannot be verified (a typed error, nothing changes).
    sim.command(
        0,
        Input::SetVerified {
            peer: id("nobody"),
            verified: true,
        },
    );
    assert!(errors(&sim, 0)
        .iter()
        .any(|(c, _, p)| c == "bad-argument" && p.as_deref() == Some("nobody")));

    // A server holding the link (the test hands it the room keys) swaps p01's identity at p00.
    let impostor = IdentityKeyPair::generate(&mut sim.rng);
    let blob = sotto_e2ee::sealed_identity::seal_identity(
        &mut sim.rng,
        &sim.room_keys,
        "p01",
        &impostor.public_key(),
    )
    .unwrap();
    let peer = PeerInfo {
        peer: p01.clone(),
        identity: Identity::parse(&blob).unwrap(),
    };
    sim.inject(0, &ServerMessage::PeerJoined { v: Version, peer });
    sim.run_for(3_000);
    let impostor_key = impostor.public_key().to_base64url();
    let warned = sim.events(0).any(|e| {
        matches!(e, AppEvent::VerifiedKeyChanged { peer, identity, previous, reason: VerifiedKeyChange::KeyChanged }
            if peer == &p01 && identity == &impostor_key && previous.as_deref() == Some(key01.as_str()))
    });
    assert!(warned, "verified-key-changed with the old and the new key");
    assert!(errors(&sim, 0)
        .iter()
        .any(|(c, r, p)| c == "verified-key-changed"
            && r.as_deref() == Some("key-changed")
            && p.as_deref() == Some("p01")));
    let shown = sim.clients[0].core.participants();
    assert!(shown.iter().all(|p| !p.verified), "{shown:?}");
    // the impostor holds no key that opens anything: p00's code cannot become ready with it
    assert_ne!(
        sim.safety_code(0).map(|(s, _)| s),
        Some(SafetyState::Ready),
        "no code while the impostor is in p00's view"
    );

    // An honest newcomer in a call where someone was verified: warned too.
    sim.join();
    sim.run_for(3_000);
    assert!(sim.events(0).any(|e| matches!(
        e,
        AppEvent::VerifiedKeyChanged {
            reason: VerifiedKeyChange::UnverifiedJoined,
            peer,
            previous: None,
            ..
        } if peer.as_str() == "p02"
    )));
    // A participant that verified p01's key before (another call, a contact) sees it verified
    // from the start, and is not warned about it.
    let carried = sim.join_with(Config {
        verified_identities: vec![key01.clone()],
        ..Config::default()
    });
    sim.run_for(4_000);
    let joined_verified = sim.events(carried).any(|e| {
        matches!(e, AppEvent::ParticipantJoined { peer, verified: true, identity, .. } if peer == &p01 && identity == &key01)
    });
    assert!(joined_verified);
    assert!(!sim
        .events(carried)
        .any(|e| matches!(e, AppEvent::VerifiedKeyChanged { peer, .. } if peer == &p01)));
    let _ = p00;
}

#[test]
fn relay_only_participants_send_and_accept_relayed_candidates_only() {
    let relay = Config {
        privacy: Privacy::Relay,
        ..Config::default()
    };
    let mut sim = Sim::new(35, Config::default());
    let a = sim.join_with(relay.clone());
    sim.run_for(300);
    let b = sim.join_with(relay);
    let took = sim.settle(20_000);
    for c in [a, b] {
        let s = sim.clients[c].core.stats().candidates;
        assert!(s.sent_relay > 0 && s.received_relay > 0, "{s:?}");
        assert_eq!(
            (s.sent_other, s.received_other, s.dropped),
            (0, 0, 0),
            "{s:?}"
        );
    }
    // Someone not in relay mode joins: its host candidates reach a and b (sealed), who drop
    // them (counted), never apply them and never send one of their own kind.
    let open = sim.join();
    sim.run_for(10_000);
    for c in [a, b] {
        let s = sim.clients[c].core.stats().candidates;
        assert!(s.received_other > 0, "{s:?}");
        assert_eq!(s.dropped, s.received_other, "{s:?}");
        assert_eq!(s.sent_other, 0, "{s:?}");
        for pc in sim.pcs.values().filter(|pc| pc.client == c) {
            assert!(
                pc.candidates_added.iter().all(|x| x.contains(" typ relay")),
                "{:?}",
                pc.candidates_added
            );
        }
    }
    assert!(sim.clients[open].core.stats().candidates.sent_other > 0);
    println!("relay-only pair: converged in {took} ms on relayed candidates only; a host-candidate peer's candidates were all dropped");
}
