//! The one adaptive concurrency limiter every request *attempt* of the client passes through,
//! reads and writes alike: [`Limiter`] (async, tokio) around the pure decision core [`Aimd`],
//! and [`Throughput`], the cheap snapshot of its state that progress lines show.
//!
//! The rule is AIMD (additive increase, multiplicative decrease):
//!
//! - The limit starts at the cap (`--parallelism`) and never exceeds it. Every attempt holds a
//!   permit while it is on the wire (request sent, answer read); a retry's sleep holds none.
//! - A *throttle* is an answer 429 `TooManyRequests` or 503 `ServiceUnavailable`. It halves the
//!   limit (floor 1), but at most once per window: a window is one generation of attempts, the
//!   ones started since the last decrease. A throttle answering an attempt started before that
//!   decrease was sent under the old limit and says nothing new, so a burst of 429s from one
//!   window halves the limit once instead of collapsing it to 1 (TCP reduces once per round
//!   trip for the same reason).
//! - Each success counts towards growth: after `limit` successes in a row without a decrease,
//!   the limit grows by one (about +1 per round trip), up to the cap.
//! - Concurrency alone cannot slow a client whose round trip is shorter than the service's
//!   rate allows (an emulator with no latency answers in about a millisecond, so even one
//!   request in flight is hundreds per second). So a counted throttle that finds the limit
//!   already at 1, or comes while paced, sets a *pace*: at most 95 % as many attempt starts
//!   per second as succeeded in the second before it (what the service just accepted), so its
//!   budget refills. The pace then grows by 5 % per second without a counted throttle and is
//!   lifted after 10 s without one. A paced attempt waits for its start slot holding its
//!   permit.
//!
//! [`Aimd`] is pure: it decides from the instants (microseconds since the limiter was made) it
//! is given and never reads a clock; [`Limiter`] reads tokio's clock and sleeps for the pace.
//! Permits queue in FIFO order (a tokio semaphore); a decrease that finds permits on the wire
//! takes them back as they are returned.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Microseconds in a second.
const SECOND_US: u64 = 1_000_000;
/// Growth of the pace per second without a counted throttle (5 %).
const PACE_GROWTH_PER_SECOND: f64 = 1.05;
/// The share of the rate the service just accepted that a throttle paces at: a little below
/// it, so the service's budget refills and the next throttle is seconds away, not one request.
const PACE_SHARE: f64 = 0.95;
/// Time without a counted throttle after which the pace is lifted.
const PACE_LIFTED_AFTER_US: u64 = 10 * SECOND_US;

/// How one attempt ended, for the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Success,
    /// 429 or 503: the service asks for less.
    Throttled,
    /// Anything else (another error, a transport failure, a cancelled attempt): no signal.
    Other,
}

/// What the limiter is doing now: shown in progress lines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Attempts allowed in flight now (1 ..= `cap`).
    pub limit: usize,
    /// The most ever allowed (`--parallelism`).
    pub cap: usize,
    /// Attempts on the wire now (may exceed `limit` just after a decrease).
    pub in_flight: usize,
    /// Throttled answers (429 or 503) seen so far, counted or not.
    pub throttles: u64,
    /// Attempt starts allowed per second while paced after a throttle; `None` when not paced.
    pub pace_per_second: Option<f64>,
}

/// The pace set by a counted throttle.
#[derive(Clone, Debug, PartialEq)]
struct Pace {
    /// Starts allowed per second.
    per_second: f64,
    /// When the last counted throttle set it.
    set_us: u64,
    /// When `per_second` last grew.
    grown_us: u64,
    /// The earliest start of the next attempt.
    next_start_us: u64,
}

/// The pure AIMD decisions (see the module header). Instants are microseconds on any clock
/// that does not go back.
#[derive(Clone, Debug)]
pub struct Aimd {
    cap: usize,
    limit: usize,
    /// Bumped by every decrease; an attempt remembers the generation it started in.
    generation: u64,
    /// Successes since the limit last changed.
    successes: usize,
    throttles: u64,
    pace: Option<Pace>,
    /// Instants of the successes of the last second (for the pace a throttle sets).
    recent: VecDeque<u64>,
}

