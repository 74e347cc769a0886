//! Replay protection: a sliding window over SFrame counters, one per receive key.
//!
//! RFC 9605 §7.5 (Replay): "it is RECOMMENDED that receivers maintain a replay window of
//! recently seen CTR values, discarding frames whose CTR is either already in the window or
//! older than the window." A frame is *checked* before decryption and *recorded* only after it
//! authenticated, so forged frames cannot move the window.

/// Width of the window: counters more than this far below the highest seen are "too old".
pub const REPLAY_WINDOW: u64 = 128;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Already received.
    Duplicate,
    /// Older than the window.
    TooOld,
}

/// A 128-counter sliding window.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest counter recorded, if any.
    highest: Option<u64>,
    /// Bit `i` set = counter `highest - i` was recorded.
    seen: u128,
}

impl ReplayWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Would `ctr` be accepted? Does not change the window.
    pub fn check(&self, ctr: u64) -> Result<(), ReplayVerdict> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if ctr > highest {
            return Ok(());
        }
        let age = highest - ctr;
        if age >= REPLAY_WINDOW {
            return Err(ReplayVerdict::TooOld);
        }
        if self.seen & (1u128 << age) != 0 {
            Err(ReplayVerdict::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records an authenticated counter (call only after [`Self::check`] passed).
    pub fn record(&mut self, ctr: u64) {
        match self.highest {
            None => {
                self.highest = Some(ctr);
                self.seen = 1;
            }
            Some(highest) if ctr > highest => {
                let shift = ctr - highest;
                self.seen = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(ctr);
            }
            Some(highest) => {
                let age = highest - ctr;
                if age < REPLAY_WINDOW {
                    self.seen |= 1u128 << age;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reordering_inside_the_window_and_refuses_duplicates_and_old() {
        let mut w = ReplayWindow::new();
        for ctr in [5u64, 3, 4, 200, 100] {
            assert_eq!(w.check(ctr), Ok(()), "{ctr}");
            w.record(ctr);
        }
        assert_eq!(w.check(5), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(200), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(100), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(73), Ok(()));
        assert_eq!(w.check(72), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(201), Ok(()));
        w.record(u64::MAX);
        assert_eq!(w.check(u64::MAX), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(0), Err(ReplayVerdict::TooOld));
    }
}
