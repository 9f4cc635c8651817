//! `--rate-limit N`: the emulator's throttle, a token bucket per tenancy (the emulator serves
//! one tenancy, so one bucket per emulator). The bucket holds at most `N` tokens (a burst of
//! `N` requests) and refills at `N` tokens per second, continuously, at millisecond
//! resolution; it starts full. Every request that reaches the emulator takes one token; a
//! request that finds none is answered 429 `TooManyRequests` *without* `retry-after` (as OCI
//! often answers) and takes nothing, so a throttled client that keeps retrying does not starve
//! itself further.
//!
//! Pure: [`TokenBucket`] is driven by the instants it is given (the middleware passes the
//! emulator's injected clock), never reads a clock, and never sleeps.

/// Milli-tokens per token: the bucket counts in thousandths so a refill of `N` tokens per
/// second is exactly `N` milli-tokens per millisecond.
const MILLI: u64 = 1000;

/// A token bucket of `rate` tokens, refilled at `rate` tokens per second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Burst size and refill per second (at least 1).
    rate: u64,
    /// Tokens available, in milli-tokens (at most `rate * MILLI`).
    milli_tokens: u64,
    /// The instant (Unix milliseconds) the bucket was last refilled up to.
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket of `rate` tokens (a `rate` of 0 is taken as 1) as of `now_ms`.
    #[must_use]
    pub fn new(rate: u32, now_ms: i64) -> Self {
        let rate = u64::from(rate.max(1));
        Self {
            rate,
            milli_tokens: rate * MILLI,
            last_ms: now_ms,
        }
    }

    /// Takes one token at `now_ms` if there is one (after refilling for the time since the
    /// last call). An instant earlier than the last one seen (a clock stepping back) refills
    /// nothing and does not move the bucket's time back.
    pub fn try_take(&mut self, now_ms: i64) -> bool {
        if now_ms > self.last_ms {
            let elapsed = now_ms.abs_diff(self.last_ms);
            let refill = elapsed.saturating_mul(self.rate);
            self.milli_tokens = self
                .milli_tokens
                .saturating_add(refill)
                .min(self.rate * MILLI);
            self.last_ms = now_ms;
        }
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arbitrary fixed instant (2023-11-14T22:13:20Z).
    const T0: i64 = 1_700_000_000_000;

    fn taken(bucket: &mut TokenBucket, at: i64, tries: usize) -> usize {
        (0..tries).filter(|_| bucket.try_take(at)).count()
    }

    #[test]
    fn a_full_bucket_allows_a_burst_of_rate_requests_then_refuses() {
        let mut b = TokenBucket::new(5, T0);
        assert_eq!(taken(&mut b, T0, 20), 5);
        assert!(!b.try_take(T0));
    }

    #[test]
    fn it_refills_rate_tokens_per_second_continuously() {
        let mut b = TokenBucket::new(5, T0);
        assert_eq!(taken(&mut b, T0, 5), 5);
        // One token every 200 ms at 5/s.
        assert!(!b.try_take(T0 + 199));
        assert!(b.try_take(T0 + 200));
        assert!(!b.try_take(T0 + 200));
        // A whole second gives 5 more.
        assert_eq!(taken(&mut b, T0 + 1200, 20), 5);
        // Fractions accumulate: 100 ms + 100 ms is one token.
        assert!(!b.try_take(T0 + 1300));
        assert!(b.try_take(T0 + 1400));
    }

    #[test]
    fn an_idle_bucket_never_holds_more_than_the_burst() {
        let mut b = TokenBucket::new(3, T0);
        assert_eq!(taken(&mut b, T0 + 3_600_000, 20), 3);
        let mut b = TokenBucket::new(3, i64::MIN);
        assert_eq!(
            taken(&mut b, i64::MAX, 20),
            3,
            "no overflow at the far ends"
        );
    }

    #[test]
    fn refused_requests_take_nothing() {
        let mut b = TokenBucket::new(1, T0);
        assert!(b.try_take(T0));
        for ms in (0..1000).step_by(100) {
            assert!(!b.try_take(T0 + ms));
        }
        assert!(
            b.try_take(T0 + 1000),
            "the refusals did not delay the refill"
        );
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing_and_keeps_the_bucket_time() {
        let mut b = TokenBucket::new(2, T0);
        assert_eq!(taken(&mut b, T0, 2), 2);
        assert!(!b.try_take(T0 - 10_000));
        assert!(!b.try_take(T0 + 499));
        assert!(b.try_take(T0 + 500));
    }

    #[test]
    fn a_rate_of_zero_is_one_per_second_and_large_rates_do_not_overflow() {
        let mut b = TokenBucket::new(0, T0);
        assert_eq!(taken(&mut b, T0, 5), 1);
        let mut b = TokenBucket::new(u32::MAX, T0);
        assert_eq!(taken(&mut b, T0, 1000), 1000);
        assert!(b.try_take(i64::MAX));
    }

    #[test]
    fn over_a_window_at_most_burst_plus_rate_times_elapsed_succeed() {
        let mut b = TokenBucket::new(10, T0);
        // A request every 7 ms for 3 s.
        let ok = (0..=3000)
            .step_by(7)
            .filter(|ms| b.try_take(T0 + ms))
            .count();
        assert!(ok <= 10 + 10 * 3, "{ok}");
        assert!(ok >= 10 * 3, "{ok}");
    }
}
