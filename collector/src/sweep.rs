//! Who is sweeping, so that marking never starts under a sweep (Go's `activeSweep` in
//! `mgcsweep.go`).
//!
//! Sweeping a span frees its unmarked objects and resets its mark bits. Marking sets mark bits.
//! So a span swept after the next cycle's mark has started loses that cycle's marks (and the
//! objects allocated black), and the cycle frees live objects. Go runs every sweeper on a P and
//! stops the world before marking; gomem's collector sweeps on threads the stop does not stop
//! (the background sweeper, and the trailing sweep of [`Collector::gc`](crate::cycle::Collector::gc),
//! which a goroutine runs after giving up its P). Finding no span left to claim is therefore not
//! enough: a sweeper may have claimed the last one and still be sweeping it.
//!
//! # Invariants
//!
//! 1. Every sweep the collector runs outside a P happens between [`ActiveSweep::begin`] and the
//!    drop of the [`SweepLocker`] it returned (Go's `sweep.active.begin`/`end`); sweeps a P runs
//!    while allocating are ordered by the world's stop instead (the stop waits for the P).
//! 2. [`ActiveSweep::mark_drained`] is called only by a sweeper that found no span to claim in
//!    the current sweep generation; from then on `begin` fails, so no new sweep starts until
//!    [`ActiveSweep::reset`].
//! 3. Mark start waits for [`ActiveSweep::is_done`] (drained and no sweeper active, Go's
//!    `isSweepDone`): every sweep of the previous generation has ended, its mark-bit resets
//!    included, before the first mark bit of the new cycle is set ([`ActiveSweep::finish`],
//!    Go's `finishsweep_m`).
//! 4. [`ActiveSweep::reset`] is called only with the world stopped at mark termination, after the
//!    sweep generation advanced (Go's `gcSweep`): sweeps that begin afterwards sweep the new
//!    generation, whose marks are final.
//!
//! # The collector's sweepers
//!
//! The second half of this file is the sweeping the collector does itself, as methods of
//! [`Collector`] (Go's `mgcsweep.go`): [`Collector::finish_sweep`] (Go's `finishsweep_m`), one
//! span at a time outside a P (`sweep_one`, Go's `sweepone`), the background sweeper thread
//! (`sweeper`, Go's `bgsweep`) and the allocation slow path's extra span (`deduct_sweep_credit`,
//! a simple form of Go's proportional sweep `deductSweepCredit`: one span per refill while the
//! generation is unfinished, with no page-based pacing). All of them go through
//! [`ActiveSweep::begin`], so invariant 1 holds for each.
//!
//! Invariant 3 is tested by `runtime/tests/lost_objects.rs` (whole programs) and modelled by
//! `collector/tests/loom_sweep.rs`, which also shows a mark start that does not wait failing.

use crate::cycle::Collector;
use crate::events::GcEventKind;
use crate::sync::{lock, thread, AtomicU32, Ordering};
use crate::world::{PClass, World};

/// The drained bit of [`ActiveSweep`]'s state (Go's `sweepDrainedMask`); the bits below count
/// the active sweepers.
const DRAINED: u32 = 1 << 31;

/// Active sweepers and whether the sweep generation has run out of spans (Go's `activeSweep`).
#[derive(Debug)]
pub struct ActiveSweep {
    /// [`DRAINED`] plus the number of sweepers between `begin` and `end`.
    state: AtomicU32,
}

impl Default for ActiveSweep {
    fn default() -> Self {
        Self::new()
    }
}

/// Proof that a sweep is registered as active (Go's `sweepLocker`); dropping it ends the sweep
/// (Go's `activeSweep.end`), so a sweep that unwinds still ends.
#[must_use = "the sweep ends when the locker is dropped"]
#[derive(Debug)]
pub struct SweepLocker<'a> {
    active: &'a ActiveSweep,
}

impl ActiveSweep {
    /// No sweeper active, not drained: the state at a heap's creation.
    pub fn new() -> Self {
        ActiveSweep { state: AtomicU32::new(0) }
    }

