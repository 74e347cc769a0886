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
use crate::notify::Notify;
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

/// A presence socket's message: the protocol's, or a notify (`notify.rs`).
enum Incoming<'a> {
    Presence(PresenceClientMessage),
    Notify(Notify<'a>),
}

impl_record!(PresenceRecord, |r| !r.active);

/// The presence state machine.
#[derive(Debug)]
pub struct PresenceHub {
    conns: Conns<PresenceRecord>,
    announcers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
    subscribers: BTreeMap<ChannelId, BTreeSet<ConnId>>,
    /// Channels that are keys of both maps, kept up to date so that [`PresenceHub::channel_count`]
    /// (asked on every announce and subscribe) costs nothing: counting it afresh walked every
    /// channel, which made one announce cost O(channels) and a hub of 100,000 channels crawl.
    both: usize,
}

impl PresenceHub {
    pub fn new(limits: Limits) -> Self {
        Self {
            conns: Conns::new(limits),
            announcers: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            both: 0,
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
                hub.add_announcer(&c, conn);
            }
            for c in subscribed {
                hub.add_subscriber(&c, conn);
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
        self.announcers.len() + self.subscribers.len() - self.both
    }

    /// Adds `conn` as an announcer of `ch`; true if the channel was online before.
    fn add_announcer(&mut self, ch: &ChannelId, conn: ConnId) -> bool {
        let set = match self.announcers.get_mut(ch) {
            Some(set) => set,
            None => {
                if self.subscribers.contains_key(ch) {
                    self.both += 1;
                }
                self.announcers.entry(ch.clone()).or_default()
            }
        };
        let was_online = !set.is_empty();
        set.insert(conn);
        was_online
    }

    fn add_subscriber(&mut self, ch: &ChannelId, conn: ConnId) {
        if !self.subscribers.contains_key(ch) && self.announcers.contains_key(ch) {
            self.both += 1;
        }
        self.subscribers.entry(ch.clone()).or_default().insert(conn);
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
        let parsed = self.conns.frame(conn, frame, now_ms, |text| {
            match crate::notify::parse(text) {
                Some(n) => Ok(Incoming::Notify(n)),
                None => PresenceClientMessage::parse(text).map(Incoming::Presence),
            }
        });
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
            Ok(Incoming::Notify(n)) => {
                out.extend(self.notify_subscribers(conn, &n));
                None
            }
            Ok(Incoming::Presence(PresenceClientMessage::Ping { .. })) => {
                out.push(send(conn, PresenceServerMessage::pong()));
                None
            }
            Ok(Incoming::Presence(PresenceClientMessage::Announce { channels, .. })) => {
                Some(self.set_announced(conn, dedup(channels)))
            }
            Ok(Incoming::Presence(PresenceClientMessage::Subscribe { channels, .. })) => {
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

    /// A notify from `conn`: relayed to the channel's subscribers (not `conn`) if `conn`
    /// announces the channel; the sender gets a receipt with the count.
    fn notify_subscribers(&self, conn: ConnId, n: &Notify<'_>) -> Vec<PresenceAction> {
        let announces = self
            .announcers
            .get(&n.channel)
            .is_some_and(|a| a.contains(&conn));
        let targets: Vec<ConnId> = if announces {
            self.subscribers
                .get(&n.channel)
                .map(|s| s.iter().copied().filter(|c| *c != conn).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(targets.len() + 1);
        if !targets.is_empty() {
            let text = crate::notify::delivery(n);
            for to in &targets {
                out.push(Action::Relay {
                    to: *to,
                    text: text.clone(),
                });
            }
        }
        out.push(Action::Relay {
            to: conn,
            text: crate::notify::receipt(&n.channel, targets.len()),
        });
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
            if !self.add_announcer(ch, conn) {
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
            self.add_subscriber(ch, conn);
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
        if self.subscribers.contains_key(ch) {
            self.both -= 1;
        }
        self.notify(ch, false)
    }

    fn unsubscribe(&mut self, conn: ConnId, ch: &ChannelId) {
        if let Some(set) = self.subscribers.get_mut(ch) {
            set.remove(&conn);
            if set.is_empty() {
                self.subscribers.remove(ch);
                if self.announcers.contains_key(ch) {
                    self.both -= 1;
                }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap as Map;

    fn naive_count(hub: &PresenceHub) -> usize {
        hub.announcers
            .keys()
            .chain(hub.subscribers.keys())
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn msg(ty: &str, chans: &[u8]) -> String {
        let list: Vec<String> = chans
            .iter()
            .map(|c| format!("\"channel{c:015}\""))
            .collect();
        format!(r#"{{"v":2,"type":"{ty}","channels":[{}]}}"#, list.join(","))
    }

    fn notify(channel: u8, payload: &str) -> String {
        format!(
            r#"{{"v":2,"type":"notify","channel":"channel{channel:015}","payload":"{payload}"}}"#
        )
    }

    fn relays(actions: &[PresenceAction]) -> Vec<(ConnId, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Relay { to, text } => Some((*to, text.clone())),
                _ => None,
            })
            .collect()
    }

    fn open(hub: &mut PresenceHub) -> ConnId {
        let c = hub.allocate_conn();
        hub.open(c, 0);
        c
    }

    #[test]
    fn notify_reaches_the_subscribers_of_a_channel_the_sender_announces() {
        let mut hub = PresenceHub::new(Limits::default());
        let (a, b, c, d) = (
            open(&mut hub),
            open(&mut hub),
            open(&mut hub),
            open(&mut hub),
        );
        hub.message(a, Frame::Text(&msg("announce", &[1])), 1);
        hub.message(a, Frame::Text(&msg("subscribe", &[1])), 1);
        hub.message(b, Frame::Text(&msg("subscribe", &[1, 2])), 1);
        hub.message(c, Frame::Text(&msg("subscribe", &[1])), 1);
        hub.message(d, Frame::Text(&msg("announce", &[2])), 1);
        let out = relays(&hub.message(a, Frame::Text(&notify(1, "c2VhbGVk")), 2));
        let delivery =
            r#"{"type":"notify","v":2,"channel":"channel000000000000001","payload":"c2VhbGVk"}"#;
        assert_eq!(
            out,
            vec![
                (b, delivery.to_string()),
                (c, delivery.to_string()),
                (
                    a,
                    r#"{"type":"notified","v":2,"channel":"channel000000000000001","delivered":2}"#
                        .to_string()
                ),
            ]
        );
        // A does not announce channel 2 (D does): nothing reaches B.
        let out = relays(&hub.message(a, Frame::Text(&notify(2, "AAAA")), 3));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, a);
        assert!(out[0].1.ends_with(r#""delivered":0}"#));
        // C leaves: one subscriber left.
        hub.closed(c);
        let out = relays(&hub.message(a, Frame::Text(&notify(1, "AAAA")), 4));
        assert_eq!(out.len(), 2);
        assert!(out[1].1.ends_with(r#""delivered":1}"#));
        // Nothing was stored: the hub holds the same channels as before the notifies.
        assert_eq!(hub.channel_count(), 2);
    }

    #[test]
    fn a_bad_notify_is_an_invalid_message_and_notifies_count_against_the_rate_limit() {
        let mut hub = PresenceHub::new(Limits::default());
        let a = open(&mut hub);
        hub.message(a, Frame::Text(&msg("announce", &[1])), 1);
        let bad = notify(1, "not base64!");
        let out = hub.message(a, Frame::Text(&bad), 1);
        assert!(out.iter().any(|x| matches!(
            x,
            Action::Send { msg: PresenceServerMessage::Error { code, .. }, .. } if code == "unknown-type"
        )), "{out:?}");
        let limits = Limits::default();
        let mut closed = false;
        for _ in 0..=limits.rate_burst {
            let out = hub.message(a, Frame::Text(&notify(1, "AAAA")), 1);
            closed |= out.iter().any(|x| {
                matches!(
                    x,
                    Action::Close {
                        code: CloseCode::RateLimited,
                        ..
                    }
                )
            });
        }
        assert!(closed);
    }

    proptest! {
        /// The incrementally kept channel count always equals the union of announced and
        /// subscribed channels, through announces, subscribes, closes and a rebuild.
        #[test]
        fn channel_count_matches_the_union(
            ops in proptest::collection::vec((0u8..4, 0usize..4, proptest::collection::vec(0u8..8, 0..5)), 1..60)
        ) {
            let mut hub = PresenceHub::new(Limits::default());
            let mut conns: Vec<ConnId> = Vec::new();
            let mut records: Map<ConnId, PresenceRecord> = Map::new();
            let track = |actions: Vec<PresenceAction>, records: &mut Map<ConnId, PresenceRecord>| {
                for a in actions {
                    match a {
                        Action::Persist { conn, record } => { records.insert(conn, record); }
                        Action::Close { conn, .. } => { records.remove(&conn); }
                        _ => {}
                    }
                }
            };
            for (op, which, chans) in ops {
                match op {
                    0 => {
                        let c = hub.allocate_conn();
                        track(hub.open(c, 0), &mut records);
                        conns.push(c);
                    }
                    1 | 2 if !conns.is_empty() => {
                        let c = conns[which % conns.len()];
                        let ty = if op == 1 { "announce" } else { "subscribe" };
                        track(hub.message(c, Frame::Text(&msg(ty, &chans)), 1), &mut records);
                    }
                    3 if !conns.is_empty() => {
                        let c = conns.remove(which % conns.len());
                        track(hub.closed(c), &mut records);
                        records.remove(&c);
                    }
                    _ => {}
                }
                prop_assert_eq!(hub.channel_count(), naive_count(&hub));
            }
            let rebuilt = PresenceHub::from_records(Limits::default(), records.into_values(), 2);
            prop_assert_eq!(rebuilt.channel_count(), naive_count(&rebuilt));
            prop_assert_eq!(rebuilt.channel_count(), hub.channel_count());
        }
    }
}
