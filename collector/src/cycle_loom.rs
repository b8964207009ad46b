//! Loom models of the cycle's hand-shakes, run on the real [`Collector`] code: the ragged flush
//! before mark termination, parking and waking mark assists, and the mark workers' quiescence
//! (the termination check that precedes the stop-the-world).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test
//! -p gomem-collector --release --lib loom_models`.
//!
//! The collector is real (its atomics, locks and condition variables are loom's through
//! `crate::sync`), and so is its heap, but the heap is never allocated from: its arena index is
//! mapped memory that loom cannot track, so no model touches it. Grey objects are stood in for
//! by [`FOREIGN`] words: queuing them is real work-buffer traffic, and shading or scanning one
//! stops at the 47-bit address check before any heap metadata is read.
//!
//! Under loom, timed waits have no timeout (`sync::Condvar::wait_timeout` and the ragged flush's
//! `poll_again`): a wake-up or answer the real code would only get by its time limit makes the
//! model deadlock, which loom reports.
//!
//! Each model's doc says which deliberate bug it was seen to catch and what loom reported.

use super::*;
use crate::sync::thread;
use crate::world::{GcPState, Stopped};
use gomem_allocator::mheap::HeapConfig;

/// A word outside the 47-bit user address space: never a heap pointer, so [`shade`] and
/// `scan_object` drop it without reading heap metadata. The models' grey "objects".
const FOREIGN: usize = 1 << 50;

/// Run `f` under loom (preemption bound 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise).
fn model(f: impl Fn() + Sync + Send + 'static) {
    crate::sync::model(3, f);
}

/// A collector in its mark phase, with no threads started and an empty heap.
fn marking() -> Arc<Collector> {
    let heap = MHeap::new(HeapConfig::default()).expect("heap");
    let c = Collector::new(heap, CollectorConfig::for_tests());
    c.set_phase(Phase::Mark);
    c
}

/// Take everything left in the pool, so no `GcWork` is dropped holding work.
fn drain_pool(c: &Collector) -> usize {
    let mut w = GcWork::new();
    let n = core::iter::from_fn(|| w.try_get(&c.work.pool)).count();
    w.dispose(&c.work.pool);
    n
}

/// The ragged flush (`ragged_flush` on the controller, `answer_flush` from the P's next
/// `assist_alloc`): once the requester has counted every P's answer, the work those Ps held
/// is in the pool *and visible to the requester*, so the quiescence check that follows sees it
/// instead of stopping the world for nothing.
///
/// Deliberate bug seen caught: with the ack counted `Relaxed` in `answer_flush`, or read
/// `Relaxed` in `ragged_flush` (both were, before this model existed), loom reported "the
/// flushed work is not visible to the requester": the requester read `flush_acks == 1` but the
/// pool's `nfull` from before the P's `put_full`.
#[test]
fn loom_models_ragged_flush_publishes_held_work() {
    model(|| {
        let c = marking();
        let p = {
            let c = c.clone();
            thread::spawn(move || {
                let mut gp = GcPState::default();
                // Grey work the P holds in its own buffers, invisible to the workers.
                gp.gcw.put(&c.work.pool, FOREIGN);
                // The P allocates (each allocation calls `assist_alloc`) until it answered.
                while gp.flush_seen == 0 {
                    // SAFETY: `gp` is a P state of this collector that the model holds alone.
                    let outcome = unsafe { c.assist_alloc(&mut gp, 0, &|| false) };
                    assert_eq!(outcome, AssistOutcome::Paid);
                    thread::yield_now();
                }
                assert!(gp.gcw.is_empty(), "answering hands the P's work to the pool");
            })
        };
        c.ragged_flush(1);
        assert!(!c.work.pool.is_empty(), "the flushed work is not visible to the requester");
        p.join().unwrap();
        assert_eq!(drain_pool(&c), 1);
    });
}

