//! The connection table the room and the presence hub share: what each does alike with a
//! connection (open it under a cap, rebuild it from its record, take a frame through the idle
//! clock, the rate limit, the size and binary checks and the parser, count invalid messages,
//! the join and idle deadlines). What a connection *is* (joined peer, channels) stays in the
//! machine's own record type.
use std::collections::BTreeMap;

use sotto_protocol::ProtocolError;

use crate::{CloseCode, ConnId, Frame, Limits, RateLimiter};

/// What a machine persists per socket, as far as the table needs to know.
pub(crate) trait Record: Clone {
    fn conn(&self) -> ConnId;
    fn connected_at_ms(&self) -> u64;
    /// The coarse last-seen time kept in the record (refreshed every `persist_interval_ms`).
    fn persisted_ms(&self) -> u64;
    fn set_persisted_ms(&mut self, ms: u64);
    /// Still waiting for its first join (room) or announce/subscribe (presence): the join
    /// timeout applies.
    fn waiting(&self) -> bool;
}

/// Implements [`Record`] for a record type with `conn`, `connected_at_ms` and `last_seen_ms`
/// fields; `|r| expr` says whether record `r` is still waiting for its first join or announce.
macro_rules! impl_record {
    ($ty:ty, |$r:ident| $waiting:expr) => {
        impl $crate::conns::Record for $ty {
            fn conn(&self) -> $crate::ConnId {
                self.conn
            }
            fn connected_at_ms(&self) -> u64 {
                self.connected_at_ms
            }
            fn persisted_ms(&self) -> u64 {
                self.last_seen_ms
            }
            fn set_persisted_ms(&mut self, ms: u64) {
                self.last_seen_ms = ms;
            }
            fn waiting(&self) -> bool {
                let $r = self;
                $waiting
            }
        }
    };
}
pub(crate) use impl_record;

/// One open connection: its record and its intake state.
#[derive(Debug)]
pub(crate) struct Conn<R> {
    pub record: R,
    intake: Intake,
}

/// Every open connection of one Durable Object, in connection order.
#[derive(Debug)]
pub(crate) struct Conns<R> {
    pub limits: Limits,
    map: BTreeMap<ConnId, Conn<R>>,
    next_conn: u64,
}

impl<R: Record> Conns<R> {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            map: BTreeMap::new(),
            next_conn: 1,
        }
    }

    /// A fresh connection id for a socket about to be opened.
    pub fn allocate(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    /// Takes back a connection rebuilt from its record (false if its id is already taken).
    pub fn restore(&mut self, record: R, now_ms: u64) -> bool {
        let conn = record.conn();
        if self.map.contains_key(&conn) {
            return false;
        }
        self.next_conn = self.next_conn.max(conn.0.saturating_add(1));
        let intake = Intake::restored(&self.limits, record.persisted_ms(), now_ms);
        self.map.insert(conn, Conn { record, intake });
        true
    }

    /// Opens a connection unless `max` are open already (false: refuse it as full).
    pub fn open(&mut self, record: R, now_ms: u64, max: usize) -> bool {
        if self.map.len() >= max {
            return false;
        }
        let intake = Intake::new(&self.limits, now_ms);
        self.map.insert(record.conn(), Conn { record, intake });
        true
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, conn: ConnId) -> Option<&Conn<R>> {
        self.map.get(&conn)
    }

    pub fn get_mut(&mut self, conn: ConnId) -> Option<&mut Conn<R>> {
        self.map.get_mut(&conn)
    }

    pub fn remove(&mut self, conn: ConnId) -> Option<Conn<R>> {
        self.map.remove(&conn)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn<R>)> {
        self.map.iter().map(|(id, c)| (*id, c))
    }

    /// Takes one frame on `conn` (`None` if it is not open): the parse result, and whether the
    /// record's last-seen time is stale enough to persist again.
    pub fn frame<'t, M>(
        &mut self,
        conn: ConnId,
        frame: Frame<'t>,
        now_ms: u64,
        parse: impl FnOnce(&'t str) -> Result<M, ProtocolError>,
    ) -> Option<(Result<M, Refused>, bool)> {
        let c = self.map.get_mut(&conn)?;
        let stale =
            now_ms.saturating_sub(c.record.persisted_ms()) >= self.limits.persist_interval_ms;
        Some((c.intake.frame(&self.limits, frame, now_ms, parse), stale))
    }

    /// Counts an invalid message on `conn`; true once there were too many (close it).
    pub fn count_invalid(&mut self, conn: ConnId) -> bool {
        let max = self.limits.max_invalid_messages;
        self.map
            .get_mut(&conn)
            .is_some_and(|c| c.intake.count_invalid(max))
    }

    /// When the next join or idle timeout falls due (for the alarm).
    pub fn next_deadline(&self) -> Option<u64> {
        self.map
            .values()
            .map(|c| {
                c.intake
                    .deadline(&self.limits, c.record.connected_at_ms(), c.record.waiting())
            })
            .min()
    }

    /// Every connection whose join or idle timeout is due at `now_ms`, with its error.
    pub fn due(&self, now_ms: u64) -> Vec<(ConnId, ProtocolError)> {
        self.map
            .iter()
            .filter_map(|(id, c)| {
                let r = &c.record;
                c.intake
                    .due(&self.limits, r.connected_at_ms(), r.waiting(), now_ms)
                    .map(|e| (*id, e))
            })
            .collect()
    }
}

