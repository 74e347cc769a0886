//! The room: who is joined, and where each message goes.
//!
//! ```text
//!  Open ──> [connected, not joined] ──join──> [joined] ──leave/close/timeout──> gone
//!                 │  (join timeout, 4408)         │  signal{to}  -> Send to `to`, from = self
//!                 └── ping -> pong                └── ping -> pong
//! ```
//! Every frame costs a rate-limit token; an empty bucket closes the socket (4429). Invalid
//! messages get an `error` and are dropped; too many of them close the socket (4400).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{PeerId, ProtocolError, Version};

use crate::{Action, CloseCode, ConnId, Frame, Limits, RateLimiter};

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

#[derive(Debug)]
struct Conn {
    record: RoomRecord,
    last_seen_ms: u64,
    limiter: RateLimiter,
    invalid: u32,
}

/// The room state machine. Feed it events; carry out the returned actions in order.
#[derive(Debug)]
pub struct RoomRoster {
    limits: Limits,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
}

impl RoomRoster {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            conns: BTreeMap::new(),
            next_conn: 1,
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
            let duplicate = record.peer.as_ref().is_some_and(|p| {
                room.find_peer(&p.peer).is_some() || room.joined_count() >= room.limits.max_peers
            });
            if duplicate || room.conns.contains_key(&record.conn) {
                rejected.push(record.conn);
                continue;
            }
            room.next_conn = room.next_conn.max(record.conn.0.saturating_add(1));
            let last_seen = record
                .last_seen_ms
                .saturating_add(room.limits.persist_interval_ms)
                .min(now_ms.max(record.last_seen_ms));
            let limiter =
                RateLimiter::new(room.limits.rate_per_sec, room.limits.rate_burst, now_ms);
            room.conns.insert(
                record.conn,
                Conn {
                    record,
                    last_seen_ms: last_seen,
                    limiter,
                    invalid: 0,
                },
            );
        }
        (room, rejected)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A fresh connection id for a socket about to be opened.
    pub fn allocate_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    /// Joined peers, in join order of their connections.
    pub fn roster(&self) -> Vec<PeerInfo> {
        self.conns
            .values()
            .filter_map(|c| c.record.peer.clone())
            .collect()
    }

    pub fn joined_count(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.record.peer.is_some())
            .count()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The record of a connection, as it would be persisted now.
    pub fn record(&self, conn: ConnId) -> Option<RoomRecord> {
        self.conns.get(&conn).map(|c| RoomRecord {
            last_seen_ms: c.last_seen_ms,
            ..c.record.clone()
        })
    }

    /// When the next join or idle timeout falls due (for the alarm).
    pub fn next_deadline(&self) -> Option<u64> {
        self.conns.values().map(|c| self.deadline(c)).min()
    }

    fn deadline(&self, c: &Conn) -> u64 {
        let idle = c.last_seen_ms.saturating_add(self.limits.idle_timeout_ms);
        if c.record.peer.is_none() {
            idle.min(
                c.record
                    .connected_at_ms
                    .saturating_add(self.limits.join_timeout_ms),
            )
        } else {
            idle
        }
    }

    fn find_peer(&self, peer: &PeerId) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, c)| c.record.peer.as_ref().is_some_and(|p| &p.peer == peer))
            .map(|(id, _)| *id)
    }

    /// A socket was accepted as `conn` (from `allocate_conn`).
    pub fn open(&mut self, conn: ConnId, now_ms: u64) -> Vec<RoomAction> {
        if self.conns.len() >= self.limits.max_room_connections {
            return vec![
                send(conn, ServerMessage::error(ProtocolError::RoomFull)),
                Action::Close {
                    conn,
                    code: CloseCode::Full,
                },
            ];
        }
        let record = RoomRecord {
            conn,
            connected_at_ms: now_ms,
            last_seen_ms: now_ms,
            peer: None,
        };
        self.conns.insert(
            conn,
            Conn {
                record: record.clone(),
                last_seen_ms: now_ms,
                limiter: RateLimiter::new(self.limits.rate_per_sec, self.limits.rate_burst, now_ms),
                invalid: 0,
            },
        );
        vec![Action::Persist { conn, record }]
    }

    /// A frame arrived on `conn`.
    pub fn message(&mut self, conn: ConnId, frame: Frame<'_>, now_ms: u64) -> Vec<RoomAction> {
        let max_bytes = self.limits.max_message_bytes;
        let persist_interval = self.limits.persist_interval_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        c.last_seen_ms = c.last_seen_ms.max(now_ms);
        if now_ms.saturating_sub(c.record.last_seen_ms) >= persist_interval {
            c.record.last_seen_ms = now_ms;
            out.push(Action::Persist {
                conn,
                record: c.record.clone(),
            });
        }
        if !c.limiter.try_acquire(now_ms) {
            out.extend(self.reject(
                conn,
                ProtocolError::RateLimited,
                Some(CloseCode::RateLimited),
            ));
            return out;
        }
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        };
        if len > max_bytes {
            out.extend(self.reject(
                conn,
                ProtocolError::MessageTooLarge,
                Some(CloseCode::TooLarge),
            ));
            return out;
        }
        let parsed = match frame {
            Frame::Text(t) => ClientMessage::parse(t),
            Frame::Binary(_) => Err(ProtocolError::BinaryFrame),
        };
        match parsed {
            Err(e) => out.extend(self.invalid(conn, e)),
            Ok(ClientMessage::Ping { .. }) => out.push(send(conn, ServerMessage::pong())),
            Ok(ClientMessage::Join { peer, identity, .. }) => {
                out.extend(self.join(conn, PeerInfo { peer, identity }))
            }
            Ok(ClientMessage::Signal { to, payload, .. }) => {
                let from = self
                    .conns
                    .get(&conn)
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
        let due: Vec<(ConnId, ProtocolError)> = self
            .conns
            .iter()
            .filter(|(_, c)| self.deadline(c) <= now_ms)
            .map(|(id, c)| {
                let joined_late = c.record.peer.is_none()
                    && c.record
                        .connected_at_ms
                        .saturating_add(self.limits.join_timeout_ms)
                        <= now_ms;
                let e = if joined_late {
                    ProtocolError::JoinTimeout
                } else {
                    ProtocolError::IdleTimeout
                };
                (*id, e)
            })
            .collect();
        let mut out = Vec::new();
        for (conn, e) in due {
            out.extend(self.reject(conn, e, Some(CloseCode::Timeout)));
        }
        out
    }

    fn join(&mut self, conn: ConnId, info: PeerInfo) -> Vec<RoomAction> {
        let joined = self
            .conns
            .get(&conn)
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
        if self.joined_count() >= self.limits.max_peers {
            return self.reject(conn, ProtocolError::RoomFull, Some(CloseCode::Full));
        }
        let others: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| **id != conn && c.record.peer.is_some())
            .map(|(id, _)| *id)
            .collect();
        let peers = self.roster();
        let max_peers = u32::try_from(self.limits.max_peers).unwrap_or(u32::MAX);
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        c.record.peer = Some(info.clone());
        c.record.last_seen_ms = c.last_seen_ms;
        let record = c.record.clone();
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
        let max = self.limits.max_invalid_messages;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        c.invalid = c.invalid.saturating_add(1);
        if c.invalid > max {
            let mut out = vec![send(conn, ServerMessage::error(e))];
            out.extend(self.reject(
                conn,
                ProtocolError::TooManyErrors,
                Some(CloseCode::BadRequest),
            ));
            return out;
        }
        vec![send(conn, ServerMessage::error(e))]
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
        let Some(c) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        let Some(info) = c.record.peer else {
            return Vec::new();
        };
        let others: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.record.peer.is_some())
            .map(|(id, _)| *id)
            .collect();
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
