//! The room: who is joined, and where each message goes.
//!
//! ```text
//!  Open ──> [connected, not joined] ──join──> [joined] ──leave/close/timeout──> gone
//!                 │  (join timeout, 4408)         │  signal{to}  -> Send to `to`, from = self
//!                 └── ping -> pong                └── ping -> pong
//! ```
//! Every frame costs a rate-limit token; an empty bucket closes the socket (4429). Invalid
//! messages get an `error` and are dropped; too many of them close the socket (4400).
//! A `signal` in the client's form takes the relay fast path (`relay.rs`) and comes out as
//! `Action::Relay`; the peer ids of joined connections are indexed, so routing is one lookup.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{PeerId, ProtocolError, Version};

use crate::conns::{impl_record, Conns, Refused};
use crate::relay::{self, Signal};
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
    /// The connection of each joined peer id (kept equal to the records' `peer`).
    peers: HashMap<String, ConnId>,
    /// Whether `signal`s may take the fast path (always, except in the tests that compare).
    fast_path: bool,
}

/// A frame as the room reads it.
enum Parsed<'t> {
    /// A `signal` in the client's form, borrowed from the frame.
    Relay(Signal<'t>),
    Full(ClientMessage),
}

fn parse(text: &str) -> Result<Parsed<'_>, ProtocolError> {
    match relay::scan(text) {
        Some(signal) => Ok(Parsed::Relay(signal)),
        None => ClientMessage::parse(text).map(Parsed::Full),
    }
}

fn parse_full(text: &str) -> Result<Parsed<'_>, ProtocolError> {
    ClientMessage::parse(text).map(Parsed::Full)
}

