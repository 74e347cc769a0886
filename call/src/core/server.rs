//! Room messages: the welcome and its reconciliation, joins and leaves, relayed signals, and
//! `hello` (a peer without a connection to us asks us to start one).
//!
//! Who offers: the newcomer (it learns of the others from its welcome); a peer that learns
//! of someone from `peer-joined` waits for the offer and says `hello`, again now and then
//! while no connection exists. A rejoining participant says `hello` to every peer it kept
//! from before (they may have dropped it when its socket closed, and lost the news that it
//! is back). A `hello` makes the receiver offer if it has no connection to the sender, if its
//! connection predates its own last welcome and is not up, or if it had given the sender up
//! (dormant); an unknown sender that keeps asking makes it rejoin to get the roster again.
//!
//! Protocol v2: a roster entry is a sealed identity; the peer is only *admitted* (shown,
//! offered to, connected) once the crypto Worker opened it (`sealed`). Every signal is a sealed
//! envelope opened by the Worker before anything reads it; one from someone who is not a
//! participant cannot be opened: a peer given up (dormant) is brought back to try, an unknown
//! one is a stranger, a forged one is ignored.
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{Payload, PeerId, ProtocolError};

use super::{CallCore, DORMANT_HELLOS};
use crate::backoff::exponential;
use crate::error::{CallError, ErrorCode};
use crate::event::{AppEvent, LeaveReason, SignalingPhase};
use crate::peer::Peer;
use crate::recovery::RecoveryDue;
use crate::roster::{self, Known, MAX_PEERS};

/// Hellos to a peer with no connection: after the negotiation timeout, then doubling to this.
const HELLO_MAX_MS: u64 = 30_000;

impl CallCore {
    pub(super) fn on_server_text(&mut self, text: &str) {
        let msg = match ServerMessage::parse(text) {
            Ok(msg) => msg,
            Err(ProtocolError::UnsupportedVersion) => {
                // a server of another protocol version: never a silent failure
                self.stats.bad_server_messages += 1;
                let error = CallError::new(
                    ErrorCode::Server(ProtocolError::UnsupportedVersion),
                    "the server speaks another protocol version than this client (v2)",
                );
                if self.signaling.ever_welcomed() {
                    self.error(error);
                } else {
                    self.join_failed(error);
                }
                return;
            }
            Err(_) => {
                self.stats.bad_server_messages += 1;
                self.error(CallError::new(
                    ErrorCode::BadServerMessage,
                    "the server sent something that is not a valid message",
                ));
                return;
            }
        };
        match msg {
            ServerMessage::Welcome { you, peers, .. } => self.on_welcome(&you, &peers),
            ServerMessage::PeerJoined { peer, .. } => self.on_peer_joined(peer),
            ServerMessage::PeerLeft { peer, .. } => self.on_peer_left(&peer),
            ServerMessage::Signal {
                from, to, payload, ..
            } => self.on_signal(&from, &to, &payload),
            ServerMessage::Pong { .. } => {}
            ServerMessage::Error { code, .. } => {
                let error = CallError::new(
                    ErrorCode::from_server(&code),
                    "the server refused or reported an error",
                );
                if error.code == ErrorCode::Server(ProtocolError::UnknownPeer) {
                    // a signal to a peer that has just left: a race, not news
                    self.stats.bad_server_messages += 1;
                } else if self.signaling.ever_welcomed() {
                    self.error(error);
                } else {
                    self.join_failed(error);
                }
            }
        }
    }

    fn bad_roster_entry(&mut self, peer: &PeerId, reason: &'static str) {
        self.stats.roster_rejections += 1;
        self.error(
            CallError::new(
                ErrorCode::BadRosterEntry,
                "the server announced a participant who cannot be in the call; that entry is ignored",
            )
            .about(peer)
            .because(reason),
        );
    }

