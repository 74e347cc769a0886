//! Offers, answers and candidates on each connection, and its recovery.
//!
//! Glare-free by construction: only the offerer of a connection ever offers on it (the first
//! offer and every ICE restart). When two fresh offers cross anyway (a server that injects
//! joins, two `hello`s at once), the peer with the smaller id is polite: it drops its own
//! offer and answers; the other ignores the offer it got. Every description is tuned for
//! audio privacy ([`crate::sdp`]) before it is applied or sent, and nothing is applied to a
//! connection before its local media and transforms are attached.
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::PeerId;

use super::CallCore;
use crate::action::{Action, Role};
use crate::backoff::exponential;
use crate::config::Privacy;
use crate::connection::{Connection, Negotiation};
use crate::error::{CallError, ErrorCode};
use crate::event::AppEvent;
use crate::input::{IceCandidate, PcState, PeerOp, SdpKind};
use crate::invariant::EARLY_CHECKS_MS;
use crate::sdp::{is_relay_candidate, keep_relay_candidates, tune_audio_sdp};
use crate::ConnId;

/// A restart that finds its connection busy looks again after this.
const BUSY_RETRY_MS: u64 = 500;
/// At most this many connections wait for a rotation.
const MAX_DEFERRED: usize = 64;

/// A fresh connection that waits for the rotation under way.
#[derive(Debug, Clone)]
pub(super) enum Deferred {
    Offer(PeerId),
    Answer(PeerId, String),
}

impl Deferred {
    fn peer(&self) -> &PeerId {
        match self {
            Self::Offer(p) | Self::Answer(p, _) => p,
        }
    }
}

impl CallCore {
    /// Every description, local and remote: audio privacy, and in relay-only mode no
    /// candidate but relayed ones.
    fn tune(&mut self, sdp: &str) -> String {
        let tuned = tune_audio_sdp(sdp, self.config.constant_bitrate_audio);
        if self.config.privacy != Privacy::Relay {
            return tuned;
        }
        let (kept, dropped) = keep_relay_candidates(&tuned);
        self.stats.candidates.dropped += dropped as u64;
        kept
    }

    /// Only a participant (its sealed identity opened) gets a connection.
    fn may_connect(&self, peer: &PeerId) -> bool {
        self.may_start_connections() && self.peers.get(peer).is_some_and(|p| p.admitted)
    }

    /// New connections start only once no rotation is under way (see [`Self::defer`]), except
    /// for a participant that has never sent under any key (it has just joined): it has no key
    /// from before, so its connections start at once, overlapping its first key's
    /// acknowledgement round trip (the newcomer's offer no longer waits for it). Its frames
    /// are refused by the crypto Worker (dropped, never sent in clear) until that key is
    /// committed, which normally happens before the connection is even up.
    fn may_start_connections(&self) -> bool {
        self.rotation.settled() || self.rotation.current.is_none()
    }