/// Parking and waking an assist (`park_assist` against a mark worker's
/// `add_background_credit`): an assist that parks because there is no credit is woken once a
/// worker publishes some, whichever comes first. Under loom the park has no timeout, so a lost
/// wake-up is a deadlock.
///
/// Deliberate bugs seen caught: without `park_assist`'s re-check under `assist_lock` (waiting
/// unconditionally), loom reported `deadlock; threads = [(Id(0), Blocked), (Id(1),
/// Terminated)]` (the worker's wake came before the wait). The code as it was before this
/// model (credit added `Relaxed`, then a SeqCst fence and a SeqCst load of `parked_assists`;
/// the parker's credit read a SeqCst load) deadlocked the same way: loom does not derive the
/// store-buffering guarantee from a fence, so the protocol now uses read-modify-writes only.
/// Not caught: making only the worker's read of `parked_assists` a `Relaxed` load (loom did
/// not return the stale zero in its 46 executions).
#[test]
fn loom_models_parked_assist_is_woken_by_background_credit() {
    model(|| {
        let c = marking();
        let worker = {
            let c = c.clone();
            thread::spawn(move || c.add_background_credit(CREDIT_SLACK))
        };
        c.park_assist();
        worker.join().unwrap();
        // The retry steals the credit the wake-up announced.
        let mut gp = GcPState { assist_credit: -1, ..GcPState::default() };
        c.gc_controller.assist_bytes_per_work.store(f64_bits(1.0), Ordering::Relaxed);
        // SAFETY: `gp` is a P state of this collector that the model holds alone.
        assert_eq!(unsafe { c.assist_alloc(&mut gp, 0, &|| false) }, AssistOutcome::Paid);
    });
}

/// Parking an assist against the end of mark (`set_phase`, which wakes parked assists): the
/// assist returns once marking is over, with no credit ever published.
///
/// Deliberate bug seen caught: with the `notify_all` removed from `set_phase`, loom reported
/// a deadlock.
#[test]
fn loom_models_parked_assist_is_woken_by_the_end_of_mark() {
    model(|| {
        let c = marking();
        let ender = {
            let c = c.clone();
            thread::spawn(move || c.set_phase(Phase::MarkTermination))
        };
        c.park_assist();
        ender.join().unwrap();
    });
}

/// A world without goroutines or Ps of its own: the mark worker's `borrow_p` runs at once (the
/// trait's default), which is all the quiescence model needs of it.
struct NoGoroutines;

// SAFETY: there is no mutator: nothing to stop, no roots, no pointer stores or allocations.
unsafe impl World for NoGoroutines {
    fn stop_the_world(&self, _: &'static str, _: &mut dyn FnMut(&mut dyn Stopped)) -> Duration {
        unreachable!("the model stops no world")
    }
    fn scan_goroutine_roots(&self, _: &(dyn Fn(usize) + Sync)) {}
    fn scan_global_roots(&self, _: &mut dyn FnMut(usize)) {}
    fn gomaxprocs(&self) -> usize {
        1
    }
}

/// Mark termination's quiescence check (`wait_for_quiescence`, the controller's side) against
/// a real mark worker (`mark_worker`): when the check returns, the pool is empty and no worker
/// is draining, which is what the stop-the-world that follows relies on (it restarts the mark
/// if a worker became active since). The worker is woken by `release_workers` and reports
/// through `active_workers` and the condition variable.
///
/// The controller publishes one and a half buffers of grey work ([`WORKBUF_ENTRIES`] is 4
/// under loom), releases the worker and waits for quiescence; then it shuts the worker down.
///
/// Deliberate bugs seen caught: with `wait_for_quiescence` returning on an empty pool alone
/// (not testing `active_workers`), loom reported "quiescence with a worker active"; with the
/// worker's `notify_all` after it goes idle removed, loom reported a deadlock (the real code's
/// 1 ms timeout would hide the lost wake-up as a delay).
///
/// [`WORKBUF_ENTRIES`]: crate::work::WORKBUF_ENTRIES
#[test]
fn loom_models_quiescence_waits_for_the_workers() {
    model(|| {
        let c = marking();
        let mut gcw = GcWork::new();
        for _ in 0..crate::work::WORKBUF_ENTRIES + 2 {
            gcw.put(&c.work.pool, FOREIGN);
        }
        gcw.dispose(&c.work.pool);
        let worker = {
            let c = c.clone();
            thread::spawn(move || c.mark_worker(&NoGoroutines))
        };
        c.release_workers();
        c.wait_for_quiescence();
        assert!(c.work.pool.is_empty(), "quiescence with work in the pool");
        assert_eq!(lock(&c.work.ctl).active_workers, 0, "quiescence with a worker active");
        c.shutdown();
        worker.join().unwrap();
        assert_eq!(drain_pool(&c), 0, "work appeared after quiescence");
    });
}