impl Aimd {
    /// A limiter core at its cap (0 counts as 1).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            limit: cap,
            generation: 0,
            successes: 0,
            throttles: 0,
            pace: None,
            recent: VecDeque::new(),
        }
    }

    /// The current limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The generation an attempt starting now belongs to.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Starts per second allowed at `now_us`, if paced.
    #[must_use]
    pub fn pace_per_second(&self, now_us: u64) -> Option<f64> {
        self.pace
            .as_ref()
            .filter(|p| now_us.saturating_sub(p.set_us) < PACE_LIFTED_AFTER_US)
            .map(|p| p.per_second)
    }

    /// Reserves the start of an attempt that asks at `now_us`: `now_us` unless paced, else the
    /// next free slot of the pace (which then moves one interval on).
    pub fn reserve_start(&mut self, now_us: u64) -> u64 {
        if self.pace_per_second(now_us).is_none() {
            self.pace = None;
            return now_us;
        }
        let Some(pace) = self.pace.as_mut() else {
            return now_us;
        };
        let interval = interval_us(pace.per_second);
        let start = pace.next_start_us.max(now_us);
        pace.next_start_us = start.saturating_add(interval);
        start
    }

    /// Records how an attempt started in `generation` ended at `now_us`, and returns the change
    /// of the limit (+1, 0, or minus the decrease).
    pub fn record(&mut self, generation: u64, outcome: Outcome, now_us: u64) -> isize {
        while self
            .recent
            .front()
            .is_some_and(|t| now_us.saturating_sub(*t) >= SECOND_US)
        {
            self.recent.pop_front();
        }
        match outcome {
            Outcome::Other => 0,
            Outcome::Success => {
                self.recent.push_back(now_us);
                if let Some(pace) = self.pace.as_mut() {
                    let elapsed = now_us.saturating_sub(pace.grown_us);
                    #[allow(clippy::cast_precision_loss)]
                    let seconds = elapsed as f64 / SECOND_US as f64;
                    pace.per_second *= PACE_GROWTH_PER_SECOND.powf(seconds);
                    pace.grown_us = now_us;
                }
                if self.limit >= self.cap {
                    self.successes = 0;
                    return 0;
                }
                self.successes += 1;
                if self.successes >= self.limit {
                    self.successes = 0;
                    self.limit += 1;
                    1
                } else {
                    0
                }
            }
            Outcome::Throttled => {
                self.throttles += 1;
                if generation != self.generation {
                    // Sent before the last decrease: this window already answered.
                    return 0;
                }
                self.generation += 1;
                self.successes = 0;
                let old = self.limit;
                if old == 1 || self.pace_per_second(now_us).is_some() {
                    // One in flight is still too many (or was, and the pace has grown past
                    // what the service allows): pace the starts at what it just accepted.
                    #[allow(clippy::cast_precision_loss)]
                    let accepted = (self.recent.len() as f64 * PACE_SHARE).max(1.0);
                    let next_start_us = self
                        .pace
                        .as_ref()
                        .map_or(now_us, |p| p.next_start_us.max(now_us));
                    self.pace = Some(Pace {
                        per_second: accepted,
                        set_us: now_us,
                        grown_us: now_us,
                        next_start_us,
                    });
                }
                self.limit = (old / 2).max(1);
                -isize::try_from(old - self.limit).unwrap_or(isize::MAX)
            }
        }
    }

    /// The state as [`Throughput`], with `in_flight` attempts on the wire.
    #[must_use]
    pub fn throughput(&self, in_flight: usize, now_us: u64) -> Throughput {
        Throughput {
            limit: self.limit,
            cap: self.cap,
            in_flight,
            throttles: self.throttles,
            pace_per_second: self.pace_per_second(now_us),
        }
    }
}

