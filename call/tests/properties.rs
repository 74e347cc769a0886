//! Properties, over random calls and random inputs:
//! - honest participants converge to the same roster and key epochs, whatever the server did
//!   for a while (drops, duplicates, reordering, replays) and whatever happened to them
//!   (leaves, signaling outages, frozen tabs, dead links, a server restart), once it stops;
//! - every peer connection had its local media and transforms attached before any
//!   description was applied to it, and every description was tuned for audio privacy;
//! - no sequence of inputs makes the core panic or spin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod sim;

use proptest::prelude::*;
use sim::{Faults, Sim};
use sotto_call::crypto::{
    Admitted, CryptoErrorCode, CryptoResult, KeyHolding, KeyMessage, Rejection, SafetyCode,
    SafetyMessage, SafetyState, SafetyStep,
};
use sotto_call::input::{PeerOp, SdpKind};
use sotto_call::{
    Bytes, CallCore, Config, ConnId, IceCandidate, Input, MediaKind, PcState, RequestId,
    SenderSample, SocketId,
};
use sotto_protocol::peer::{B64UrlBytes, PeerPayload};
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{Identity, Payload, PeerId, RoomId, Version};

/// Whole simulated calls are slow-ish (real crypto): 10 cases each in `make unit`; set
/// `SIM_CASES` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn honest_participants_converge_after_a_faulty_server(
        seed in any::<u64>(),
        n in 2usize..=5,
        gaps in prop::collection::vec(0u64..2_000, 5),
        drop in 0.0f64..0.25,
        duplicate in 0.0f64..0.25,
        reorder_ms in 0u64..600,
        replay in 0.0f64..0.2,
        faulty_ms in 0u64..20_000,
    ) {
        let mut sim = Sim::new(seed, Config::default());
        sim.faults = Faults { drop, duplicate, reorder_ms, replay, until: faulty_ms, only_signals: false };
        for gap in gaps.iter().take(n) {
            sim.join();
            sim.run_for(*gap);
        }
        sim.run_until(faulty_ms.max(sim.now));
        sim.settle(120_000);
        prop_assert_eq!(sim.check_transform_order(), Ok(()));
    }
}

/// Something that happens to a call.
#[derive(Debug, Clone)]
enum Chaos {
    Join,
    Leave(usize),
    CutSignaling(usize),
    RestoreSignaling(usize),
    Freeze(usize),
    Thaw(usize),
    LinkDown(usize, usize),
    LinkUp(usize, usize),
    RestartServer,
    Chat(usize),
    Wait(u64),
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        3 => Just(Chaos::Join),
        1 => (0usize..6).prop_map(Chaos::Leave),
        1 => (0usize..6).prop_map(Chaos::CutSignaling),
        1 => (0usize..6).prop_map(Chaos::RestoreSignaling),
        1 => (0usize..6).prop_map(Chaos::Freeze),
        1 => (0usize..6).prop_map(Chaos::Thaw),
        1 => (0usize..6, 0usize..6).prop_map(|(a, b)| Chaos::LinkDown(a, b)),
        1 => (0usize..6, 0usize..6).prop_map(|(a, b)| Chaos::LinkUp(a, b)),
        1 => Just(Chaos::RestartServer),
        1 => (0usize..6).prop_map(Chaos::Chat),
        4 => (0u64..20_000).prop_map(Chaos::Wait),
    ]
}

