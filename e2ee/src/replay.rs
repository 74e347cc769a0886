//! Replay protection: a sliding window over SFrame counters, one per receive key.
//!
//! RFC 9605 §7.5 (Replay): "it is RECOMMENDED that receivers maintain a replay window of
//! recently seen CTR values, discarding frames whose CTR is either already in the window or
//! older than the window." A frame is *checked* before decryption and *recorded* only after it
//! authenticated, so forged frames cannot move the window.
//!
//! One sender key serves audio, video and every peer connection of its sender, so the counters
//! of all of them share one window: about 580 counters per second in an eight-person call. A
//! window of 1,024 counters keeps a frame that arrives ~1.7 s late at that rate.

/// Width of the window: counters this far or further below the highest seen are "too old".
pub const REPLAY_WINDOW: u64 = 1_024;

const WORDS: usize = 16; // 16 x 64 bits = REPLAY_WINDOW
const _: () = assert!(WORDS as u64 * 64 == REPLAY_WINDOW);

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Already received.
    Duplicate,
    /// Older than the window.
    TooOld,
}

/// A [`REPLAY_WINDOW`]-counter sliding window.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest counter recorded, if any.
    highest: Option<u64>,
    /// Bit `i % 64` of word `i / 64` set = counter `highest - i` was recorded.
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    fn bit(&self, age: u64) -> bool {
        // age < REPLAY_WINDOW, so both indices are in range
        let (word, bit) = (age / 64, age % 64);
        usize::try_from(word)
            .ok()
            .and_then(|w| self.seen.get(w))
            .is_some_and(|w| w & (1u64 << bit) != 0)
    }

    fn set_bit(&mut self, age: u64) {
        let (word, bit) = (age / 64, age % 64);
        if let Some(w) = usize::try_from(word)
            .ok()
            .and_then(|w| self.seen.get_mut(w))
        {
            *w |= 1u64 << bit;
        }
    }

    /// Moves the window up by `shift` counters (bit ages grow by `shift`).
    fn shift_up(&mut self, shift: u64) {
        if shift >= REPLAY_WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        // shift < 1024, so these fit in usize everywhere
        let words = usize::try_from(shift / 64).unwrap_or(WORDS);
        let bits = u32::try_from(shift % 64).unwrap_or(0);
        let mut out = [0u64; WORDS];
        for (i, slot) in out.iter_mut().enumerate().skip(words) {
            let src = i - words;
            let mut v = self.seen[src] << bits;
            if bits > 0 && src > 0 {
                v |= self.seen[src - 1] >> (64 - bits);
            }
            *slot = v;
        }
        self.seen = out;
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
        if self.bit(age) {
            Err(ReplayVerdict::Duplicate)
        } else {
            Ok(())
        }
    }

    /// How far `ctr` is below the highest counter recorded (`None`: above it or nothing yet).
    pub fn age(&self, ctr: u64) -> Option<u64> {
        self.highest.and_then(|h| h.checked_sub(ctr))
    }

    /// Records an authenticated counter (call only after [`Self::check`] passed).
    pub fn record(&mut self, ctr: u64) {
        match self.highest {
            None => {
                self.highest = Some(ctr);
                self.seen = [0; WORDS];
                self.set_bit(0);
            }
            Some(highest) if ctr > highest => {
                self.shift_up(ctr - highest);
                self.set_bit(0);
                self.highest = Some(ctr);
            }
            Some(highest) => {
                let age = highest - ctr;
                if age < REPLAY_WINDOW {
                    self.set_bit(age);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, ctr: u64) {
        assert_eq!(w.check(ctr), Ok(()), "{ctr}");
        w.record(ctr);
    }

    #[test]
    fn accepts_reordering_inside_the_window_and_refuses_duplicates_and_old() {
        let mut w = ReplayWindow::new();
        for ctr in [5u64, 3, 4, 2000, 1000] {
            accept(&mut w, ctr);
        }
        assert_eq!(w.check(5), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(2000), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(1000), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(2000 - 1023), Ok(()));
        assert_eq!(w.check(2000 - 1024), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(2001), Ok(()));
        w.record(u64::MAX);
        assert_eq!(w.check(u64::MAX), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(0), Err(ReplayVerdict::TooOld));
    }

    #[test]
    fn a_frame_900_counters_late_is_accepted_and_1100_late_refused() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 0);
        accept(&mut w, 1_100);
        // 1,100 counters late: out of the window
        assert_eq!(w.check(0), Err(ReplayVerdict::TooOld));
        // 900 late: in it (the old 128-counter window refused this)
        accept(&mut w, 200);
        assert_eq!(w.check(200), Err(ReplayVerdict::Duplicate));
        // ...and the bits survive shifts by odd amounts across word boundaries
        accept(&mut w, 1_100 + 65);
        assert_eq!(w.check(200), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(1_100), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(201), Ok(()));
    }

    /// The bitmap against a plain set of recorded counters, over many shifts.
    #[test]
    fn matches_a_set_model() {
        let mut w = ReplayWindow::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut highest = 0u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ctr = if x % 3 == 0 {
                highest + x % 150
            } else {
                highest.saturating_sub(x % 1_200)
            };
            let expected = if seen.is_empty() || ctr > highest {
                Ok(())
            } else if highest - ctr >= REPLAY_WINDOW {
                Err(ReplayVerdict::TooOld)
            } else if seen.contains(&ctr) {
                Err(ReplayVerdict::Duplicate)
            } else {
                Ok(())
            };
            assert_eq!(w.check(ctr), expected, "{ctr} / {highest}");
            if expected.is_ok() {
                w.record(ctr);
                seen.insert(ctr);
                highest = highest.max(ctr);
            }
        }
    }
}
