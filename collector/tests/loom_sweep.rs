//! Loom model of an in-flight sweep against mark start (S5 of issue 12), on the production
//! [`ActiveSweep`] (`collector/src/sweep.rs`, Go's `activeSweep`).
//!
//! One span stands for the heap: a flag says whether it is still unswept (its place in the
//! unswept span set), an atomic word holds its mark bits, and a plain cell its allocation
//! bits. The sweeper claims the span, reads the marks into the allocation bits and resets the
//! marks, as `MSpan::sweep` does; mark start finishes the sweep generation and then sets a mark
//! bit and reads the allocation bits, as a marker does. With [`ActiveSweep::finish`] the new
//! mark always survives, and the allocation bits are never read while being written (loom
//! reports that as a data race). A mark start that only sweeps until no span is left to claim
//! (what `sweep_all` did) loses the mark and races with the sweep: the two
//! `*_without_waiting_*` models expect those failures.
//!
//! Run with `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p gomem-collector
//! --release --test loom_sweep`.
#![cfg(loom)]

use gomem_collector::sweep::ActiveSweep;
use gomem_collector::sync::{AtomicBool, AtomicU64, Ordering};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// The model's heap: one span.
struct Span {
    active: ActiveSweep,
    /// Still in the unswept set.
    unswept: AtomicBool,
    /// The span's mark bits (Go's `gcmarkBits`); bit 0 is the new cycle's mark, bit 1 the
    /// previous cycle's.
    marks: AtomicU64,
    /// The span's allocation bits (Go's `allocBits`), written only by the span's sweeper.
    alloc: UnsafeCell<u64>,
}

impl Span {
    fn new() -> Self {
        Span {
            active: ActiveSweep::new(),
            unswept: AtomicBool::new(true),
            marks: AtomicU64::new(0b10),
            alloc: UnsafeCell::new(0b11),
        }
    }

    /// One step of a sweeper outside a P (the collector's `sweep_one`): false once nothing is
    /// left to sweep.
    fn sweep_one(&self) -> bool {
        let Some(_locker) = self.active.begin() else { return false };
        // Claiming the span (pop + sweepgen CAS in the real code).
        if !self.unswept.swap(false, Ordering::Relaxed) {
            self.active.mark_drained();
            return false;
        }
        // MSpan::sweep: the marks become the allocation bits, and the marks are reset.
        let m = self.marks.load(Ordering::Relaxed);
        self.alloc.with_mut(|a| {
            // SAFETY: (model) only the sweeper that claimed the span writes it.
            unsafe { *a = m }
        });
        self.marks.store(0, Ordering::Relaxed);
        true
    }

    /// Mark start, then the marker's first mark; returns the allocation bits it saw (if
    /// `read_alloc`).
    fn mark_start(&self, wait_for_sweepers: bool, read_alloc: bool) -> Option<u64> {
        if wait_for_sweepers {
            self.active.finish(|| self.sweep_one());
        } else {
            // The bug: sweep until no span is left to claim, not until every sweep has ended.
            while self.sweep_one() {}
        }
        self.marks.fetch_or(1, Ordering::Relaxed);
        // The marker reads the span's allocation state (here: is the object allocated?).
        read_alloc.then(|| {
            self.alloc.with(|a| {
                // SAFETY: (model) loom checks that no sweep writes concurrently.
                unsafe { *a }
            })
        })
    }
}

/// Run `f` under loom with a preemption bound (overridable with `LOOM_MAX_PREEMPTIONS`).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    builder.check(f);
}

/// A background sweeper (or `gc()`'s trailing sweep) races with the next cycle's mark start.
fn sweeper_against_mark_start(wait_for_sweepers: bool, read_alloc: bool) {
    model(3, move || {
        let span = Arc::new(Span::new());
        let sweeper = {
            let span = span.clone();
            thread::spawn(move || while span.sweep_one() {})
        };
        let alloc = span.mark_start(wait_for_sweepers, read_alloc);
        sweeper.join().unwrap();
        if read_alloc {
            assert_eq!(alloc, Some(0b10), "the sweep's allocation bits, complete, before marking");
        }
        assert_eq!(span.marks.load(Ordering::Relaxed), 1, "the new cycle's mark was erased");
        assert!(span.active.is_done());
    });
}

