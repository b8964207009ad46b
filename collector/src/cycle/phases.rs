//! The phases of one cycle (the cycle half of Go's `mgc.go`: `gcTrigger`, `gcStart`, the root
//! jobs, `gcMarkDone`, `gcMarkTermination`, `gcSweep`), as methods of [`Collector`]. The module
//! docs of [`crate::cycle`] describe the cycle; each function's doc says which part it is.
//!
//! # Who runs which phase
//!
//! As in Go, the thread whose trigger test passes starts the cycle itself
//! ([`Collector::gc_start`]): the goroutine whose allocation crossed the heap trigger (after
//! releasing its P: the start stops the world), the caller of [`Collector::gc`], or, for the
//! periodic cycle sysmon asks for, the controller thread (Go's `forcegchelper`). It runs sweep
//! termination and mark setup, and hands the cycle, marking, to the controller thread, which
//! finishes it ([`Collector::run_cycle`]: roots, `gcMarkDone`, mark termination, the
//! statistics). Starting on the allocating thread is what bounds the heap: the cycle no longer
//! waits for the controller thread to be scheduled (on a busy machine it waited for tens of
//! milliseconds while the heap grew many times past its goal), and from mark start on every
//! allocation pays its assist.
//!
//! Starters serialise on `ControlState::cycle` (Go's `work.startSema`): one moves it from
//! `Idle` to `Starting`; the others wait for it without their P and then re-test their trigger
//! (Go's `gcTrigger.test` inside `gcStart`), which fails while a cycle is in progress, so
//! exactly one cycle starts per crossing. A new cycle starts only from `Idle`, after the
//! controller recorded the previous one.
//!
//! # Invariants
//!
//! - The barrier and allocate-black go on together with the world stopped, before any root is
//!   shaded, and go off together with the world stopped once no grey object is left anywhere
//!   (every P's buffers flushed, the pool empty, no worker draining).
//! - Mark start happens only after every sweep of the previous generation has ended
//!   ([`crate::sweep`], invariant 3); the new generation opens to sweepers only after the sweep
//!   generation advanced, with the world stopped (invariant 4), in [`Collector::gc_sweep`].

use super::{Collector, CycleState, MarkWorkerMode, Phase};
use crate::checkmark;
use crate::events::GcEventKind;
use crate::mark::{drain, shade};
use crate::sync::{lock, Mutex, Ordering};
use crate::work::{try_room, GcWork};
use crate::world::{PClass, Stopped, World};
use std::time::{Duration, Instant};

/// What starts a cycle (Go's `gcTrigger` and its kinds), tested by [`Collector::gc_start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcTrigger {
    /// The live heap reached the pacer's trigger (Go's `gcTriggerHeap`): what
    /// [`Collector::on_refill`] reports.
    Heap,
    /// No cycle has ended for the periodic cycle's period, and GOGC is on (Go's
    /// `gcTriggerTime`, from sysmon through `forcegchelper`).
    Time,
    /// `runtime.GC`: start cycle number `n` (counted from 1) unless it has started (Go's
    /// `gcTriggerCycle`).
    Cycle(u32),
}