/// Plays `steps` on a call that starts with one participant, then heals every fault and
/// lets the call settle; checks the transform order all along.
fn chaos_call(seed: u64, steps: &[Chaos]) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(seed, Config::default());
    sim.join();
    sim.run_for(500);
    let exists = |sim: &Sim, i: usize| i < sim.clients.len();
    for step in steps.iter().cloned() {
        match step {
            Chaos::Join if sim.clients.len() < 6 => {
                sim.join();
            }
            Chaos::Leave(i) if exists(&sim, i) && sim.honest().len() > 1 => {
                sim.clients[i].honest = false;
                if sim.clients[i].frozen {
                    sim.thaw(i);
                }
                sim.leave(i);
            }
            Chaos::CutSignaling(i) if exists(&sim, i) => sim.cut_signaling(i),
            Chaos::RestoreSignaling(i) if exists(&sim, i) => sim.restore_signaling(i),
            Chaos::Freeze(i) if exists(&sim, i) => sim.freeze(i),
            Chaos::Thaw(i) if exists(&sim, i) && sim.clients[i].frozen => sim.thaw(i),
            Chaos::LinkDown(a, b) if a != b => {
                sim.links_down.insert((a.min(b), a.max(b)));
            }
            Chaos::LinkUp(a, b) => {
                sim.links_down.remove(&(a.min(b), a.max(b)));
            }
            Chaos::RestartServer => sim.restart_server(),
            Chaos::Chat(i) if exists(&sim, i) => {
                sim.command(
                    i,
                    Input::SendChat {
                        request: 7,
                        text: "hello".into(),
                    },
                );
            }
            Chaos::Wait(ms) => sim.run_for(ms),
            _ => {}
        }
        prop_assert_eq!(sim.check_transform_order(), Ok(()));
    }
    // everything heals
    for i in 0..sim.clients.len() {
        sim.restore_signaling(i);
        if sim.clients[i].frozen {
            sim.thaw(i);
        }
    }
    sim.links_down.clear();
    sim.settle(180_000);
    prop_assert_eq!(sim.check_transform_order(), Ok(()));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn transforms_come_first_and_calls_heal_whatever_happened(
        seed in any::<u64>(),
        steps in prop::collection::vec(chaos(), 1..25),
    ) {
        chaos_call(seed, &steps)?;
    }
}

/// Cases the property found once (kept as plain tests).
#[test]
fn regression_a_participant_frozen_across_a_server_restart() {
    use Chaos::*;
    let steps = [
        Join,
        Freeze(1),
        Chat(0),
        Wait(1351),
        Wait(3108),
        Wait(10066),
        RestartServer,
        Join,
        Join,
    ];
    chaos_call(15843933782915294747, &steps).unwrap();
}

#[test]
fn regression_replayed_welcomes() {
    let mut sim = Sim::new(15023525414152279334, Config::default());
    sim.faults = Faults {
        drop: 0.16079841558923705,
        duplicate: 0.08013863295544346,
        reorder_ms: 430,
        replay: 0.09080922876252628,
        until: 4309,
        only_signals: false,
    };
    for gap in [24, 241, 1154, 1094, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(4309);
    sim.settle(120_000);
}

// ---- no input panics ----

fn peer_id() -> impl Strategy<Value = PeerId> {
    prop_oneof![Just("me"), Just("a"), Just("b"), Just("c"), Just("zz"),]
        .prop_map(|s| PeerId::parse(s).unwrap())
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        Just("AAAA".to_owned()),
        Just("A".repeat(43)),
        "[A-Za-z0-9_-]{1,60}",
    ]
    .prop_map(|s| Identity::parse(&s).unwrap())
}

fn payload() -> impl Strategy<Value = String> {
    let sdp = prop_oneof![
        Just("v=0\r\na=rtpmap:111 opus/48000/2\r\n".to_owned()),
        ".{0,80}",
    ];
    prop_oneof![
        sdp.clone()
            .prop_map(|sdp| PeerPayload::Offer { sdp }.to_json().unwrap()),
        sdp.prop_map(|sdp| PeerPayload::Answer { sdp }.to_json().unwrap()),
        ".{0,40}".prop_map(|candidate| PeerPayload::Ice {
            candidate,
            sdp_mid: None,
            sdp_m_line_index: Some(0)
        }
        .to_json()
        .unwrap()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|k| PeerPayload::SenderKey {
            key: B64UrlBytes(k)
        }
        .to_json()
        .unwrap()),
        any::<u64>().prop_map(|epoch| PeerPayload::KeyAck { epoch }.to_json().unwrap()),
        Just(PeerPayload::Hello {}.to_json().unwrap()),
        Just(PeerPayload::KeyRequest {}.to_json().unwrap()),
        Just(PeerPayload::EndOfCandidates {}.to_json().unwrap()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|c| PeerPayload::SafetyCommit {
            c: B64UrlBytes(c)
        }
        .to_json()
        .unwrap()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|n| PeerPayload::SafetyReveal {
            n: B64UrlBytes(n)
        }
        .to_json()
        .unwrap()),
        ".{0,70}".prop_map(|name| PeerPayload::DisplayName { name }.to_json().unwrap()),
        ".{0,60}",
    ]
}

fn info() -> impl Strategy<Value = PeerInfo> {
    (peer_id(), identity()).prop_map(|(peer, identity)| PeerInfo { peer, identity })
}

