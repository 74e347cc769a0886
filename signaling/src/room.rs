//! The room: who is joined, and where each message goes.
//!
//! ```text
//!  Open ──> [connected, not joined] ──join──> [joined] ──leave/close/timeout──> gone
//!                 │  (join timeout, 4408)         │  signal{to}  -> Send to `to`, from = self
//!                 └── ping -> pong                └── ping -> pong
//! ```
//! Every frame costs a rate-limit token; an empty bucket closes the socket (4429). Invalid
//! messages get an `error` and are dropped; too many of them close the socket (4400).
use serde::{Deserialize, Serialize};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{PeerId, ProtocolError, Version};

use crate::conns::{impl_record, Conns, Refused};
use crate::{Action, CloseCode, ConnId, Frame, Limits};

/// What the adapter keeps per socket (its WebSocket attachment): enough to rebuild the room
/// after hibernation. No payloads, no addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRecord {
    pub conn: ConnId,
    pub connected_at_ms: u64,
    /// Last message time, refreshed at most every `persist_interval_ms`.
    pub last_seen_ms: u64,
    /// Set once joined.
    pub peer: Option<PeerInfo>,
}

pub type RoomAction = Action<ServerMessage, RoomRecord>;

impl_record!(RoomRecord, |r| r.peer.is_none());

/// The room state machine. Feed it events; carry out the returned actions in order.
#[derive(Debug)]
pub struct RoomRoster {
    conns: Conns<RoomRecord>,
}

impl RoomRoster {
    pub fn new(limits: Limits) -> Self {
        Self {
            conns: Conns::new(limits),
        }
    }

    /// Rebuilds a room from the records of the sockets that are still open (after the object
    /// was evicted from memory). Rate limiters start full; `last_seen` is taken at its latest
    /// possible value, so nobody is timed out early. Joined records with a peer id already
    /// taken by an earlier record are dropped (returned, for the adapter to close).
    pub fn from_records(
        limits: Limits,
        records: impl IntoIterator<Item = RoomRecord>,
        now_ms: u64,
    ) -> (Self, Vec<ConnId>) {
        let mut room = Self::new(limits);
        let mut rejected = Vec::new();
        let mut records: Vec<RoomRecord> = records.into_iter().collect();
        records.sort_by_key(|r| r.conn);
        for record in records {
            let conn = record.conn;
            let duplicate = record.peer.as_ref().is_some_and(|p| {
                room.find_peer(&p.peer).is_some()
                    || room.joined_count() >= room.conns.limits.max_peers
            });
            if duplicate || !room.conns.restore(record, now_ms) {
                rejected.push(conn);
            }
        }
        (room, rejected)
    }

    pub fn limits(&self) -> &Limits {
        &self.conns.limits
    }

    /// A fresh connection id for a socket about to be opened.
    pub fn allocate_conn(&mut self) -> ConnId {
        self.conns.allocate()
    }

    /// Joined peers, in join order of their connections.
    pub fn roster(&self) -> Vec<PeerInfo> {
        self.conns
            .iter()
            .filter_map(|(_, c)| c.record.peer.clone())
            .collect()
    }