    /// A fresh connection to `peer` in `role` (closing the one it had).
    fn new_conn(&mut self, peer: &PeerId, role: Role) -> Option<ConnId> {
        let old = self.peers.get_mut(peer)?.conn.take();
        if let Some(old) = old {
            self.close_conn(old.id);
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let conn = Connection::new(id, role, self.session, self.now, &self.config);
        let p = self.peers.get_mut(peer)?;
        p.conn = Some(conn);
        p.hello_at = None;
        self.conn_owner.insert(id, peer.clone());
        self.out.push_back(Action::CreatePeer {
            peer: peer.clone(),
            conn: id,
        });
        self.out
            .push_back(Action::AttachLocalMediaAndTransforms { conn: id, role });
        self.ensure_tick();
        // a new connection: the peer may have lost us (and our name) meanwhile
        self.send_display_name(peer);
        Some(id)
    }

    /// Offers to `peer` on a fresh connection (once no rotation is under way and the peer is
    /// admitted).
    pub(super) fn start_offer(&mut self, peer: &PeerId) {
        if self.may_connect(peer) {
            self.new_conn(peer, Role::Offerer);
        } else {
            self.defer(Deferred::Offer(peer.clone()));
        }
    }

    /// Answers `sdp` on a fresh connection (once no rotation is under way).
    fn answer_fresh(&mut self, peer: &PeerId, sdp: String) {
        if !self.may_connect(peer) {
            self.defer(Deferred::Answer(peer.clone(), sdp));
            return;
        }
        if let Some(id) = self.new_conn(peer, Role::Answerer) {
            if let Some(c) = self.conn_mut(id) {
                c.first_sight(&sdp);
                c.queued_offer = Some(sdp);
            }
        }
    }

    /// New connections start (an offer, or the answer to a fresh offer) only once this
    /// participant's pending key is committed: its media then never reaches a new peer under
    /// the key from before, which that peer does not get. The wait is one acknowledgement
    /// round trip (at most `switch_timeout_ms`). Renegotiations and ICE restarts do not wait.
    fn defer(&mut self, d: Deferred) {
        let peer = d.peer().clone();
        self.deferred.retain(|x| x.peer() != &peer);
        if self.deferred.len() < MAX_DEFERRED {
            self.deferred.push(d);
        }
    }

    /// Starts the connections that waited for the rotation, if none is under way now.
    pub(super) fn run_deferred(&mut self) {
        if !self.may_start_connections() {
            return;
        }
        for d in std::mem::take(&mut self.deferred) {
            match d {
                Deferred::Offer(peer) => {
                    if self.peers.get(&peer).is_some_and(|p| p.conn.is_none()) {
                        self.start_offer(&peer);
                    }
                }
                Deferred::Answer(peer, sdp) => {
                    if self.peers.contains_key(&peer) {
                        self.answer_fresh(&peer, sdp);
                    }
                }
            }
        }
    }

    fn create_offer(&mut self, conn: ConnId, ice_restart: bool) {
        if let Some(c) = self.conn_mut(conn) {
            c.busy = Some(PeerOp::CreateOffer);
            c.restarting = ice_restart;
            self.out
                .push_back(Action::CreateOffer { conn, ice_restart });
        }
    }

    /// Applies a remote offer on an idle connection.
    fn apply_offer(&mut self, conn: ConnId, sdp: String) {
        let tuned = self.tune(&sdp);
        if let Some(c) = self.conn_mut(conn) {
            c.busy = Some(PeerOp::SetRemoteDescription);
            c.renegotiating = c.has_remote.then_some(sdp);
            self.out.push_back(Action::SetRemoteDescription {
                conn,
                kind: SdpKind::Offer,
                sdp: tuned,
            });
        }
    }

    pub(super) fn on_offer(&mut self, from: &PeerId, sdp: String) {
        let me_polite = self.me < *from;
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        let Some(c) = p.conn.as_mut() else {
            self.answer_fresh(from, sdp);
            return;
        };
        if !c.first_sight(&sdp) {
            self.stats.dropped_peer_messages += 1;
            return;
        }
        match c.role {
            // a renegotiation (ICE restart) of the connection we answer
            Role::Answerer if c.state != PcState::Closed => {
                if c.idle() && c.negotiation == Negotiation::Stable {
                    let id = c.id;
                    self.apply_offer(id, sdp);
                } else {
                    c.queued_offer = Some(sdp);
                }
            }
            // two first offers crossed: the polite side answers, the other ignores theirs
            Role::Offerer if c.offering() && !c.restarting => {
                if me_polite {
                    self.answer_fresh(from, sdp);
                } else {
                    self.stats.dropped_peer_messages += 1;
                }
            }
            // the peer started over (it dropped the connection we have, or it would answer
            // our restart instead of offering): follow it
            _ => self.answer_fresh(from, sdp),
        }
    }

    pub(super) fn on_answer(&mut self, from: &PeerId, sdp: &str) {
        let tuned = self.tune(sdp);
        let Some(c) = self.peers.get_mut(from).and_then(|p| p.conn.as_mut()) else {
            self.stats.dropped_peer_messages += 1;
            return;
        };
        let expected =
            c.role == Role::Offerer && c.negotiation == Negotiation::HaveLocalOffer && c.idle();
        if !expected || !c.first_sight(sdp) {
            self.stats.dropped_peer_messages += 1;
            return;
        }
        c.busy = Some(PeerOp::SetRemoteDescription);
        let conn = c.id;
        self.out.push_back(Action::SetRemoteDescription {
            conn,
            kind: SdpKind::Answer,
            sdp: tuned,
        });
    }

    /// Counts a candidate by type; false if relay-only mode drops it.
    fn keep_candidate(&mut self, candidate: &IceCandidate, sent: bool) -> bool {
        let relay = is_relay_candidate(&candidate.candidate);
        let c = &mut self.stats.candidates;
        match (sent, relay) {
            (true, true) => c.sent_relay += 1,
            (true, false) => c.sent_other += 1,
            (false, true) => c.received_relay += 1,
            (false, false) => c.received_other += 1,
        }
        let keep = relay || self.config.privacy != Privacy::Relay;
        if !keep {
            c.dropped += 1;
        }
        keep
    }

    pub(super) fn on_remote_candidate(&mut self, from: &PeerId, candidate: IceCandidate) {
        if !self.keep_candidate(&candidate, false) {
            return;
        }
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        match p.conn.as_ref() {
            Some(c) if c.has_remote => {
                let conn = c.id;
                self.out
                    .push_back(Action::AddIceCandidate { conn, candidate });
            }
            _ => p.hold_candidate(candidate),
        }
    }

    fn flush_candidates(&mut self, conn: ConnId) {
        let Some(peer) = self.conn_owner.get(&conn).cloned() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        for candidate in std::mem::take(&mut p.pending_candidates) {
            self.out
                .push_back(Action::AddIceCandidate { conn, candidate });
        }
    }

    pub(super) fn on_local_candidate(&mut self, conn: ConnId, candidate: IceCandidate) {
        let Some(peer) = self.conn_owner.get(&conn).cloned() else {
            return;
        };
        if !self.keep_candidate(&candidate, true) {
            return;
        }
        self.send_peer(
            &peer,
            &PeerPayload::Ice {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_m_line_index: candidate.sdp_m_line_index,
            },
        );
    }

    pub(super) fn on_description_created(&mut self, conn: ConnId, kind: SdpKind, sdp: &str) {
        let tuned = self.tune(sdp);
        let Some(c) = self.conn_mut(conn) else {
            return;
        };
        let expected = match kind {
            SdpKind::Offer => PeerOp::CreateOffer,
            SdpKind::Answer => PeerOp::CreateAnswer,
        };
        if c.busy != Some(expected) {
            return;
        }
        c.busy = Some(PeerOp::SetLocalDescription);
        c.local_sdp = Some(tuned.clone());
        self.out.push_back(Action::SetLocalDescription {
            conn,
            kind,
            sdp: tuned,
        });
    }

    /// The operation `conn` waited for ended: its peer, if it was that one (candidates are
    /// never waited for, and outcomes of a closed or replaced connection are stale).
    fn op_ended(&mut self, conn: ConnId, op: PeerOp) -> Option<PeerId> {
        if op == PeerOp::AddIceCandidate {
            return None;
        }
        let peer = self.conn_owner.get(&conn).cloned()?;
        let c = self.conn_mut(conn).filter(|c| c.busy == Some(op))?;
        c.busy = None;
        Some(peer)
    }

    pub(super) fn on_peer_op_done(&mut self, conn: ConnId, op: PeerOp) {
        let Some(peer) = self.op_ended(conn, op) else {
            return;
        };
        let Some(c) = self.conn_mut(conn) else {
            return;
        };
        match op {
            PeerOp::Attach => {
                c.attached = true;
                match (c.role, c.queued_offer.take()) {
                    (Role::Offerer, _) => self.create_offer(conn, false),
                    (Role::Answerer, Some(sdp)) => self.apply_offer(conn, sdp),
                    (Role::Answerer, None) => {}
                }
            }
            PeerOp::SetLocalDescription => match c.negotiation {
                Negotiation::Stable => {
                    c.negotiation = Negotiation::HaveLocalOffer;
                    let sdp = c.local_sdp.take().unwrap_or_default();
                    self.send_peer(&peer, &PeerPayload::Offer { sdp });
                }
                Negotiation::HaveRemoteOffer | Negotiation::HaveLocalOffer => {
                    c.negotiation = Negotiation::Stable;
                    let sdp = c.local_sdp.take().unwrap_or_default();
                    let queued = c.queued_offer.take();
                    self.send_peer(&peer, &PeerPayload::Answer { sdp });
                    if let Some(offer) = queued {
                        self.on_offer_queued(conn, offer);
                    }
                }
            },
            PeerOp::SetRemoteDescription => {
                c.has_remote = true;
                c.renegotiating = None;
                if c.negotiation == Negotiation::HaveLocalOffer {
                    // the answer to our offer
                    c.negotiation = Negotiation::Stable;
                    c.restarting = false;
                } else {
                    c.negotiation = Negotiation::HaveRemoteOffer;
                    c.busy = Some(PeerOp::Protect);
                    self.out.push_back(Action::ProtectNewTransceivers { conn });
                }
                self.flush_candidates(conn);
            }
            PeerOp::Protect => {
                c.busy = Some(PeerOp::CreateAnswer);
                self.out.push_back(Action::CreateAnswer { conn });
            }
            PeerOp::Rollback => {
                c.negotiation = Negotiation::Stable;
                self.create_offer(conn, true);
            }
            PeerOp::CreateOffer | PeerOp::CreateAnswer | PeerOp::AddIceCandidate => {}
        }
    }

    /// An offer that came while the connection was busy.
    fn on_offer_queued(&mut self, conn: ConnId, offer: String) {
        if let Some(c) = self.conn_mut(conn) {
            if c.idle() && c.negotiation == Negotiation::Stable {
                self.apply_offer(conn, offer);
            }
        }
    }

    pub(super) fn on_peer_op_failed(&mut self, conn: ConnId, op: PeerOp) {
        let Some(peer) = self.op_ended(conn, op) else {
            return;
        };
        let Some(c) = self.conn_mut(conn) else {
            return;
        };
        let role = c.role;
        let retry_offer = c.renegotiating.take();
        self.error(
            CallError::new(
                ErrorCode::NegotiationFailed,
                "a WebRTC operation on a peer connection failed",
            )
            .about(&peer),
        );
        match (op, role) {
            // The browser refused a renegotiation (e.g. the peer's offer came from a new
            // connection of its own): answer it on a fresh connection.
            (PeerOp::SetRemoteDescription, Role::Answerer) if retry_offer.is_some() => {
                if let Some(sdp) = retry_offer {
                    self.answer_fresh(&peer, sdp);
                }
            }
            // The offerer's own offer: the restart clock retries.
            (PeerOp::CreateOffer | PeerOp::SetLocalDescription, Role::Offerer) => {}
            // Anything else leaves the connection unusable (never negotiate without its
            // transforms): close it and ask the peer to start again.
            // The offerer starts again after the ICE back-off (an operation that fails every
            // time must not make connections in a loop); the answerer asks the peer to.
            _ => {
                let now = self.now;
                let (base, max) = (
                    self.config.ice_backoff_base_ms,
                    self.config.ice_backoff_max_ms,
                );
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.conn = None;
                    if role == Role::Offerer {
                        p.offer_failures = p.offer_failures.saturating_add(1);
                        p.offer_retry_at =
                            Some(now.saturating_add(exponential(base, max, p.offer_failures)));
                    }
                }
                self.close_conn(conn);
                if role == Role::Answerer {
                    self.say_hello(&peer);
                }
            }
        }
    }