/// What one cycle's phase functions hand each other, from [`Collector::gc_start`] to the
/// statistics (the per-cycle part of Go's `work`: its start time, heap sizes and pause times,
/// and the scan sizes the pacer is told).
pub(crate) struct Cycle {
    /// Forced by [`Collector::gc`] (Go's `gcTriggerCycle` from `runtime.GC`).
    pub(crate) forced: bool,
    /// Started by the periodic trigger (Go's `gcTriggerTime`): Go's lower idle-worker limit.
    pub(crate) periodic: bool,
    /// `gcstoptheworld` ≥ 1: mark entirely inside the sweep-termination pause.
    pub(crate) stw: bool,
    /// When the cycle started, since the collector did (gctrace's `@`).
    pub(crate) at: Duration,
    /// `heap_live` at the start, before sweep termination (gctrace's first heap figure).
    pub(crate) heap0: u64,
    /// The heap goal the cycle was started for.
    pub(crate) goal: u64,
    /// The controller's own work buffer (roots, the `gcstoptheworld` drain).
    pub(crate) ctl_gcw: GcWork,
    /// Root bytes scanned this cycle: goroutine roots and globals (8 per root slot).
    pub(crate) stack_scan: u64,
    pub(crate) globals_scan: u64,
    /// Assist and worker time counters at the start, to take this cycle's share.
    pub(crate) assist0: u64,
    pub(crate) worker0: u64,
    /// `heap_live` at mark start (with the world stopped).
    pub(crate) heap_live_mark_start: u64,
    /// The sweep-termination pause.
    pub(crate) pause1: Duration,
    /// When concurrent mark began.
    pub(crate) t_mark: Instant,
    /// The mark-termination pauses, summed over restarts.
    pub(crate) pause2: Duration,
    /// `heap_live` at mark termination (gctrace's second heap figure).
    pub(crate) heap1: u64,
    /// Bytes marked, allocate-black included (the new `heap_live`).
    pub(crate) marked_total: u64,
}

impl Collector {
    /// Start a cycle if `trigger` holds (Go's `gcStart`); returns whether this call started
    /// one. The starter runs sweep termination and mark setup on its own thread, stopping the
    /// world, and hands the marking cycle to the controller thread, which finishes it; see the
    /// module docs of `cycle/phases.rs`. While another starter is starting, the call waits for
    /// it and then re-tests `trigger`, which fails while a cycle is in progress (for
    /// [`GcTrigger::Cycle`] it waits for the cycle in progress to end and tests again). Returns
    /// false at once after [`Collector::shutdown`] or before [`Collector::start`].
    ///
    /// Call it without a P (a goroutine inside its scheduler's `without_p`): it stops the world
    /// and waits for other starters, and either waits for every goroutine holding a P.
    pub fn gc_start(&self, trigger: GcTrigger) -> bool {
        // Go: a goroutine that would start the cycle first helps finish the previous sweep, so
        // that sweep termination has little left; the starter finishes the rest.
        while trigger == GcTrigger::Heap && self.heap_trigger_crossed() && self.sweep_one() {}
        let Some(world) = lock(&self.world).clone() else { return false };
        {
            let mut ctl = lock(&self.work.ctl);
            loop {
                if ctl.shutdown {
                    return false;
                }
                // `runtime.GC` waits for the cycle in progress if it has not seen its own start.
                let unseen = matches!(trigger, GcTrigger::Cycle(n) if before(ctl.started, n));
                match ctl.cycle {
                    CycleState::Idle => break,
                    CycleState::Starting => {}
                    // Mark is over and the controller is recording the cycle: Go could start
                    // the next one now, so wait for `Idle` and test then. Returning would let
                    // the heap grow unchecked until this goroutine's next refill, and on a
                    // busy machine the controller can take milliseconds to be scheduled.
                    CycleState::Finishing if self.phase() == Phase::Off => {}
                    // A cycle is marking: the trigger test fails (Go's `gcphase != _GCoff`).
                    CycleState::Handed(_) | CycleState::Finishing if !unseen => return false,
                    CycleState::Handed(_) | CycleState::Finishing => {}
                }
                ctl = self.work.cv.wait(ctl);
            }
            let pass = match trigger {
                // A stale trigger: the crossing was seen against the previous cycle's trigger,
                // or the cycle it asked for has come and gone.
                GcTrigger::Heap => self.heap_trigger_crossed(),
                GcTrigger::Time => self.periodic_due(),
                GcTrigger::Cycle(n) => before(ctl.started, n),
            };
            if !pass {
                return false;
            }
            ctl.cycle = CycleState::Starting;
            ctl.started = ctl.started.wrapping_add(1);
        }
        let cy = self.sweep_termination(&*world, trigger);
        lock(&self.work.ctl).cycle = CycleState::Handed(Box::new(cy));
        self.work.cv.notify_all();
        true
    }