impl RoomRoster {
    pub fn new(limits: Limits) -> Self {
        Self {
            conns: Conns::new(limits),
            peers: HashMap::new(),
            fast_path: true,
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
            let peer = record.peer.as_ref().map(|p| p.peer.as_str().to_owned());
            let duplicate = peer.as_ref().is_some_and(|p| {
                room.peers.contains_key(p) || room.joined_count() >= room.conns.limits.max_peers
            });
            if duplicate || !room.conns.restore(record, now_ms) {
                rejected.push(conn);
            } else if let Some(peer) = peer {
                room.peers.insert(peer, conn);
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
        self.peers.len()
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

    /// Where a `signal` from `conn` to `to` goes: the sender's peer id and the target's
    /// connection, or why it cannot go.
    fn route(&self, conn: ConnId, to: &str) -> Result<(&PeerId, ConnId), ProtocolError> {
        let from = self
            .conns
            .get(conn)
            .and_then(|c| c.record.peer.as_ref())
            .ok_or(ProtocolError::NotJoined)?;
        match self.peers.get(to) {
            Some(&target) if target != conn => Ok((&from.peer, target)),
            _ => Err(ProtocolError::UnknownPeer),
        }
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
        let parser = if self.fast_path { parse } else { parse_full };
        let Some((parsed, stale)) = self.conns.frame(conn, frame, now_ms, parser) else {
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
            Ok(Parsed::Relay(signal)) => match self.route(conn, signal.to) {
                Ok((from, target)) => out.push(Action::Relay {
                    to: target,
                    text: relay::relayed(from.as_str(), signal),
                }),
                Err(e) => out.extend(self.unroutable(conn, signal.to, e)),
            },
            Ok(Parsed::Full(ClientMessage::Signal { to, payload, .. })) => {
                match self.route(conn, to.as_str()) {
                    Ok((from, target)) => {
                        let msg = ServerMessage::Signal {
                            v: Version,
                            from: from.clone(),
                            to,
                            payload,
                        };
                        out.push(send(target, msg));
                    }
                    Err(e) => out.extend(self.unroutable(conn, to.as_str(), e)),
                }
            }
            Ok(Parsed::Full(ClientMessage::Ping { .. })) => {
                out.push(send(conn, ServerMessage::pong()));
            }
            Ok(Parsed::Full(ClientMessage::Join { peer, identity, .. })) => {
                out.extend(self.join(conn, PeerInfo { peer, identity }));
            }
            Ok(Parsed::Full(ClientMessage::Leave { .. })) => {
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
        if self.peers.contains_key(info.peer.as_str()) {
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
        self.peers.insert(info.peer.as_str().to_owned(), conn);
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

    /// A signal that cannot be routed. A recipient that is not (or no longer) in the room is
    /// a race every honest client meets: someone leaves while candidates or key acks to them
    /// are in flight. It is answered (`unknown-peer`) but not counted towards closing the
    /// socket, or a long call with many leaves would throw honest participants out (it did:
    /// e2e key-exchange, 20 joins and leaves, `too-many-errors` at the 8th leave). The rate
    /// limit still bounds how many such signals anyone can send. Anything else (a signal to
    /// oneself, or before joining) counts as invalid.
    fn unroutable(&mut self, conn: ConnId, to: &str, e: ProtocolError) -> Vec<RoomAction> {
        let departed = e == ProtocolError::UnknownPeer && !self.peers.contains_key(to);
        if departed && self.conns.get(conn).is_some() {
            vec![send(conn, ServerMessage::error(e))]
        } else {
            self.invalid(conn, e)
        }
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
        self.peers.remove(info.peer.as_str());
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One event a socket can cause.
    #[derive(Debug, Clone)]
    enum Event {
        Open,
        Text(usize, String),
        Binary(usize),
        Closed(usize),
        Tick,
        /// Hibernation: the room is rebuilt from its connections' records.
        Rebuild,
    }

    /// What a frame says: mostly signals between the peers of the test, in the client's form
    /// and in every other form, plus joins, pings, leaves and junk.
    fn text() -> impl Strategy<Value = String> {
        let peer = prop::sample::select(vec!["alice", "bob", "carol", "dave", "nobody", "b b"]);
        let payload = prop::sample::select(vec![
            "x",
            "",
            r#"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}"#,
            r"a\/b",
            r"\u00e9",
            "tab\\there",
        ]);
        prop_oneof![
            6 => (peer.clone(), payload.clone()).prop_map(|(to, p)| format!(r#"{{"v":2,"type":"signal","to":"{to}","payload":"{p}"}}"#)),
            2 => (peer.clone(), payload).prop_map(|(to, p)| format!(r#"{{ "payload":"{p}", "type":"signal","to":"{to}" ,"v":2}}"#)),
            1 => peer.clone().prop_map(|to| format!(r#"{{"v":2,"type":"signal","to":"{to}","payload":"x","from":"eve"}}"#)),
            1 => peer.clone().prop_map(|to| format!(r#"{{"v":1,"type":"signal","to":"{to}","payload":"x"}}"#)),
            1 => peer.clone().prop_map(|to| format!(r#"{{"v":2,"type":"signal","to":"{to}","to":"{to}","payload":"x"}}"#)),
            3 => peer.prop_map(|p| format!(r#"{{"v":2,"type":"join","peer":"{p}","identity":"AAAA"}}"#)),
            1 => Just(r#"{"v":2,"type":"ping"}"#.to_owned()),
            1 => Just(r#"{"v":2,"type":"leave"}"#.to_owned()),
            1 => Just("nope".to_owned()),
        ]
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        let event = prop_oneof![
            2 => Just(Event::Open),
            10 => (0usize..6, text()).prop_map(|(c, t)| Event::Text(c, t)),
            1 => (0usize..6).prop_map(Event::Binary),
            1 => (0usize..6).prop_map(Event::Closed),
            1 => Just(Event::Tick),
            1 => Just(Event::Rebuild),
        ];
        prop::collection::vec(event, 1..60)
    }

    /// Actions with relayed text read back as messages, so the two paths compare.
    fn normalized(actions: Vec<RoomAction>) -> Vec<RoomAction> {
        actions
            .into_iter()
            .map(|a| match a {
                Action::Relay { to, text } => send(to, ServerMessage::parse(&text).unwrap()),
                other => other,
            })
            .collect()
    }

    /// Plays `events` on `room` (time moves 7 s per event); returns every action, and checks
    /// the invariants on the way.
    fn play(room: &mut RoomRoster, events: &[Event]) -> Vec<Vec<RoomAction>> {
        let mut conns = Vec::new();
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let now = i as u64 * 7_000;
            let before = room.next_deadline();
            let conn = |c: &usize| conns.get(*c).copied().unwrap_or(ConnId(999));
            let actions = match e {
                Event::Open => {
                    let c = room.allocate_conn();
                    conns.push(c);
                    room.open(c, now)
                }
                Event::Text(c, t) => room.message(conn(c), Frame::Text(t), now),
                Event::Binary(c) => room.message(conn(c), Frame::Binary(b"\x00"), now),
                Event::Closed(c) => room.closed(conn(c)),
                Event::Tick => room.tick(now),
                Event::Rebuild => {
                    let records: Vec<RoomRecord> =
                        room.conns.iter().map(|(_, c)| c.current_record()).collect();
                    let (rebuilt, rejected) =
                        RoomRoster::from_records(room.limits().clone(), records, now);
                    assert!(rejected.is_empty(), "{rejected:?}");
                    *room = RoomRoster {
                        fast_path: room.fast_path,
                        ..rebuilt
                    };
                    Vec::new()
                }
            };
            // The adapter sets its alarm only after opens and ticks: a message or a close never
            // brings the next deadline forward.
            if matches!(e, Event::Text(..) | Event::Binary(_) | Event::Closed(_)) {
                let after = room.next_deadline();
                assert!(
                    after.is_none() || before.is_some_and(|b| after >= Some(b)),
                    "{e:?}: deadline {before:?} -> {after:?}"
                );
            }
            // The peer index is the records' peers, exactly.
            let indexed: HashMap<String, ConnId> = room
                .conns
                .iter()
                .filter_map(|(id, c)| {
                    c.record
                        .peer
                        .as_ref()
                        .map(|p| (p.peer.as_str().to_owned(), id))
                })
                .collect();
            assert_eq!(room.peers, indexed);
            out.push(actions);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// The room with the fast path does exactly what it does without: same relays, same
        /// refusals and codes, same closes and records, event for event.
        #[test]
        fn fast_path_changes_nothing_but_speed(events in events()) {
            let limits = Limits { rate_burst: 20, max_invalid_messages: 4, ..Limits::with_max_peers(3) };
            let mut fast = RoomRoster::new(limits.clone());
            let mut full = RoomRoster::new(limits);
            full.fast_path = false;
            let a = play(&mut fast, &events);
            let b = play(&mut full, &events);
            for ((x, y), e) in a.into_iter().zip(b).zip(&events) {
                prop_assert_eq!(normalized(x), y, "{:?}", e);
            }
        }
    }

    #[test]
    fn the_generated_traffic_reaches_both_paths() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut fast, mut refused, mut total) = (0, 0, 0);
        for _ in 0..500 {
            let t = text().new_tree(&mut runner).unwrap().current();
            total += 1;
            fast += usize::from(relay::scan(&t).is_some());
            refused += usize::from(ClientMessage::parse(&t).is_err());
        }
        assert!(fast * 5 > total, "fast {fast} of {total}");
        assert!(refused * 10 > total, "refused {refused} of {total}");
    }

    #[test]
    fn signals_to_departed_peers_are_answered_but_never_close_the_socket() {
        let limits = Limits {
            max_invalid_messages: 4,
            rate_burst: 1_000,
            ..Limits::with_max_peers(3)
        };
        let mut room = RoomRoster::new(limits);
        let (a, b) = (room.allocate_conn(), room.allocate_conn());
        room.open(a, 0);
        room.open(b, 0);
        let join = |p: &str| format!(r#"{{"v":2,"type":"join","peer":"{p}","identity":"AAAA"}}"#);
        room.message(a, Frame::Text(&join("alice")), 1);
        room.message(b, Frame::Text(&join("bob")), 1);
        room.closed(a);
        // Ten late signals to alice, on the fast path and the full one: each answered, none
        // closes bob's socket (the limit is 4 invalid messages).
        for i in 0..10u64 {
            let text = if i % 2 == 0 {
                r#"{"v":2,"type":"signal","to":"alice","payload":"x"}"#
            } else {
                r#"{"v":2,"type":"signal","payload":"x","to":"alice"}"#
            };
            let out = room.message(b, Frame::Text(text), 2 + i);
            assert_eq!(
                out,
                vec![send(b, ServerMessage::error(ProtocolError::UnknownPeer))],
                "signal {i}"
            );
        }
        // Signals to oneself still count: the fifth closes the socket.
        let to_self = r#"{"v":2,"type":"signal","to":"bob","payload":"x"}"#;
        for _ in 0..4 {
            let out = room.message(b, Frame::Text(to_self), 20);
            assert!(
                !out.iter().any(|a| matches!(a, Action::Close { .. })),
                "{out:?}"
            );
        }
        let out = room.message(b, Frame::Text(to_self), 21);
        assert!(
            out.iter().any(|a| matches!(a, Action::Close { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn relays_go_by_the_index() {
        let mut room = RoomRoster::new(Limits::default());
        let (a, b) = (room.allocate_conn(), room.allocate_conn());
        room.open(a, 0);
        room.open(b, 0);
        let join = |p: &str| format!(r#"{{"v":2,"type":"join","peer":"{p}","identity":"AAAA"}}"#);
        room.message(a, Frame::Text(&join("alice")), 1);
        room.message(b, Frame::Text(&join("bob")), 1);
        let out = room.message(
            b,
            Frame::Text(r#"{"v":2,"type":"signal","to":"alice","payload":"\"hi\""}"#),
            2,
        );
        assert_eq!(
            out,
            vec![Action::Relay {
                to: a,
                text: r#"{"type":"signal","v":2,"from":"bob","to":"alice","payload":"\"hi\""}"#
                    .to_owned()
            }]
        );
        room.closed(a);
        assert!(!room.peers.contains_key("alice"));
        let out = room.message(
            b,
            Frame::Text(r#"{"v":2,"type":"signal","to":"alice","payload":"x"}"#),
            3,
        );
        assert_eq!(
            out,
            vec![send(b, ServerMessage::error(ProtocolError::UnknownPeer))]
        );
    }
}
