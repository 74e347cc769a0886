//! Recovery of one connection's media path: when the offerer restarts ICE, and when the
//! peer is given up as vanished.
//!
//! ```text
//!  created ──────────────── connected ──(stable ≥ stable_ms: back-off starts over)
//!   │ offerer: restart if      │ disconnected: restart after ice_restart_delay_ms
//!   │ not connected within     │ failed:       restart now
//!   │ negotiation_timeout_ms   │   ... but never before last restart + back-off(attempts)
//!   │                          │   (1 s, 2 s, 4 s, 8 s cap): one restart in flight at most
//!   └── down since creation ───┴── down since the first loss: vanish after peer_timeout_ms
//! ```
//! The JavaScript this replaces restarted at once on every `failed` and cleared the pending
//! retry, so a path that failed instantly was restarted thousands of times a minute
//! (`tests/ice_backoff.rs` reproduces that against a model of it).
use crate::backoff::exponential;
use crate::input::PcState;
use crate::Config;

/// What is due on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryDue {
    /// The path has been down (or never up) for `peer_timeout_ms`.
    Vanish,
    /// Time for the offerer to restart ICE.
    Restart,
}

/// The clocks of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    offerer: bool,
    /// Vanish clock: since when the path is down (since creation until first connected).
    down_since: Option<u64>,
    restart_at: Option<u64>,
    /// Restarts since the path was last stable.
    attempts: u32,
    last_restart_at: Option<u64>,
    connected_since: Option<u64>,
}

impl Recovery {
    /// A connection made now; the offerer side restarts it if it has not connected within
    /// `negotiation_timeout_ms`.
    pub fn new(offerer: bool, now_ms: u64, config: &Config) -> Self {
        Self {
            offerer,
            down_since: Some(now_ms),
            restart_at: offerer.then(|| now_ms.saturating_add(config.negotiation_timeout_ms)),
            attempts: 0,
            last_restart_at: None,
            connected_since: None,
        }
    }

    fn backoff(&self, config: &Config) -> u64 {
        exponential(
            config.ice_backoff_base_ms,
            config.ice_backoff_max_ms,
            self.attempts,
        )
    }

    /// The earliest time the next restart may start.
    fn earliest(&self, now_ms: u64, config: &Config) -> u64 {
        self.last_restart_at
            .map_or(now_ms, |t| t.saturating_add(self.backoff(config)))
            .max(now_ms)
    }

    /// The connection's state changed.
    pub fn on_state(&mut self, state: PcState, now_ms: u64, config: &Config) {
        match state {
            PcState::Connected => {
                self.connected_since = Some(now_ms);
                self.down_since = None;
                self.restart_at = None;
            }
            PcState::Disconnected | PcState::Failed | PcState::Closed => {
                if let Some(since) = self.connected_since.take() {
                    if now_ms.saturating_sub(since) >= config.stable_connection_ms {
                        self.attempts = 0;
                        self.last_restart_at = None;
                    }
                }
                self.down_since.get_or_insert(now_ms);
                if state == PcState::Closed || !self.offerer {
                    self.restart_at = None;
                    return;
                }
                let grace = if state == PcState::Failed {
                    0
                } else {
                    config.ice_restart_delay_ms
                };
                let wanted = now_ms
                    .saturating_add(grace)
                    .max(self.earliest(now_ms, config));
                self.restart_at = Some(self.restart_at.map_or(wanted, |at| at.min(wanted)));
            }
            PcState::New | PcState::Connecting => {}
        }
    }

