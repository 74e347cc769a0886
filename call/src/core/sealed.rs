//! Protocol v2 in the core: sealed envelopes, admission of sealed identities, the safety code
//! rounds, display names and verification.
//!
//! ```text
//!  send_peer(to, payload) ──Seal──> Worker ──Sealed──> signal{to, envelope}   (in seal order)
//!  signal{from, envelope} ──Open──> Worker ──Opened──> on_peer_payload        (or refused:
//!                                                       envelope-rejected / -replayed, counted)
//!  roster (sealed identities) ──SetRoster──> Worker ──Roster{admitted, rejected}──>
//!      admitted: participant-joined (identity key, verified?), display name sent to it
//!      forged:   forged-participant, ignored from then on
//!  500 ms after the last roster change ──SafetyStart──> Worker ──Safety{commit, ...}──>
//!      safety-commit to each peer, then (once every commitment is in) safety-reveal; the
//!      code when every reveal is in; superseded: SafetyRestart after 2 s of no change
//! ```
//! Nothing is sealed to or opened from a peer before the Worker was given a roster listing it:
//! payloads and envelopes wait on the peer (`outbox`, `inbox`) until `rekey` sends one.
use sotto_protocol::peer::{is_clean_display_name, B64UrlBytes, PeerPayload};
use sotto_protocol::room::ClientMessage;
use sotto_protocol::{Payload, PeerId};

use super::{CallCore, Pending};
use crate::crypto::{
    Admitted, CryptoErrorCode, CryptoRequest, CryptoResult, SafetyState, SafetyStep,
};
use crate::error::{CallError, ErrorCode};
use crate::event::{AppEvent, VerifiedKeyChange};
use crate::peer::Peer;

/// A superseded safety round is restarted after this, if the roster stays the same.
pub const SAFETY_SETTLE_MS: u64 = 2_000;
/// A safety round starts this long after the last roster change (a burst of joins and leaves
/// is one round, not one per change: fewer messages, and fewer attempts for an attacker).
pub const SAFETY_START_DELAY_MS: u64 = 500;
/// A round that has not completed this long after it started (a commitment or a reveal was
/// lost: a signaling outage, a dropping server) is started afresh...
pub const SAFETY_STALL_MS: u64 = 10_000;
/// ...at most this many times per roster change (each round is one attempt for an attacker
/// who holds the link: see SECURITY.md).
pub const SAFETY_STALL_RESTARTS: u32 = 3;
/// At most one `envelope-rejected` (and one `envelope-replayed`) error event per this.
const ENVELOPE_ERROR_INTERVAL_MS: u64 = 1_000;

impl CallCore {
    // ---- envelopes ----

    /// Asks the Worker to seal `payload` (a peer payload's JSON) to `to`.
    pub(super) fn seal(&mut self, to: &PeerId, payload: String) {
        self.crypto(
            CryptoRequest::Seal {
                to: to.clone(),
                payload,
            },
            Pending::Seal { to: to.clone() },
        );
    }

    /// Asks the Worker to open an envelope from `from` (or keeps it until `from` is in the
    /// Worker's roster).
    pub(super) fn open_envelope(&mut self, from: &PeerId, envelope: String) {
        let Some(p) = self.peers.get_mut(from) else {
            self.stats.dropped_peer_messages += 1;
            return;
        };
        if p.in_crypto_roster {
            self.crypto(
                CryptoRequest::Open {
                    from: from.clone(),
                    envelope,
                },
                Pending::Open { from: from.clone() },
            );
        } else if !Peer::hold_envelope(&mut p.inbox, envelope) {
            self.stats.dropped_peer_messages += 1;
        }
    }

    /// A sealed envelope for `to`: it goes out now (results come in seal order, so the
    /// peer's sequence numbers arrive in order).
    pub(super) fn sealed(&mut self, to: &PeerId, result: CryptoResult) {
        match result {
            CryptoResult::Sealed { to: t, envelope } if &t == to => {
                if !self.peers.contains_key(to) {
                    self.stats.unsent_messages += 1;
                    return;
                }
                match Payload::new(envelope) {
                    Ok(payload) => self.send_server(&ClientMessage::signal(to.clone(), payload)),
                    Err(_) => self.error(CallError::new(
                        ErrorCode::Internal,
                        "a sealed message to a peer is too large to send",
                    )),
                }
            }
            // not a participant after all (a forged roster entry): nothing goes to it
            CryptoResult::Failed {
                code: CryptoErrorCode::UnknownPeer,
                ..
            } => self.stats.unsent_messages += 1,
            CryptoResult::Failed { code, .. } => self.error(
                CallError::new(
                    ErrorCode::Crypto(code),
                    "a message to a peer could not be sealed",
                )
                .about(to),
            ),
            _ => self.stats.unexpected_crypto_results += 1,
        }
    }

