//! [`WorldStopped`], the proof that the world is stopped (Go's "The world must be stopped"
//! precondition, as a type). See the crate docs for the overview.
//!
//! The token is made only by [`Sched::stop_the_world`] and [`GCtx::stop_the_world`] (its fields
//! are private and it has no public constructor), and at most one exists per scheduler at a time.
//! Dropping it, or [`start_the_world`](WorldStopped::start_the_world), starts the world again.

use core::fmt;
use core::time::Duration;

use crate::sched::Sched;
use crate::state::GStatus;
#[cfg(doc)]
use crate::GCtx;

/// Proof that the world is stopped: every P is idle or held by a goroutine parked at a
/// safepoint, except the stopper's own P when the stopper is a goroutine.
///
/// While it lives no goroutine runs user code (other than the stopper, whose context it
/// borrows), no P is handed out, and no worker runs [`with_p`](crate::WorkerCtx::with_p).
/// Functions that need a stopped world take `&WorldStopped` or `&mut WorldStopped`.
#[doc(alias = "worldsema")]
#[must_use = "the world starts again as soon as the token is dropped"]
pub struct WorldStopped<'a, P: Send + 'static, G: Send + Sync + 'static> {
    sched: &'a Sched<P, G>,
    reason: &'static str,
    stop_duration: Duration,
}

impl<'a, P: Send + 'static, G: Send + Sync + 'static> WorldStopped<'a, P, G> {
    /// The world is stopped (the caller has checked): make the token.
    pub(crate) fn new(sched: &'a Sched<P, G>, reason: &'static str, d: Duration) -> Self {
        WorldStopped { sched, reason, stop_duration: d }
    }

    /// Visit every P's payload, in P order, including the stopper's own P when the stopper is
    /// a goroutine (Go's `for _, p := range allp` with the world stopped).
    pub fn each_p(&mut self, mut f: impl FnMut(usize, &mut P)) {
        for (i, slot) in self.sched.procs.iter().enumerate() {
            // The world is stopped (this token exists): no G is `Running` except a G stopper,
            // whose `GCtx` this token borrows mutably, no worker is inside `with_p`, and a
            // parked G cannot resume until the token is dropped.
            // SAFETY: so the token holder owns every payload exclusively (see `PSlot`), and
            // `&mut self` keeps this borrow unique for the duration of `f`.
            slot.0.with_mut(|ptr| f(i, unsafe { &mut *ptr }));
        }
    }

    /// Visit every live goroutine's payload (Go's `forEachG`). The goroutines are parked at a
    /// safepoint or hold no P (or are the stopper). A goroutine spawned during the call may
    /// or may not be visited. A handshake running concurrently (from another thread) may be
    /// reading the same payloads: `G`'s interior mutability must allow that.
    #[doc(alias = "forEachG")]
    pub fn each_g(&self, mut f: impl FnMut(&G)) {
        let gs: Vec<_> = {
            let st = self.sched.lock();
            st.gs.values().filter(|s| s.status != GStatus::Dead).map(|s| s.g.clone()).collect()
        };
        for g in &gs {
            f(g);
        }
    }

    /// How long stopping took: from the request (the moment the stop bit was published to the
    /// goroutines) until every P was stopped. Go's STW pause is this plus the time the world
    /// stays stopped. Always zero under loom.
    pub fn stop_duration(&self) -> Duration {
        self.stop_duration
    }

    /// The reason given to `stop_the_world` (Go's `stwReason`).
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The scheduler whose world is stopped.
    pub fn sched(&self) -> &'a Sched<P, G> {
        self.sched
    }

    /// Start the world again (Go's `startTheWorld`): parked goroutines resume, idle Ps are
    /// handed to waiting goroutines and workers. Dropping the token does the same.
    #[doc(alias = "startTheWorld")]
    pub fn start_the_world(self) {
        drop(self);
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for WorldStopped<'_, P, G> {
    fn drop(&mut self) {
        self.sched.start_the_world();
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> fmt::Debug for WorldStopped<'_, P, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorldStopped")
            .field("reason", &self.reason)
            .field("stop_duration", &self.stop_duration)
            .finish()
    }
}

/// Measures the time to stop the world with `std::time::Instant`; under loom (which has no
/// clock) it always reads zero.
pub(crate) struct Stopwatch {
    #[cfg(not(loom))]
    start: std::time::Instant,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(not(loom))]
            start: std::time::Instant::now(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        #[cfg(not(loom))]
        return self.start.elapsed();
        #[cfg(loom)]
        return Duration::ZERO;
    }
}
