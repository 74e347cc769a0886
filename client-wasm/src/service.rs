//! The call core's crypto requests, carried out on [`GroupKeys`].
//!
//! The main thread's call core (`sotto-call`, in `sotto-call-wasm`) never holds a key: it
//! asks the crypto Worker with a [`CryptoRequest`] and gets a [`CryptoResult`] back. This is
//! the one mapping from one to the other, plain Rust so that it runs natively too:
//! `CallCrypto::run` uses it in the browser, and `sotto-call`'s simulated network uses it as
//! its crypto Worker, so every native scenario and property test goes through this code.
use rand_core::CryptoRng;
use sotto_call::crypto::{
    CryptoErrorCode, CryptoRequest, CryptoResult, KeyHolding, KeyMessage, RejectReason, Rejection,
    SafetyCode,
};
use sotto_call::Bytes;
use sotto_e2ee::{E2eeError, GroupKeys, RosterEntry};
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::PeerId;

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
            let entries: Vec<RosterEntry> = roster
                .iter()
                .map(|i| RosterEntry {
                    peer: i.peer.as_str().to_owned(),
                    identity: i.identity.as_str().to_owned(),
                })
                .collect();
            match keys.set_roster(rng, &entries, now_ms) {
                Ok(out) => {
                    let safety = keys.safety_code();
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
                        safety_code: SafetyCode {
                            digits: safety.digits(),
                            words: safety.words().iter().map(|w| (*w).to_owned()).collect(),
                        },
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

    fn party(secret: &RoomSecret, name: &str) -> Party {
        let mut rng = crate::random::os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, secret.derive(), identity, name.to_owned());
        let identity = Identity::parse(&keys.my_identity().to_base64url()).unwrap();
        Party {
            keys,
            id: PeerId::parse(name).unwrap(),
            identity,
        }
    }

    fn ask(p: &mut Party, request: CryptoRequest, now: u64) -> CryptoResult {
        run(&mut p.keys, &mut crate::random::os_rng(), request, now)
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
            safety_code,
        } = ask(&mut a, roster_a, 0)
        else {
            panic!("a roster result")
        };
        assert!(!committed && rejected.is_empty() && !safety_code.digits.is_empty());
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
        // a roster entry with a bad identity is reported, not fatal
        let bad = PeerInfo {
            peer: PeerId::parse("c").unwrap(),
            identity: Identity::parse("AAAA").unwrap(),
        };
        let CryptoResult::Roster { rejected, .. } = ask(
            &mut a,
            CryptoRequest::SetRoster {
                roster: vec![info(&b), bad],
            },
            1,
        ) else {
            panic!("roster")
        };
        assert_eq!(rejected.len(), 1);
        assert_eq!(
            (rejected[0].peer.as_str(), rejected[0].reason),
            ("c", RejectReason::BadIdentity)
        );
    }
}