    /// An envelope from `from` opened, or was refused.
    pub(super) fn opened(&mut self, from: &PeerId, result: CryptoResult) {
        match result {
            CryptoResult::Opened { from: f, payload } if &f == from => {
                self.on_peer_payload(from, &payload);
            }
            CryptoResult::Failed {
                code: CryptoErrorCode::UnknownPeer,
                ..
            } => self.stats.dropped_peer_messages += 1,
            CryptoResult::Failed {
                code: CryptoErrorCode::EnvelopeReplayed,
                ..
            } => {
                self.stats.envelopes_replayed += 1;
                self.envelope_error(
                    1,
                    CallError::new(
                        ErrorCode::EnvelopeReplayed,
                        "a message from a peer came again (replayed by the server?); it was dropped",
                    )
                    .about(from),
                );
            }
            CryptoResult::Failed { code, .. } => {
                self.stats.envelopes_rejected += 1;
                self.envelope_error(
                    0,
                    CallError::new(
                        ErrorCode::EnvelopeRejected,
                        "a message from a peer did not open (altered or forged on the way); it was dropped",
                    )
                    .about(from)
                    .because(code.code()),
                );
            }
            _ => self.stats.unexpected_crypto_results += 1,
        }
    }

    /// An `envelope-*` error event, at most one a second of each kind (a server can send
    /// garbage as fast as it likes; every refusal is counted in the stats all the same).
    fn envelope_error(&mut self, kind: usize, error: CallError) {
        let now = self.now;
        let Some(last) = self.envelope_error_at.get_mut(kind) else {
            return;
        };
        if last.is_some_and(|t| now.saturating_sub(t) < ENVELOPE_ERROR_INTERVAL_MS) {
            return;
        }
        *last = Some(now);
        self.error(error);
    }

    // ---- admission ----

    /// The Worker opened these sealed identities: the peers that still hold the identity
    /// that was sent become participants.
    pub(super) fn on_admitted(
        &mut self,
        admitted: &[Admitted],
        sent: &[(PeerId, sotto_protocol::Identity)],
    ) {
        for a in admitted {
            let fits = sent.iter().any(|(peer, identity)| {
                peer == &a.peer
                    && self
                        .peers
                        .get(peer)
                        .is_some_and(|p| &p.identity == identity)
            });
            let Some(p) = self.peers.get_mut(&a.peer).filter(|_| fits) else {
                continue;
            };
            if p.admitted {
                continue;
            }
            p.admitted = true;
            p.key = Some(a.identity.clone());
            self.admit(&a.peer, &a.identity);
        }
    }

    /// A participant now: shown, warned about if it breaks a verification, told our name.
    fn admit(&mut self, peer: &PeerId, key: &str) {
        let verified = self.verified.contains_key(key);
        self.emit(AppEvent::ParticipantJoined {
            peer: peer.clone(),
            identity: key.to_owned(),
            verified,
            name: None,
        });
        if !verified {
            let previous = self.verified_peers.get(peer).cloned();
            let reason = if previous.is_some() {
                Some(VerifiedKeyChange::KeyChanged)
            } else if !self.verified.is_empty() {
                Some(VerifiedKeyChange::UnverifiedJoined)
            } else {
                None
            };
            if let Some(reason) = reason {
                self.emit(AppEvent::VerifiedKeyChanged {
                    peer: peer.clone(),
                    identity: key.to_owned(),
                    previous,
                    reason,
                });
                self.error(
                    CallError::new(
                        ErrorCode::VerifiedKeyChanged,
                        match reason {
                            VerifiedKeyChange::KeyChanged => "a verified participant came back with another identity key: compare the safety code again",
                            VerifiedKeyChange::UnverifiedJoined => "an unverified participant joined a verified call: compare the safety code again",
                        },
                    )
                    .about(peer)
                    .because(reason.as_str()),
                );
            }
        }
        self.send_display_name(peer);
    }

    // ---- verification ----

    pub(super) fn is_verified(&self, p: &Peer) -> bool {
        p.key
            .as_ref()
            .is_some_and(|k| self.verified.contains_key(k.as_str()))
    }

    /// `setVerified(peer, verified)`: the verification belongs to the peer's identity key, so
    /// it carries over to that key under any peer id (and to later calls, given back through
    /// `verifiedIdentities`).
    pub(super) fn set_verified(&mut self, peer: &PeerId, verified: bool) {
        let Some(key) = self
            .peers
            .get(peer)
            .filter(|p| p.admitted)
            .and_then(|p| p.key.clone())
        else {
            self.error(
                CallError::new(ErrorCode::BadArgument, "no such participant to verify").about(peer),
            );
            return;
        };
        if verified {
            if self.verified.len() < crate::config::MAX_VERIFIED_IDENTITIES {
                self.verified.insert(key.clone(), ());
            }
            if self.verified_peers.len() < crate::config::MAX_VERIFIED_IDENTITIES {
                self.verified_peers.insert(peer.clone(), key.clone());
            }
        } else {
            self.verified.remove(key.as_str());
            self.verified_peers.retain(|_, k| k != &key);
        }
        let verified = self.verified.contains_key(key.as_str());
        self.emit(AppEvent::VerificationChanged {
            peer: peer.clone(),
            identity: key,
            verified,
        });
    }

    // ---- display names ----

