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
//! A `key-request` from a peer gets the newest key sealed again, or, when the peer had the
//! current key and lost it (it acknowledged it, or asks a second time for the same one),
//! a fresh rotation: after a local drop or a forged leave a receiver only accepts keys made
//! later. At most one answer per peer per second, and one such rotation per second.
use crate::backoff::exponential;
use crate::peer::Peer;

/// Re-send delays after the key went out: 1 s, then 2 s, then 4 s; 4 s after the third
/// re-send, `key-not-acknowledged`.
pub const RESEND_DELAYS_MS: [u64; 3] = [1_000, 2_000, 4_000];
/// Key requests: at most one answer per peer, and one rotation, per this interval.
pub const KEY_REQUEST_INTERVAL_MS: u64 = 1_000;
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
    /// Too soon after the last answer (to this peer, or the last such rotation).
    Ignore,
    /// Seal the newest key to the peer again.
    Reseal,
    /// The peer lost a key it had: only a new key helps.
    Rotate,
}

/// The rule of `rust-done.md` ("Note for the JS flow").
pub fn answer_key_request(rotation: &Rotation, peer: &Peer, now_ms: u64) -> KeyRequestAnswer {
    let recent =
        |t: Option<u64>| t.is_some_and(|t| now_ms.saturating_sub(t) < KEY_REQUEST_INTERVAL_MS);
    if recent(peer.last_key_answer_at) {
        return KeyRequestAnswer::Ignore;
    }
    match (rotation.pending, rotation.current) {
        (None, Some(current))
            if peer.acked_epoch.is_some_and(|a| a >= current)
                || peer.requested_epoch == Some(current) =>
        {
            if recent(rotation.last_requested_rotation_at) {
                KeyRequestAnswer::Ignore
            } else {
                KeyRequestAnswer::Rotate
            }
        }
        _ => KeyRequestAnswer::Reseal,
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
        let mut r = Rotation {
            current: Some(3),
            ..Rotation::default()
        };
        let mut p = peer();
        assert_eq!(answer_key_request(&r, &p, 10_000), KeyRequestAnswer::Reseal);
        // asked again for the same current key after a reseal: it cannot use it
        p.requested_epoch = Some(3);
        assert_eq!(answer_key_request(&r, &p, 10_000), KeyRequestAnswer::Rotate);
        // acknowledged it before: it had it and dropped it
        p.requested_epoch = None;
        p.acked_epoch = Some(3);
        assert_eq!(answer_key_request(&r, &p, 10_000), KeyRequestAnswer::Rotate);
        // a rotation is pending: its key is newer than anything the peer had
        r.pending = Some(PendingKey {
            epoch: 4,
            switch_at: 11_000,
        });
        assert_eq!(answer_key_request(&r, &p, 10_000), KeyRequestAnswer::Reseal);
        // rate limits
        r.pending = None;
        r.last_requested_rotation_at = Some(9_500);
        assert_eq!(answer_key_request(&r, &p, 10_000), KeyRequestAnswer::Ignore);
        assert_eq!(answer_key_request(&r, &p, 10_500), KeyRequestAnswer::Rotate);
        p.last_key_answer_at = Some(10_400);
        assert_eq!(answer_key_request(&r, &p, 10_500), KeyRequestAnswer::Ignore);
        // no key committed yet: reseal whatever is newest
        let fresh = Rotation::default();
        assert_eq!(
            answer_key_request(&fresh, &peer(), 0),
            KeyRequestAnswer::Reseal
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