    fn on_welcome(&mut self, you: &PeerId, listed: &[PeerInfo]) {
        let why = if you != &self.me {
            Some("the server welcomed someone else")
        } else if self.signaling.welcomed_here() {
            // one welcome answers one join: a second one is replayed (or forged)
            Some("the server welcomed this participant twice")
        } else {
            None
        };
        if let Some(why) = why {
            self.stats.bad_server_messages += 1;
            self.error(CallError::new(ErrorCode::BadServerMessage, why));
            return;
        }
        self.session += 1;
        if self.signaling.on_welcome() {
            self.emit(AppEvent::Joined);
        } else {
            self.emit(AppEvent::SignalingState {
                state: SignalingPhase::Connected,
                code: None,
            });
        }
        // dormant peers stay dormant unless listed: a welcome that does not list someone is
        // no proof that it left (a replayed or forged welcome says anything)
        self.strangers.clear();
        let known = self.peers.iter().map(|(peer, p)| Known {
            peer,
            identity: &p.identity,
            state: p.conn.as_ref().map(|c| c.state),
        });
        let plan = roster::reconcile(&self.me, known, listed);
        for (peer, reason) in &plan.rejected {
            self.bad_roster_entry(peer, reason);
        }
        let grace_until = self.now.saturating_add(self.config.rejoin_grace_ms);
        for peer in &plan.unconfirmed {
            if let Some(p) = self.peers.get_mut(peer) {
                p.unconfirmed_until = Some(grace_until);
            }
        }
        for peer in &plan.confirmed {
            if let Some(p) = self.peers.get_mut(peer) {
                p.unconfirmed_until = None;
            }
        }
        for (peer, reason) in &plan.drops {
            // a peer the server merely did not list may still be there (a replayed or
            // forged welcome): dormant
            let dormant = matches!(reason, LeaveReason::Left | LeaveReason::Vanished);
            self.drop_peer(peer, *reason, dormant);
        }
        for info in &plan.adds {
            self.add_peer(info);
        }
        if plan.changed() || !self.rotation.started {
            self.rekey();
        }
        // The newcomer offers to everyone already there; they wait for its offer.
        let without: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.conn.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for peer in without {
            self.start_offer(&peer);
        }
        // peers kept from before this welcome may have dropped us meanwhile: tell them
        let session = self.session;
        let kept: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.conn.as_ref().is_some_and(|c| c.session < session))
            .map(|(id, _)| id.clone())
            .collect();
        for peer in kept {
            self.send_peer(&peer, &PeerPayload::Hello {});
        }
    }

    /// A roster entry, not yet admitted: the crypto Worker opens its sealed identity with the
    /// next roster (`sealed::on_admitted`); only then is it a participant.
    fn add_peer(&mut self, info: &PeerInfo) {
        self.strangers.remove(&info.peer);
        self.dormant.remove(&info.peer);
        self.forged.remove(&info.peer);
        self.peers
            .insert(info.peer.clone(), Peer::new(info.identity.clone()));
    }

    fn on_peer_joined(&mut self, info: PeerInfo) {
        if info.peer == self.me {
            self.bad_roster_entry(&info.peer, "own-peer-id");
            return;
        }
        self.dormant.remove(&info.peer);
        let full = self.peers.len() >= MAX_PEERS;
        match self.peers.get_mut(&info.peer) {
            // a rejoin after a signaling outage (ours or the server's): nothing changes
            Some(known) if known.identity == info.identity => {
                known.unconfirmed_until = None;
                return;
            }
            Some(_) => self.drop_peer(&info.peer, LeaveReason::Replaced, false),
            None if full => {
                self.bad_roster_entry(&info.peer, "too-many-peers");
                return;
            }
            None => {}
        }
        self.add_peer(&info);
        self.rekey();
        self.say_hello(&info.peer);
    }

    fn on_peer_left(&mut self, peer: &PeerId) {
        self.dormant.remove(peer);
        self.strangers.remove(peer);
        if self.peers.contains_key(peer) {
            // even an explicit leave may be replayed or forged: the peer stays dormant
            // (asked a few times whether it is still there) rather than forgotten
            self.drop_peer(peer, LeaveReason::Left, true);
            self.rekey();
        }
    }

    /// A relayed signal: a sealed envelope, opened by the crypto Worker before anything reads
    /// it (`sealed::on_opened` then `on_peer_payload`).
    fn on_signal(&mut self, from: &PeerId, to: &PeerId, payload: &Payload) {
        if to != &self.me || from == &self.me {
            self.stats.bad_server_messages += 1;
            return;
        }
        if !self.peers.contains_key(from) {
            if self.forged.contains_key(from) {
                self.stats.dropped_peer_messages += 1;
                return;
            }
            if self.dormant.contains_key(from) {
                // someone given up speaks again: back in the roster so that the Worker can
                // tell whether it is really them (the envelope opens)
                self.revive(from);
            } else {
                // Someone in the room whose arrival this participant never heard of (a
                // lost peer-joined): if it keeps signalling, rejoin to get the roster again.
                self.stranger(from);
                self.stats.dropped_peer_messages += 1;
                return;
            }
        }
        self.open_envelope(from, payload.as_str().to_owned());
    }

    /// A peer payload that came out of an envelope from `from` (a participant in the crypto
    /// roster: the envelope opened under its identity key).
    pub(super) fn on_peer_payload(&mut self, from: &PeerId, text: &str) {
        let Ok(payload) = PeerPayload::parse(text) else {
            self.stats.dropped_peer_messages += 1;
            self.error(
                CallError::new(
                    ErrorCode::BadPeerMessage,
                    "a peer sent a message that is not valid",
                )
                .about(from),
            );
            return;
        };
        if !self.peers.contains_key(from) {
            self.stats.dropped_peer_messages += 1;
            return;
        }
        match payload {
            PeerPayload::Offer { sdp } => self.on_offer(from, sdp),
            PeerPayload::Answer { sdp } => self.on_answer(from, &sdp),
            PeerPayload::Ice {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => self.on_remote_candidate(
                from,
                crate::input::IceCandidate {
                    candidate,
                    sdp_mid,
                    sdp_m_line_index,
                },
            ),
            PeerPayload::EndOfCandidates {} => {}
            PeerPayload::SenderKey { key } => self.on_sender_key(from, key),
            PeerPayload::KeyAck { epoch } => self.on_key_ack(from, epoch),
            PeerPayload::KeyRequest {} => self.on_key_request(from),
            PeerPayload::Hello {} => self.on_hello(from),
            PeerPayload::SafetyCommit { c } => self.on_safety_commit(from, c),
            PeerPayload::SafetyReveal { n } => self.on_safety_reveal(from, n),
            PeerPayload::DisplayName { name } => self.on_display_name(from, name),
        }
    }

    /// A peer given up (vanished, or a leave that may have been forged) is tried again: back
    /// in the roster with the sealed identity it had, and offered to. Sealed envelopes need
    /// it in the crypto roster both ways; if it is gone after all, the offer never connects and
    /// it is given up again (at most [`DORMANT_HELLOS`] times without its connection coming up).
    fn revive(&mut self, peer: &PeerId) {
        let Some(d) = self.dormant.remove(peer) else {
            return;
        };
        self.add_peer(&PeerInfo {
            peer: peer.clone(),
            identity: d.identity,
        });
        if let Some(p) = self.peers.get_mut(peer) {
            p.revivals = d.hellos.saturating_add(1);
        }
        self.rekey();
        self.start_offer(peer);
    }

    fn on_hello(&mut self, from: &PeerId) {
        let session = self.session;
        let Some(p) = self.peers.get(from) else {
            return;
        };
        match &p.conn {
            None => self.start_offer(from),
            Some(c) if c.session < session && c.state != crate::input::PcState::Connected => {
                self.start_offer(from);
            }
            Some(_) => {}
        }
    }

    /// Asks `peer` (who has no connection with us) to offer, and plans to ask again.
    pub(super) fn say_hello(&mut self, peer: &PeerId) {
        let next = self.now;
        let timeout = self.config.negotiation_timeout_ms;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        p.hello_at = Some(next.saturating_add(exponential(
            timeout,
            HELLO_MAX_MS,
            p.hellos.saturating_add(1),
        )));
        p.hellos = p.hellos.saturating_add(1);
        self.send_peer(peer, &PeerPayload::Hello {});
    }

    pub(super) fn peers_due(&mut self) {
        let now = self.now;
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in ids {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            if p.unconfirmed_until.is_some_and(|t| t <= now) {
                // did not come back within the rejoin grace
                self.drop_peer(&id, LeaveReason::Left, true);
                self.rekey();
                continue;
            }
            if p.offer_retry_at.is_some_and(|t| t <= now) {
                p.offer_retry_at = None;
                if p.conn.is_none() {
                    self.start_offer(&id);
                }
            }
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            if p.hello_at.is_some_and(|t| t <= now) {
                if p.conn.is_none() {
                    self.say_hello(&id);
                } else {
                    p.hello_at = None;
                }
            }
            if self
                .peers
                .get(&id)
                .and_then(|p| p.resend)
                .is_some_and(|r| r.at <= now)
            {
                self.resend_due(&id);
            }
            let due = self.peers.get(&id).and_then(|p| {
                p.conn
                    .as_ref()
                    .and_then(|c| c.recovery.due(now, &self.config))
            });
            match due {
                Some(RecoveryDue::Vanish) => self.vanish(&id),
                Some(RecoveryDue::Restart) => self.restart_ice(&id),
                None => {}
            }
        }
    }

    /// The media path stayed down past the peer timeout.
    fn vanish(&mut self, peer: &PeerId) {
        self.drop_peer(peer, LeaveReason::Vanished, true);
        self.rekey();
        // Everyone vanished at once: more likely this participant was the one cut off (a
        // frozen tab, a laptop lid) while the server still lists the others. Rejoining
        // signaling gets a fresh roster, and the others see a newcomer and rekey.
        if self.peers.is_empty() {
            self.resync();
        }
    }

    pub(super) fn dormant_due(&mut self) {
        let now = self.now;
        let due: Vec<PeerId> = self
            .dormant
            .iter()
            .filter(|(_, d)| d.hello_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(d) = self.dormant.get(&id) else {
                continue;
            };
            if d.hellos >= DORMANT_HELLOS {
                self.dormant.remove(&id);
                continue;
            }
            // (nothing can be sealed to someone outside the roster: it is tried again instead)
            self.revive(&id);
        }
    }
}