    /// Register a sweeper (Go's `activeSweep.begin`). `None` once the generation is drained:
    /// there is nothing to sweep, and mark start may be waiting.
    pub fn begin(&self) -> Option<SweepLocker<'_>> {
        // ORDERING: Relaxed first guess; the CAS below decides.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & DRAINED != 0 {
                return None;
            }
            // ORDERING: Acquire on success; pairs with the Release of `reset` (via the world
            // stop that also orders it), so a sweeper of the new generation sees the advanced
            // sweepgen. Failure re-reads.
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(SweepLocker { active: self }),
                Err(s) => state = s,
            }
        }
    }

    /// End a sweep (Go's `activeSweep.end`).
    fn end(&self) {
        // ORDERING: Release; pairs with the Acquire load in `is_done`, so whatever the sweep
        // wrote (mark-bit resets, freed slots, the span's place in its set) happens-before mark
        // start, which waits for `is_done`.
        let old = self.state.fetch_sub(1, Ordering::Release);
        assert!(old & !DRAINED != 0, "activeSweep: end without begin");
    }

    /// Record that a sweeper found no span left to claim (Go's `activeSweep.markDrained`).
    /// Returns whether this call set the bit (the first to find the generation empty).
    pub fn mark_drained(&self) -> bool {
        // ORDERING: AcqRel; the Release half pairs with the Acquire load in `is_done` (the span
        // sets were seen empty before mark start goes on), the Acquire half with `reset`.
        self.state.fetch_or(DRAINED, Ordering::AcqRel) & DRAINED == 0
    }

    /// Sweepers now between `begin` and `end` (Go's `activeSweep.sweepers`).
    pub fn sweepers(&self) -> u32 {
        self.state.load(Ordering::Relaxed) & !DRAINED
    }

    /// Whether the generation is drained (no `begin` can succeed any more).
    pub fn is_drained(&self) -> bool {
        self.state.load(Ordering::Relaxed) & DRAINED != 0
    }

    /// Drained, and every sweeper has ended (Go's `activeSweep.isDone`, `isSweepDone`).
    pub fn is_done(&self) -> bool {
        // ORDERING: Acquire; pairs with the Release of `end` and `mark_drained`.
        self.state.load(Ordering::Acquire) == DRAINED
    }

    /// Finish the sweep generation before marking (Go's `finishsweep_m`): run `sweep_one`
    /// (which sweeps one span under a locker of this tracker, and calls `mark_drained` when
    /// none is left, returning false) until it reports nothing left, then wait until every
    /// other sweeper has ended. When this returns, no sweep of the generation is in progress
    /// and none can begin until [`ActiveSweep::reset`].
    pub fn finish(&self, mut sweep_one: impl FnMut() -> bool) {
        while sweep_one() {}
        // A sweeper that began before the drain is sweeping one span: short, so spin politely.
        while !self.is_done() {
            thread::yield_now();
        }
    }

    /// Start a new sweep generation (Go's `activeSweep.reset`): not drained, no sweeper.
    ///
    /// Call it only at mark termination with the world stopped, after the heap's sweep
    /// generation advanced; the state must be [`is_done`](ActiveSweep::is_done) (a sweep still
    /// active here would be one of the previous generation, ending after the reset).
    pub fn reset(&self) {
        assert!(self.is_done(), "activeSweep: reset with {} sweeper(s) active", self.sweepers());
        // ORDERING: Release; pairs with the Acquire of `begin`.
        self.state.store(0, Ordering::Release);
    }
}

impl Drop for SweepLocker<'_> {
    fn drop(&mut self) {
        self.active.end();
    }
}

impl Collector {
    /// Sweep whatever the current generation has left and wait for every other sweeper outside
    /// a P to end (Go's `finishsweep_m`). When it returns, no sweep runs and none can begin
    /// before the next cycle's mark termination (see [`crate::sweep`]).
    pub fn finish_sweep(&self) {
        self.sweep.active.finish(|| self.sweep_one());
    }

    /// Sweep one span outside a P (Go's `sweepone`), registered with [`Collector::sweep`] for
    /// the span's whole sweep so that mark start can wait for it (see [`crate::sweep`]).
    /// Returns false when nothing is left: this sweeper found no span to claim (and marked the
    /// generation drained), or the generation was drained already.
    pub(crate) fn sweep_one(&self) -> bool {
        let Some(_locker) = self.sweep.active.begin() else { return false };
        // SAFETY: this sweep is registered with `self.sweep.active` (the locker above).
        if unsafe { self.heap.sweep_one_unchecked() }.is_some() {
            return true;
        }
        if self.sweep.active.mark_drained() {
            self.events.record(GcEventKind::SweepDone);
        }
        false
    }

    /// The allocation slow path's share of sweeping (a simple form of Go's
    /// `deductSweepCredit`): one more span while the generation is not drained.
    pub(crate) fn deduct_sweep_credit(&self) {
        if !self.sweep.active.is_drained() {
            self.sweep_one();
        }
    }

    /// The background sweeper thread (Go's `bgsweep`): whenever a sweep generation has spans
    /// left, borrow an idle P and sweep them one by one on it until the generation is drained
    /// or the P is asked back (Go's `goschedIfBusy` after each span), then wait for a P again;
    /// between generations it sleeps without one.
    pub(crate) fn sweeper(&self, world: &dyn World) {
        loop {
            {
                let mut ctl = lock(&self.work.ctl);
                while !ctl.shutdown && self.sweep.active.is_drained() {
                    ctl = self.work.cv.wait(ctl);
                }
                if ctl.shutdown {
                    return;
                }
            }
            // Until the generation is drained (by this thread or another sweeper).
            let mut more = true;
            while more && !self.sweep.active.is_drained() {
                world.borrow_p(PClass::Idle, &mut |_, yield_p| {
                    while more && !yield_p() {
                        more = self.sweep_one();
                    }
                });
            }
        }
    }
}
