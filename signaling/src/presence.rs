//! The presence hub: opaque channels, online/offline fan-out, no history.
//!
//! A connection *announces* the channels it is online on and *subscribes* to the channels it
//! wants to hear about; each message replaces that connection's previous list. A channel is
//! online while at least one open connection announces it. Subscribers get the current state
//! of each newly subscribed channel at once, then a `presence` message on every change. When
//! the last connection announcing a channel goes away, subscribers get `online: false`, and
//! the hub forgets the channel.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sotto_protocol::presence::{PresenceClientMessage, PresenceServerMessage};
use sotto_protocol::{ChannelId, ProtocolError};

use crate::{Action, CloseCode, ConnId, Frame, Limits, RateLimiter};

/// What the adapter keeps per presence socket (its WebSocket attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceRecord {
    pub conn: ConnId,
    pub connected_at_ms: u64,
    pub last_seen_ms: u64,
    /// True once the connection sent `announce` or `subscribe`.
    pub active: bool,
    pub announced: Vec<ChannelId>,
    pub subscribed: Vec<ChannelId>,
}

pub type PresenceAction = Action<PresenceServerMessage, PresenceRecord>;

#[derive(Debug)]
struct Conn {
    record: PresenceRecord,
    last_seen_ms: u64,
    limiter: RateLimiter,
    invalid: u32,
}

/// The presence state machine.
#[derive(Debug)]
pub struct PresenceHub {
    limits: Limits,
    conns: BTreeMap<ConnId, Conn>,
    announcers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
    subscribers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
    next_conn: u64,
}

