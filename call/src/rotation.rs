//! This participant's sender key, in two phases, as the core drives it through the crypto
//! Worker (`KEY-SCHEDULE.md` §3):
//!
//! ```text
//!  roster change ─> SetRoster ─> key pending, sealed to each peer ─> sender-key to each
//!     (one in flight; a change meanwhile runs again after it)        │  re-sent after 1, 2, 4 s
//!                                                                    │  unacknowledged: error
//!  every key-ack ─> Acknowledge ─> complete? ─┐                      │
//!  switch_timeout_ms ─────────────────────────┴─> Commit ─> key-epoch (only now)
//! ```
//! A rotation that fails is retried with back-off (sending stays blocked until one works).
//! Re-sends go on across rotations (a rotation does not restart a peer's back-off), pause
//! while signaling is down, and end with one `key-not-acknowledged` until the peer
//! acknowledges a key again.
//!
//! A `key-request` from a peer gets the newest key sealed again; but a peer that had the
//! newest key (it acknowledged it) and lost it only accepts keys made later (it dropped
//! someone, or a leave was forged): it gets a fresh rotation instead. A peer that asks
//! [`KEY_REQUESTS_BEFORE_ROTATION`] times for the same key it never acknowledged (its
//! acknowledgements may be lost) gets a rotation too, after the re-send; rotating sooner would
//! not help a peer whose keys are being dropped and would strand chat sealed under the key it
//! is still missing. At most one answer per peer per second, and one such rotation per second.
use crate::backoff::exponential;
use crate::peer::Peer;

/// Re-send delays after the key went out: 1 s, then 2 s, then 4 s; 4 s after the third
/// re-send, `key-not-acknowledged`.
pub const RESEND_DELAYS_MS: [u64; 3] = [1_000, 2_000, 4_000];
/// Key requests: at most one answer per peer, and one rotation, per this interval.
pub const KEY_REQUEST_INTERVAL_MS: u64 = 1_000;
/// Requests for the same key, never acknowledged, before the sender rotates.
pub const KEY_REQUESTS_BEFORE_ROTATION: u32 = 10;
/// Failed rotations are retried after 1 s, 2 s, 4 s ... up to this.
pub const ROTATION_RETRY_MAX_MS: u64 = 8_000;

/// The delay before re-send `attempt` (0-based; the last delay repeats).
pub fn resend_delay(attempt: u32) -> u64 {
    let i = usize::try_from(attempt).unwrap_or(usize::MAX);
    RESEND_DELAYS_MS[i.min(RESEND_DELAYS_MS.len() - 1)]
}

/// A key delivered and not yet used to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingKey {
    pub epoch: u64,
    /// Commit then at the latest.
    pub switch_at: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// The epoch frames and chat are sent under (announced with `key-epoch`).
    pub current: Option<u64>,
    pub pending: Option<PendingKey>,
    /// A `Commit` of this epoch is out.
    pub committing: Option<u64>,
    /// A `SetRoster` is out; `dirty`: the roster changed again meanwhile.
    pub roster_in_flight: bool,
    pub dirty: bool,
    /// A rotation was ever asked for.
    pub started: bool,
    /// After a failed rotation: when to try again, and how many failed in a row.
    pub retry_at: Option<u64>,
    pub failures: u32,
    pub last_requested_rotation_at: Option<u64>,
}

impl Rotation {
    /// No rotation under way (nothing being made, pending or being committed).
    pub fn settled(&self) -> bool {
        !self.roster_in_flight && self.pending.is_none() && self.committing.is_none()
    }

    /// The newest key made: pending (or being committed), else current.
    pub fn newest(&self) -> Option<u64> {
        self.pending
            .map(|p| p.epoch)
            .or(self.committing)
            .or(self.current)
    }

    /// A rotation failed: schedule a retry.
    pub fn failed(&mut self, now_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        let delay = exponential(1_000, ROTATION_RETRY_MAX_MS, self.failures);
        self.retry_at = Some(now_ms.saturating_add(delay));
    }

