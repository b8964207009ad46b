//! Mark assists and background credit (Go's `gcAssistAlloc`, `gcParkAssist` and
//! `gcFlushBgCredit` in `mgcmark.go`), and the allocation slow path's hook that calls for a
//! cycle: the parts of marking that run on the allocating goroutine's thread.
//!
//! These are methods of [`Collector`]; they live beside the marker because Go keeps them in
//! `mgcmark.go`, and because what they do is drain grey work on the mutator's behalf.
//!
//! # Invariants
//!
//! - An assist drains only into the [`GcWork`](crate::work::GcWork) of a P of the collector's world (the caller
//!   holds it: [`Collector::assist_alloc`]'s contract) and disposes it to the pool before it
//!   returns, so mark termination finds every grey object in a P's buffers or the pool.
//! - Background credit and the parked-assist count are paired SeqCst read-modify-writes, so a
//!   worker that adds credit and a parker that tests it cannot both miss the other
//!   ([`Collector::add_background_credit`]).
//! - A P answers a ragged-flush request at most once per epoch (`GcPState::flush_seen`), and its
//!   answer is counted with Release after its buffers reach the pool.

use crate::cycle::{bits_f64, poll_again, Collector, GcTrigger, Phase};
use crate::mark::drain;
use crate::sync::{lock, Ordering};
use crate::world::GcPState;
use std::time::{Duration, Instant};

/// What a mark assist ([`Collector::assist_alloc`]) asks of the allocating goroutine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum AssistOutcome {
    /// Nothing owed (no debt, the debt is paid, or marking is over): carry on.
    Paid,
    /// Someone waits for this goroutine's safepoint: poll it now, pay the rest later.
    Preempted,
    /// Still in debt and no mark work was to be found: the goroutine must wait for background
    /// credit without its P ([`Collector::park_assist`]) and then try again (Go's
    /// `gcParkAssist`). Letting it allocate on instead would let the heap run past its goal.
    Park,
}

/// The allocation, in bytes, that `work` units of scan work pay for (Go's
/// `1 + assistBytesPerWork * work` in `gcAssistAlloc`), saturating: with GOGC=off the heap goal
/// is unbounded and the ratio is about 10^16 bytes per unit, so the product does not fit an
/// `i64` (Go's float conversion is then platform-defined; here it saturates, and so does the
/// `+ 1`).
fn credit_for(work: u64, bytes_per_work: f64) -> i64 {
    // `as` from f64 saturates (NaN gives 0).
    ((work as f64 * bytes_per_work) as i64).saturating_add(1)
}

impl Collector {
    /// Allocation slow-path hook (after a span refill or a large allocation): sweep a little
    /// while sweeping is unfinished, and test the heap trigger (Go's `mallocgc` testing
    /// `gcTrigger{kind: gcTriggerHeap}`). `Some` means the heap reached the trigger: the caller
    /// starts the cycle itself, [`Collector::gc_start`] with the trigger returned, after
    /// releasing its P (the start stops the world). Cheap when `None`: two Relaxed loads.
    #[must_use = "a crossed trigger is started by the caller: pass it to Collector::gc_start"]
    pub fn on_refill(&self) -> Option<GcTrigger> {
        self.deduct_sweep_credit();
        if self.has_memory_limit() {
            self.refresh_memory_limit_goal();
        }
        self.heap_trigger_crossed().then_some(GcTrigger::Heap)
    }

    /// Publish scan work done by a mark worker as background credit for assists to steal
    /// (Go's `gcFlushBgCredit`), and wake the assists parked waiting for it.
    ///
    /// No lost wake-up (the store-buffering pattern): the worker adds credit and then reads
    /// `parked_assists`; a parker ([`Collector::park_assist`]) adds itself to
    /// `parked_assists` and then, under `assist_lock`, reads the credit. Every one of those
    /// four accesses is a SeqCst read-modify-write, so they have one total order, and each
    /// read-modify-write reads the latest value of its location: whichever of the two second
    /// accesses comes later sees the other side's first one. So either the worker sees a
    /// parked assist and notifies it under the lock (after it waits, or before it tests the
    /// credit), or the parker sees the credit and does not wait. A plain SeqCst load with a
    /// fence is enough in C++20's model but not in loom's, which checks this
    /// (`cycle_loom.rs`).
    pub(crate) fn add_background_credit(&self, work: u64) {
        // ORDERING: SeqCst RMW; pairs with the parker's SeqCst RMWs (above).
        self.gc_controller.bg_credit.fetch_add(work, Ordering::SeqCst);
        // ORDERING: SeqCst RMW (a read that takes the latest value); as above.
        if self.work.parked_assists.fetch_add(0, Ordering::SeqCst) > 0 {
            let _g = lock(&self.work.assist_lock);
            self.work.assist_cv.notify_all();
        }
    }

