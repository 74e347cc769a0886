//! This participant's sender key, through the crypto Worker (see [`crate::rotation`]):
//! rotations, acknowledgements, commits, re-sends and key requests; and the dispatch of every
//! crypto result.
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::room::PeerInfo;
use sotto_protocol::{Identity, PeerId};

use super::{CallCore, Pending};
use crate::crypto::{CryptoRequest, CryptoResult, KeyMessage, RejectReason, Rejection};
use crate::error::{CallError, ErrorCode};
use crate::event::{AppEvent, LeaveReason};
use crate::peer::Resend;
use crate::rotation::{
    answer_key_request, resend_delay, KeyRequestAnswer, PendingKey, RESEND_DELAYS_MS,
};
use crate::RequestId;

impl CallCore {
    /// The roster changed: a new sender key for everyone in it (one rotation in flight; a
    /// change meanwhile runs again when it is done).
    pub(super) fn rekey(&mut self) {
        self.rotation.started = true;
        if self.rotation.roster_in_flight {
            self.rotation.dirty = true;
            return;
        }
        self.rotation.roster_in_flight = true;
        self.rotation.retry_at = None;
        let roster: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, p)| PeerInfo {
                peer: peer.clone(),
                identity: p.identity.clone(),
            })
            .collect();
        let sent = roster
            .iter()
            .map(|i| (i.peer.clone(), i.identity.clone()))
            .collect();
        self.crypto(
            CryptoRequest::SetRoster { roster },
            Pending::SetRoster { sent },
        );
        // a new safety code round over this roster, once it stays the same for a moment
        self.safety_restart_at = None;
        self.safety_stall_at = None;
        self.safety_stall_restarts = 0;
        self.safety_start_at = Some(
            self.now
                .saturating_add(super::sealed::SAFETY_START_DELAY_MS),
        );
        // what waited for its peer to be in the crypto roster: keys, envelopes either way
        let mut held = Vec::new();
        let mut outgoing = Vec::new();
        let mut incoming = Vec::new();
        for (peer, p) in self.peers.iter_mut() {
            p.in_crypto_roster = true;
            for key in p.held_keys.drain(..) {
                held.push((peer.clone(), key));
            }
            outgoing.extend(p.outbox.drain(..).map(|t| (peer.clone(), t)));
            incoming.extend(p.inbox.drain(..).map(|t| (peer.clone(), t)));
        }
        for (from, key) in held {
            self.receive_key(&from, key);
        }
        for (to, payload) in outgoing {
            self.seal(&to, payload);
        }
        for (from, envelope) in incoming {
            self.open_envelope(&from, envelope);
        }
    }

    pub(super) fn on_crypto(&mut self, request: RequestId, result: CryptoResult) {
        let Some(pending) = self.requests.remove(&request) else {
            self.stats.unexpected_crypto_results += 1;
            return;
        };
        match (pending, result) {
            (
                Pending::SetRoster { sent },
                CryptoResult::Roster {
                    epoch,
                    committed,
                    messages,
                    rejected,
                    admitted,
                },
            ) => {
                self.rotation.roster_in_flight = false;
                self.rotation.failures = 0;
                self.on_rejected(&rejected, &sent);
                self.on_admitted(&admitted, &sent);
                self.on_rotation(epoch, committed, messages);
                self.rekey_if_dirty();
                // admissions may let waiting connections start
                self.run_deferred();
            }
            (Pending::SetRoster { .. }, CryptoResult::Failed { code, .. }) => {
                self.rotation.roster_in_flight = false;
                self.rotation.pending = None;
                for p in self.peers.values_mut() {
                    p.resend = None;
                }
                self.error(CallError::new(
                    ErrorCode::Crypto(code),
                    "the key rotation failed; nothing is sent until one succeeds",
                ));
                self.rotation.failed(self.now);
                self.rekey_if_dirty();
                self.run_deferred();
            }
            (Pending::Acknowledge, CryptoResult::Acknowledged { complete }) => {
                if complete {
                    if let Some(p) = self.rotation.pending {
                        self.commit(p.epoch);
                    }
                }
            }
            (Pending::Commit, CryptoResult::Committed { epoch }) => self.announce(epoch),
            (Pending::Reseal { peer }, CryptoResult::Resealed { to, key, .. }) if to == peer => {
                if self.peers.contains_key(&peer) {
                    self.send_peer(&peer, &PeerPayload::SenderKey { key });
                }
            }
            (Pending::ReceiveKey { from }, CryptoResult::KeyReceived { epoch, duplicate }) => {
                self.key_received(&from, epoch, duplicate);
            }
            (Pending::ReceiveKey { from }, CryptoResult::Failed { code, .. }) => {
                // refused (stale, forged, for someone else): the key check keeps asking
                self.error(
                    CallError::new(ErrorCode::Crypto(code), "a key from a peer was rejected")
                        .about(&from),
                );
            }
            (Pending::KeysFrom { asked }, CryptoResult::KeysHeld { peers }) => {
                self.keys_query_since = None;
                self.keys_checked(&asked, &peers);
            }
            (Pending::SealChat { request }, result) => self.chat_sealed(request, result),
            (Pending::OpenChat { seq, from }, result) => self.chat_opened(seq, &from, result),
            (Pending::Seal { to }, result) => self.sealed(&to, result),
            (Pending::Open { from }, result) => self.opened(&from, result),
            (Pending::Safety, result) => self.safety_result(result),
            (Pending::Commit, CryptoResult::Failed { code, .. })
            | (Pending::Acknowledge | Pending::Reseal { .. }, CryptoResult::Failed { code, .. }) => {
                self.error(CallError::new(
                    ErrorCode::Crypto(code),
                    "a key operation failed",
                ));
            }
            (Pending::KeysFrom { .. }, _) => {
                self.keys_query_since = None;
                self.stats.unexpected_crypto_results += 1;
            }
            _ => self.stats.unexpected_crypto_results += 1,
        }
    }

    fn rekey_if_dirty(&mut self) {
        if std::mem::take(&mut self.rotation.dirty) {
            self.rekey();
        }
    }

    /// Roster entries the crypto Worker left out, reported one by one and dropped (if the peer
    /// still holds the identity that was refused). A forged one (its sealed identity did not
    /// open: made without the room secret) is `forged-participant`, and its signals are
    /// ignored from then on.
    fn on_rejected(&mut self, rejected: &[Rejection], sent: &[(PeerId, Identity)]) {
        for r in rejected {
            let same = sent.iter().any(|(peer, identity)| {
                peer == &r.peer
                    && self
                        .peers
                        .get(peer)
                        .is_some_and(|p| &p.identity == identity)
            });
            if !same {
                continue;
            }
            self.stats.roster_rejections += 1;
            let error = if r.reason == RejectReason::ForgedParticipant {
                self.stats.forged_participants += 1;
                if self.forged.len() < super::MAX_STRANGERS {
                    self.forged.insert(r.peer.clone(), ());
                }
                CallError::new(
                    ErrorCode::ForgedParticipant,
                    "the server announced a participant whose identity does not open with the room secret; it is ignored",
                )
            } else {
                CallError::new(
                    ErrorCode::BadRosterEntry,
                    "the server announced a participant who cannot be in the call; that entry is ignored",
                )
            };
            self.error(error.about(&r.peer).because(r.reason.as_str()));
            self.drop_peer(&r.peer, LeaveReason::Rejected, false);
        }
    }

    fn on_rotation(&mut self, epoch: u64, committed: bool, messages: Vec<KeyMessage>) {
        self.rotation.pending = None;
        let mut kept = crate::vecmap::VecMap::new();
        for (id, p) in self.peers.iter_mut() {
            if let Some(r) = p.resend.take().filter(|r| r.attempt > 0 && r.at > self.now) {
                kept.insert(id.clone(), r.at);
            }
        }
        if committed {
            self.announce(epoch);
            return;
        }
        self.rotation.pending = Some(PendingKey {
            epoch,
            switch_at: self.now.saturating_add(self.config.switch_timeout_ms),
        });
        let now = self.now;
        for m in messages {
            let Some(p) = self.peers.get_mut(&m.to) else {
                continue;
            };
            // a peer that acknowledged none of the earlier keys goes on where it was in the
            // re-send back-off (a rotation does not restart it, nor postpone a due step)
            let attempt = p.resend_attempt;
            p.resend = (usize::try_from(attempt).unwrap_or(usize::MAX) <= RESEND_DELAYS_MS.len())
                .then(|| Resend {
                    epoch,
                    attempt,
                    at: now.saturating_add(resend_delay(attempt)),
                });
            if let (Some(r), Some(&at)) = (p.resend.as_mut(), kept.get(&m.to)) {
                r.at = at;
            }
            // (if the socket is down, the re-send delivers it)
            self.send_peer(&m.to, &PeerPayload::SenderKey { key: m.key });
        }
    }

    /// Switches sending to the pending key of `epoch`, unless it was replaced meanwhile.
    fn commit(&mut self, epoch: u64) {
        if self.rotation.pending.map(|p| p.epoch) != Some(epoch) {
            return;
        }
        self.rotation.pending = None;
        self.rotation.committing = Some(epoch);
        self.crypto(CryptoRequest::Commit { epoch }, Pending::Commit);
    }

    fn announce(&mut self, epoch: u64) {
        self.rotation.committing = None;
        if self.rotation.current != Some(epoch) {
            self.rotation.current = Some(epoch);
            self.emit(AppEvent::KeyEpoch {
                peer: self.me.clone(),
                epoch,
            });
        }
        self.run_deferred();
    }

    pub(super) fn rotation_due(&mut self) {
        let now = self.now;
        if let Some(p) = self.rotation.pending.filter(|p| p.switch_at <= now) {
            self.commit(p.epoch);
        }
        if self.rotation.retry_at.is_some_and(|t| t <= now) {
            self.rotation.retry_at = None;
            self.rekey();
        }
    }

    /// A re-send to `peer` is due.
    pub(super) fn resend_due(&mut self, peer: &PeerId) {
        let newest = self.rotation.newest();
        let now = self.now;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let Some(r) = p.resend.take() else {
            return;
        };
        if p.acked_epoch.is_some_and(|a| a >= r.epoch) || newest != Some(r.epoch) {
            return;
        }
        if !self.signaling.is_open() {
            // signaling is down: the same step again later
            p.resend = Some(Resend {
                at: now.saturating_add(resend_delay(r.attempt)),
                ..r
            });
            return;
        }
        p.resend_attempt = r.attempt.saturating_add(1);
        if usize::try_from(r.attempt).unwrap_or(usize::MAX) >= RESEND_DELAYS_MS.len() {
            // reported once, until the peer acknowledges a key again
            self.error(
                CallError::new(
                    ErrorCode::KeyNotAcknowledged,
                    "a participant did not acknowledge this participant's key after every re-send; they cannot decrypt what is sent to them",
                )
                .about(peer),
            );
            return;
        }
        let attempt = r.attempt.saturating_add(1);
        p.resend = Some(Resend {
            epoch: r.epoch,
            attempt,
            at: now.saturating_add(resend_delay(attempt)),
        });
        self.crypto(
            CryptoRequest::Reseal { peer: peer.clone() },
            Pending::Reseal { peer: peer.clone() },
        );
    }

    pub(super) fn on_key_ack(&mut self, from: &PeerId, epoch: u64) {
        let newest = self.rotation.newest();
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        p.acked_epoch = Some(p.acked_epoch.map_or(epoch, |a| a.max(epoch)));
        if newest.is_some_and(|n| p.acked_epoch.is_some_and(|a| a >= n)) {
            p.resend = None;
            p.resend_attempt = 0;
        }
        if self.rotation.pending.map(|p| p.epoch) == Some(epoch) {
            self.crypto(
                CryptoRequest::Acknowledge {
                    from: from.clone(),
                    epoch,
                },
                Pending::Acknowledge,
            );
        }
    }

    pub(super) fn on_key_request(&mut self, from: &PeerId) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        let KeyRequestAnswer::Answer { reseal, rotate } =
            answer_key_request(&self.rotation, p, now)
        else {
            return;
        };
        if reseal {
            self.crypto(
                CryptoRequest::Reseal { peer: from.clone() },
                Pending::Reseal { peer: from.clone() },
            );
        }
        if rotate {
            self.rotation.last_requested_rotation_at = Some(now);
            self.rekey();
        }
    }
}