    pub fn next_deadline(&self) -> Option<u64> {
        [self.pending.map(|p| p.switch_at), self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// How to answer a `key-request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequestAnswer {
    /// Too soon after the last answer to this peer.
    Ignore,
    /// Seal the newest key to the peer again (`reseal`) and/or make a new one (`rotate`).
    Answer { reseal: bool, rotate: bool },
}

/// Answers a `key-request` from `peer` at `now_ms` (and records it on the peer).
pub fn answer_key_request(rotation: &Rotation, peer: &mut Peer, now_ms: u64) -> KeyRequestAnswer {
    let recent =
        |t: Option<u64>| t.is_some_and(|t| now_ms.saturating_sub(t) < KEY_REQUEST_INTERVAL_MS);
    if recent(peer.last_key_answer_at) {
        return KeyRequestAnswer::Ignore;
    }
    peer.last_key_answer_at = Some(now_ms);
    let newest = rotation.newest();
    let count = match peer.requested {
        Some((epoch, count)) if Some(epoch) == newest => count.saturating_add(1),
        _ => 1,
    };
    peer.requested = newest.map(|e| (e, count));
    let settled = rotation.pending.is_none() && rotation.committing.is_none();
    let had_it = settled && newest.is_some_and(|n| peer.acked_epoch.is_some_and(|a| a >= n));
    let rotate = settled
        && (had_it || count >= KEY_REQUESTS_BEFORE_ROTATION)
        && !recent(rotation.last_requested_rotation_at);
    KeyRequestAnswer::Answer {
        reseal: !had_it,
        rotate,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sotto_protocol::Identity;

    fn peer() -> Peer {
        Peer::new(Identity::parse("I").unwrap())
    }

    #[test]
    fn a_request_is_answered_by_a_reseal_unless_the_peer_lost_a_key_it_had() {
        let answer = |reseal, rotate| KeyRequestAnswer::Answer { reseal, rotate };
        let mut r = Rotation {
            current: Some(3),
            ..Rotation::default()
        };
        let mut p = peer();
        assert_eq!(answer_key_request(&r, &mut p, 10_000), answer(true, false));
        assert_eq!(
            answer_key_request(&r, &mut p, 10_500),
            KeyRequestAnswer::Ignore
        );
        // asked again and again for a key it never acknowledged: the tenth time, a rotation
        for i in 2..10 {
            let t = 10_000 + i * 1_000;
            assert_eq!(
                answer_key_request(&r, &mut p, t),
                answer(true, false),
                "{i}"
            );
        }
        assert_eq!(answer_key_request(&r, &mut p, 20_000), answer(true, true));
        // acknowledged the newest key before: it had it and lost it, a rotation only
        let mut p = peer();
        p.acked_epoch = Some(3);
        assert_eq!(answer_key_request(&r, &mut p, 30_000), answer(false, true));
        // ...at most one such rotation a second
        r.last_requested_rotation_at = Some(30_500);
        let mut q = peer();
        q.acked_epoch = Some(3);
        assert_eq!(answer_key_request(&r, &mut q, 31_000), answer(false, false));
        // a rotation is under way: its key is newer than anything the peer had
        r.pending = Some(PendingKey {
            epoch: 4,
            switch_at: 41_000,
        });
        assert_eq!(answer_key_request(&r, &mut p, 40_000), answer(true, false));
        // no key committed yet: reseal whatever is newest
        let fresh = Rotation::default();
        assert_eq!(
            answer_key_request(&fresh, &mut peer(), 0),
            answer(true, false)
        );
    }

    #[test]
    fn resends_and_retries_back_off() {
        let delays: Vec<u64> = (0..5).map(resend_delay).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 4_000, 4_000]);
        let mut r = Rotation::default();
        let mut at = Vec::new();
        for _ in 0..5 {
            r.failed(0);
            at.push(r.retry_at.unwrap());
        }
        assert_eq!(at, [1_000, 2_000, 4_000, 8_000, 8_000]);
    }
}