    /// A restart was started now: the next one waits for the back-off, and happens then if
    /// the path is still down.
    pub fn restarted(&mut self, now_ms: u64, config: &Config) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_restart_at = Some(now_ms);
        self.restart_at = Some(now_ms.saturating_add(self.backoff(config)));
    }

    /// The restart could not start yet (a negotiation is under way): look again later.
    pub fn postpone(&mut self, until_ms: u64) {
        if self.restart_at.is_some() {
            self.restart_at = Some(until_ms);
        }
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn vanish_at(&self, config: &Config) -> Option<u64> {
        self.down_since
            .map(|t| t.saturating_add(config.peer_timeout_ms))
    }

    /// When something is next due.
    pub fn next_deadline(&self, config: &Config) -> Option<u64> {
        [self.vanish_at(config), self.restart_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// What is due at `now_ms` (vanishing first).
    pub fn due(&self, now_ms: u64, config: &Config) -> Option<RecoveryDue> {
        if self.vanish_at(config).is_some_and(|t| t <= now_ms) {
            Some(RecoveryDue::Vanish)
        } else if self.restart_at.is_some_and(|t| t <= now_ms) {
            Some(RecoveryDue::Restart)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            peer_timeout_ms: 1_000_000,
            ..Config::default()
        }
    }

    /// Drives a connected offerer whose path fails instantly after every restart (the Firefox
    /// case) for `until` ms; returns the restart times.
    fn instant_fail(until: u64) -> Vec<u64> {
        let c = config();
        let mut r = Recovery::new(true, 0, &c);
        r.on_state(PcState::Connected, 0, &c);
        r.on_state(PcState::Failed, 100, &c);
        let mut restarts = Vec::new();
        let mut now = 100;
        while now < until {
            // every millisecond a fresh `failed` arrives; it must not pull a restart forward
            r.on_state(PcState::Failed, now, &c);
            if r.due(now, &c) == Some(RecoveryDue::Restart) {
                restarts.push(now);
                r.restarted(now, &c);
                r.on_state(PcState::Connecting, now, &c);
            }
            now += 1;
        }
        restarts
    }

    #[test]
    fn an_instantly_failing_path_is_restarted_with_back_off() {
        let restarts = instant_fail(55_100);
        let gaps: Vec<u64> = restarts.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(restarts[0], 100, "the first failure restarts at once");
        assert_eq!(&gaps[..4], &[1_000, 2_000, 4_000, 8_000]);
        assert!(gaps[4..].iter().all(|g| *g == 8_000), "{gaps:?}");
        // 100, 1.1 s, 3.1 s, 7.1 s, then every 8 s: 9 restarts in 55 s (not thousands)
        assert_eq!(restarts.len(), 9, "{restarts:?}");
    }

    #[test]
    fn disconnected_waits_and_failed_does_not_beat_the_back_off() {
        let c = config();
        let mut r = Recovery::new(true, 0, &c);
        r.on_state(PcState::Connected, 10, &c);
        r.on_state(PcState::Disconnected, 20_000, &c);
        assert_eq!(r.due(21_999, &c), None);
        assert_eq!(r.due(22_000, &c), Some(RecoveryDue::Restart));
        r.restarted(22_000, &c);
        // failed right after the restart: not before 1 s has passed
        r.on_state(PcState::Failed, 22_010, &c);
        assert_eq!(r.due(22_999, &c), None);
        assert_eq!(r.due(23_000, &c), Some(RecoveryDue::Restart));
        // a failed before the grace of a disconnected is over restarts at once
        let mut r = Recovery::new(true, 0, &c);
        r.on_state(PcState::Connected, 10, &c);
        r.on_state(PcState::Disconnected, 20_000, &c);
        r.on_state(PcState::Failed, 20_500, &c);
        assert_eq!(r.due(20_500, &c), Some(RecoveryDue::Restart));
    }

    #[test]
    fn only_a_stable_connection_resets_the_back_off() {
        let c = config();
        let mut r = Recovery::new(true, 0, &c);
        r.on_state(PcState::Failed, 0, &c);
        for t in [0, 1_000, 3_000] {
            assert_eq!(r.due(t, &c), Some(RecoveryDue::Restart), "{t}");
            r.restarted(t, &c);
        }
        assert_eq!(r.attempts(), 3);
        // a flap: connected for 1 s, then failed: still 4 s after the last restart
        r.on_state(PcState::Connected, 3_500, &c);
        r.on_state(PcState::Failed, 4_500, &c);
        assert_eq!(r.due(6_999, &c), None);
        assert_eq!(r.due(7_000, &c), Some(RecoveryDue::Restart));
        // connected for the stable time: the next failure restarts at once
        r.on_state(PcState::Connected, 7_100, &c);
        r.on_state(PcState::Failed, 17_100, &c);
        assert_eq!(r.due(17_100, &c), Some(RecoveryDue::Restart));
        r.restarted(17_100, &c);
        assert_eq!(r.attempts(), 1);
    }

    #[test]
    fn vanish_counts_from_the_first_loss_or_from_creation() {
        let c = Config::default();
        let mut r = Recovery::new(false, 0, &c);
        assert_eq!(r.next_deadline(&c), Some(15_000), "never connected");
        r.on_state(PcState::Connected, 1_000, &c);
        assert_eq!(r.next_deadline(&c), None);
        r.on_state(PcState::Disconnected, 5_000, &c);
        r.on_state(PcState::Failed, 9_000, &c);
        r.on_state(PcState::Connecting, 12_000, &c);
        assert_eq!(r.due(19_999, &c), None, "answerers never restart");
        assert_eq!(r.due(20_000, &c), Some(RecoveryDue::Vanish));
    }

    #[test]
    fn the_offerer_retries_an_offer_that_never_connected() {
        let c = Config::default();
        let mut r = Recovery::new(true, 100, &c);
        assert_eq!(r.due(5_099, &c), None);
        assert_eq!(r.due(5_100, &c), Some(RecoveryDue::Restart));
        r.postpone(5_600);
        assert_eq!(r.due(5_599, &c), None);
        r.on_state(PcState::Closed, 5_200, &c);
        assert_eq!(
            r.due(6_000, &c),
            None,
            "a closed connection is not restarted"
        );
    }
}
