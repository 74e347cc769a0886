//! The call core's crypto requests, carried out on [`GroupKeys`].
//!
//! The main thread's call core (`sotto-call`, in `sotto-call-wasm`) never holds a key: it
//! asks the crypto Worker with a [`CryptoRequest`] and gets a [`CryptoResult`] back. This is
//! the one mapping from one to the other, plain Rust so that it runs natively too:
//! `CallCrypto::run` uses it in the browser, and `sotto-call`'s simulated network uses it as
//! its crypto Worker, so every native scenario and property test goes through this code.
use rand_core::CryptoRng;
use sotto_call::crypto::{
    Admitted, CryptoErrorCode, CryptoRequest, CryptoResult, KeyHolding, KeyMessage, RejectReason,
    Rejection, SafetyCode, SafetyMessage, SafetyState, SafetyStep,
};
use sotto_call::Bytes;
use sotto_e2ee::verification::{
    Progress, RoundStart, SafetyCommitment, SafetyNonce, VerificationStatus,
};
use sotto_e2ee::{E2eeError, GroupKeys, SealedRosterEntry};
use sotto_protocol::b64;
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::{PeerId, MAX_PAYLOAD_BYTES};

/// Carries out one request at `now_ms` (expired receive keys are erased first). Every
/// failure is a [`CryptoResult::Failed`] with the error's stable code; nothing panics.
pub fn run(
    keys: &mut GroupKeys,
    rng: &mut impl CryptoRng,
    request: CryptoRequest,
    now_ms: u64,
) -> CryptoResult {
    keys.expire(now_ms);
    match request {
        CryptoRequest::SetRoster { roster } => {
            let entries: Vec<SealedRosterEntry> = roster
                .iter()
                .map(|i| SealedRosterEntry::new(i.peer.as_str(), i.identity.as_str()))
                .collect();
            match keys.set_sealed_roster(rng, &entries, now_ms) {
                Ok(out) => {
                    CryptoResult::Roster {
                        epoch: out.epoch,
                        committed: out.committed,
                        // sealed to a roster peer: its id came from a PeerId
                        messages: out
                            .messages
                            .into_iter()
                            .filter_map(|m| {
                                Some(KeyMessage {
                                    to: PeerId::parse(&m.to).ok()?,
                                    key: B64UrlBytes(m.bytes),
                                })
                            })
                            .collect(),
                        rejected: out
                            .rejected
                            .into_iter()
                            .filter_map(|r| {
                                Some(Rejection {
                                    peer: PeerId::parse(&r.peer).ok()?,
                                    reason: RejectReason::from_code(r.reason.code())?,
                                })
                            })
                            .collect(),
                        admitted: keys
                            .roster()
                            .into_iter()
                            .filter_map(|(peer, key)| {
                                Some(Admitted {
                                    peer: PeerId::parse(&peer).ok()?,
                                    identity: key.to_base64url(),
                                })
                            })
                            .collect(),
                    }
                }
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::Acknowledge { from, epoch } => CryptoResult::Acknowledged {
            complete: keys.acknowledge(from.as_str(), epoch),
        },
        // only the pending key the core means: a commit that arrives after another rotation
        // replaced it must not switch to the replacement before its acknowledgements
        CryptoRequest::Commit { epoch } => {
            if keys.pending_epoch() == Some(epoch) {
                keys.commit_sender_key();
            }
            CryptoResult::Committed {
                epoch: keys.sender_epoch(),
            }
        }
        CryptoRequest::Reseal { peer } => match keys.reseal_for(rng, peer.as_str()) {
            Ok(r) => match PeerId::parse(&r.message.to) {
                Ok(to) => CryptoResult::Resealed {
                    to,
                    key: B64UrlBytes(r.message.bytes),
                    epoch: r.epoch,
                },
                Err(_) => failed(&E2eeError::Internal),
            },
            Err(e) => failed(&e),
        },
        CryptoRequest::ReceiveKey { from, key } => {
            match keys.receive_key_message(from.as_str(), &key.0, now_ms) {
                Ok(u) => CryptoResult::KeyReceived {
                    epoch: u.epoch,
                    duplicate: u.duplicate,
                },
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::KeysFrom { peers } => {
            let stats = keys.stats();
            CryptoResult::KeysHeld {
                peers: peers
                    .into_iter()
                    .map(|p| KeyHolding {
                        held: keys.has_key_from(p.as_str(), Some(now_ms)),
                        epoch: keys.receive_epochs(p.as_str()).first().copied(),
                        dropped_unknown_key: stats
                            .peers
                            .get(p.as_str())
                            .map_or(0, |s| s.dropped_unknown_key),
                        peer: p,
                    })
                    .collect(),
            }
        }
        CryptoRequest::SealChat { text } => match keys.seal_chat(text.as_bytes()) {
            Ok(sealed) => CryptoResult::ChatSealed {
                sealed: Bytes(sealed),
            },
            Err(e) => failed(&e),
        },
        CryptoRequest::Seal { to, payload } => {
            match keys.seal_envelope(rng, to.as_str(), payload.as_bytes()) {
                Ok(sealed) => CryptoResult::Sealed {
                    to,
                    envelope: b64::encode(&sealed.bytes),
                },
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::Open { from, envelope } => {
            // refused before decoding when longer than the wire allows
            if envelope.len() > MAX_PAYLOAD_BYTES {
                return failed(&E2eeError::MalformedEnvelope);
            }
            let Some(bytes) = b64::decode(&envelope) else {
                return failed(&E2eeError::MalformedEnvelope);
            };
            match keys.open_envelope(from.as_str(), &bytes) {
                Ok(opened) => match String::from_utf8(opened.payload) {
                    Ok(payload) => CryptoResult::Opened { from, payload },
                    // authentic but not text: the core would refuse it anyway
                    Err(_) => failed(&E2eeError::MalformedEnvelope),
                },
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::SafetyCommit { from, c } => {
            let step = SafetyCommitment::from_bytes(&c.0)
                .and_then(|c| keys.receive_safety_commitment(from.as_str(), c));
            match step {
                Ok(progress) => CryptoResult::Safety(progress_step(keys, None, progress)),
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::SafetyReveal { from, n } => {
            let step = SafetyNonce::from_bytes(&n.0)
                .and_then(|n| keys.receive_safety_reveal(from.as_str(), n));
            match step {
                Ok(progress) => CryptoResult::Safety(progress_step(keys, None, progress)),
                Err(e) => failed(&e),
            }
        }
        CryptoRequest::SafetyStart => {
            let round = keys.start_safety_round(rng);
            CryptoResult::Safety(round_step(keys, round))
        }
        CryptoRequest::SafetyRestart => match keys.restart_safety_round(rng) {
            Some(round) => CryptoResult::Safety(round_step(keys, round)),
            None => CryptoResult::Safety(progress_step(keys, None, Progress::default())),
        },
        CryptoRequest::OpenChat { from, sealed } => {
            match keys.open_chat(from.as_str(), &sealed.0, now_ms) {
                Ok(plain) => match String::from_utf8(plain) {
                    Ok(text) => CryptoResult::ChatOpened { text },
                    Err(_) => failed(&E2eeError::MalformedChat),
                },
                Err(e) => failed(&e),
            }
        }
    }
}

/// A new round: its commitment for every peer of the view, then what its progress asks.
fn round_step(keys: &GroupKeys, round: RoundStart) -> SafetyStep {
    let commit = SafetyMessage {
        value: B64UrlBytes(round.commitment.as_bytes().to_vec()),
        to: peer_ids(&round.to),
    };
    progress_step(keys, Some(commit), round.progress)
}

/// What the core must do after a step of the round, and where the round stands.
fn progress_step(keys: &GroupKeys, commit: Option<SafetyMessage>, p: Progress) -> SafetyStep {
    let status = keys.safety_status();
    let state = match status {
        VerificationStatus::Ready(_) => SafetyState::Ready,
        VerificationStatus::Failed { .. } => SafetyState::Failed,
        _ => SafetyState::Verifying,
    };
    // the code shown is the one of the round as it stands (never an older one)
    let code = match status {
        VerificationStatus::Ready(code) => Some(SafetyCode {
            words: code.words().iter().map(|w| (*w).to_owned()).collect(),
            hex: code.hex(),
        }),
        _ => None,
    };
    SafetyStep {
        state,
        commit,
        reveal: p.reveal.map(|r| SafetyMessage {
            value: B64UrlBytes(r.nonce.as_bytes().to_vec()),
            to: peer_ids(&r.to),
        }),
        code,
        superseded: p.superseded,
    }
}

/// Peer ids from the roster (they came from `PeerId`s).
fn peer_ids(ids: &[String]) -> Vec<PeerId> {
    ids.iter().filter_map(|p| PeerId::parse(p).ok()).collect()
}

/// A failure with the error's code and message (messages of the e2ee core hold no secret).
fn failed(e: &E2eeError) -> CryptoResult {
    CryptoResult::Failed {
        code: CryptoErrorCode::from_code(e.code()),
        message: e.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use sotto_e2ee::{IdentityKeyPair, RoomSecret};
    use sotto_protocol::room::PeerInfo;
    use sotto_protocol::Identity;

    struct Party {
        keys: GroupKeys,
        id: PeerId,
        identity: Identity,
    }

    /// A participant; `identity` is its sealed identity (what its `join` announces).
    fn party(secret: &RoomSecret, name: &str) -> Party {
        let mut rng = crate::random::os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, secret.derive(), identity, name.to_owned());
        let identity = Identity::parse(&keys.my_sealed_identity(&mut rng).unwrap()).unwrap();
        Party {
            keys,
            id: PeerId::parse(name).unwrap(),
            identity,
        }
    }

    /// Carries out `request` as the wasm's `CallCrypto::run` does, and checks on the way that
    /// the JSON the module reads and writes (the protocol crate's small reader and writer, not
    /// serde_json) is serde_json's: every request of every test here goes through the text the
    /// call core sends, and every result through the text it reads.
    fn ask(p: &mut Party, request: CryptoRequest, now: u64) -> CryptoResult {
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(sotto_protocol::json::to_string(&request).unwrap(), text);
        let read: CryptoRequest = sotto_protocol::json::from_str(&text).unwrap();
        assert_eq!(read, request, "{text}");
        let result = run(&mut p.keys, &mut crate::random::os_rng(), read, now);
        let written = sotto_protocol::json::to_string(&result).unwrap();
        assert_eq!(written, serde_json::to_string(&result).unwrap());
        assert_eq!(
            serde_json::from_str::<CryptoResult>(&written).unwrap(),
            result
        );
        result
    }

    #[test]
    fn requests_of_the_wrong_shape_are_refused_as_serde_json_refuses_them() {
        for text in [
            "",
            "{}",
            "null",
            r#"{"commit":{"epoch":-1}}"#,
            r#"{"commit":{"epoch":1.5}}"#,
            r#"{"commit":{"epoch":1},"x":1}"#,
            r#"{"commit":{"epoch":1}"#,
            r#"{"nope":{}}"#,
            r#"{"seal-chat":{"text":"\ud800"}}"#,
            r#"{"open":{"from":"a","envelope":7}}"#,
        ] {
            let ours = sotto_protocol::json::from_str::<CryptoRequest>(text).is_ok();
            let theirs = serde_json::from_str::<CryptoRequest>(text).is_ok();
            assert_eq!(ours, theirs, "{text}");
            assert!(!ours, "{text}");
        }
    }

    fn info(p: &Party) -> PeerInfo {
        PeerInfo {
            peer: p.id.clone(),
            identity: p.identity.clone(),
        }
    }

    #[test]
    fn two_parties_rotate_acknowledge_commit_and_chat_through_requests() {
        let secret = RoomSecret::generate(&mut crate::random::os_rng());
        let (mut a, mut b) = (party(&secret, "a"), party(&secret, "b"));
        let roster_a = CryptoRequest::SetRoster {
            roster: vec![info(&b)],
        };
        let CryptoResult::Roster {
            epoch,
            committed,
            messages,
            rejected,
            admitted,
        } = ask(&mut a, roster_a, 0)
        else {
            panic!("a roster result")
        };
        assert!(!committed && rejected.is_empty());
        // b's sealed identity opened to b's identity key
        assert_eq!(admitted.len(), 1);
        assert_eq!(admitted[0].peer, b.id);
        assert_eq!(admitted[0].identity, b.keys.my_identity().to_base64url());
        // a safety round over that roster commits to b
        let CryptoResult::Safety(safety) = ask(&mut a, CryptoRequest::SafetyStart, 0) else {
            panic!("a safety step")
        };
        assert_eq!(safety.state, SafetyState::Verifying);
        assert_eq!(safety.commit.unwrap().to, vec![b.id.clone()]);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].to, b.id);
        // b must know a before it takes a's key
        ask(
            &mut b,
            CryptoRequest::SetRoster {
                roster: vec![info(&a)],
            },
            0,
        );
        let got = ask(
            &mut b,
            CryptoRequest::ReceiveKey {
                from: a.id.clone(),
                key: messages[0].key.clone(),
            },
            1,
        );
        assert_eq!(
            got,
            CryptoResult::KeyReceived {
                epoch,
                duplicate: false
            }
        );
        // a commit for another epoch changes nothing; the right one switches
        let before = ask(&mut a, CryptoRequest::Commit { epoch: epoch + 7 }, 2);
        assert!(matches!(before, CryptoResult::Committed { epoch: e } if e != epoch));
        let ack = ask(
            &mut a,
            CryptoRequest::Acknowledge {
                from: b.id.clone(),
                epoch,
            },
            2,
        );
        assert_eq!(ack, CryptoResult::Acknowledged { complete: true });
        assert_eq!(
            ask(&mut a, CryptoRequest::Commit { epoch }, 3),
            CryptoResult::Committed { epoch }
        );
        let CryptoResult::ChatSealed { sealed } = ask(
            &mut a,
            CryptoRequest::SealChat {
                text: "héllo".into(),
            },
            4,
        ) else {
            panic!("sealed")
        };
        let opened = ask(
            &mut b,
            CryptoRequest::OpenChat {
                from: a.id.clone(),
                sealed,
            },
            5,
        );
        assert_eq!(
            opened,
            CryptoResult::ChatOpened {
                text: "héllo".into()
            }
        );
        // b holds a's key, and knows its epoch
        let held = ask(
            &mut b,
            CryptoRequest::KeysFrom {
                peers: vec![a.id.clone()],
            },
            6,
        );
        assert_eq!(
            held,
            CryptoResult::KeysHeld {
                peers: vec![KeyHolding {
                    peer: a.id.clone(),
                    held: true,
                    epoch: Some(epoch),
                    dropped_unknown_key: 0
                }]
            }
        );
        let CryptoResult::Resealed { to, epoch: e, .. } =
            ask(&mut a, CryptoRequest::Reseal { peer: b.id.clone() }, 7)
        else {
            panic!("resealed")
        };
        assert_eq!((to, e), (b.id.clone(), epoch));
    }

    #[test]
    fn refusals_come_back_with_their_codes() {
        let secret = RoomSecret::generate(&mut crate::random::os_rng());
        let (mut a, b) = (party(&secret, "a"), party(&secret, "b"));
        let code = |r: CryptoResult| match r {
            CryptoResult::Failed { code, .. } => code.code(),
            other => panic!("{other:?}"),
        };
        let garbage = CryptoRequest::ReceiveKey {
            from: b.id.clone(),
            key: B64UrlBytes(vec![1, 2, 3]),
        };
        assert_eq!(code(ask(&mut a, garbage, 0)), "unknown-peer");
        assert_eq!(
            code(ask(&mut a, CryptoRequest::Reseal { peer: b.id.clone() }, 0)),
            "unknown-peer"
        );
        ask(
            &mut a,
            CryptoRequest::SetRoster {
                roster: vec![info(&b)],
            },
            0,
        );
        let garbage = CryptoRequest::ReceiveKey {
            from: b.id.clone(),
            key: B64UrlBytes(vec![1, 2, 3]),
        };
        assert_eq!(code(ask(&mut a, garbage, 0)), "bad-key-message");
        let chat = CryptoRequest::OpenChat {
            from: b.id.clone(),
            sealed: Bytes(vec![0; 40]),
        };
        assert!(matches!(ask(&mut a, chat, 0), CryptoResult::Failed { .. }));
        // roster entries whose sealed identity does not open are reported, not fatal: made
        // up, or a genuine one moved to another peer id, or from another room
        let other_room = party(&RoomSecret::generate(&mut crate::random::os_rng()), "d");
        let entries = [
            ("c", "AAAA".to_owned()),
            ("e", b.identity.as_str().to_owned()),
            ("d", other_room.identity.as_str().to_owned()),
        ];
        let mut roster = vec![info(&b)];
        roster.extend(entries.iter().map(|(peer, identity)| PeerInfo {
            peer: PeerId::parse(peer).unwrap(),
            identity: Identity::parse(identity).unwrap(),
        }));
        let CryptoResult::Roster {
            rejected, admitted, ..
        } = ask(&mut a, CryptoRequest::SetRoster { roster }, 1)
        else {
            panic!("roster")
        };
        assert_eq!(rejected.len(), 3);
        assert!(rejected
            .iter()
            .all(|r| r.reason == RejectReason::ForgedParticipant));
        assert_eq!(
            admitted.iter().map(|a| &a.peer).collect::<Vec<_>>(),
            [&b.id]
        );
        // nothing can be sealed to a forged entry
        let seal = CryptoRequest::Seal {
            to: PeerId::parse("c").unwrap(),
            payload: "{}".into(),
        };
        assert_eq!(code(ask(&mut a, seal, 2)), "unknown-peer");
    }

    fn seal(from: &mut Party, to: &Party, payload: &str) -> String {
        let r = ask(
            from,
            CryptoRequest::Seal {
                to: to.id.clone(),
                payload: payload.into(),
            },
            0,
        );
        let CryptoResult::Sealed { envelope, .. } = r else {
            panic!("{r:?}")
        };
        envelope
    }

    fn open(to: &mut Party, from: &Party, envelope: &str) -> CryptoResult {
        ask(
            to,
            CryptoRequest::Open {
                from: from.id.clone(),
                envelope: envelope.into(),
            },
            0,
        )
    }

    fn pair() -> (Party, Party) {
        let secret = RoomSecret::generate(&mut crate::random::os_rng());
        let (mut a, mut b) = (party(&secret, "a"), party(&secret, "b"));
        let (ia, ib) = (info(&a), info(&b));
        ask(&mut a, CryptoRequest::SetRoster { roster: vec![ib] }, 0);
        ask(&mut b, CryptoRequest::SetRoster { roster: vec![ia] }, 0);
        (a, b)
    }

    #[test]
    fn envelopes_open_once_in_order_and_refuse_tampering() {
        let (mut a, mut b) = pair();
        let first = seal(&mut a, &b, r#"{"type":"hello"}"#);
        let second = seal(&mut a, &b, r#"{"type":"key-request"}"#);
        assert!(!first.contains("hello"), "the payload is sealed");
        assert_eq!(
            open(&mut b, &a, &first),
            CryptoResult::Opened {
                from: a.id.clone(),
                payload: r#"{"type":"hello"}"#.into()
            }
        );
        let code = |r: CryptoResult| match r {
            CryptoResult::Failed { code, .. } => code.code(),
            other => panic!("{other:?}"),
        };
        // the same envelope again: a replay
        assert_eq!(code(open(&mut b, &a, &first)), "envelope-replayed");
        // one changed character anywhere: refused
        let mut bytes = b64::decode(&second).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = b64::encode(&bytes);
        assert_eq!(code(open(&mut b, &a, &flipped)), "envelope-rejected");
        // reflected back to its sender, or claimed from someone else: refused
        assert_eq!(code(open(&mut a, &b, &second)), "envelope-rejected");
        // not base64url, or longer than the wire allows: malformed
        assert_eq!(code(open(&mut b, &a, "not base64!")), "malformed-envelope");
        assert_eq!(
            code(open(&mut b, &a, &"A".repeat(60_001))),
            "malformed-envelope"
        );
        // the untouched second one still opens, after all that
        assert!(matches!(
            open(&mut b, &a, &second),
            CryptoResult::Opened { .. }
        ));
    }

    #[test]
    fn a_safety_round_through_requests_gives_both_the_same_code() {
        let secret = RoomSecret::generate(&mut crate::random::os_rng());
        let (mut a, mut b) = (party(&secret, "a"), party(&secret, "b"));
        let (ia, ib) = (info(&a), info(&b));
        let step = |r: CryptoResult| match r {
            CryptoResult::Safety(safety) => safety,
            other => panic!("{other:?}"),
        };
        ask(&mut a, CryptoRequest::SetRoster { roster: vec![ib] }, 0);
        ask(&mut b, CryptoRequest::SetRoster { roster: vec![ia] }, 0);
        let sa = step(ask(&mut a, CryptoRequest::SafetyStart, 0));
        let sb = step(ask(&mut b, CryptoRequest::SafetyStart, 0));
        let (ca, cb) = (sa.commit.unwrap().value, sb.commit.unwrap().value);
        let commit = |to: &mut Party, from: &Party, c: B64UrlBytes| {
            step(ask(
                to,
                CryptoRequest::SafetyCommit {
                    from: from.id.clone(),
                    c,
                },
                1,
            ))
        };
        // each reveals once it holds the other's commitment
        let ra = commit(&mut a, &b, cb);
        let rb = commit(&mut b, &a, ca);
        let (na, nb) = (ra.reveal.unwrap(), rb.reveal.unwrap());
        assert_eq!(na.to, vec![b.id.clone()]);
        let reveal = |to: &mut Party, from: &Party, n: B64UrlBytes| {
            step(ask(
                to,
                CryptoRequest::SafetyReveal {
                    from: from.id.clone(),
                    n,
                },
                2,
            ))
        };
        let done_a = reveal(&mut a, &b, nb.value);
        let done_b = reveal(&mut b, &a, na.value.clone());
        assert_eq!(done_a.state, SafetyState::Ready);
        let (code_a, code_b) = (done_a.code.unwrap(), done_b.code.unwrap());
        assert_eq!(code_a, code_b);
        assert_eq!((code_a.words.len(), code_a.hex.len()), (5, 64));
        // a reveal that does not match the commitment fails the round
        let mut a2 = party(&secret, "a");
        let ia2 = info(&a2);
        let mut wrong = na.value;
        wrong.0[0] ^= 1;
        ask(&mut b, CryptoRequest::SetRoster { roster: vec![ia2] }, 3);
        ask(
            &mut a2,
            CryptoRequest::SetRoster {
                roster: vec![info(&b)],
            },
            3,
        );
        step(ask(&mut b, CryptoRequest::SafetyStart, 3));
        let sa2 = step(ask(&mut a2, CryptoRequest::SafetyStart, 3));
        commit(&mut b, &a2, sa2.commit.unwrap().value);
        let failed = ask(
            &mut b,
            CryptoRequest::SafetyReveal {
                from: a2.id.clone(),
                n: wrong,
            },
            4,
        );
        assert!(
            matches!(&failed, CryptoResult::Failed { code, .. } if code.code() == "safety-reveal-mismatch"),
            "{failed:?}"
        );
        // nothing to restart: the round was not superseded
        assert_eq!(
            step(ask(&mut b, CryptoRequest::SafetyRestart, 5)).state,
            SafetyState::Failed
        );
    }
}