    /// Mark assist (Go's `gcAssistAlloc`): charge `bytes` just allocated by the goroutine on
    /// this P; if in debt, steal background credit, then do scan work in proportion.
    ///
    /// `preempted` is polled while scanning (Go's `gp.preempt` check in `gcDrainN`): when it
    /// turns true the assist stops early, keeping the rest of its debt, and returns
    /// [`AssistOutcome::Preempted`] so the caller can poll its safepoint at once. Without
    /// that, a stop-the-world would wait for a whole assist (up to milliseconds of scanning).
    ///
    /// A debt that neither stolen credit nor the work in sight can pay returns
    /// [`AssistOutcome::Park`]: the caller waits in [`park_assist`](Collector::park_assist)
    /// without its P, then calls this again with `bytes` 0, until it gets `Paid`.
    ///
    /// # Safety
    /// - `gp` is the collector state of a P of this collector's [`World`](crate::world::World), held by the caller
    ///   (the one [`Stopped::for_each_p`](crate::world::Stopped::for_each_p) hands out for that P): the assist takes grey work
    ///   into `gp.gcw`, and only the world's Ps' work is drained before mark termination.
    pub unsafe fn assist_alloc(
        &self,
        gp: &mut GcPState,
        bytes: usize,
        preempted: &dyn Fn() -> bool,
    ) -> AssistOutcome {
        // ORDERING: Acquire; pairs with the Release increment in `ragged_flush`, so the
        // requester's reset of `flush_acks` happens-before this P's answer is counted.
        let epoch = self.work.flush_epoch.load(Ordering::Acquire);
        if epoch != gp.flush_seen {
            self.answer_flush(gp, epoch);
        }
        gp.assist_credit = gp.assist_credit.saturating_sub(bytes as i64);
        if gp.assist_credit >= 0 || self.phase() != Phase::Mark {
            return AssistOutcome::Paid;
        }
        if preempted() {
            return AssistOutcome::Preempted;
        }
        if self.limiter.limiting() {
            // The CPU limiter holds the GC back: keep the debt and let the program run.
            return AssistOutcome::Paid;
        }
        let wpb = bits_f64(self.gc_controller.assist_work_per_byte.load(Ordering::Relaxed));
        let bpw = bits_f64(self.gc_controller.assist_bytes_per_work.load(Ordering::Relaxed));
        let debt = gp.assist_credit.unsigned_abs();
        // Over-assist by 64 KiB of work, as Go does, so assists are not tiny.
        let work = ((debt as f64 * wpb) as u64).max(64 << 10);
        // Steal background credit first.
        let mut have = self.gc_controller.bg_credit.load(Ordering::Relaxed);
        loop {
            let take = have.min(work);
            if take == 0 {
                break;
            }
            match self.gc_controller.bg_credit.compare_exchange_weak(
                have,
                have - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    gp.assist_credit = gp.assist_credit.saturating_add(credit_for(take, bpw));
                    if gp.assist_credit >= 0 {
                        return AssistOutcome::Paid;
                    }
                    break;
                }
                Err(v) => have = v,
            }
        }
        let t = Instant::now();
        let stopped_early = core::cell::Cell::new(false);
        // SAFETY: the pool holds only this cycle's grey objects of `heap`, and `gp` is a
        // world P's state (this function's contract), drained before mark termination.
        let done = unsafe {
            drain(&self.heap, &mut gp.gcw, &self.work.pool, Some(work), &|| {
                if preempted() {
                    stopped_early.set(true);
                }
                stopped_early.get() || self.phase() != Phase::Mark || self.limiter.limiting()
            })
        };
        let stopped_early = stopped_early.get();
        gp.gcw.dispose(&self.work.pool);
        self.gc_controller.scan_work.fetch_add(done, Ordering::Relaxed);
        gp.assist_credit = gp.assist_credit.saturating_add(credit_for(done, bpw));
        let ns = t.elapsed().as_nanos() as u64;
        self.gc_controller.assist_ns.fetch_add(ns, Ordering::Relaxed);
        self.limiter.add_gc_time(ns);
        if self.has_memory_limit() && self.limiter.needs_update(self.now_ns()) {
            self.limiter_update();
        }
        if stopped_early {
            AssistOutcome::Preempted
        } else if gp.assist_credit < 0 && self.phase() == Phase::Mark && !self.limiter.limiting() {
            AssistOutcome::Park
        } else {
            AssistOutcome::Paid
        }
    }

    /// The P's side of the ragged barrier: hand the barrier buffer and local work to the pool
    /// and count the answer.
    #[cold]
    fn answer_flush(&self, gp: &mut GcPState, epoch: u64) {
        gp.flush_seen = epoch;
        if self.phase() == Phase::Mark {
            // SAFETY: marking is on and the work goes to this collector's pool at once.
            unsafe { gp.wbbuf.flush(&self.heap, &mut gp.gcw, &self.work.pool) };
            gp.gcw.dispose(&self.work.pool);
        }
        // ORDERING: Release; pairs with the Acquire load in `ragged_flush`, so the requester
        // that counts this answer also sees the buffers just disposed to the pool (with a
        // relaxed count it could read the pool's `nfull` from before them, find the pool
        // empty and go on to stop the world for nothing: `cycle_loom.rs` models this).
        self.work.flush_acks.fetch_add(1, Ordering::Release);
    }

    /// A ragged barrier before mark termination (the idea of Go's `forEachP` flush in
    /// `gcMarkDone`, without stopping anyone): ask every P to flush its barrier buffer and
    /// local work at its next allocation, and wait up to a millisecond for `procs` answers
    /// (the caller passes the number of Ps running a goroutine: only those can answer). Work
    /// a mutator has been holding is then marked concurrently, and the stop that follows
    /// usually finds nothing, instead of restarting the mark and paying another pause. Ps that
    /// do not allocate meanwhile do not answer; the stop flushes them.
    pub(crate) fn ragged_flush(&self, procs: usize) {
        self.work.flush_acks.store(0, Ordering::Relaxed);
        // ORDERING: Release; pairs with the Acquire load of the epoch in `assist_alloc`: a P
        // that sees the new request sees the reset above, so its answer is not overwritten.
        self.work.flush_epoch.fetch_add(1, Ordering::Release);
        let t = Instant::now();
        // ORDERING: Acquire; pairs with the Release increment in `answer_flush`: the work of
        // every P counted is in the pool for the quiescence check that follows.
        while self.work.flush_acks.load(Ordering::Acquire) < procs as u64
            && poll_again(t, Duration::from_millis(1))
        {}
    }

    /// Wait for a reason to retry a parked assist (Go's `gcParkAssist`): background credit
    /// to steal, work in the pool, or the end of mark. Call it without a P (inside the
    /// scheduler's `without_p`), so that a stop-the-world, and so mark termination, never
    /// waits for a parked goroutine. Returns after at most a millisecond in any case.
    pub fn park_assist(&self) {
        let t = Instant::now();
        // ORDERING: SeqCst RMW; pairs with `add_background_credit` (see there).
        self.work.parked_assists.fetch_add(1, Ordering::SeqCst);
        {
            let g = lock(&self.work.assist_lock);
            // Re-check under the lock: a wake-up sent before we got here is not lost. The
            // phase is read under the lock `set_phase` notifies under; the credit with a
            // SeqCst RMW (a read of the latest value) that pairs with `add_background_credit`.
            // Work in the pool is no wake-up reason anyone signals: the time limit covers it.
            if self.phase() == Phase::Mark
                && self.gc_controller.bg_credit.fetch_add(0, Ordering::SeqCst) == 0
                && self.work.pool.is_empty()
            {
                drop(self.work.assist_cv.wait_timeout(g, Duration::from_millis(1)));
            }
        }
        self.work.parked_assists.fetch_sub(1, Ordering::Relaxed);
        // Waiting is assist time in Go's accounting too (the goroutine is blocked by the GC).
        self.gc_controller.assist_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::cycle::{f64_bits, CollectorConfig};
    use crate::mark::shade;
    use crate::pacer::{Pacer, PacerConfig};
    use crate::work::GcWork;
    use gomem_allocator::mheap::HeapConfig;
    use gomem_allocator::typedesc::TypeDesc;
    use gomem_allocator::MHeap;
    use std::sync::Arc;

    static NODE: TypeDesc = TypeDesc::new(16, 8, &[1], "node");

    /// `Collector::assist_alloc` for these tests' stand-alone P.
    fn assist(
        c: &Collector,
        gp: &mut GcPState,
        bytes: usize,
        preempted: &dyn Fn() -> bool,
    ) -> AssistOutcome {
        // SAFETY: the collector's threads never start here: the test's `gp` is the only P.
        unsafe { c.assist_alloc(gp, bytes, preempted) }
    }

    /// A collector in its mark phase (threads not started) whose pool holds the head of an
    /// `n`-node list, and whose assist ratio is one unit of work per byte.
    fn marking_collector(n: usize) -> (Arc<Collector>, Vec<usize>) {
        let heap = MHeap::new(HeapConfig::default()).unwrap();
        let mut cache = heap.new_cache();
        heap.sweep_all();
        let nodes: Vec<usize> =
            (0..n).map(|_| cache.alloc(&NODE).unwrap().as_ptr() as usize).collect();
        for w in nodes.windows(2) {
            // SAFETY: both are live NODE objects of this heap; word 0 is the pointer slot.
            unsafe { (w[0] as *mut usize).write(w[1]) };
        }
        cache.release_all();
        let c = Collector::new(heap.clone(), CollectorConfig::for_tests());
        c.set_phase(Phase::Mark);
        c.gc_controller.assist_work_per_byte.store(f64_bits(1.0), Ordering::Relaxed);
        c.gc_controller.assist_bytes_per_work.store(f64_bits(1.0), Ordering::Relaxed);
        let mut gcw = GcWork::new();
        // SAFETY: the test plays mark start on a collector whose threads never run.
        unsafe { shade(&heap, &mut gcw, &c.work.pool, nodes[0]) };
        gcw.dispose(&c.work.pool);
        (c, nodes)
    }

    #[test]
    fn a_preempted_assist_stops_and_keeps_its_debt() {
        let (c, _) = marking_collector(10_000);
        let mut gp = GcPState::default();
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| true), AssistOutcome::Preempted);
        assert_eq!(
            c.gc_controller.scan_work.load(Ordering::Relaxed),
            0,
            "no scanning after the request"
        );
        assert_eq!(gp.assist_credit, -(1 << 20), "the debt is kept for later");
        assert!(!c.work.pool.is_empty(), "the grey object is still queued");

        // Preempted part-way: the work done counts, the rest stays queued and owed.
        let calls = core::cell::Cell::new(0);
        let outcome = assist(&c, &mut gp, 0, &|| {
            calls.set(calls.get() + 1);
            calls.get() > 3
        });
        assert_eq!(outcome, AssistOutcome::Preempted);
        let done = c.gc_controller.scan_work.load(Ordering::Relaxed);
        assert!(done > 0 && done < 8 * 10_000, "some but not all of the list: {done}");
        assert!(gp.assist_credit < 0);
        assert!(!c.work.pool.is_empty());

        // Not preempted: the assist scans on until the list runs out; the debt is larger than
        // all the work there is, so it must park (and not be forgiven).
        assert_eq!(assist(&c, &mut gp, 0, &|| false), AssistOutcome::Park);
        assert_eq!(
            c.gc_controller.scan_work.load(Ordering::Relaxed),
            8 * 10_000,
            "each node scanned once"
        );
        assert!(c.work.pool.is_empty());
        assert!(gp.assist_credit < 0, "the debt is still owed");
        // Parking returns (here by its timeout: no credit will come), and once background
        // credit exists the retry steals it and is paid.
        c.park_assist();
        c.gc_controller.bg_credit.store(1 << 30, Ordering::Relaxed);
        assert_eq!(assist(&c, &mut gp, 0, &|| false), AssistOutcome::Paid);
        assert!(gp.assist_credit >= 0);
        // Marking over: nothing is owed whatever the credit.
        c.set_phase(Phase::Off);
        assert_eq!(assist(&c, &mut gp, 1 << 40, &|| false), AssistOutcome::Paid);
    }

    #[test]
    fn a_ragged_flush_is_answered_at_the_next_allocation() {
        let (c, nodes) = marking_collector(100);
        // Empty the pool: everything is marked, nothing is queued.
        let mut gcw = GcWork::new();
        // SAFETY: still marking; the pool holds the list's grey head.
        unsafe { drain(&c.heap, &mut gcw, &c.work.pool, None, &|| false) };
        gcw.dispose(&c.work.pool);
        assert!(c.work.pool.is_empty());
        // A P whose barrier buffer holds a pointer to an object the mark has not reached.
        // SAFETY: no cycle runs (the collector's threads are not started), and the cache gives
        // its span back at once.
        let mut cache = unsafe { c.heap.new_cache_unchecked() };
        let white = cache.alloc(&NODE).unwrap().as_ptr() as usize;
        cache.release_all();
        let mut gp = GcPState { assist_credit: 1 << 40, ..GcPState::default() };
        gp.wbbuf.record(white, nodes[1]);
        // An allocation before any request leaves the buffer alone.
        assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
        assert!(c.work.pool.is_empty());
        // After a request (here made without waiting: one P, which answers below) the next
        // allocation hands the buffer's work to the pool and counts its answer, once.
        c.work.flush_acks.store(0, Ordering::Relaxed);
        c.work.flush_epoch.fetch_add(1, Ordering::Relaxed);
        assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
        assert!(!c.work.pool.is_empty(), "the white object was shaded and queued");
        assert_eq!(c.work.flush_acks.load(Ordering::Relaxed), 1);
        assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
        assert_eq!(c.work.flush_acks.load(Ordering::Relaxed), 1, "answered once per request");
        // The requester's side: it returns once every P (one here) has answered.
        let epoch = c.work.flush_epoch.load(Ordering::Relaxed);
        std::thread::scope(|s| {
            let requester = s.spawn(|| c.ragged_flush(1));
            while c.work.flush_epoch.load(Ordering::Relaxed) == epoch {
                std::thread::yield_now();
            }
            assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
            requester.join().unwrap();
        });
        assert_eq!(c.work.flush_acks.load(Ordering::Relaxed), 1);
        assert_eq!(gp.flush_seen, epoch + 1);
    }

    #[test]
    fn an_assist_at_gogc_off_saturates_its_credit() {
        // The assist ratio the pacer gives with GOGC=off (an unbounded goal).
        let mut pacer =
            Pacer::new(PacerConfig { gc_percent: -1, memory_limit: u64::MAX, gomaxprocs: 1 });
        pacer.commit(0, 0, 0, 0);
        pacer.start_cycle(0, 1 << 20, 0, 0);
        pacer.revise(1 << 20, 0);
        let bpw = pacer.assist_bytes_per_work();
        assert!(bpw > 1e12, "GOGC=off gives a huge bytes-per-work ratio: {bpw}");
        let (c, _) = marking_collector(1000);
        c.gc_controller.assist_bytes_per_work.store(f64_bits(bpw), Ordering::Relaxed);
        // Scanning pays vastly more than the debt: the credit saturates instead of overflowing
        // (it did, in `(done as f64 * bpw) as i64 + 1`).
        let mut gp = GcPState { assist_credit: -1, ..GcPState::default() };
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| false), AssistOutcome::Paid);
        assert!(c.gc_controller.scan_work.load(Ordering::Relaxed) > 0, "the assist scanned");
        assert_eq!(gp.assist_credit, i64::MAX - (1 << 20) - 1);
        // Stolen background credit is converted the same way.
        c.gc_controller.bg_credit.store(1 << 40, Ordering::Relaxed);
        let mut gp = GcPState { assist_credit: -1, ..GcPState::default() };
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| false), AssistOutcome::Paid);
        assert_eq!(gp.assist_credit, i64::MAX - (1 << 20) - 1);
    }

    #[test]
    fn assists_and_workers_add_to_the_cycle_scan_work() {
        let (c, nodes) = marking_collector(1000);
        let mut gp = GcPState::default();
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| false), AssistOutcome::Park);
        // Every node was scanned once: 8 bytes of scan work each (one pointer at offset 0).
        assert_eq!(c.gc_controller.scan_work.load(Ordering::Relaxed), 8 * nodes.len() as u64);
    }
}