    /// Tells `peer` this participant's name (sealed), if it has one.
    pub(super) fn send_display_name(&mut self, peer: &PeerId) {
        if let Some(name) = self.config.display_name.clone() {
            self.send_peer(peer, &PeerPayload::DisplayName { name });
        }
    }

    pub(super) fn on_display_name(&mut self, from: &PeerId, name: String) {
        if !is_clean_display_name(&name) {
            self.stats.dropped_peer_messages += 1;
            self.error(
                CallError::new(
                    ErrorCode::BadPeerMessage,
                    "a peer sent a display name that is not valid",
                )
                .about(from),
            );
            return;
        }
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        if p.name.as_deref() == Some(name.as_str()) {
            return;
        }
        p.name = Some(name.clone());
        if p.admitted {
            self.emit(AppEvent::ParticipantName {
                peer: from.clone(),
                name,
            });
        }
    }

    // ---- the safety code ----

    /// What the Worker's round asks: send the commitment (to each peer of the round), then
    /// the reveal; show the state and the code; restart after a settling delay if superseded.
    pub(super) fn on_safety_step(&mut self, step: SafetyStep) {
        if let Some(commit) = step.commit {
            for to in &commit.to {
                self.send_peer(
                    to,
                    &PeerPayload::SafetyCommit {
                        c: commit.value.clone(),
                    },
                );
            }
        }
        if let Some(reveal) = step.reveal {
            for to in &reveal.to {
                self.send_peer(
                    to,
                    &PeerPayload::SafetyReveal {
                        n: reveal.value.clone(),
                    },
                );
            }
        }
        if step.superseded {
            self.safety_restart_at = Some(self.now.saturating_add(SAFETY_SETTLE_MS));
        }
        let (words, hex) = step.code.map(|c| (c.words, c.hex)).unwrap_or_default();
        self.show_safety(step.state, words, hex);
    }

    /// The `safety-code` event, when the state or the code changed.
    fn show_safety(&mut self, state: SafetyState, words: Vec<String>, hex: String) {
        if state != SafetyState::Verifying {
            self.safety_stall_at = None;
        }
        let (words, hex) = if state == SafetyState::Ready {
            (words, hex)
        } else {
            (Vec::new(), String::new())
        };
        if self
            .safety_shown
            .as_ref()
            .is_some_and(|(s, h)| *s == state && *h == hex)
        {
            return;
        }
        self.safety_shown = Some((state, hex.clone()));
        self.emit(AppEvent::SafetyCode { words, hex, state });
    }

    pub(super) fn restart_safety_round(&mut self) {
        self.safety_restart_at = None;
        self.safety_stall_at = Some(self.now.saturating_add(SAFETY_STALL_MS));
        self.crypto(CryptoRequest::SafetyRestart, Pending::Safety);
    }

    /// A round stalled (see [`SAFETY_STALL_MS`]): a fresh one, a few times per roster change.
    pub(super) fn safety_stalled(&mut self) {
        self.safety_stall_at = None;
        if self.safety_stall_restarts < SAFETY_STALL_RESTARTS {
            self.safety_stall_restarts += 1;
            self.start_safety_round();
        }
    }

    /// The roster stayed the same since the last change: a round over it.
    pub(super) fn start_safety_round(&mut self) {
        self.safety_start_at = None;
        self.safety_restart_at = None;
        self.safety_stall_at = Some(self.now.saturating_add(SAFETY_STALL_MS));
        // shown as verifying at once (the code of the last round no longer holds)
        self.show_safety(SafetyState::Verifying, Vec::new(), String::new());
        self.crypto(CryptoRequest::SafetyStart, Pending::Safety);
    }

    pub(super) fn on_safety_commit(&mut self, from: &PeerId, c: B64UrlBytes) {
        self.crypto(
            CryptoRequest::SafetyCommit {
                from: from.clone(),
                c,
            },
            Pending::Safety,
        );
    }

    pub(super) fn on_safety_reveal(&mut self, from: &PeerId, n: B64UrlBytes) {
        self.crypto(
            CryptoRequest::SafetyReveal {
                from: from.clone(),
                n,
            },
            Pending::Safety,
        );
    }

    pub(super) fn safety_result(&mut self, result: CryptoResult) {
        match result {
            CryptoResult::Safety(step) => self.on_safety_step(step),
            CryptoResult::Failed {
                code: CryptoErrorCode::SafetyRevealMismatch,
                ..
            } => {
                self.show_safety(SafetyState::Failed, Vec::new(), String::new());
                self.error(CallError::new(
                    ErrorCode::Crypto(CryptoErrorCode::SafetyRevealMismatch),
                    "a participant's safety code reveal did not match its commitment: the code is not verified",
                ));
            }
            // a commitment or reveal of a round that is over, or from someone who just left
            CryptoResult::Failed {
                code: CryptoErrorCode::SafetyNoCommit | CryptoErrorCode::UnknownPeer,
                ..
            } => self.stats.dropped_peer_messages += 1,
            CryptoResult::Failed { code, .. } => self.error(CallError::new(
                ErrorCode::Crypto(code),
                "a safety code step failed",
            )),
            _ => self.stats.unexpected_crypto_results += 1,
        }
    }
}