impl PresenceHub {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            conns: BTreeMap::new(),
            announcers: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            next_conn: 1,
        }
    }

    /// Rebuilds the hub from the records of the sockets still open. Sends nothing: every
    /// subscriber already knows the state these records describe.
    pub fn from_records(
        limits: Limits,
        records: impl IntoIterator<Item = PresenceRecord>,
        now_ms: u64,
    ) -> Self {
        let mut hub = Self::new(limits);
        for record in records {
            let conn = record.conn;
            if hub.conns.contains_key(&conn) {
                continue;
            }
            hub.next_conn = hub.next_conn.max(conn.0.saturating_add(1));
            for c in &record.announced {
                hub.announcers.entry(c.clone()).or_default().insert(conn);
            }
            for c in &record.subscribed {
                hub.subscribers.entry(c.clone()).or_default().insert(conn);
            }
            let last_seen = record
                .last_seen_ms
                .saturating_add(hub.limits.persist_interval_ms)
                .min(now_ms.max(record.last_seen_ms));
            let limiter = RateLimiter::new(hub.limits.rate_per_sec, hub.limits.rate_burst, now_ms);
            hub.conns.insert(
                conn,
                Conn {
                    record,
                    last_seen_ms: last_seen,
                    limiter,
                    invalid: 0,
                },
            );
        }
        hub
    }

    pub fn allocate_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Distinct channels the hub currently tracks (announced or subscribed).
    pub fn channel_count(&self) -> usize {
        self.announcers.len()
            + self
                .subscribers
                .keys()
                .filter(|c| !self.announcers.contains_key(*c))
                .count()
    }

    pub fn is_online(&self, channel: &ChannelId) -> bool {
        self.announcers.get(channel).is_some_and(|s| !s.is_empty())
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.conns
            .values()
            .map(|c| {
                let idle = c.last_seen_ms.saturating_add(self.limits.idle_timeout_ms);
                if c.record.active {
                    idle
                } else {
                    idle.min(
                        c.record
                            .connected_at_ms
                            .saturating_add(self.limits.join_timeout_ms),
                    )
                }
            })
            .min()
    }

    pub fn open(&mut self, conn: ConnId, now_ms: u64) -> Vec<PresenceAction> {
        if self.conns.len() >= self.limits.max_presence_connections {
            return vec![
                send(
                    conn,
                    PresenceServerMessage::error(ProtocolError::PresenceFull),
                ),
                Action::Close {
                    conn,
                    code: CloseCode::Full,
                },
            ];
        }
        let record = PresenceRecord {
            conn,
            connected_at_ms: now_ms,
            last_seen_ms: now_ms,
            active: false,
            announced: Vec::new(),
            subscribed: Vec::new(),
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

    pub fn message(&mut self, conn: ConnId, frame: Frame<'_>, now_ms: u64) -> Vec<PresenceAction> {
        let max_bytes = self.limits.max_message_bytes;
        let persist_interval = self.limits.persist_interval_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        c.last_seen_ms = c.last_seen_ms.max(now_ms);
        let stale = now_ms.saturating_sub(c.record.last_seen_ms) >= persist_interval;
        if !c.limiter.try_acquire(now_ms) {
            out.extend(self.reject(conn, ProtocolError::RateLimited, CloseCode::RateLimited));
            return out;
        }
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        };
        if len > max_bytes {
            out.extend(self.reject(conn, ProtocolError::MessageTooLarge, CloseCode::TooLarge));
            return out;
        }
        let parsed = match frame {
            Frame::Text(t) => PresenceClientMessage::parse(t),
            Frame::Binary(_) => Err(ProtocolError::BinaryFrame),
        };
        let changed = match parsed {
            Err(e) => {
                out.extend(self.invalid(conn, e));
                false
            }
            Ok(PresenceClientMessage::Ping { .. }) => {
                out.push(send(conn, PresenceServerMessage::pong()));
                false
            }
            Ok(PresenceClientMessage::Announce { channels, .. }) => {
                match self.set_announced(conn, dedup(channels)) {
                    Ok(actions) => {
                        out.extend(actions);
                        true
                    }
                    Err(e) => {
                        out.extend(self.invalid(conn, e));
                        false
                    }
                }
            }
            Ok(PresenceClientMessage::Subscribe { channels, .. }) => {
                match self.set_subscribed(conn, dedup(channels)) {
                    Ok(actions) => {
                        out.extend(actions);
                        true
                    }
                    Err(e) => {
                        out.extend(self.invalid(conn, e));
                        false
                    }
                }
            }
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            if changed || stale {
                c.record.last_seen_ms = c.last_seen_ms;
                out.push(Action::Persist {
                    conn,
                    record: c.record.clone(),
                });
            }
        }
        out
    }

    pub fn closed(&mut self, conn: ConnId) -> Vec<PresenceAction> {
        self.remove(conn)
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<PresenceAction> {
        let due: Vec<(ConnId, ProtocolError)> = self
            .conns
            .iter()
            .filter_map(|(id, c)| {
                if !c.record.active
                    && c.record
                        .connected_at_ms
                        .saturating_add(self.limits.join_timeout_ms)
                        <= now_ms
                {
                    Some((*id, ProtocolError::JoinTimeout))
                } else if c.last_seen_ms.saturating_add(self.limits.idle_timeout_ms) <= now_ms {
                    Some((*id, ProtocolError::IdleTimeout))
                } else {
                    None
                }
            })
            .collect();
        let mut out = Vec::new();
        for (conn, e) in due {
            out.extend(self.reject(conn, e, CloseCode::Timeout));
        }
        out
    }

    fn new_channels(&self, channels: &[ChannelId]) -> usize {
        channels
            .iter()
            .filter(|c| !self.announcers.contains_key(*c) && !self.subscribers.contains_key(*c))
            .count()
    }

    fn set_announced(
        &mut self,
        conn: ConnId,
        channels: Vec<ChannelId>,
    ) -> Result<Vec<PresenceAction>, ProtocolError> {
        if self.channel_count() + self.new_channels(&channels) > self.limits.max_presence_channels {
            return Err(ProtocolError::PresenceFull);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(Vec::new());
        };
        c.record.active = true;
        let old = std::mem::replace(&mut c.record.announced, channels.clone());
        let mut out = Vec::new();
        for ch in old.iter().filter(|ch| !channels.contains(ch)) {
            out.extend(self.withdraw(conn, ch));
        }
        for ch in channels.iter().filter(|ch| !old.contains(ch)) {
            let set = self.announcers.entry(ch.clone()).or_default();
            let was_online = !set.is_empty();
            set.insert(conn);
            if !was_online {
                out.extend(self.notify(ch, true));
            }
        }
        Ok(out)
    }

    fn set_subscribed(
        &mut self,
        conn: ConnId,
        channels: Vec<ChannelId>,
    ) -> Result<Vec<PresenceAction>, ProtocolError> {
        if self.channel_count() + self.new_channels(&channels) > self.limits.max_presence_channels {
            return Err(ProtocolError::PresenceFull);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(Vec::new());
        };
        c.record.active = true;
        let old = std::mem::replace(&mut c.record.subscribed, channels.clone());
        for ch in old.iter().filter(|ch| !channels.contains(ch)) {
            self.unsubscribe(conn, ch);
        }
        let mut out = Vec::new();
        for ch in channels.iter().filter(|ch| !old.contains(ch)) {
            self.subscribers.entry(ch.clone()).or_default().insert(conn);
            out.push(send(
                conn,
                PresenceServerMessage::presence(ch.clone(), self.is_online(ch)),
            ));
        }
        Ok(out)
    }

    /// `conn` no longer announces `ch`; the channel goes offline if it was the last one.
    fn withdraw(&mut self, conn: ConnId, ch: &ChannelId) -> Vec<PresenceAction> {
        let Some(set) = self.announcers.get_mut(ch) else {
            return Vec::new();
        };
        set.remove(&conn);
        if !set.is_empty() {
            return Vec::new();
        }
        self.announcers.remove(ch);
        self.notify(ch, false)
    }

    fn unsubscribe(&mut self, conn: ConnId, ch: &ChannelId) {
        if let Some(set) = self.subscribers.get_mut(ch) {
            set.remove(&conn);
            if set.is_empty() {
                self.subscribers.remove(ch);
            }
        }
    }

    fn notify(&self, ch: &ChannelId, online: bool) -> Vec<PresenceAction> {
        match self.subscribers.get(ch) {
            Some(subs) if !subs.is_empty() => vec![Action::Send {
                to: subs.iter().copied().collect(),
                msg: PresenceServerMessage::presence(ch.clone(), online),
            }],
            _ => Vec::new(),
        }
    }

    fn invalid(&mut self, conn: ConnId, e: ProtocolError) -> Vec<PresenceAction> {
        let max = self.limits.max_invalid_messages;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        c.invalid = c.invalid.saturating_add(1);
        let mut out = vec![send(conn, PresenceServerMessage::error(e))];
        if c.invalid > max {
            out.extend(self.reject(conn, ProtocolError::TooManyErrors, CloseCode::BadRequest));
        }
        out
    }

    fn reject(&mut self, conn: ConnId, e: ProtocolError, code: CloseCode) -> Vec<PresenceAction> {
        let mut out = vec![send(conn, PresenceServerMessage::error(e))];
        out.extend(self.remove(conn));
        out.push(Action::Close { conn, code });
        out
    }

    fn remove(&mut self, conn: ConnId) -> Vec<PresenceAction> {
        let Some(c) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        for ch in &c.record.subscribed {
            self.unsubscribe(conn, ch);
        }
        let mut out = Vec::new();
        for ch in &c.record.announced {
            out.extend(self.withdraw(conn, ch));
        }
        out
    }
}

fn dedup(mut channels: Vec<ChannelId>) -> Vec<ChannelId> {
    let mut seen = BTreeSet::new();
    channels.retain(|c| seen.insert(c.clone()));
    channels
}

fn send(conn: ConnId, msg: PresenceServerMessage) -> PresenceAction {
    Action::Send {
        to: vec![conn],
        msg,
    }
}