    /// Force a full cycle and wait for it to finish, sweeping included (Go's `runtime.GC`).
    /// Works with GOGC=off. Must not be called from a goroutine that holds a P unless the
    /// runtime releases it around the call (the cycle stops the world). After
    /// [`Collector::shutdown`] it returns at once.
    ///
    /// # Panics
    /// If the collector was never started ([`Collector::start`]): no thread would run the
    /// cycle, and the call would wait forever.
    pub fn gc(&self) {
        let stopped = lock(&self.work.ctl).shutdown;
        if !stopped && lock(&self.threads).is_empty() {
            panic!("Collector::gc: the collector was never started (call Collector::start first)");
        }
        // Go's runtime.GC: a complete cycle that starts after this call, so the one after the
        // cycle in progress, if any (`gc_start` waits for that one to end). This thread runs
        // the start unless another starter began cycle n + 1 meanwhile.
        let n = lock(&self.work.ctl).started;
        self.gc_start(GcTrigger::Cycle(n.wrapping_add(1)));
        {
            let mut ctl = lock(&self.work.ctl);
            // The controller sets `Idle` and notifies after each cycle's statistics, under
            // `ctl`: a wake-up cannot be lost between the test and the wait.
            while (lock(&self.stats).num_gc.wrapping_sub(n) as i32) < 1 {
                if ctl.shutdown {
                    return;
                }
                ctl = self.work.cv.wait(ctl);
            }
        }
        // Go's runtime.GC: sweep what is left, then wait for the other sweepers, unless a newer
        // cycle has ended meanwhile (its sweep is not this call's to finish).
        let done = lock(&self.stats).num_gc;
        while self.sweep_one() {}
        while !self.sweep.active.is_done() && lock(&self.stats).num_gc == done {
            std::thread::yield_now();
        }
    }

    /// The heap trigger's test (Go's `gcTrigger.test` for `gcTriggerHeap`): no cycle is marking
    /// and the live heap reached the trigger. Two Relaxed loads: a stale answer is re-tested
    /// by [`Collector::gc_start`] under its lock.
    pub(crate) fn heap_trigger_crossed(&self) -> bool {
        self.phase() == Phase::Off
            && self.heap.heap_live() >= self.gc_controller.trigger.load(Ordering::Relaxed)
    }

    /// The periodic trigger's clock test: the period has passed since the last cycle ended.
    fn period_passed(&self) -> bool {
        let last = self.gc_controller.last_gc_nanotime.load(Ordering::Relaxed);
        self.now_ns().saturating_sub(last) >= self.gc_controller.force_gc_period_ns
    }

    /// The periodic trigger's test (Go's `gcTrigger.test` for `gcTriggerTime`): GOGC is on and
    /// the period has passed.
    fn periodic_due(&self) -> bool {
        lock(&self.gc_controller.pacer).gc_percent() >= 0 && self.period_passed()
    }

    /// sysmon's periodic check (Go's `sysmon` testing `gcTrigger{kind: gcTriggerTime}` and
    /// waking `forcegchelper`): when no cycle has ended for the configured period
    /// ([`CollectorConfig::force_gc_period`](crate::cycle::CollectorConfig::force_gc_period),
    /// Go's `forcegcperiod`), ask the controller thread to start one. Cheap enough for every
    /// sysmon tick: two Relaxed loads and a clock read until the period has passed, then one
    /// flag swap per period.
    pub fn sysmon_tick(&self) {
        if self.gc_controller.force_gc_period_ns == u64::MAX
            || self.gc_controller.force_gc_pending.load(Ordering::Relaxed)
            || !self.period_passed()
        {
            return;
        }
        if self.gc_controller.force_gc_pending.swap(true, Ordering::Relaxed) {
            return;
        }
        lock(&self.work.ctl).periodic = true;
        self.work.cv.notify_all();
    }