impl<R: Record> Conn<R> {
    /// The record as it would be persisted now (with the exact last-seen time).
    pub fn current_record(&self) -> R {
        let mut record = self.record.clone();
        record.set_persisted_ms(self.intake.last_seen_ms);
        record
    }

    /// Refreshes the record's last-seen time and returns a copy to persist.
    pub fn touch_record(&mut self) -> R {
        self.record.set_persisted_ms(self.intake.last_seen_ms);
        self.record.clone()
    }
}

/// Why a frame was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Send the error, then close the connection with the code.
    Close(ProtocolError, CloseCode),
    /// Answer with the error; the connection stays (unless too many pile up).
    Invalid(ProtocolError),
}

/// The per-connection state besides the persisted record.
#[derive(Debug)]
struct Intake {
    /// Last message time (the persisted record holds a coarser copy).
    last_seen_ms: u64,
    limiter: RateLimiter,
    invalid: u32,
}

impl Intake {
    /// A connection accepted now.
    fn new(limits: &Limits, now_ms: u64) -> Self {
        Self {
            last_seen_ms: now_ms,
            limiter: RateLimiter::new(limits.rate_per_sec, limits.rate_burst, now_ms),
            invalid: 0,
        }
    }

    /// A connection rebuilt after hibernation from a record last seen at `persisted_ms`:
    /// `last_seen` is taken at its latest possible value, so nobody is timed out early, and the
    /// rate limiter starts full.
    fn restored(limits: &Limits, persisted_ms: u64, now_ms: u64) -> Self {
        let last_seen = persisted_ms
            .saturating_add(limits.persist_interval_ms)
            .min(now_ms.max(persisted_ms));
        Self {
            last_seen_ms: last_seen,
            ..Self::new(limits, now_ms)
        }
    }