    pub(super) fn on_pc_state(&mut self, conn: ConnId, state: PcState) {
        let now = self.now;
        let Some(peer) = self.conn_owner.get(&conn).cloned() else {
            return;
        };
        let config = self.config.clone();
        let Some(c) = self.conn_mut(conn) else {
            return;
        };
        if c.state == state {
            return;
        }
        c.state = state;
        c.recovery.on_state(state, now, &config);
        self.emit(AppEvent::ConnectionState {
            peer: peer.clone(),
            state,
        });
        if state == PcState::Connected {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.connected_at.get_or_insert(now);
                p.offer_failures = 0;
            }
            // the first checks of this connection's senders, soon after media starts
            if self.config.e2ee {
                for at in EARLY_CHECKS_MS {
                    self.first_checks.push(now.saturating_add(at));
                }
            }
        }
    }

    /// The restart clock of `peer`'s connection is due.
    pub(super) fn restart_ice(&mut self, peer: &PeerId) {
        let now = self.now;
        let config = self.config.clone();
        let Some(c) = self.peers.get_mut(peer).and_then(|p| p.conn.as_mut()) else {
            return;
        };
        if !c.idle() {
            c.recovery.postpone(now.saturating_add(BUSY_RETRY_MS));
            return;
        }
        c.recovery.restarted(now, &config);
        let attempt = c.recovery.attempts();
        let conn = c.id;
        // An earlier restart offer that was never answered is taken back first.
        if c.negotiation == Negotiation::HaveLocalOffer {
            c.busy = Some(PeerOp::Rollback);
            self.out.push_back(Action::Rollback { conn });
        } else {
            self.create_offer(conn, true);
        }
        self.stats.ice_restarts += 1;
        self.emit(AppEvent::IceRestart {
            peer: peer.clone(),
            attempt,
        });
    }
}