fn server_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::collection::vec(info(), 0..5), peer_id()).prop_map(|(peers, you)| {
            ServerMessage::Welcome {
                v: Version,
                you,
                peers,
                max_peers: 8,
            }
            .to_json()
            .unwrap()
        }),
        info().prop_map(|peer| ServerMessage::PeerJoined { v: Version, peer }
            .to_json()
            .unwrap()),
        peer_id().prop_map(|peer| ServerMessage::PeerLeft { v: Version, peer }
            .to_json()
            .unwrap()),
        (peer_id(), peer_id(), payload()).prop_map(|(from, to, p)| {
            ServerMessage::Signal {
                v: Version,
                from,
                to,
                payload: Payload::new(p).unwrap(),
            }
            .to_json()
            .unwrap()
        }),
        "[a-z-]{1,20}"
            .prop_map(|code| format!(r#"{{"v":2,"type":"error","code":"{code}","message":"x"}}"#)),
        Just(ServerMessage::pong().to_json().unwrap()),
        ".{0,100}",
    ]
}

fn safety_step() -> impl Strategy<Value = SafetyStep> {
    let message = || {
        (
            prop::collection::vec(any::<u8>(), 0..33),
            prop::collection::vec(peer_id(), 0..3),
        )
            .prop_map(|(v, to)| SafetyMessage {
                value: B64UrlBytes(v),
                to,
            })
    };
    (
        prop_oneof![
            Just(SafetyState::Verifying),
            Just(SafetyState::Ready),
            Just(SafetyState::Failed)
        ],
        prop::option::of(message()),
        prop::option::of(message()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(state, commit, reveal, code, superseded)| SafetyStep {
            state,
            commit,
            reveal,
            code: code.then(|| SafetyCode {
                words: vec!["w".into(); 5],
                hex: "0".repeat(64),
            }),
            superseded,
        })
}

fn crypto_result() -> impl Strategy<Value = CryptoResult> {
    let key_message =
        (peer_id(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(to, k)| KeyMessage {
            to,
            key: B64UrlBytes(k),
        });
    prop_oneof![
        (
            any::<u64>(),
            any::<bool>(),
            prop::collection::vec(key_message, 0..4),
            prop::collection::vec((peer_id(), any::<bool>()), 0..2),
            prop::collection::vec(peer_id(), 0..3),
        )
            .prop_map(|(epoch, committed, messages, rejected, admitted)| {
                CryptoResult::Roster {
                    epoch,
                    committed,
                    messages,
                    rejected: rejected
                        .into_iter()
                        .map(|(peer, forged)| Rejection {
                            peer,
                            reason: if forged {
                                sotto_call::crypto::RejectReason::ForgedParticipant
                            } else {
                                sotto_call::crypto::RejectReason::BadIdentity
                            },
                        })
                        .collect(),
                    admitted: admitted
                        .into_iter()
                        .map(|peer| Admitted {
                            peer,
                            identity: "K".into(),
                        })
                        .collect(),
                }
            }),
        (peer_id(), ".{0,20}").prop_map(|(to, envelope)| CryptoResult::Sealed { to, envelope }),
        (peer_id(), payload()).prop_map(|(from, payload)| CryptoResult::Opened { from, payload }),
        safety_step().prop_map(CryptoResult::Safety),
        any::<bool>().prop_map(|complete| CryptoResult::Acknowledged { complete }),
        any::<u64>().prop_map(|epoch| CryptoResult::Committed { epoch }),
        (peer_id(), any::<u64>()).prop_map(|(to, epoch)| CryptoResult::Resealed {
            to,
            key: B64UrlBytes(vec![1]),
            epoch
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(epoch, duplicate)| CryptoResult::KeyReceived { epoch, duplicate }),
        prop::collection::vec((peer_id(), any::<bool>(), any::<u64>()), 0..3).prop_map(|v| {
            CryptoResult::KeysHeld {
                peers: v
                    .into_iter()
                    .map(|(peer, held, dropped_unknown_key)| KeyHolding {
                        peer,
                        held,
                        epoch: Some(dropped_unknown_key % 7),
                        dropped_unknown_key,
                    })
                    .collect(),
            }
        }),
        prop::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| CryptoResult::ChatSealed { sealed: Bytes(b) }),
        ".{0,10}".prop_map(|text| CryptoResult::ChatOpened { text }),
        prop_oneof![
            Just(CryptoErrorCode::ChatKeyPending),
            Just(CryptoErrorCode::StaleEpoch),
            Just(CryptoErrorCode::RotationIncomplete),
            Just(CryptoErrorCode::EnvelopeRejected),
            Just(CryptoErrorCode::EnvelopeReplayed),
            Just(CryptoErrorCode::SafetyRevealMismatch),
            Just(CryptoErrorCode::UnknownPeer),
            Just(CryptoErrorCode::Unknown),
        ]
        .prop_map(|code| CryptoResult::Failed {
            code,
            message: String::new()
        }),
    ]
}

fn pc_state() -> impl Strategy<Value = PcState> {
    prop_oneof![
        Just(PcState::New),
        Just(PcState::Connecting),
        Just(PcState::Connected),
        Just(PcState::Disconnected),
        Just(PcState::Failed),
        Just(PcState::Closed),
    ]
}

fn peer_op() -> impl Strategy<Value = PeerOp> {
    prop_oneof![
        Just(PeerOp::Attach),
        Just(PeerOp::Protect),
        Just(PeerOp::CreateOffer),
        Just(PeerOp::CreateAnswer),
        Just(PeerOp::SetLocalDescription),
        Just(PeerOp::SetRemoteDescription),
        Just(PeerOp::Rollback),
        Just(PeerOp::AddIceCandidate),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let conn = (1u64..6).prop_map(ConnId);
    let socket = (0u64..4).prop_map(SocketId);
    let kind = prop_oneof![Just(MediaKind::Audio), Just(MediaKind::Video)];
    let sdp_kind = prop_oneof![Just(SdpKind::Offer), Just(SdpKind::Answer)];
    prop_oneof![
        1 => Just(Input::LocalMediaReady),
        1 => socket.clone().prop_map(|socket| Input::SocketOpened { socket }),
        6 => (socket.clone(), server_text()).prop_map(|(socket, text)| Input::SocketMessage { socket, text }),
        1 => (socket, any::<u16>()).prop_map(|(socket, code)| Input::SocketClosed { socket, code }),
        3 => (conn.clone(), pc_state()).prop_map(|(conn, state)| Input::PeerConnectionState { conn, state }),
        1 => (conn.clone(), any::<bool>()).prop_map(|(conn, open)| Input::DataChannelState { conn, open }),
        1 => (conn.clone(), ".{0,20}").prop_map(|(conn, candidate)| Input::IceCandidate { conn, candidate: IceCandidate { candidate, sdp_mid: None, sdp_m_line_index: None } }),
        2 => (conn.clone(), sdp_kind, ".{0,40}").prop_map(|(conn, kind, sdp)| Input::DescriptionCreated { conn, kind, sdp }),
        3 => (conn.clone(), peer_op()).prop_map(|(conn, op)| Input::PeerOpDone { conn, op }),
        1 => (conn.clone(), peer_op()).prop_map(|(conn, op)| Input::PeerOpFailed { conn, op, message: String::new() }),
        1 => (conn.clone(), prop::option::of(prop::collection::vec(any::<u8>(), 0..30))).prop_map(|(conn, d)| Input::ChatFrame { conn, data: d.map(Bytes) }),
        4 => (1u64..40, crypto_result()).prop_map(|(r, result)| Input::Crypto { request: RequestId(r), result }),
        1 => prop::collection::vec((conn, kind.clone(), any::<u64>(), any::<u64>()), 0..4).prop_map(|v| Input::SenderSamples {
            samples: v.into_iter().map(|(conn, kind, sent, seen)| SenderSample { conn, kind, sent, seen }).collect(),
        }),
        1 => (any::<u64>(), ".{0,20}").prop_map(|(request, text)| Input::SendChat { request, text }),
        1 => kind.prop_map(|kind| Input::ReplaceTrack { kind }),
        1 => (peer_id(), any::<bool>()).prop_map(|(peer, verified)| Input::SetVerified { peer, verified }),
        1 => Just(Input::Close),
    ]
}

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn no_input_sequence_panics_or_spins(
        seed in any::<u64>(),
        config_ms in prop::collection::vec(0u64..100_000, 4),
        steps in prop::collection::vec((input(), 0u64..5_000, any::<bool>()), 0..120),
    ) {
        let config = Config {
            keepalive_ms: config_ms[0],
            peer_timeout_ms: config_ms[1],
            ice_backoff_base_ms: config_ms[2],
            negotiation_timeout_ms: config_ms[3],
            ..Config::default()
        };
        let room = RoomId::parse(&"r".repeat(22)).unwrap();
        let me = PeerId::parse("me").unwrap();
        let mut core = CallCore::new(config, me, Identity::parse("ME").unwrap(), &room, seed, 0);
        let mut now = 0u64;
        for (input, dt, tick) in steps {
            now += dt;
            core.handle(input, now);
            if tick {
                core.handle_timeout(now);
                // nothing is left due: every timer moved itself on
                prop_assert!(core.poll_timeout().is_none_or(|t| t > now), "still due at {now}");
            }
            let mut actions = 0;
            while core.poll_action().is_some() {
                actions += 1;
                prop_assert!(actions < 10_000, "an input produced runaway actions");
            }
            let _ = core.participants();
            let _ = core.stats();
        }
    }

    #[test]
    fn any_text_reads_as_an_input_or_an_error(text in ".{0,200}") {
        let _ = serde_json::from_str::<Input>(&text);
    }
}

#[test]
fn regression_a_replayed_welcome_on_a_new_socket() {
    let mut sim = Sim::new(16348979633868459125, Config::default());
    sim.faults = Faults {
        drop: 0.2263848302591442,
        duplicate: 0.14170270844568303,
        reorder_ms: 55,
        replay: 0.07277440888347675,
        until: 2678,
        only_signals: false,
    };
    for gap in [18, 166, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(2678);
    sim.settle(120_000);
}

#[test]
fn regression_a_committed_key_that_never_arrived() {
    let mut sim = Sim::new(15411188829899314511, Config::default());
    sim.faults = Faults {
        drop: 0.13583699667984736,
        duplicate: 0.036210922895462766,
        reorder_ms: 367,
        replay: 0.13972255348371643,
        until: 8809,
        only_signals: false,
    };
    for gap in [56, 576, 754, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(8809);
    sim.settle(120_000);
}

#[test]
fn regression_a_cut_during_a_server_restart() {
    use Chaos::*;
    chaos_call(
        0,
        &[
            Join,
            Wait(96),
            CutSignaling(1),
            RestartServer,
            Join,
            Wait(747),
            Wait(5513),
        ],
    )
    .unwrap();
}

#[test]
fn regression_a_duplicate_key_for_a_re_added_peer() {
    let mut sim = Sim::new(1471659770941179468, Config::default());
    sim.faults = Faults {
        drop: 0.1459034008315287,
        duplicate: 0.23554055527079545,
        reorder_ms: 311,
        replay: 0.048145796618927664,
        until: 13217,
        only_signals: false,
    };
    for gap in [30, 198, 871, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(13217);
    sim.settle(120_000);
}

#[test]
fn regression_a_path_that_dies_during_a_renegotiation() {
    let mut sim = Sim::new(2929436270114548706, Config::default());
    sim.faults = Faults {
        drop: 0.1461406861115998,
        duplicate: 0.13406608486527766,
        reorder_ms: 584,
        replay: 0.12063480884350126,
        until: 9624,
        only_signals: false,
    };
    for gap in [24, 1066, 1610, 1123, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(9624);
    sim.settle(120_000);
}

#[test]
fn regression_a_rejoin_whose_peer_joined_was_lost() {
    let mut sim = Sim::new(14388701670966245381, Config::default());
    sim.faults = Faults {
        drop: 0.16400828178946436,
        duplicate: 0.07510456125791354,
        reorder_ms: 553,
        replay: 0.12190315407176751,
        until: 8148,
        only_signals: false,
    };
    for gap in [17, 681, 1517, 474, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(8148);
    sim.settle(120_000);
}

#[test]
fn regression_a_replayed_welcome_hides_a_peer() {
    let mut sim = Sim::new(7344694346417313608, Config::default());
    sim.faults = Faults {
        drop: 0.24936109393257175,
        duplicate: 0.12785142171094274,
        reorder_ms: 70,
        replay: 0.16495229280385443,
        until: 2770,
        only_signals: false,
    };
    for gap in [29, 66, 468, 745, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(2770);
    sim.settle(120_000);
}

#[test]
fn regression_replayed_leaves_on_both_sides() {
    let mut sim = Sim::new(17538463345277744809, Config::default());
    sim.faults = Faults {
        drop: 0.17063703899999416,
        duplicate: 0.24204075176918732,
        reorder_ms: 414,
        replay: 0.12630647555537539,
        until: 13724,
        only_signals: false,
    };
    for gap in [21, 915, 61, 252, 0] {
        sim.join();
        sim.run_for(gap);
    }
    sim.run_until(13724);
    sim.settle(120_000);
}