    /// Takes one frame: refreshes the idle clock, charges a token, refuses frames that are too
    /// large or binary, then parses the text with `parse`.
    fn frame<'t, M>(
        &mut self,
        limits: &Limits,
        frame: Frame<'t>,
        now_ms: u64,
        parse: impl FnOnce(&'t str) -> Result<M, ProtocolError>,
    ) -> Result<M, Refused> {
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
        if !self.limiter.try_acquire(now_ms) {
            return Err(Refused::Close(
                ProtocolError::RateLimited,
                CloseCode::RateLimited,
            ));
        }
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        };
        if len > limits.max_message_bytes {
            return Err(Refused::Close(
                ProtocolError::MessageTooLarge,
                CloseCode::TooLarge,
            ));
        }
        match frame {
            Frame::Text(t) => parse(t).map_err(Refused::Invalid),
            Frame::Binary(_) => Err(Refused::Invalid(ProtocolError::BinaryFrame)),
        }
    }

    /// Counts one invalid message; true once more than `max` have come (close the socket).
    fn count_invalid(&mut self, max: u32) -> bool {
        self.invalid = self.invalid.saturating_add(1);
        self.invalid > max
    }

    /// When this connection must be closed: idle too long, or (while `waiting`, i.e. not yet
    /// joined or active) no join in time since `connected_at_ms`.
    fn deadline(&self, limits: &Limits, connected_at_ms: u64, waiting: bool) -> u64 {
        let idle = self.last_seen_ms.saturating_add(limits.idle_timeout_ms);
        if waiting {
            idle.min(join_deadline(limits, connected_at_ms))
        } else {
            idle
        }
    }

    /// The timeout due at `now_ms`, if any: a join timeout first, then an idle timeout.
    fn due(
        &self,
        limits: &Limits,
        connected_at_ms: u64,
        waiting: bool,
        now_ms: u64,
    ) -> Option<ProtocolError> {
        if waiting && join_deadline(limits, connected_at_ms) <= now_ms {
            Some(ProtocolError::JoinTimeout)
        } else if self.last_seen_ms.saturating_add(limits.idle_timeout_ms) <= now_ms {
            Some(ProtocolError::IdleTimeout)
        } else {
            None
        }
    }
}

fn join_deadline(limits: &Limits, connected_at_ms: u64) -> u64 {
    connected_at_ms.saturating_add(limits.join_timeout_ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_ok(t: &str) -> Result<usize, ProtocolError> {
        Ok(t.len())
    }

    #[test]
    fn frames_are_charged_checked_and_parsed() {
        let limits = Limits {
            rate_burst: 2,
            rate_per_sec: 0,
            max_message_bytes: 4,
            ..Limits::default()
        };
        let mut intake = Intake::new(&limits, 0);
        assert_eq!(
            intake.frame(&limits, Frame::Text("abc"), 5, parse_ok),
            Ok(3)
        );
        assert_eq!(intake.last_seen_ms, 5);
        assert_eq!(
            intake.frame(&limits, Frame::Binary(&[1]), 6, parse_ok),
            Err(Refused::Invalid(ProtocolError::BinaryFrame))
        );
        assert_eq!(
            intake.frame(&limits, Frame::Text("a"), 7, parse_ok),
            Err(Refused::Close(
                ProtocolError::RateLimited,
                CloseCode::RateLimited
            ))
        );
        let mut intake = Intake::new(&limits, 0);
        assert_eq!(
            intake.frame(&limits, Frame::Text("abcde"), 1, parse_ok),
            Err(Refused::Close(
                ProtocolError::MessageTooLarge,
                CloseCode::TooLarge
            ))
        );
    }

    #[test]
    fn invalid_messages_close_past_the_limit() {
        let mut intake = Intake::new(&Limits::default(), 0);
        assert!(!intake.count_invalid(1));
        assert!(intake.count_invalid(1));
    }

    #[test]
    fn deadlines_and_what_is_due() {
        let limits = Limits::default();
        let intake = Intake::new(&limits, 100);
        let join = 100 + limits.join_timeout_ms;
        let idle = 100 + limits.idle_timeout_ms;
        assert_eq!(intake.deadline(&limits, 100, true), join);
        assert_eq!(intake.deadline(&limits, 100, false), idle);
        assert_eq!(intake.due(&limits, 100, true, join - 1), None);
        assert_eq!(
            intake.due(&limits, 100, true, join),
            Some(ProtocolError::JoinTimeout)
        );
        assert_eq!(intake.due(&limits, 100, false, join), None);
        assert_eq!(
            intake.due(&limits, 100, false, idle),
            Some(ProtocolError::IdleTimeout)
        );
        // Rebuilt: last seen at most one persist interval after the record, never in the future.
        let restored = Intake::restored(&limits, 1_000, 500_000);
        assert_eq!(restored.last_seen_ms, 1_000 + limits.persist_interval_ms);
        assert_eq!(Intake::restored(&limits, 1_000, 2_000).last_seen_ms, 2_000);
    }
}
