//! The signaling socket's life as the call sees it: closes, reconnects, join timeouts, a
//! refused join, rejoining on purpose (every peer vanished, or an unknown peer keeps asking
//! to connect), and leaving.
use sotto_protocol::room::ClientMessage;
use sotto_protocol::PeerId;

use super::{CallCore, Pending, MAX_STRANGERS, RESYNC_INTERVAL_MS, STRANGER_GRACE_MS};
use crate::action::Action;
use crate::error::{CallError, ErrorCode};
use crate::event::{AppEvent, SignalingPhase};
use crate::ConnId;

impl CallCore {
    /// When a rejoin for the strangers is due.
    pub(super) fn strangers_deadline(&self) -> Option<u64> {
        let first = self.strangers.values().min()?;
        let allowed = self
            .last_resync
            .map_or(0, |t| t.saturating_add(RESYNC_INTERVAL_MS));
        Some(first.saturating_add(STRANGER_GRACE_MS).max(allowed))
    }

    /// An unknown peer asked to connect.
    pub(super) fn stranger(&mut self, peer: &PeerId) {
        if self.strangers.len() < MAX_STRANGERS || self.strangers.contains_key(peer) {
            self.strangers.get_or_insert(peer.clone(), self.now);
        }
    }

    /// Every peer vanished: rejoin signaling on purpose, to get a fresh roster.
    pub(super) fn resync(&mut self) {
        if !self.signaling.is_open() {
            return;
        }
        self.last_resync = Some(self.now);
        self.emit(AppEvent::SignalingState {
            state: SignalingPhase::Resyncing,
            code: None,
        });
        if let Some(socket) = self.signaling.forget() {
            self.out.push_back(Action::CloseSocket {
                socket,
                code: 1000,
                reason: "resync",
            });
        }
        self.reconnect_after(1000);
    }

    pub(super) fn reconnect_after(&mut self, code: u16) {
        self.emit(AppEvent::SignalingState {
            state: SignalingPhase::Reconnecting,
            code: Some(code),
        });
        self.signaling
            .schedule_reconnect(self.now, &mut self.jitter, &self.config);
    }

    /// The socket opened but no welcome came: try another (quietly, a few times before the
    /// first welcome: then the join fails).
    pub(super) fn join_timeout(&mut self) {
        if let Some(socket) = self.signaling.forget() {
            self.out.push_back(Action::CloseSocket {
                socket,
                code: 1000,
                reason: "no welcome",
            });
        }
        if self.signaling.ever_welcomed() {
            self.reconnect_after(4408);
        } else if self.signaling.join_timed_out() {
            self.signaling
                .schedule_reconnect(self.now, &mut self.jitter, &self.config);
        } else {
            self.join_failed(CallError::new(
                ErrorCode::SignalingUnavailable,
                "the server never answered the join",
            ));
        }
    }

    pub(super) fn on_socket_closed(&mut self, code: u16) {
        self.signaling.forget();
        if self.signaling.ever_welcomed() {
            self.reconnect_after(code);
        } else {
            self.join_failed(CallError::new(
                ErrorCode::SignalingUnavailable,
                "signaling closed before joining",
            ));
        }
    }

    pub(super) fn join_failed(&mut self, error: CallError) {
        self.emit(AppEvent::JoinFailed { error });
        self.shut_down();
    }

    /// `call.close()`: leave, close everything, `closed`.
    pub(super) fn close(&mut self) {
        if self.signaling.is_open() {
            self.send_server(&ClientMessage::leave());
        }
        self.shut_down();
    }

    pub(super) fn shut_down(&mut self) {
        if let Some(socket) = self.signaling.forget() {
            self.out.push_back(Action::CloseSocket {
                socket,
                code: 1000,
                reason: "bye",
            });
        }
        let conns: Vec<ConnId> = self.conn_owner.keys().copied().collect();
        for conn in conns {
            self.close_conn(conn);
        }
        let requests = std::mem::take(&mut self.requests);
        for pending in requests.into_values() {
            if let Pending::SealChat { request } = pending {
                self.emit(AppEvent::ChatFailed {
                    request,
                    error: CallError::new(ErrorCode::Closed, "the call was closed"),
                });
            }
        }
        self.emit(AppEvent::Closed);
        self.closed = true;
    }
}
