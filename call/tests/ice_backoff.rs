//! The known bug: a `failed` connection restarted ICE at once and cleared the pending retry,
//! so the back-off never held (a Firefox peer whose ICE fails instantly produced 6,995
//! `ice-restart` events in 55 s).
//!
//! One harness drives a restart policy against a path whose ICE fails instantly: after every
//! restart the answer comes back 40 ms later, the checks start and fail 5 ms after that.
//! `Legacy` is a line-by-line model of the decision logic of `client-wasm/js/sotto.js`
//! (`#onConnectionState` and `#restartIce`) before this crate; `Core` is
//! [`sotto_call::recovery::Recovery`], what the call core uses. The same check
//! ([`check_backoff`]) fails for the first and holds for the second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use sotto_call::recovery::{Recovery, RecoveryDue};
use sotto_call::{Config, PcState};

/// A restart policy, as the harness sees it.
trait Policy {
    /// The connection's state changed.
    fn on_state(&mut self, state: PcState, now: u64);
    /// When it next wants to be woken.
    fn wake_at(&self) -> Option<u64>;
    /// Woken at `now`: true if it restarted ICE (made a restart offer).
    fn wake(&mut self, now: u64, state: PcState) -> bool;
}

/// Today's JavaScript, as it was: one pending `restartTimer`; `failed` clears it and restarts
/// at delay 0; a restart schedules a retry after 2 s, 4 s, 8 s (capped); `connected` clears
/// everything and resets the attempt count.
struct Legacy {
    restart_delay_ms: u64,
    restart_timer: Option<u64>,
    ice_restarts: u32,
}

impl Policy for Legacy {
    fn on_state(&mut self, state: PcState, now: u64) {
        match state {
            PcState::Connected => {
                self.restart_timer = None; // clearPeerTimers
                self.ice_restarts = 0;
            }
            PcState::Failed | PcState::Disconnected => {
                // (the vanish timer is set here too; the harness runs below the peer timeout)
                let delay = if state == PcState::Failed {
                    0
                } else {
                    self.restart_delay_ms
                };
                if self.restart_timer.is_some() && state != PcState::Failed {
                    return;
                }
                self.restart_timer = Some(now + delay); // clearTimeout + setTimeout
            }
            _ => {}
        }
    }

    fn wake_at(&self) -> Option<u64> {
        self.restart_timer
    }

    fn wake(&mut self, now: u64, state: PcState) -> bool {
        if self.restart_timer.is_none_or(|t| t > now) {
            return false;
        }
        if matches!(state, PcState::Connected | PcState::Closed) {
            self.restart_timer = None;
            return false;
        }
        self.ice_restarts += 1;
        let retry = (self.restart_delay_ms << (self.ice_restarts - 1).min(10)).min(8_000);
        self.restart_timer = Some(now + retry);
        true
    }
}

/// The call core's policy.
struct Core {
    recovery: Recovery,
    config: Config,
}

impl Policy for Core {
    fn on_state(&mut self, state: PcState, now: u64) {
        self.recovery.on_state(state, now, &self.config);
    }

    fn wake_at(&self) -> Option<u64> {
        self.recovery.next_deadline(&self.config)
    }

    fn wake(&mut self, now: u64, _state: PcState) -> bool {
        match self.recovery.due(now, &self.config) {
            Some(RecoveryDue::Restart) => {
                self.recovery.restarted(now, &self.config);
                true
            }
            Some(RecoveryDue::Vanish) => panic!("the harness runs below the peer timeout"),
            None => false,
        }
    }
}

/// A connected path that fails at t = 0 and fails instantly after every restart, for
/// `duration` ms; returns the restart times.
fn instant_failure(policy: &mut dyn Policy, duration: u64) -> Vec<u64> {
    let mut state = PcState::Connected;
    policy.on_state(state, 0);
    // the browser's own state changes still to come: time -> state
    let mut browser: BTreeMap<u64, PcState> = BTreeMap::from([(1, PcState::Failed)]);
    let mut restarts = Vec::new();
    let mut now = 0;
    loop {
        let next = [browser.keys().next().copied(), policy.wake_at()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        if next > duration {
            break;
        }
        now = now.max(next);
        while let Some((&t, &s)) = browser.iter().next() {
            if t > now {
                break;
            }
            browser.remove(&t);
            if s != state {
                state = s;
                policy.on_state(s, now);
            }
        }
        if policy.wake(now, state) {
            restarts.push(now);
            // the restart offer is answered 40 ms later: checks start, and fail 5 ms after
            browser.insert(now + 40, PcState::Connecting);
            browser.insert(now + 45, PcState::Failed);
        }
        assert!(restarts.len() < 100_000, "runaway");
    }
    restarts
}

/// What must hold: never more than one restart per back-off step (1 s, 2 s, 4 s, then 8 s).
fn check_backoff(times: &[u64]) -> Result<(), String> {
    for (i, w) in times.windows(2).enumerate() {
        let floor = [1_000, 2_000, 4_000].get(i).copied().unwrap_or(8_000);
        if w[1] - w[0] < floor {
            return Err(format!(
                "restart {} came {} ms after restart {} (back-off wants {floor} ms); {} restarts in all",
                i + 2,
                w[1] - w[0],
                i + 1,
                times.len()
            ));
        }
    }
    Ok(())
}

#[test]
fn the_old_logic_restarts_without_back_off() {
    let mut legacy = Legacy {
        restart_delay_ms: 2_000,
        restart_timer: None,
        ice_restarts: 0,
    };
    let times = instant_failure(&mut legacy, 55_000);
    let verdict = check_backoff(&times);
    println!(
        "model of the old logic, 55 s of instant ICE failure: {} restarts; {verdict:?}",
        times.len()
    );
    assert!(verdict.is_err(), "the check catches the bug");
    assert!(times.len() > 1_000, "{} restarts", times.len());
}

#[test]
fn the_core_backs_off_1_2_4_8_seconds() {
    let config = Config {
        peer_timeout_ms: 120_000,
        ..Config::default()
    };
    let mut core = Core {
        recovery: Recovery::new(true, 0, &config),
        config,
    };
    let times = instant_failure(&mut core, 55_000);
    println!(
        "the core, 55 s of instant ICE failure: {} restarts at {times:?}",
        times.len()
    );
    check_backoff(&times).unwrap();
    assert_eq!(times[0], 1, "the first failure restarts at once");
    assert_eq!(times.len(), 9);
}
