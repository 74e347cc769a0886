//! Back-off delays, and the small deterministic generator that jitters them (seeded from an
//! input, so that every run of a test is the same; it protects nothing, it only spreads
//! reconnects out).

/// Exponential back-off: `base`, `2 base`, `4 base` ... capped at `max`, for attempt 1, 2, 3 ...
/// (attempt 0 counts as 1).
pub fn exponential(base_ms: u64, max_ms: u64, attempt: u32) -> u64 {
    let shift = attempt.saturating_sub(1).min(40);
    base_ms.saturating_mul(1u64 << shift).min(max_ms)
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, full period; not for secrets.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `[lo, hi]` (both inclusive; `lo` if `hi <= lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match hi.checked_sub(lo) {
            Some(span) if span > 0 => {
                let r = self.next_u64();
                span.checked_add(1).map_or(r, |m| lo + r % m)
            }
            _ => lo,
        }
    }

    /// "Equal jitter": a delay in `[c/2, c]` with `c = min(max, base * 2^attempt)`.
    pub fn equal_jitter(&mut self, base_ms: u64, max_ms: u64, attempt: u32) -> u64 {
        let ceiling = exponential(base_ms, max_ms, attempt.saturating_add(1));
        self.between(ceiling / 2, ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=6).map(|n| exponential(1_000, 8_000, n)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        assert_eq!(exponential(1_000, 8_000, 0), 1_000);
        assert_eq!(exponential(u64::MAX, u64::MAX, u32::MAX), u64::MAX);
    }

    #[test]
    fn jitter_is_deterministic_and_stays_in_range() {
        let mut a = Jitter::new(7);
        let mut b = Jitter::new(7);
        for attempt in 0..20 {
            let d = a.equal_jitter(250, 4_000, attempt);
            assert_eq!(d, b.equal_jitter(250, 4_000, attempt));
            let ceiling = (250u64 << attempt.min(10)).min(4_000);
            assert!((ceiling / 2..=ceiling).contains(&d), "{attempt}: {d}");
        }
        assert_ne!(Jitter::new(1).next_u64(), Jitter::new(2).next_u64());
        assert_eq!(Jitter::new(3).between(5, 5), 5);
        assert_eq!(Jitter::new(3).between(9, 5), 9);
        let _ = Jitter::new(3).between(0, u64::MAX);
    }
}