    /// The controller's side of a periodic request (Go's `forcegchelper`): start the cycle,
    /// and when GOGC is off push the period's base forward, so that sysmon asks again only a
    /// period later instead of at every tick.
    pub(super) fn force_gc(&self) {
        if !self.gc_start(GcTrigger::Time) && lock(&self.gc_controller.pacer).gc_percent() < 0 {
            self.gc_controller.last_gc_nanotime.store(self.now_ns(), Ordering::Relaxed);
        }
        self.gc_controller.force_gc_pending.store(false, Ordering::Relaxed);
    }

    /// Finish a cycle a starter handed over (phases 2–3 of the module docs after the start;
    /// phase 4 runs in the background), on the controller thread: the driver of the phase
    /// functions below, in Go's order.
    pub(super) fn run_cycle(&self, world: &dyn World, mut cy: Cycle) {
        self.gc_mark_roots(world, &mut cy);
        self.gc_mark_done(world, &mut cy);
        self.events.record(GcEventKind::MarkDone);
        let mark_wall = cy.t_mark.elapsed().saturating_sub(cy.pause2);
        self.gc_controller.last_stack_scan.store(cy.stack_scan, Ordering::Relaxed);
        self.gc_controller.last_globals_scan.store(cy.globals_scan, Ordering::Relaxed);
        if self.debug.stoptheworld >= 2 {
            // Go's gcSweep in `gcForceBlockMode`: sweep everything before the program resumes.
            world.stop_the_world("GC sweep (gcstoptheworld=2)", &mut |_| {
                self.sweep.active.finish(|| self.sweep_one());
            });
        }
        self.record_cycle(&cy, mark_wall);
    }

    /// Sweep termination and mark setup (Go's `gcStart`): finish the previous cycle's sweeping
    /// concurrently (Go's `finishsweep_m`, including the sweepers outside a P still sweeping a
    /// span: they do not stop with the world), then stop the world to start the pacer's cycle, turn on the barrier and allocate-black and grey every P's tiny
    /// block. Under `gcstoptheworld` the whole mark runs in this pause.
    fn sweep_termination(&self, world: &dyn World, trigger: GcTrigger) -> Cycle {
        let t_start = Instant::now();
        self.events.record(GcEventKind::CycleStart);
        let at = t_start.duration_since(self.start);
        self.sweep.active.finish(|| self.sweep_one());
        let mut cy = Cycle {
            forced: matches!(trigger, GcTrigger::Cycle(_)),
            periodic: trigger == GcTrigger::Time,
            stw: self.debug.stoptheworld > 0,
            at,
            heap0: self.heap.heap_live(),
            goal: 0,
            ctl_gcw: GcWork::new(),
            stack_scan: 0,
            globals_scan: 0,
            assist0: 0,
            worker0: 0,
            heap_live_mark_start: 0,
            pause1: Duration::ZERO,
            t_mark: t_start,
            pause2: Duration::ZERO,
            heap1: 0,
            marked_total: 0,
        };
        self.work.worker_marked.store(0, Ordering::Relaxed);
        self.gc_controller.scan_work.store(0, Ordering::Relaxed);
        let stack_scan_prev = self.gc_controller.last_stack_scan.load(Ordering::Relaxed);
        let globals_scan_prev = self.gc_controller.last_globals_scan.load(Ordering::Relaxed);
        cy.assist0 = self.gc_controller.assist_ns.load(Ordering::Relaxed);
        cy.worker0 = self.gc_controller.worker_ns.load(Ordering::Relaxed);
        cy.goal = lock(&self.gc_controller.pacer).heap_goal();

        cy.pause1 = world.stop_the_world("GC sweep termination", &mut |w: &mut dyn Stopped| {
            // Anything a P swept lazily is done (the stop waited for it), and the collector's
            // own sweepers ended above: no sweep can reset a mark bit from here on
            // (`crate::sweep`, invariant 3). `finish` finds nothing to do.
            self.finish_sweep();
            cy.heap_live_mark_start = self.heap.heap_live();
            {
                let mut pacer = lock(&self.gc_controller.pacer);
                // Scan allocations a P has not flushed yet (since its last refill) are missing,
                // as they are from Go's `heapScan`.
                pacer.set_heap_scan(self.heap.heap_scan());
                pacer.start_cycle(
                    self.start.elapsed().as_nanos() as u64,
                    cy.heap_live_mark_start,
                    stack_scan_prev,
                    globals_scan_prev,
                );
                self.gc_controller.publish_assist_ratios(&pacer);
                self.gc_controller
                    .max_idle_mark_workers
                    .store(pacer.max_idle_mark_workers(cy.periodic) as u64, Ordering::Relaxed);
                if self.debug.pacertrace {
                    self.print_pacer_start(&pacer, cy.heap_live_mark_start);
                }
            }
            self.gc_controller.bg_credit.store(0, Ordering::Relaxed);
            // The barrier goes on while the world is stopped, so every P sees it before any
            // object is greyed; from here on new objects are born black.
            self.set_phase(Phase::Mark);
            // SAFETY: the world is stopped and this is mark start: the barrier and
            // allocate-black go on together, before any root is scanned.
            unsafe {
                self.wb.set_enabled(true);
                self.heap.set_alloc_black(true);
            }
            let heap = &self.heap;
            let pool = &self.work.pool;
            w.for_each_p(&mut |cache, gp| {
                gp.assist_credit = 0;
                if let Some(t) = cache.tiny_block() {
                    // SAFETY: marking is on; the work stays on the P's gcw, drained or
                    // flushed before mark termination.
                    unsafe { shade(heap, &mut gp.gcw, pool, t) };
                }
            });
            if cy.stw {
                // gcstoptheworld: the whole mark happens in this pause, on this thread.
                let (stack_scan, globals_scan, ctl_gcw) =
                    (&mut cy.stack_scan, &mut cy.globals_scan, &mut cy.ctl_gcw);
                w.for_each_goroutine_root(&mut |r| {
                    *stack_scan += 8;
                    // SAFETY: marking is on; ctl_gcw is drained below.
                    unsafe { shade(heap, ctl_gcw, pool, r) };
                });
                w.for_each_global_root(&mut |r| {
                    *globals_scan += 8;
                    // SAFETY: as above.
                    unsafe { shade(heap, ctl_gcw, pool, r) };
                });
                // SAFETY: marking is on, and everything queued was greyed by shade above.
                unsafe { drain(heap, ctl_gcw, pool, None, &|| false) };
            }
        });
        cy.t_mark = Instant::now();
        self.events.record(GcEventKind::MarkStart);
        cy
    }

