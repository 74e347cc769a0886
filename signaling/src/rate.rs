/// A token bucket: `rate_per_sec` tokens a second, at most `burst` saved up. The clock is
/// passed in (ms), so it is deterministic. Starts full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimiter {
    rate_per_sec: u64,
    burst: u64,
    /// Tokens in thousandths, so that slow rates refill smoothly.
    milli_tokens: u64,
    last_ms: u64,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32, now_ms: u64) -> Self {
        let burst = u64::from(burst.max(1));
        Self {
            rate_per_sec: u64::from(rate_per_sec),
            burst,
            milli_tokens: burst * 1000,
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one. A clock that goes backwards refills nothing.
    pub fn try_acquire(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let refill = elapsed.saturating_mul(self.rate_per_sec);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(refill)
            .min(self.burst * 1000);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Whole tokens available now (for tests and metrics).
    pub fn available(&self) -> u64 {
        self.milli_tokens / 1000
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut r = RateLimiter::new(50, 100, 0);
        assert_eq!((0..100).filter(|_| r.try_acquire(0)).count(), 100);
        assert!(!r.try_acquire(0));
        // 20 ms at 50/s refills exactly one token.
        assert!(!r.try_acquire(19));
        assert!(r.try_acquire(20));
        assert!(!r.try_acquire(20));
        // A long pause refills to the burst, not beyond.
        assert_eq!((0..1000).filter(|_| r.try_acquire(100_000)).count(), 100);
    }

    #[test]
    fn sustained_rate_is_respected() {
        let mut r = RateLimiter::new(50, 100, 0);
        // 10 s of one attempt per ms: burst + 50/s * 10 s.
        let ok = (0..10_000u64).filter(|&t| r.try_acquire(t)).count();
        assert!((599..=601).contains(&ok), "{ok}");
    }

    #[test]
    fn clock_going_backwards_does_not_refill() {
        let mut r = RateLimiter::new(50, 1, 1_000);
        assert!(r.try_acquire(1_000));
        assert!(!r.try_acquire(500));
        assert!(!r.try_acquire(1_000));
        assert!(r.try_acquire(1_020));
    }

    #[test]
    fn zero_burst_means_one() {
        let mut r = RateLimiter::new(0, 0, 0);
        assert!(r.try_acquire(0));
        assert!(!r.try_acquire(u64::MAX));
    }
}
