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

use crate::conns::{impl_record, Conns, Refused};
use crate::{Action, CloseCode, ConnId, Frame, Limits};

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

impl_record!(PresenceRecord, |r| !r.active);

/// The presence state machine.
#[derive(Debug)]
pub struct PresenceHub {
    conns: Conns<PresenceRecord>,
    announcers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
    subscribers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
}

impl PresenceHub {
    pub fn new(limits: Limits) -> Self {
        Self {
            conns: Conns::new(limits),
            announcers: BTreeMap::new(),
            subscribers: BTreeMap::new(),
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
            let (announced, subscribed) = (record.announced.clone(), record.subscribed.clone());
            if !hub.conns.restore(record, now_ms) {
                continue;
            }
            for c in announced {
                hub.announcers.entry(c).or_default().insert(conn);
            }
            for c in subscribed {
                hub.subscribers.entry(c).or_default().insert(conn);
            }
        }
        hub
    }

    pub fn allocate_conn(&mut self) -> ConnId {
        self.conns.allocate()
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
        self.conns.next_deadline()
    }

    pub fn open(&mut self, conn: ConnId, now_ms: u64) -> Vec<PresenceAction> {
        let record = PresenceRecord {
            conn,
            connected_at_ms: now_ms,
            last_seen_ms: now_ms,
            active: false,
            announced: Vec::new(),
            subscribed: Vec::new(),
        };
        let max = self.conns.limits.max_presence_connections;
        if !self.conns.open(record.clone(), now_ms, max) {
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
        vec![Action::Persist { conn, record }]
    }

    pub fn message(&mut self, conn: ConnId, frame: Frame<'_>, now_ms: u64) -> Vec<PresenceAction> {
        let parsed = self
            .conns
            .frame(conn, frame, now_ms, PresenceClientMessage::parse);
        let Some((parsed, stale)) = parsed else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let update = match parsed {
            Err(Refused::Close(e, code)) => {
                out.extend(self.reject(conn, e, code));
                return out;
            }
            Err(Refused::Invalid(e)) => Some(Err(e)),
            Ok(PresenceClientMessage::Ping { .. }) => {
                out.push(send(conn, PresenceServerMessage::pong()));
                None
            }
            Ok(PresenceClientMessage::Announce { channels, .. }) => {
                Some(self.set_announced(conn, dedup(channels)))
            }
            Ok(PresenceClientMessage::Subscribe { channels, .. }) => {
                Some(self.set_subscribed(conn, dedup(channels)))
            }
        };
        let changed = match update {
            Some(Ok(actions)) => {
                out.extend(actions);
                true
            }
            Some(Err(e)) => {
                out.extend(self.invalid(conn, e));
                false
            }
            None => false,
        };
        if let Some(c) = self.conns.get_mut(conn).filter(|_| changed || stale) {
            out.push(Action::Persist {
                conn,
                record: c.touch_record(),
            });
        }
        out
    }

    pub fn closed(&mut self, conn: ConnId) -> Vec<PresenceAction> {
        self.remove(conn)
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<PresenceAction> {
        let mut out = Vec::new();
        for (conn, e) in self.conns.due(now_ms) {
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

    /// Replaces one of `conn`'s channel lists (`list` picks which) if the hub has room for
    /// the new channels; returns the old list (`None` if `conn` is not open).
    fn replace_list(
        &mut self,
        conn: ConnId,
        channels: &[ChannelId],
        list: fn(&mut PresenceRecord) -> &mut Vec<ChannelId>,
    ) -> Result<Option<Vec<ChannelId>>, ProtocolError> {
        let capacity = self.conns.limits.max_presence_channels;
        if self.channel_count() + self.new_channels(channels) > capacity {
            return Err(ProtocolError::PresenceFull);
        }
        let Some(c) = self.conns.get_mut(conn) else {
            return Ok(None);
        };
        c.record.active = true;
        Ok(Some(std::mem::replace(
            list(&mut c.record),
            channels.to_vec(),
        )))
    }

    fn set_announced(
        &mut self,
        conn: ConnId,
        channels: Vec<ChannelId>,
    ) -> Result<Vec<PresenceAction>, ProtocolError> {
        let Some(old) = self.replace_list(conn, &channels, |r| &mut r.announced)? else {
            return Ok(Vec::new());
        };
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
        let Some(old) = self.replace_list(conn, &channels, |r| &mut r.subscribed)? else {
            return Ok(Vec::new());
        };
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
        if self.conns.get(conn).is_none() {
            return Vec::new();
        }
        let mut out = vec![send(conn, PresenceServerMessage::error(e))];
        if self.conns.count_invalid(conn) {
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
        let Some(c) = self.conns.remove(conn) else {
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