/// Microseconds between starts at `per_second` starts per second (at least 1 µs).
fn interval_us(per_second: f64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let us = SECOND_US as f64 / per_second.max(0.001);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let us = us.min(u64::MAX as f64 / 2.0) as u64;
    us.max(1)
}

struct State {
    aimd: Aimd,
    /// Permits still to take back from those on the wire, after a decrease.
    debt: usize,
    in_flight: usize,
}

/// The async limiter: a FIFO semaphore of `limit` permits driven by [`Aimd`].
pub struct Limiter {
    permits: Semaphore,
    state: Mutex<State>,
    origin: tokio::time::Instant,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Limiter").field(&self.throughput()).finish()
    }
}

impl Limiter {
    /// A limiter of at most `cap` attempts in flight (0 counts as 1), starting at the cap.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        let aimd = Aimd::new(cap);
        Self {
            permits: Semaphore::new(aimd.limit()),
            state: Mutex::new(State {
                aimd,
                debt: 0,
                in_flight: 0,
            }),
            origin: tokio::time::Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The most attempts ever in flight.
    #[must_use]
    pub fn cap(&self) -> usize {
        self.lock().aimd.cap
    }

    /// What the limiter is doing now.
    #[must_use]
    pub fn throughput(&self) -> Throughput {
        let now = self.now_us();
        let state = self.lock();
        state.aimd.throughput(state.in_flight, now)
    }

    /// Waits for a permit (FIFO) and, when paced, for the attempt's start slot.
    pub async fn acquire(&self) -> Permit<'_> {
        // The semaphore is never closed, so this does not fail; if it ever did, the attempt
        // goes unlimited rather than failing.
        let permit = self.permits.acquire().await.ok();
        let mut permit = Permit {
            limiter: self,
            permit,
            generation: 0,
            on_wire: false,
            outcome: Outcome::Other,
        };
        let start = self.lock().aimd.reserve_start(self.now_us());
        let wait = start.saturating_sub(self.now_us());
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
        let mut state = self.lock();
        state.in_flight += 1;
        permit.on_wire = true;
        permit.generation = state.aimd.generation();
        drop(state);
        permit
    }

    /// Applies a change of the limit to the semaphore.
    fn apply(&self, state: &mut State, change: isize) {
        if change > 0 {
            for _ in 0..change {
                if state.debt > 0 {
                    state.debt -= 1;
                } else {
                    self.permits.add_permits(1);
                }
            }
        } else if change < 0 {
            let take = change.unsigned_abs();
            let taken = self.permits.forget_permits(take);
            state.debt += take - taken;
        }
    }
}

/// A place on the wire; [`Permit::finish`] reports how the attempt ended, dropping it returns
/// the place (a dropped, unfinished permit counts as [`Outcome::Other`]).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    permit: Option<SemaphorePermit<'a>>,
    generation: u64,
    on_wire: bool,
    outcome: Outcome,
}

