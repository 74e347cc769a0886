//! Incoming chat, in order per sender, with a short wait for keys that have not arrived.
//!
//! Every chat frame joins its sender's line; the first of a line is opened (one at a time
//! per sender). One sealed under a key not here yet (`chat-key-pending`) stays first and
//! holds the line until a key from that sender arrives (then it is tried again), for at
//! most [`CHAT_WAIT_MS`]; at most [`CHAT_WAITING_MAX`] messages wait in all (the oldest is
//! dropped). A dropped message is a counted `chat-rejected`.
use std::collections::VecDeque;

use serde::Serialize;
use sotto_protocol::PeerId;

use crate::Bytes;

pub const CHAT_WAIT_MS: u64 = 5_000;
pub const CHAT_WAITING_MAX: usize = 64;

/// Counters for `cryptoStats().chat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChatStats {
    /// Messages that had to wait for their sender's key.
    pub buffered: u64,
    /// Of those, opened once the key came.
    pub delivered_late: u64,
    /// Dropped while waiting (too long, too many).
    pub dropped: u64,
}

#[derive(Debug, Clone)]
struct Waiting {
    seq: u64,
    from: PeerId,
    data: Bytes,
    at: u64,
    in_flight: bool,
    /// Waiting for a key from its sender.
    pending: bool,
    /// Had to wait for a key at some point.
    waited: bool,
}

/// A message to open now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToOpen {
    pub seq: u64,
    pub from: PeerId,
    pub data: Bytes,
}

#[derive(Debug, Clone, Default)]
pub struct ChatLines {
    waiting: VecDeque<Waiting>,
    next_seq: u64,
    stats: ChatStats,
}

impl ChatLines {
    pub fn stats(&self) -> ChatStats {
        self.stats
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// A frame arrived; returns the senders of messages dropped to make room.
    pub fn push(&mut self, from: PeerId, data: Bytes, now_ms: u64) -> Vec<PeerId> {
        if self.waiting.iter().any(|w| w.from == from && w.pending) {
            self.stats.buffered += 1;
        }
        self.waiting.push_back(Waiting {
            seq: self.next_seq,
            from,
            data,
            at: now_ms,
            in_flight: false,
            pending: false,
            waited: false,
        });
        self.next_seq += 1;
        let mut dropped = Vec::new();
        while self.waiting.len() > CHAT_WAITING_MAX {
            if let Some(w) = self.waiting.pop_front() {
                self.stats.dropped += 1;
                dropped.push(w.from);
            }
        }
        dropped
    }

    /// The first message of `from`'s line, if it may be opened now (nothing of that sender
    /// in flight, and the first one not waiting for a key); marks it in flight.
    pub fn next_to_open(&mut self, from: &PeerId) -> Option<ToOpen> {
        let first = self.waiting.iter_mut().find(|w| &w.from == from)?;
        if first.in_flight || first.pending {
            return None;
        }
        first.in_flight = true;
        Some(ToOpen {
            seq: first.seq,
            from: first.from.clone(),
            data: first.data.clone(),
        })
    }

    fn take(&mut self, seq: u64) -> Option<Waiting> {
        let i = self.waiting.iter().position(|w| w.seq == seq)?;
        self.waiting.remove(i)
    }

    /// Message `seq` opened (or was refused for good): it leaves its line. Returns its
    /// sender, if it was still waiting.
    pub fn done(&mut self, seq: u64, opened: bool) -> Option<PeerId> {
        let w = self.take(seq)?;
        if opened && w.waited {
            self.stats.delivered_late += 1;
        }
        Some(w.from)
    }

    /// Message `seq` is sealed under a key not here yet: it holds its line.
    pub fn key_pending(&mut self, seq: u64) {
        if let Some(w) = self.waiting.iter_mut().find(|w| w.seq == seq) {
            if !w.waited {
                self.stats.buffered += 1;
            }
            w.in_flight = false;
            w.pending = true;
            w.waited = true;
        }
    }

    /// A key from `from` arrived: its first message may be tried again.
    pub fn key_arrived(&mut self, from: &PeerId) {
        if let Some(w) = self.waiting.iter_mut().find(|w| &w.from == from) {
            w.pending = false;
        }
    }

    /// Forgets `from`'s line (the peer left).
    pub fn remove_peer(&mut self, from: &PeerId) {
        self.waiting.retain(|w| &w.from != from);
    }

    /// Drops messages that waited too long (not those being opened); returns their senders.
    pub fn expire(&mut self, now_ms: u64) -> Vec<PeerId> {
        let mut dropped = Vec::new();
        self.waiting.retain(|w| {
            let keep = w.in_flight || w.at.saturating_add(CHAT_WAIT_MS) > now_ms;
            if !keep {
                dropped.push(w.from.clone());
            }
            keep
        });
        self.stats.dropped += dropped.len() as u64;
        dropped
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.waiting
            .iter()
            .filter(|w| !w.in_flight)
            .map(|w| w.at.saturating_add(CHAT_WAIT_MS))
            .min()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }

    #[test]
    fn each_line_keeps_its_order_and_waits_for_its_key() {
        let mut c = ChatLines::default();
        c.push(p("a"), Bytes(vec![1]), 0);
        c.push(p("a"), Bytes(vec![2]), 1);
        c.push(p("b"), Bytes(vec![3]), 2);
        let a1 = c.next_to_open(&p("a")).unwrap();
        assert_eq!(a1.data, Bytes(vec![1]));
        assert_eq!(c.next_to_open(&p("a")), None, "one at a time per sender");
        let b1 = c.next_to_open(&p("b")).unwrap();
        c.key_pending(a1.seq);
        assert_eq!(c.next_to_open(&p("a")), None, "the line waits for a's key");
        assert_eq!(c.done(b1.seq, true), Some(p("b")));
        c.key_arrived(&p("a"));
        let again = c.next_to_open(&p("a")).unwrap();
        assert_eq!(again.seq, a1.seq);
        c.done(again.seq, true);
        assert_eq!(c.next_to_open(&p("a")).unwrap().data, Bytes(vec![2]));
        assert_eq!(c.stats().delivered_late, 1);
    }

    #[test]
    fn waiting_is_bounded_in_time_and_number() {
        let mut c = ChatLines::default();
        for i in 0..CHAT_WAITING_MAX as u64 {
            assert!(c.push(p("a"), Bytes(vec![]), i).is_empty());
        }
        assert_eq!(c.push(p("b"), Bytes(vec![]), 100), vec![p("a")]);
        assert_eq!(c.waiting(), CHAT_WAITING_MAX);
        assert_eq!(c.next_deadline(), Some(1 + CHAT_WAIT_MS));
        let first_b = c.next_to_open(&p("b")).unwrap();
        let dropped = c.expire(100 + CHAT_WAIT_MS);
        assert_eq!(dropped.len(), CHAT_WAITING_MAX - 1);
        assert_eq!(c.waiting(), 1, "the one being opened stays");
        assert_eq!(c.done(first_b.seq, false), Some(p("b")));
        assert_eq!(c.stats().dropped, CHAT_WAITING_MAX as u64);
        assert_eq!(c.done(999, true), None);
    }
}