    /// Concurrent root scan (Go's `markroot` jobs, which Go's workers take from `work`; here
    /// the controller runs them): shade the globals, release the workers, then collect every
    /// goroutine's roots through the scheduler's handshake and shade them. Nothing to do under
    /// `gcstoptheworld`, where `gc_start` marked everything.
    fn gc_mark_roots(&self, world: &dyn World, cy: &mut Cycle) {
        if cy.stw {
            return;
        }
        let heap = &self.heap;
        let pool = &self.work.pool;
        // The root jobs run on a P of the GC class, as Go's workers run them: at GOMAXPROCS=N
        // no more than N threads do mutator and GC work. The time counts as dedicated.
        let t = Instant::now();
        world.borrow_p(PClass::Gc, &mut |_, _| {
            let globals_scan = &mut cy.globals_scan;
            let ctl_gcw = &mut cy.ctl_gcw;
            world.scan_global_roots(&mut |r| {
                *globals_scan += 8;
                // SAFETY: marking is on; ctl_gcw is disposed to the pool below.
                unsafe { shade(heap, ctl_gcw, pool, r) };
            });
            cy.ctl_gcw.dispose(pool);
        });
        self.release_workers();
        // Roots are collected through the handshake, which needs no P of this thread (it
        // waits on each goroutine's safepoint), and shaded on a P after it, outside its lock;
        // when the list cannot grow (out of memory) the rest are shaded at once, under the
        // lock (the handshake's caller runs them while the goroutines are stopped).
        let roots = Mutex::new((Vec::new(), GcWork::new(), 0u64));
        world.scan_goroutine_roots(&|r| {
            let (list, gcw, n) = &mut *lock(&roots);
            *n += 1;
            if try_room(heap, list, "GC root list") {
                list.push(r);
            } else {
                // SAFETY: as above.
                unsafe { shade(heap, gcw, pool, r) };
            }
        });
        let (list, mut spill, n) = core::mem::take(&mut *lock(&roots));
        spill.dispose(pool);
        cy.stack_scan = 8 * n;
        world.borrow_p(PClass::Gc, &mut |_, _| {
            for &r in &list {
                // SAFETY: as above.
                unsafe { shade(heap, &mut cy.ctl_gcw, pool, r) };
            }
            cy.ctl_gcw.dispose(pool);
        });
        self.add_mark_time(MarkWorkerMode::Dedicated, t.elapsed().as_nanos() as u64);
        self.release_workers();
    }