impl Permit<'_> {
    /// Reports how the attempt ended and returns the permit.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let now = self.limiter.now_us();
        let mut state = self.limiter.lock();
        if self.on_wire {
            state.in_flight = state.in_flight.saturating_sub(1);
            let change = state.aimd.record(self.generation, self.outcome, now);
            self.limiter.apply(&mut state, change);
        }
        if let Some(permit) = self.permit.take() {
            if state.debt > 0 {
                state.debt -= 1;
                permit.forget();
            } else {
                drop(permit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;

    #[track_caller]
    fn assert_close(pace: Option<f64>, expected: f64) {
        let pace = pace.expect("paced");
        assert!((pace - expected).abs() < 1e-9, "{pace} != {expected}");
    }

    #[test]
    fn a_burst_of_throttles_from_one_window_halves_the_limit_once() {
        let mut a = Aimd::new(16);
        let g = a.generation();
        assert_eq!(a.record(g, Outcome::Throttled, 10 * MS), -8);
        assert_eq!(a.limit(), 8);
        // The rest of the burst started in the same window: no further decrease.
        for t in 0..20 {
            assert_eq!(a.record(g, Outcome::Throttled, (11 + t) * MS), 0);
        }
        assert_eq!(a.limit(), 8);
        assert_eq!(
            a.throughput(0, 40 * MS).throttles,
            21,
            "every 429 is counted"
        );
        // An attempt of the next window throttled halves it again.
        let g2 = a.generation();
        assert_ne!(g, g2);
        assert_eq!(a.record(g2, Outcome::Throttled, 50 * MS), -4);
        assert_eq!(a.limit(), 4);
    }

    #[test]
    fn the_limit_never_goes_below_one() {
        let mut a = Aimd::new(3);
        for t in 0..10 {
            let g = a.generation();
            a.record(g, Outcome::Throttled, t * MS);
            assert!(a.limit() >= 1);
        }
        assert_eq!(a.limit(), 1);
        let g = a.generation();
        assert_eq!(a.record(g, Outcome::Throttled, 20 * MS), 0, "already at 1");
        assert_eq!(Aimd::new(0).limit(), 1, "a cap of 0 is 1");
    }

    #[test]
    fn successes_grow_the_limit_by_one_per_window_up_to_the_cap() {
        let mut a = Aimd::new(8);
        let g = a.generation();
        a.record(g, Outcome::Throttled, 0);
        a.record(a.generation(), Outcome::Throttled, MS);
        assert_eq!(a.limit(), 2);
        let g = a.generation();
        // At limit 2, two successes grow it to 3; then three more to 4.
        assert_eq!(a.record(g, Outcome::Success, 2 * MS), 0);
        assert_eq!(a.record(g, Outcome::Success, 3 * MS), 1);
        assert_eq!(a.limit(), 3);
        assert_eq!(a.record(g, Outcome::Success, 4 * MS), 0);
        assert_eq!(a.record(g, Outcome::Success, 5 * MS), 0);
        assert_eq!(a.record(g, Outcome::Success, 6 * MS), 1);
        assert_eq!(a.limit(), 4);
        // Other outcomes neither grow nor shrink.
        for t in 0..10 {
            assert_eq!(a.record(g, Outcome::Other, (7 + t) * MS), 0);
        }
        assert_eq!(a.limit(), 4);
        for t in 0..1_000 {
            a.record(g, Outcome::Success, (20 + t) * MS);
        }
        assert_eq!(a.limit(), 8, "never above the cap");
        assert_eq!(a.record(g, Outcome::Success, 2_000 * MS), 0);
    }

    #[test]
    fn a_counted_throttle_at_limit_one_paces_starts_at_what_the_service_accepted() {
        let mut a = Aimd::new(2);
        let g = a.generation();
        a.record(g, Outcome::Throttled, 0);
        assert_eq!(a.limit(), 1);
        assert_eq!(
            a.pace_per_second(0),
            None,
            "above 1, concurrency adapts alone"
        );
        assert_eq!(a.reserve_start(0), 0, "not paced: start now");
        assert_eq!(a.reserve_start(0), 0);
        // 50 successes in the last second, 20 more long before it.
        for t in 0..20 {
            a.record(0, Outcome::Success, t * MS);
        }
        for t in 0..50 {
            a.record(0, Outcome::Success, 5_000 * MS + t * 10 * MS);
        }
        assert_eq!(a.limit(), 2, "the successes grew it back");
        let now = 5_600 * MS;
        a.record(a.generation(), Outcome::Throttled, now);
        assert_eq!(a.pace_per_second(now), None, "2 -> 1: not paced yet");
        a.record(a.generation(), Outcome::Throttled, now);
        assert_close(a.pace_per_second(now), 47.5); // 95 % of the 50 accepted
        // Starts are 1/47.5 s apart from now on.
        assert_eq!(a.reserve_start(now), now);
        assert_eq!(a.reserve_start(now), now + 21_052);
        assert_eq!(a.reserve_start(now + MS), now + 42_104);
        // A late asker starts at once and the slots move on from there.
        assert_eq!(a.reserve_start(now + 500 * MS), now + 500 * MS);
        assert_eq!(a.reserve_start(now + 500 * MS), now + 521_052);
        // While paced, a counted throttle re-paces even when successes grew the limit back.
        a.record(a.generation(), Outcome::Success, now + 10 * MS);
        assert_eq!(a.limit(), 2);
        a.record(a.generation(), Outcome::Throttled, now + 20 * MS);
        assert_eq!(a.limit(), 1);
        assert_close(a.pace_per_second(now + 20 * MS), 51.0 * 0.95);
    }

    #[test]
    fn the_pace_grows_five_percent_a_second_and_is_lifted_after_ten_quiet_seconds() {
        let mut a = Aimd::new(1);
        for t in 0..10 {
            a.record(0, Outcome::Success, t * MS);
        }
        a.record(0, Outcome::Throttled, 100 * MS);
        assert_close(a.pace_per_second(100 * MS), 9.5);
        a.record(1, Outcome::Success, 1_100 * MS);
        assert_close(a.pace_per_second(1_100 * MS), 9.975);
        assert!(a.pace_per_second(10_099 * MS).is_some());
        assert_eq!(a.pace_per_second(10_100 * MS), None);
        assert_eq!(a.reserve_start(10_100 * MS), 10_100 * MS);
        assert_eq!(a.reserve_start(10_100 * MS), 10_100 * MS, "no longer paced");
    }

    #[test]
    fn an_uncounted_throttle_neither_shrinks_nor_repaces() {
        let mut a = Aimd::new(1);
        for t in 0..30 {
            a.record(0, Outcome::Success, t * MS);
        }
        a.record(0, Outcome::Throttled, 100 * MS);
        assert_close(a.pace_per_second(100 * MS), 28.5);
        // A stale throttle a second later, with no success since: the pace stays.
        a.record(0, Outcome::Throttled, 1_500 * MS);
        assert_close(a.pace_per_second(1_500 * MS), 28.5);
        assert_eq!(a.limit(), 1);
    }

    #[tokio::test]
    async fn permits_follow_the_limit_and_a_decrease_takes_back_permits_on_the_wire() {
        let limiter = Limiter::new(4);
        let held: Vec<Permit<'_>> = vec![
            limiter.acquire().await,
            limiter.acquire().await,
            limiter.acquire().await,
            limiter.acquire().await,
        ];
        let t = limiter.throughput();
        assert_eq!((t.limit, t.cap, t.in_flight), (4, 4, 4));
        assert_eq!(limiter.permits.available_permits(), 0);
        let mut held = held.into_iter();
        // One throttle: the limit halves to 2, and two of the four places are taken back as
        // they come home.
        held.next().unwrap().finish(Outcome::Throttled);
        let t = limiter.throughput();
        assert_eq!((t.limit, t.in_flight, t.throttles), (2, 3, 1));
        held.next().unwrap().finish(Outcome::Throttled);
        assert_eq!(
            limiter.throughput().limit,
            2,
            "same window: no second decrease"
        );
        assert_eq!(limiter.permits.available_permits(), 0);
        drop(held.next());
        assert_eq!(limiter.permits.available_permits(), 1);
        drop(held.next());
        assert_eq!(limiter.permits.available_permits(), 2);
        assert_eq!(limiter.throughput().in_flight, 0);
        // Two successes at limit 2 grow it to 3: one more permit.
        let g = vec![limiter.acquire().await, limiter.acquire().await];
        assert!(limiter.permits.try_acquire().is_err(), "limit 2 reached");
        for p in g {
            p.finish(Outcome::Success);
        }
        assert_eq!(limiter.throughput().limit, 3);
        assert_eq!(limiter.permits.available_permits(), 3);
    }
}