#[test]
fn loom_sweep_mark_start_waits_for_an_in_flight_sweep() {
    sweeper_against_mark_start(true, true);
}

/// The deliberate bug, a mark start that does not wait (what `sweep_all` did): the sweep's
/// reset erases the new mark.
#[test]
#[should_panic(expected = "the new cycle's mark was erased")]
fn loom_sweep_mark_start_without_waiting_loses_a_mark() {
    sweeper_against_mark_start(false, false);
}

/// The same bug seen by a marker that reads the span's allocation bits: loom reports the read
/// racing with the sweep's write.
#[test]
#[should_panic(expected = "Causality violation")]
fn loom_sweep_mark_start_without_waiting_races_with_the_sweep() {
    sweeper_against_mark_start(false, true);
}

/// After mark termination's `reset` a new generation can be swept again, and a sweep that
/// begins before the reset is impossible: `begin` fails while drained.
#[test]
fn loom_sweep_reset_starts_a_new_generation() {
    model(3, || {
        let span = Arc::new(Span::new());
        span.mark_start(true, true);
        assert!(span.active.begin().is_none(), "drained: no sweep may begin during mark");
        // Mark termination (world stopped): a new generation with the span unswept again.
        span.unswept.store(true, Ordering::Relaxed);
        span.active.reset();
        let sweeper = {
            let span = span.clone();
            thread::spawn(move || while span.sweep_one() {})
        };
        while span.sweep_one() {}
        sweeper.join().unwrap();
        assert!(span.active.is_done());
        assert_eq!(span.marks.load(Ordering::Relaxed), 0, "swept once more: marks reset");
        // SAFETY: (model) both sweepers have been joined.
        assert_eq!(span.alloc.with(|a| unsafe { *a }), 1);
    });
}

/// The real [`MSpan`]: its sweep's mark-bit reset (`MSpan::sweep`) against the next cycle's
/// `MSpan::try_mark`, ordered only by [`ActiveSweep`] (the sweeper registers with `begin`, mark
/// start runs `finish`). Object 1 was marked by the last cycle; the sweeper claims the span
/// (the real sweepgen CAS) and sweeps it; mark start then marks object 0. The new mark must
/// survive, and object 1 must stay allocated whichever order the two took.
fn real_span_sweep_against_try_mark(wait_for_sweepers: bool) {
    model(3, move || {
        let span = gomem_allocator::mspan::MSpan::loom_toy_span();
        // SAFETY: (model) the last cycle's mark, before any thread runs.
        unsafe { span.try_mark(1) };
        let active = Arc::new(ActiveSweep::new());
        let sweeper = {
            let active = active.clone();
            thread::spawn(move || {
                let Some(_locker) = active.begin() else { return false };
                // SAFETY: (model) 6 is the heap's sweepgen (the span's is 4: unswept), and a
                // win is swept at once.
                if unsafe { span.try_acquire_sweep(6) } {
                    // SAFETY: (model) we won the CAS; marking waits for the locker.
                    unsafe { span.sweep(false) };
                    return true;
                }
                false
            })
        };
        // Mark start: no span left to claim for a sweeper that begins now, then wait for the
        // ones in flight (the bug: go on at once).
        active.mark_drained();
        if wait_for_sweepers {
            active.finish(|| false);
        }
        // SAFETY: (model) the heap is being marked; the mark is checked, not queued.
        unsafe { span.try_mark(0) };
        let swept = sweeper.join().unwrap();
        assert!(span.is_marked(0), "the new cycle's mark was erased by the sweep");
        if swept {
            assert!(span.alloc_bit(1), "the sweep freed an object the last cycle marked");
        }
    });
}

#[test]
fn loom_sweep_real_span_try_mark_after_finish_survives_the_reset() {
    real_span_sweep_against_try_mark(true);
}

/// The deliberate bug on the real span: mark start without waiting for the in-flight sweep.
#[test]
#[should_panic(expected = "the new cycle's mark was erased by the sweep")]
fn loom_sweep_real_span_try_mark_without_waiting_is_erased() {
    real_span_sweep_against_try_mark(false);
}