    /// The end of concurrent mark (Go's `gcMarkDone`): wait until the workers run dry, flush
    /// every running P with the ragged barrier, wait again, then stop the world and check that
    /// no work is left ([`Collector::mark_work_left`]). Work found: restart the world and keep
    /// marking. None: [`Collector::gc_mark_termination`] in the same pause.
    fn gc_mark_done(&self, world: &dyn World, cy: &mut Cycle) {
        loop {
            if !cy.stw {
                self.wait_for_quiescence();
                // Only Ps running a goroutine can answer; an idle P's buffers are flushed by
                // the stop. Waiting for every P cost a whole millisecond per cycle whenever one
                // was idle (a one-goroutine program on two Ps: every cycle).
                self.ragged_flush(world.running_ps());
                self.wait_for_quiescence();
            }
            let mut restart = false;
            let p = world.stop_the_world("GC mark termination", &mut |w: &mut dyn Stopped| {
                if self.mark_work_left(w, cy) {
                    restart = true;
                    return;
                }
                self.gc_mark_termination(w, cy);
            });
            cy.pause2 += p;
            if !restart {
                break;
            }
            self.release_workers();
        }
    }

    /// With the world stopped at the end of mark (the check of Go's `gcMarkDone`): is marking
    /// not finished? True if a worker is draining, or if stopping the workers and flushing
    /// every P's barrier buffer and local work put anything into the pool; the phase is then
    /// back to [`Phase::Mark`] (or never left it). False: the phase is
    /// [`Phase::MarkTermination`] and no grey object is left anywhere.
    fn mark_work_left(&self, w: &mut dyn Stopped, cy: &mut Cycle) -> bool {
        let heap = &self.heap;
        let pool = &self.work.pool;
        let mut found = false;
        // A worker that took up work since the quiescence check means marking is not
        // done: restart at once rather than wait inside the pause for it to finish its
        // current piece (up to an oblet's worth of shading).
        if lock(&self.work.ctl).active_workers > 0 {
            return true;
        }
        // Mark workers are threads, not goroutines: the stopped world does not stop
        // them. Switching the phase makes them stop draining and hand their local work
        // to the pool; wait until none is active before deciding anything.
        self.set_phase(Phase::MarkTermination);
        {
            let mut ctl = lock(&self.work.ctl);
            while ctl.active_workers > 0 {
                ctl = self.work.cv.wait_timeout(ctl, Duration::from_micros(50));
            }
        }
        w.for_each_p(&mut |_, gp| {
            // SAFETY: still marking (termination); the work is disposed right below.
            unsafe { gp.wbbuf.flush(heap, &mut gp.gcw, pool) };
            if !gp.gcw.is_empty() {
                found = true;
            }
            gp.gcw.dispose(pool);
        });
        if cy.stw {
            // Everything is marked here, in the pause itself.
            // SAFETY: still marking; the pool holds this cycle's grey objects.
            unsafe { drain(heap, &mut cy.ctl_gcw, pool, None, &|| false) };
            found = false;
        }
        if found || !pool.is_empty() {
            self.set_phase(Phase::Mark);
            return true;
        }
        false
    }