    fn joined(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.record.peer.is_some())
            .map(|(id, _)| id)
            .collect()
    }

    pub fn joined_count(&self) -> usize {
        self.joined().len()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The record of a connection, as it would be persisted now.
    pub fn record(&self, conn: ConnId) -> Option<RoomRecord> {
        self.conns.get(conn).map(|c| c.current_record())
    }

    /// When the next join or idle timeout falls due (for the alarm).
    pub fn next_deadline(&self) -> Option<u64> {
        self.conns.next_deadline()
    }

    fn find_peer(&self, peer: &PeerId) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, c)| c.record.peer.as_ref().is_some_and(|p| &p.peer == peer))
            .map(|(id, _)| id)
    }

    /// A socket was accepted as `conn` (from `allocate_conn`).
    pub fn open(&mut self, conn: ConnId, now_ms: u64) -> Vec<RoomAction> {
        let record = RoomRecord {
            conn,
            connected_at_ms: now_ms,
            last_seen_ms: now_ms,
            peer: None,
        };
        let max = self.conns.limits.max_room_connections;
        if !self.conns.open(record.clone(), now_ms, max) {
            return vec![
                send(conn, ServerMessage::error(ProtocolError::RoomFull)),
                Action::Close {
                    conn,
                    code: CloseCode::Full,
                },
            ];
        }
        vec![Action::Persist { conn, record }]
    }

    /// A frame arrived on `conn`.
    pub fn message(&mut self, conn: ConnId, frame: Frame<'_>, now_ms: u64) -> Vec<RoomAction> {
        let Some((parsed, stale)) = self.conns.frame(conn, frame, now_ms, ClientMessage::parse)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(c) = self.conns.get_mut(conn).filter(|_| stale) {
            out.push(Action::Persist {
                conn,
                record: c.touch_record(),
            });
        }
        match parsed {
            Err(Refused::Close(e, code)) => out.extend(self.reject(conn, e, Some(code))),
            Err(Refused::Invalid(e)) => out.extend(self.invalid(conn, e)),
            Ok(ClientMessage::Ping { .. }) => out.push(send(conn, ServerMessage::pong())),
            Ok(ClientMessage::Join { peer, identity, .. }) => {
                out.extend(self.join(conn, PeerInfo { peer, identity }))
            }
            Ok(ClientMessage::Signal { to, payload, .. }) => {
                let from = self
                    .conns
                    .get(conn)
                    .and_then(|c| c.record.peer.as_ref())
                    .map(|p| p.peer.clone());
                match (from, self.find_peer(&to)) {
                    (None, _) => out.extend(self.invalid(conn, ProtocolError::NotJoined)),
                    (Some(_), None) => out.extend(self.invalid(conn, ProtocolError::UnknownPeer)),
                    (Some(_), Some(target)) if target == conn => {
                        out.extend(self.invalid(conn, ProtocolError::UnknownPeer));
                    }
                    (Some(from), Some(target)) => out.push(send(
                        target,
                        ServerMessage::Signal {
                            v: Version,
                            from,
                            to,
                            payload,
                        },
                    )),
                }
            }
            Ok(ClientMessage::Leave { .. }) => {
                out.extend(self.remove(conn));
                out.push(Action::Close {
                    conn,
                    code: CloseCode::Left,
                });
            }
        }
        out
    }

    /// The socket closed (or failed) on its own.
    pub fn closed(&mut self, conn: ConnId) -> Vec<RoomAction> {
        self.remove(conn)
    }

    /// Time passed: close every connection whose join or idle deadline is due.
    pub fn tick(&mut self, now_ms: u64) -> Vec<RoomAction> {
        let mut out = Vec::new();
        for (conn, e) in self.conns.due(now_ms) {
            out.extend(self.reject(conn, e, Some(CloseCode::Timeout)));
        }
        out
    }

    fn join(&mut self, conn: ConnId, info: PeerInfo) -> Vec<RoomAction> {
        let joined = self
            .conns
            .get(conn)
            .is_some_and(|c| c.record.peer.is_some());
        if joined {
            return self.invalid(conn, ProtocolError::AlreadyJoined);
        }
        if self.find_peer(&info.peer).is_some() {
            return self.reject(
                conn,
                ProtocolError::DuplicatePeer,
                Some(CloseCode::DuplicatePeer),
            );
        }
        let others = self.joined();
        if others.len() >= self.conns.limits.max_peers {
            return self.reject(conn, ProtocolError::RoomFull, Some(CloseCode::Full));
        }
        let peers = self.roster();
        let max_peers = u32::try_from(self.conns.limits.max_peers).unwrap_or(u32::MAX);
        let Some(c) = self.conns.get_mut(conn) else {
            return Vec::new();
        };
        c.record.peer = Some(info.clone());
        let record = c.touch_record();
        let mut out = vec![
            Action::Persist { conn, record },
            send(
                conn,
                ServerMessage::Welcome {
                    v: Version,
                    you: info.peer.clone(),
                    peers,
                    max_peers,
                },
            ),
        ];
        if !others.is_empty() {
            out.push(Action::Send {
                to: others,
                msg: ServerMessage::PeerJoined {
                    v: Version,
                    peer: info,
                },
            });
        }
        out
    }

    /// An invalid message: answer with its code; close after too many.
    fn invalid(&mut self, conn: ConnId, e: ProtocolError) -> Vec<RoomAction> {
        if self.conns.get(conn).is_none() {
            return Vec::new();
        }
        let mut out = vec![send(conn, ServerMessage::error(e))];
        if self.conns.count_invalid(conn) {
            out.extend(self.reject(
                conn,
                ProtocolError::TooManyErrors,
                Some(CloseCode::BadRequest),
            ));
        }
        out
    }

    /// Sends the error, then (if `close`) forgets the connection and closes it.
    fn reject(
        &mut self,
        conn: ConnId,
        e: ProtocolError,
        close: Option<CloseCode>,
    ) -> Vec<RoomAction> {
        let mut out = vec![send(conn, ServerMessage::error(e))];
        if let Some(code) = close {
            out.extend(self.remove(conn));
            out.push(Action::Close { conn, code });
        }
        out
    }

    /// Forgets `conn`; tells the others if it had joined.
    fn remove(&mut self, conn: ConnId) -> Vec<RoomAction> {
        let Some(c) = self.conns.remove(conn) else {
            return Vec::new();
        };
        let Some(info) = c.record.peer else {
            return Vec::new();
        };
        let others = self.joined();
        if others.is_empty() {
            return Vec::new();
        }
        vec![Action::Send {
            to: others,
            msg: ServerMessage::PeerLeft {
                v: Version,
                peer: info.peer,
            },
        }]
    }
}

fn send(conn: ConnId, msg: ServerMessage) -> RoomAction {
    Action::Send {
        to: vec![conn],
        msg,
    }
}