    /// Mark termination, world stopped and no grey object left (Go's `gcMarkTermination`, up
    /// to its statistics): optionally re-verify the marks (`gccheckmark`), count the bytes
    /// marked, turn the barrier and allocate-black off, reset `heap_live` and `heap_scan`,
    /// start the sweep ([`Collector::gc_sweep`]) and commit the pacer's new goal and trigger.
    fn gc_mark_termination(&self, w: &mut dyn Stopped, cy: &mut Cycle) {
        let heap = &self.heap;
        let mut p_marked = 0;
        w.for_each_p(&mut |_, gp| {
            // Assists added their scan work to `scan_work` as they went.
            let (bm, _) = gp.gcw.take_counters();
            p_marked += bm;
            gp.wbbuf.discard();
        });
        if self.debug.checkmark {
            checkmark::verify(heap, w);
        }
        cy.heap1 = heap.heap_live();
        let (cm, cs) = cy.ctl_gcw.take_counters();
        let heap_scan = self.gc_controller.scan_work.load(Ordering::Relaxed) + cs;
        // Objects allocated during mark were allocated black; count them as marked
        // (heap_live grew by at least their size, span-granular, as in Go).
        let alloc_black = cy.heap1.saturating_sub(cy.heap_live_mark_start);
        cy.marked_total =
            p_marked + cm + self.work.worker_marked.load(Ordering::Relaxed) + alloc_black;
        // SAFETY: the world is stopped and no grey object is left: mark is over.
        unsafe {
            self.wb.set_enabled(false);
            heap.set_alloc_black(false);
        }
        self.set_phase(Phase::Off);
        heap.reset_heap_live(cy.marked_total);
        heap.reset_heap_scan(heap_scan);
        self.gc_sweep(w);
        let mut pacer = lock(&self.gc_controller.pacer);
        let now = self.start.elapsed().as_nanos() as u64;
        let mark_wall_ns = cy.t_mark.elapsed().as_nanos() as u64;
        // cons/mark is measured on the cycle's final scan work (heap, stacks and globals, as
        // Go's endCycle reads them), not on the last revision's.
        pacer.revise(cy.heap1, heap_scan + cy.stack_scan + cy.globals_scan);
        let ended = pacer.end_cycle(
            now,
            cy.heap1,
            cy.forced,
            self.gc_controller.assist_ns.load(Ordering::Relaxed) - cy.assist0,
            // Go's endCycle takes the idle-priority workers' measured time here and assumes
            // the dedicated and fractional workers used exactly their 25 %.
            self.gc_controller.mode_ns[MarkWorkerMode::Idle as usize].load(Ordering::Relaxed),
            mark_wall_ns,
        );
        if self.debug.pacertrace {
            self.print_pacer_end(&pacer, &ended, cy, heap_scan);
        }
        pacer.commit(cy.marked_total, heap_scan, cy.stack_scan, cy.globals_scan);
        self.publish_trigger(&pacer);
        self.gc_controller.last_gc_nanotime.store(now, Ordering::Relaxed);
    }

    /// The start of concurrent sweep, world stopped at mark termination (Go's `gcSweep`):
    /// advance the sweep generation, make every P return its cached spans, and open the new
    /// generation to sweepers. The background sweeper wakes when the controller signals the
    /// cycle's end. (Go's blocking mode, `gcstoptheworld=2`, is in [`Collector::run_cycle`].)
    fn gc_sweep(&self, w: &mut dyn Stopped) {
        // SAFETY: the world is stopped, the previous generation was fully swept in
        // sweep termination, and every P's cache is released right below, before any P
        // allocates again.
        unsafe { self.heap.advance_sweepgen() };
        w.for_each_p(&mut |cache, _| cache.release_all());
        // The new generation may be swept from here on (`crate::sweep`, invariant 4).
        self.sweep.active.reset();
    }
}

/// Whether cycle count `started` is before cycle `n` (Go's `int32(n - work.cycles) > 0`,
/// which survives the counter's wrap).
fn before(started: u32, n: u32) -> bool {
    (n.wrapping_sub(started) as i32) > 0
}
