// This file is long (its unit tests are a fifth of it) because the cycle's phases,
// the assists, the sweepers and the statistics still live together; issue 13 splits it along
// Go's `mgc.go`, `mgcmark.go`, `mgcsweep.go` and the gctrace code.

//! The GC cycle (Go's `mgc.go`): when a cycle starts, its phases, the mark workers and assists,
//! mark termination, and the hand-over to sweeping. See the crate docs for the overview.
//!
//! # One cycle
//!
//! 1. **Sweep termination** (concurrent, then stop the world): finish sweeping the previous
//!    cycle's spans, because marking must not start while any span still holds the previous
//!    cycle's marks, and wait for every sweeper outside a P to finish the span it holds (Go's
//!    `finishsweep_m`; see [`crate::sweep`] for the invariants). With the world stopped: clear
//!    the page-marks bits, start the pacer's cycle, turn on the write barrier and
//!    allocate-black, grey every P's tiny block.
//! 2. **Concurrent mark**: the controller scans the global roots and then each goroutine's
//!    roots through the scheduler's handshake (at each G's safepoint, no global stop); mark
//!    workers drain the grey objects; allocating goroutines assist in proportion to what they
//!    allocate; the barrier shades what mutators overwrite and store.
//! 3. **Mark termination** (stop the world): when the workers find no work, a ragged barrier
//!    asks every P to flush its barrier buffer and local work at its next allocation, the
//!    workers drain what that brings, and then the world is stopped and every P's buffers are
//!    flushed again. Work found means marking was not done: restart the world and keep marking
//!    (Go does the same after its ragged barrier). No
//!    work: optionally re-verify the marks (`gccheckmark`), turn the barrier and allocate-black
//!    off, set `heap_live` to the bytes marked, advance the sweep generation, make every P
//!    return its cached spans, open the new generation to sweepers (`ActiveSweep::reset`), and
//!    commit the pacer's new goal and trigger.
//! 4. **Concurrent sweep**: a background sweeper sweeps span by span; allocation sweeps what it
//!    takes; a refill also sweeps one extra span while sweeping is unfinished (a simple form of
//!    Go's proportional sweep).
//!
//! # Threads
//!
//! A controller thread runs cycles when one is requested (the heap trigger, checked by
//! allocating goroutines after a refill, or [`Collector::gc`]). Mark workers are plain threads:
//! Go runs its workers on Ps and preempts mutators to make room, but gomem's scheduler shim does
//! not preempt, so a P-bound worker could starve behind busy mutators. Their number follows Go's
//! 25% rule rounded up (one worker for GOMAXPROCS ≤ 6); see `docs/collector.md` for what that
//! changes in CPU accounting. The sweeper is a plain thread too.

use crate::barrier::WriteBarrier;
use crate::checkmark;
use crate::events::{GcEventKind, GcEvents};
use crate::limiter::GcCpuLimiter;
use crate::mark::{drain, shade};
use crate::pacer::{Pacer, PacerConfig};
use crate::scavenger::Scavenger;
use crate::sweep::ActiveSweep;
use crate::sync::{lock, AtomicU64, AtomicU8, Condvar, Mutex, Ordering};
use crate::work::{try_room, GcWork, WorkPool};
use crate::world::{GcPState, Stopped, World};
use gomem_allocator::MHeap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Scan work a mark worker does between publishing its progress to the pacer and its credit
/// to assists (Go's `gcCreditSlack`).
const CREDIT_SLACK: u64 = 2000;

/// GC phase (Go's `gcphase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not collecting; sweeping may be in progress (`_GCoff`).
    Off = 0,
    /// Concurrent mark: barrier on, allocate-black, workers and assists active (`_GCmark`).
    Mark = 1,
    /// Mark termination, world stopped (`_GCmarktermination`).
    MarkTermination = 2,
}

/// Debug modes and knobs (the collector's part of GODEBUG).
#[derive(Clone, Debug, Default)]
pub struct DebugModes {
    /// `gctrace`: 1 prints one line per cycle to stderr.
    pub gctrace: u8,
    /// `gccheckmark=1`: re-mark with the world stopped and fail on anything missed.
    pub checkmark: bool,
    /// `gcstoptheworld`: 1 marks with the world stopped, 2 also sweeps with it stopped.
    pub stoptheworld: u8,
    /// `scavtrace=1`: one scavenger summary line per cycle on stderr.
    pub scavtrace: bool,
}

/// How to configure a collector.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// GOGC; negative means off.
    pub gc_percent: i32,
    /// GOMEMLIMIT in bytes; `u64::MAX` for none.
    pub memory_limit: u64,
    /// GOMAXPROCS.
    pub gomaxprocs: usize,
    /// Debug modes.
    pub debug: DebugModes,
}

/// Size of the pause rings (Go's `PauseNs[256]`).
pub const PAUSE_RING: usize = 256;

/// Cycle statistics kept for MemStats (Go's `memstats` GC fields) and gctrace.
#[derive(Clone, Debug)]
pub struct GcStats {
    /// Completed cycles (Go's `NumGC`).
    pub num_gc: u32,
    /// Cycles forced by [`Collector::gc`] (Go's `NumForcedGC`).
    pub num_forced_gc: u32,
    /// Circular buffer of recent pause totals, ns (`PauseNs`).
    pub pause_ns: [u64; PAUSE_RING],
    /// Circular buffer of recent pause end times, Unix ns (`PauseEnd`).
    pub pause_end: [u64; PAUSE_RING],
    /// Total stop-the-world time, ns (`PauseTotalNs`).
    pub pause_total_ns: u64,
    /// Unix ns of the last mark termination (`LastGC`).
    pub last_gc: u64,
    /// The largest single pause so far, ns.
    pub pause_max_ns: u64,
    /// Every pause so far, ns (for percentiles; bounded to the last 4096).
    pub pauses: Vec<u64>,
    /// GC CPU time (pauses × GOMAXPROCS + workers + assists), ns.
    pub gc_cpu_ns: u64,
    /// Bytes marked by the last cycle (the live heap).
    pub heap_marked: u64,
    /// The largest `heap_live` seen at a mark termination so far (the top of each cycle's
    /// sawtooth; gctrace's middle heap figure).
    pub peak_heap_live: u64,
}

impl Default for GcStats {
    fn default() -> Self {
        GcStats {
            num_gc: 0,
            num_forced_gc: 0,
            pause_ns: [0; PAUSE_RING],
            pause_end: [0; PAUSE_RING],
            pause_total_ns: 0,
            last_gc: 0,
            pause_max_ns: 0,
            pauses: Vec::new(),
            gc_cpu_ns: 0,
            heap_marked: 0,
            peak_heap_live: 0,
        }
    }
}

struct ControlState {
    /// A cycle has been asked for and not started.
    requested: bool,
    /// The pending request came from `gc()`.
    forced: bool,
    /// Cycles started so far (Go's `work.cycles`).
    started: u32,
    /// The controller should exit.
    shutdown: bool,
    /// Mark workers currently draining.
    active_workers: usize,
    /// Bumped each time workers are released to mark (so a woken worker knows to run).
    mark_epoch: u64,
}

/// The collector of one heap (Go's GC state: `work`, `gcController`, `memstats` GC fields).
pub struct Collector {
    pub(crate) heap: Arc<MHeap>,
    pool: WorkPool,
    wb: Arc<WriteBarrier>,
    phase: AtomicU8,
    pub(crate) pacer: Mutex<Pacer>,
    /// Mirror of the pacer's trigger for the allocation fast check.
    pub(crate) trigger: AtomicU64,
    /// Background scan credit (Go's `bgScanCredit`), in scan-work units.
    bg_credit: AtomicU64,
    /// Mirrors of the assist ratios (f64 bits).
    assist_work_per_byte: AtomicU64,
    assist_bytes_per_work: AtomicU64,
    assist_ns: AtomicU64,
    worker_ns: AtomicU64,
    /// Bytes marked by mark workers this cycle (harvested from their GcWork).
    worker_marked: AtomicU64,
    /// Heap scan work done this cycle by every drainer: mark workers, assists and the
    /// controller (Go's `heapScanWork`). It feeds the pacer's `revise` during mark and becomes
    /// next cycle's expected scan work (Go's `heapScan`) at mark termination.
    scan_work: AtomicU64,
    /// Root bytes scanned last cycle: goroutine roots and globals (Go's stack and globals
    /// scan sizes, 8 bytes per root slot here).
    last_stack_scan: AtomicU64,
    last_globals_scan: AtomicU64,
    /// The collector's sweepers outside a P and whether the generation is swept (Go's
    /// `sweep.active`; see [`crate::sweep`]).
    pub(crate) sweep: ActiveSweep,
    ctl: Mutex<ControlState>,
    /// Parked assists wait here for background credit or the end of mark (Go's
    /// `work.assistQueue`); `parked_assists` counts them so workers notify only when needed.
    assist_lock: Mutex<()>,
    assist_cv: Condvar,
    parked_assists: AtomicU64,
    /// Ragged flush requests (see [`Collector::assist_alloc`]): the epoch asked for, and how
    /// many Ps have answered the current one.
    flush_epoch: AtomicU64,
    flush_acks: AtomicU64,
    /// Signals controller, workers and `gc()` waiters.
    cv: Condvar,
    stats: Mutex<GcStats>,
    pub(crate) debug: DebugModes,
    pub(crate) gomaxprocs: usize,
    pub(crate) start: Instant,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Phase boundaries for timelines; off unless a tracer turns it on.
    events: Arc<GcEvents>,
    /// The GC CPU limiter (Go's `gcCPULimiter`).
    pub(crate) limiter: GcCpuLimiter,
    /// The background scavenger's wake-ups (its policy is in `scavenger.rs`).
    pub(crate) scavenger: Scavenger,
}

/// One round of a bounded polling wait: false once `limit` has passed since `since`, else
/// pause 50 µs and return true (poll again).
///
/// Under loom there is no clock: it yields to the model's other threads and never gives up, so
/// an answer that never comes shows as a deadlock or a spent branch budget in the model instead
/// of being hidden by the time limit.
fn poll_again(since: Instant, limit: Duration) -> bool {
    #[cfg(not(loom))]
    {
        if since.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    #[cfg(loom)]
    {
        let _ = (since, limit);
        crate::sync::thread::yield_now();
    }
    true
}

fn f64_bits(v: f64) -> u64 {
    v.to_bits()
}
fn bits_f64(v: u64) -> f64 {
    f64::from_bits(v)
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

/// Go's number format for gctrace: ≥ 10 → integer; else 2 significant digits, ≤ 3 decimals.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{}", ms as u64)
    } else if ms >= 1.0 {
        format!("{:.1}", (ms * 10.0).floor() / 10.0)
    } else if ms >= 0.1 {
        format!("{:.2}", (ms * 100.0).floor() / 100.0)
    } else {
        format!("{:.3}", (ms * 1000.0).floor() / 1000.0)
    }
}

impl Collector {
    /// A collector for `heap`. Call [`Collector::start`] to launch its threads.
    ///
    /// Make every P's cache ([`MHeap::new_cache`]) before: this attaches the collector to the
    /// heap ([`MHeap::attach_collector`]), after which the heap makes no more caches.
    ///
    /// # Panics
    /// If `heap` already has a collector: two would advance its sweep generation and sweep
    /// its spans independently.
    pub fn new(heap: Arc<MHeap>, cfg: CollectorConfig) -> Arc<Collector> {
        heap.attach_collector();
        let mut pacer = Pacer::new(PacerConfig {
            gc_percent: cfg.gc_percent,
            memory_limit: cfg.memory_limit,
            gomaxprocs: cfg.gomaxprocs,
        });
        pacer.commit(0, 0, 0, 0);
        let trigger = if pacer.gc_percent() < 0 && pacer.memory_limit() == u64::MAX {
            u64::MAX
        } else {
            pacer.trigger()
        };
        heap.scavenge_state().set_memory_limit(pacer.memory_limit());
        let limiter = GcCpuLimiter::new(0, cfg.gomaxprocs);
        limiter.set_allowed(pacer.memory_limited());
        let pool = WorkPool::for_heap(heap.clone());
        Arc::new(Collector {
            heap,
            pool,
            wb: Arc::new(WriteBarrier::default()),
            phase: AtomicU8::new(Phase::Off as u8),
            pacer: Mutex::new(pacer),
            trigger: AtomicU64::new(trigger),
            bg_credit: AtomicU64::new(0),
            assist_work_per_byte: AtomicU64::new(f64_bits(0.0)),
            assist_bytes_per_work: AtomicU64::new(f64_bits(0.0)),
            assist_ns: AtomicU64::new(0),
            worker_ns: AtomicU64::new(0),
            worker_marked: AtomicU64::new(0),
            scan_work: AtomicU64::new(0),
            last_stack_scan: AtomicU64::new(0),
            last_globals_scan: AtomicU64::new(0),
            sweep: ActiveSweep::new(),
            ctl: Mutex::new(ControlState {
                requested: false,
                forced: false,
                started: 0,
                shutdown: false,
                active_workers: 0,
                mark_epoch: 0,
            }),
            cv: Condvar::new(),
            assist_lock: Mutex::new(()),
            assist_cv: Condvar::new(),
            parked_assists: AtomicU64::new(0),
            flush_epoch: AtomicU64::new(0),
            flush_acks: AtomicU64::new(0),
            stats: Mutex::new(GcStats::default()),
            debug: cfg.debug,
            gomaxprocs: cfg.gomaxprocs.max(1),
            start: Instant::now(),
            threads: Mutex::new(Vec::new()),
            events: Arc::new(GcEvents::new()),
            limiter,
            scavenger: Scavenger::default(),
        })
    }

    /// The write-barrier switch the runtime's pointer stores test.
    pub fn write_barrier(&self) -> &Arc<WriteBarrier> {
        &self.wb
    }

    /// The global work pool (for flushing barrier buffers and assists).
    ///
    /// # Safety
    /// - Only grey objects of this collector's heap, queued by [`shade`] during
    ///   this cycle's mark, are put into the pool, and work taken from it is scanned (or put
    ///   back) before mark termination: a grey object taken and dropped is never scanned, and
    ///   what it reaches is freed while live. The runtime's barrier flush is the one user.
    pub unsafe fn pool(&self) -> &WorkPool {
        &self.pool
    }

    /// The heap.
    pub fn heap(&self) -> &Arc<MHeap> {
        &self.heap
    }

    /// The phase-boundary recorder (off unless enabled; the [`World`] records its pauses
    /// there).
    pub fn events(&self) -> &Arc<GcEvents> {
        &self.events
    }

    /// The current phase.
    #[inline(always)]
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            1 => Phase::Mark,
            2 => Phase::MarkTermination,
            _ => Phase::Off,
        }
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
        // The limiter counts the mark workers' share only while marking (Go's
        // startGCTransition at each phase change).
        self.limiter.transition(p == Phase::Mark, self.now_ns(), self.num_gc());
        self.heap.scavenge_state().set_limiting(self.limiter.limiting());
        // Wake parked assists: the end of mark is a reason to stop waiting. Unconditionally
        // and under `assist_lock`, where a parker tests the phase: it sees the new phase or is
        // already waiting when the notification comes. Phases change a few times a cycle.
        let _g = lock(&self.assist_lock);
        self.assist_cv.notify_all();
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
    fn add_background_credit(&self, work: u64) {
        // ORDERING: SeqCst RMW; pairs with the parker's SeqCst RMWs (above).
        self.bg_credit.fetch_add(work, Ordering::SeqCst);
        // ORDERING: SeqCst RMW (a read that takes the latest value); as above.
        if self.parked_assists.fetch_add(0, Ordering::SeqCst) > 0 {
            let _g = lock(&self.assist_lock);
            self.assist_cv.notify_all();
        }
    }

    /// Number of mark worker threads: Go's 25% of GOMAXPROCS, dedicated plus fractional,
    /// rounded up to whole threads.
    pub fn mark_workers(&self) -> usize {
        (self.gomaxprocs as f64 * 0.25).ceil().max(1.0) as usize
    }

    /// Launch the controller, the mark workers and the sweeper.
    ///
    /// The collector trusts `world` for soundness (it is an `unsafe` trait: see
    /// [`World`]): every root it misses is freed while live.
    ///
    /// # Panics
    /// If the collector was started before: two controllers would run cycles at once.
    pub fn start(self: &Arc<Self>, world: Arc<dyn World>) {
        let mut threads = lock(&self.threads);
        assert!(threads.is_empty(), "Collector::start: the collector is already started");
        let c = self.clone();
        threads.push(
            std::thread::Builder::new()
                .name("gomem-gc".into())
                .spawn(move || c.controller(&*world))
                .expect("spawn gc controller"),
        );
        for i in 0..self.mark_workers() {
            let c = self.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("gomem-mark-{i}"))
                    .spawn(move || c.mark_worker())
                    .expect("spawn mark worker"),
            );
        }
        let c = self.clone();
        threads.push(
            std::thread::Builder::new()
                .name("gomem-sweep".into())
                .spawn(move || c.sweeper())
                .expect("spawn sweeper"),
        );
        let c = self.clone();
        threads.push(
            std::thread::Builder::new()
                .name("gomem-scavenge".into())
                .spawn(move || c.scavenger.run(&c))
                .expect("spawn scavenger"),
        );
    }

    /// Stop every collector thread (after finishing a cycle in progress).
    pub fn shutdown(&self) {
        lock(&self.ctl).shutdown = true;
        self.cv.notify_all();
        self.scavenger.shutdown();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    // ------------------------------------------------------------------ triggering

    /// Allocation slow-path hook (after a span refill or a large allocation): start a cycle if
    /// the heap reached the trigger, and sweep a little while sweeping is unfinished.
    pub fn on_refill(&self) {
        if !self.sweep.is_drained() {
            self.sweep_one();
        }
        if self.has_memory_limit() {
            self.refresh_memory_limit_goal();
        }
        if self.phase() == Phase::Off
            && self.heap.heap_live() >= self.trigger.load(Ordering::Relaxed)
        {
            let mut ctl = lock(&self.ctl);
            if !ctl.requested {
                ctl.requested = true;
                drop(ctl);
                self.cv.notify_all();
            }
        }
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
        let stopped = lock(&self.ctl).shutdown;
        if !stopped && lock(&self.threads).is_empty() {
            panic!("Collector::gc: the collector was never started (call Collector::start first)");
        }
        let mut ctl = lock(&self.ctl);
        // Go: wait for the current cycle (if any) and then run a complete new one.
        let target = ctl.started + if self.phase() != Phase::Off { 2 } else { 1 };
        ctl.requested = true;
        ctl.forced = true;
        self.cv.notify_all();
        loop {
            let done = lock(&self.stats).num_gc;
            if done >= target && !ctl.requested {
                break;
            }
            if ctl.shutdown {
                return;
            }
            ctl = self.cv.wait_timeout(ctl, Duration::from_millis(5));
            if ctl.started < target && !ctl.requested {
                ctl.requested = true;
                ctl.forced = true;
                self.cv.notify_all();
            }
        }
        drop(ctl);
        // Go's runtime.GC: sweep what is left, then wait for the other sweepers, unless a newer
        // cycle has ended meanwhile (its sweep is not this call's to finish).
        let done = lock(&self.stats).num_gc;
        while self.sweep_one() {}
        while !self.sweep.is_done() && lock(&self.stats).num_gc == done {
            std::thread::yield_now();
        }
    }

    /// Sweep whatever the current generation has left and wait for every other sweeper outside
    /// a P to end (Go's `finishsweep_m`). When it returns, no sweep runs and none can begin
    /// before the next cycle's mark termination (see [`crate::sweep`]).
    pub fn finish_sweep(&self) {
        self.sweep.finish(|| self.sweep_one());
    }

    /// Sweep one span outside a P (Go's `sweepone`), registered with [`Collector::sweep`] for
    /// the span's whole sweep so that mark start can wait for it (see [`crate::sweep`]).
    /// Returns false when nothing is left: this sweeper found no span to claim (and marked the
    /// generation drained), or the generation was drained already.
    fn sweep_one(&self) -> bool {
        let Some(_locker) = self.sweep.begin() else { return false };
        // SAFETY: this sweep is registered with `self.sweep` (the locker above).
        if unsafe { self.heap.sweep_one_unchecked() }.is_some() {
            return true;
        }
        if self.sweep.mark_drained() {
            self.events.record(GcEventKind::SweepDone);
        }
        false
    }

    /// Change GOGC at run time (Go's `debug.SetGCPercent`); returns the old value. Lowering it
    /// below the current heap triggers a cycle at the next allocation check.
    pub fn set_gc_percent(&self, p: i32) -> i32 {
        let mut pacer = lock(&self.pacer);
        let old = pacer.set_gc_percent(p);
        self.publish_trigger(&pacer);
        drop(pacer);
        self.scavenger.kick();
        old
    }

    /// A pacer commit (mark termination, a parameter change): mirror the trigger and set the
    /// scavenger's goals (Go's `gcControllerCommit` calling `gcPaceScavenger`).
    pub(crate) fn publish_trigger(&self, pacer: &Pacer) {
        self.mirror_trigger(pacer);
        self.pace_scavenger(pacer);
    }

    /// Mirror the pacer's trigger for the allocation check, and arm the CPU limiter while the
    /// memory limit sets the goal.
    pub(crate) fn mirror_trigger(&self, pacer: &Pacer) {
        let t = if pacer.gc_percent() < 0 && pacer.memory_limit() == u64::MAX {
            u64::MAX
        } else {
            pacer.trigger()
        };
        self.trigger.store(t, Ordering::Relaxed);
        let limited = pacer.memory_limited();
        self.limiter.set_allowed(limited);
        if !limited {
            self.heap.scavenge_state().set_limiting(false);
        }
    }

    /// The heap goal (Go's `NextGC`).
    pub fn heap_goal(&self) -> u64 {
        lock(&self.pacer).heap_goal()
    }

    /// GOGC in force.
    pub fn gc_percent(&self) -> i32 {
        lock(&self.pacer).gc_percent()
    }

    /// Completed cycles (cheap: no copy of the statistics).
    pub fn num_gc(&self) -> u32 {
        lock(&self.stats).num_gc
    }

    /// A copy of the cycle statistics.
    pub fn stats(&self) -> GcStats {
        lock(&self.stats).clone()
    }

    /// GC CPU as a fraction of GOMAXPROCS × wall time since the collector started (Go's
    /// `GCCPUFraction`).
    pub fn gc_cpu_fraction(&self) -> f64 {
        let st = lock(&self.stats);
        let wall = self.start.elapsed().as_nanos() as f64 * self.gomaxprocs as f64;
        if wall == 0.0 {
            0.0
        } else {
            st.gc_cpu_ns as f64 / wall
        }
    }

    // ------------------------------------------------------------------ assists

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
    /// - `gp` is the collector state of a P of this collector's [`World`], held by the caller
    ///   (the one [`Stopped::for_each_p`] hands out for that P): the assist takes grey work
    ///   into `gp.gcw`, and only the world's Ps' work is drained before mark termination.
    pub unsafe fn assist_alloc(
        &self,
        gp: &mut GcPState,
        bytes: usize,
        preempted: &dyn Fn() -> bool,
    ) -> AssistOutcome {
        // ORDERING: Acquire; pairs with the Release increment in `ragged_flush`, so the
        // requester's reset of `flush_acks` happens-before this P's answer is counted.
        let epoch = self.flush_epoch.load(Ordering::Acquire);
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
        let wpb = bits_f64(self.assist_work_per_byte.load(Ordering::Relaxed));
        let bpw = bits_f64(self.assist_bytes_per_work.load(Ordering::Relaxed));
        let debt = gp.assist_credit.unsigned_abs();
        // Over-assist by 64 KiB of work, as Go does, so assists are not tiny.
        let work = ((debt as f64 * wpb) as u64).max(64 << 10);
        // Steal background credit first.
        let mut have = self.bg_credit.load(Ordering::Relaxed);
        loop {
            let take = have.min(work);
            if take == 0 {
                break;
            }
            match self.bg_credit.compare_exchange_weak(
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
            drain(&self.heap, &mut gp.gcw, &self.pool, Some(work), &|| {
                if preempted() {
                    stopped_early.set(true);
                }
                stopped_early.get() || self.phase() != Phase::Mark || self.limiter.limiting()
            })
        };
        let stopped_early = stopped_early.get();
        gp.gcw.dispose(&self.pool);
        self.scan_work.fetch_add(done, Ordering::Relaxed);
        gp.assist_credit = gp.assist_credit.saturating_add(credit_for(done, bpw));
        let ns = t.elapsed().as_nanos() as u64;
        self.assist_ns.fetch_add(ns, Ordering::Relaxed);
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
            unsafe { gp.wbbuf.flush(&self.heap, &mut gp.gcw, &self.pool) };
            gp.gcw.dispose(&self.pool);
        }
        // ORDERING: Release; pairs with the Acquire load in `ragged_flush`, so the requester
        // that counts this answer also sees the buffers just disposed to the pool (with a
        // relaxed count it could read the pool's `nfull` from before them, find the pool
        // empty and go on to stop the world for nothing: `cycle_loom.rs` models this).
        self.flush_acks.fetch_add(1, Ordering::Release);
    }

    /// A ragged barrier before mark termination (the idea of Go's `forEachP` flush in
    /// `gcMarkDone`, without stopping anyone): ask every P to flush its barrier buffer and
    /// local work at its next allocation, and wait up to a millisecond for `procs` answers
    /// (the caller passes the number of Ps running a goroutine: only those can answer). Work
    /// a mutator has been holding is then marked concurrently, and the stop that follows
    /// usually finds nothing, instead of restarting the mark and paying another pause. Ps that
    /// do not allocate meanwhile do not answer; the stop flushes them.
    fn ragged_flush(&self, procs: usize) {
        self.flush_acks.store(0, Ordering::Relaxed);
        // ORDERING: Release; pairs with the Acquire load of the epoch in `assist_alloc`: a P
        // that sees the new request sees the reset above, so its answer is not overwritten.
        self.flush_epoch.fetch_add(1, Ordering::Release);
        let t = Instant::now();
        // ORDERING: Acquire; pairs with the Release increment in `answer_flush`: the work of
        // every P counted is in the pool for the quiescence check that follows.
        while self.flush_acks.load(Ordering::Acquire) < procs as u64
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
        self.parked_assists.fetch_add(1, Ordering::SeqCst);
        {
            let g = lock(&self.assist_lock);
            // Re-check under the lock: a wake-up sent before we got here is not lost. The
            // phase is read under the lock `set_phase` notifies under; the credit with a
            // SeqCst RMW (a read of the latest value) that pairs with `add_background_credit`.
            // Work in the pool is no wake-up reason anyone signals: the time limit covers it.
            if self.phase() == Phase::Mark
                && self.bg_credit.fetch_add(0, Ordering::SeqCst) == 0
                && self.pool.is_empty()
            {
                drop(self.assist_cv.wait_timeout(g, Duration::from_millis(1)));
            }
        }
        self.parked_assists.fetch_sub(1, Ordering::Relaxed);
        // Waiting is assist time in Go's accounting too (the goroutine is blocked by the GC).
        self.assist_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    // ------------------------------------------------------------------ threads

    fn controller(&self, world: &dyn World) {
        loop {
            let forced;
            {
                let mut ctl = lock(&self.ctl);
                while !ctl.requested && !ctl.shutdown {
                    ctl = self.cv.wait(ctl);
                }
                if ctl.shutdown {
                    return;
                }
                ctl.requested = false;
                forced = core::mem::take(&mut ctl.forced);
                // A heap-triggered request can be stale: a goroutine may have seen the old
                // trigger during the previous cycle's sweep termination, before that cycle
                // moved the trigger. Test it again, as Go's `gcStart` re-tests its trigger.
                if !forced && self.heap.heap_live() < self.trigger.load(Ordering::Relaxed) {
                    continue;
                }
                ctl.started += 1;
            }
            self.run_cycle(world, forced);
            self.cv.notify_all();
            self.scavenger.cycle_done();
        }
    }

    fn mark_worker(&self) {
        let mut gcw = GcWork::new();
        let mut seen_epoch = 0;
        loop {
            {
                let mut ctl = lock(&self.ctl);
                while !ctl.shutdown && (ctl.mark_epoch == seen_epoch || self.phase() != Phase::Mark)
                {
                    ctl = self.cv.wait(ctl);
                }
                if ctl.shutdown {
                    return;
                }
                seen_epoch = ctl.mark_epoch;
            }
            // Work for the whole mark phase: drain while there is work; when the pool runs dry,
            // report idle (so termination can be detected) and look again shortly, since assists
            // and barrier flushes keep publishing work (Go's dedicated worker keeps its P).
            while self.phase() == Phase::Mark {
                if !self.pool.is_empty() {
                    lock(&self.ctl).active_workers += 1;
                    // Re-check under the count: termination reads both.
                    if self.phase() == Phase::Mark {
                        let t = Instant::now();
                        // Drain in slices of CREDIT_SLACK work so that the pacer's `revise`
                        // sees the progress and assists can steal the credit as it is earned
                        // (Go's gcDrain flushes both every `gcCreditSlack` units).
                        loop {
                            // SAFETY: a mark worker drains this collector's pool during mark and
                            // hands its local work back before mark termination.
                            let done = unsafe {
                                drain(&self.heap, &mut gcw, &self.pool, Some(CREDIT_SLACK), &|| {
                                    self.phase() != Phase::Mark
                                })
                            };
                            self.add_background_credit(done);
                            let (bm, sw) = gcw.take_counters();
                            self.add_worker_counters(bm, sw);
                            if done < CREDIT_SLACK || self.phase() != Phase::Mark {
                                break;
                            }
                        }
                        self.worker_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    gcw.dispose(&self.pool);
                    let (bm, sw) = gcw.take_counters();
                    self.add_worker_counters(bm, sw);
                    lock(&self.ctl).active_workers -= 1;
                    self.cv.notify_all();
                    continue;
                }
                let ctl = lock(&self.ctl);
                if ctl.shutdown {
                    return;
                }
                drop(self.cv.wait_timeout(ctl, Duration::from_micros(100)));
            }
        }
    }

    fn sweeper(&self) {
        loop {
            {
                let mut ctl = lock(&self.ctl);
                while !ctl.shutdown && self.sweep.is_drained() {
                    ctl = self.cv.wait(ctl);
                }
                if ctl.shutdown {
                    return;
                }
            }
            // Until the generation is drained (by this thread or another sweeper).
            let mut n = 0u32;
            while self.sweep_one() {
                n += 1;
                if n % 10 == 0 {
                    std::thread::yield_now();
                }
            }
        }
    }

    // ------------------------------------------------------------------ the cycle

    fn add_worker_counters(&self, bytes_marked: u64, scan: u64) {
        self.worker_marked.fetch_add(bytes_marked, Ordering::Relaxed);
        self.scan_work.fetch_add(scan, Ordering::Relaxed);
    }

    /// Run one complete cycle (phases 1–3 of the module docs; phase 4 runs in the background).
    fn run_cycle(&self, world: &dyn World, forced: bool) {
        let t_start = Instant::now();
        self.events.record(GcEventKind::CycleStart);
        let at = t_start.duration_since(self.start);
        // 1. Sweep termination, concurrent part: finish the previous cycle's sweeping, and
        // wait for sweepers outside a P still sweeping a span (they do not stop with the world).
        self.sweep.finish(|| self.sweep_one());
        let heap0 = self.heap.heap_live();
        let stw = self.debug.stoptheworld > 0;
        let mut ctl_gcw = GcWork::new();
        self.worker_marked.store(0, Ordering::Relaxed);
        self.scan_work.store(0, Ordering::Relaxed);
        let stack_scan_prev = self.last_stack_scan.load(Ordering::Relaxed);
        let globals_scan_prev = self.last_globals_scan.load(Ordering::Relaxed);
        let mut stack_scan = 0u64;
        let mut globals_scan = 0u64;
        let assist0 = self.assist_ns.load(Ordering::Relaxed);
        let worker0 = self.worker_ns.load(Ordering::Relaxed);
        let goal = lock(&self.pacer).heap_goal();

        let mut heap_live_mark_start = 0;
        let pause1 = world.stop_the_world("GC sweep termination", &mut |w: &mut dyn Stopped| {
            // Anything a P swept lazily is done (the stop waited for it), and the collector's
            // own sweepers ended above: no sweep can reset a mark bit from here on
            // (`crate::sweep`, invariant 3). `finish` finds nothing to do.
            self.finish_sweep();
            // SAFETY: the world is stopped before marking starts.
            unsafe { self.heap.clear_page_marks() };
            heap_live_mark_start = self.heap.heap_live();
            {
                let mut pacer = lock(&self.pacer);
                // Scan allocations a P has not flushed yet (since its last refill) are missing,
                // as they are from Go's `heapScan`.
                pacer.set_heap_scan(self.heap.heap_scan());
                pacer.start_cycle(
                    self.start.elapsed().as_nanos() as u64,
                    heap_live_mark_start,
                    stack_scan_prev,
                    globals_scan_prev,
                );
                self.assist_work_per_byte
                    .store(f64_bits(pacer.assist_work_per_byte()), Ordering::Relaxed);
                self.assist_bytes_per_work
                    .store(f64_bits(pacer.assist_bytes_per_work()), Ordering::Relaxed);
            }
            self.bg_credit.store(0, Ordering::Relaxed);
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
            let pool = &self.pool;
            w.for_each_p(&mut |cache, gp| {
                gp.assist_credit = 0;
                if let Some(t) = cache.tiny_block() {
                    // SAFETY: marking is on; the work stays on the P's gcw, drained or
                    // flushed before mark termination.
                    unsafe { shade(heap, &mut gp.gcw, pool, t) };
                }
            });
            if stw {
                // gcstoptheworld: the whole mark happens in this pause, on this thread.
                w.for_each_goroutine_root(&mut |r| {
                    stack_scan += 8;
                    // SAFETY: marking is on; ctl_gcw is drained below.
                    unsafe { shade(heap, &mut ctl_gcw, pool, r) };
                });
                w.for_each_global_root(&mut |r| {
                    globals_scan += 8;
                    // SAFETY: as above.
                    unsafe { shade(heap, &mut ctl_gcw, pool, r) };
                });
                // SAFETY: marking is on, and everything queued was greyed by shade above.
                unsafe { drain(heap, &mut ctl_gcw, pool, None, &|| false) };
            }
        });
        let t_mark = Instant::now();
        self.events.record(GcEventKind::MarkStart);

        // 2. Concurrent mark: roots, then wait until the workers run dry.
        if !stw {
            let heap = &self.heap;
            let pool = &self.pool;
            world.scan_global_roots(&mut |r| {
                globals_scan += 8;
                // SAFETY: marking is on; ctl_gcw is disposed to the pool below.
                unsafe { shade(heap, &mut ctl_gcw, pool, r) };
            });
            ctl_gcw.dispose(pool);
            self.release_workers();
            // Roots are collected and shaded after the scan, outside its lock; when the list
            // cannot grow (out of memory) the rest are shaded at once, under the lock.
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
            stack_scan = 8 * n;
            for r in list {
                // SAFETY: as above.
                unsafe { shade(heap, &mut ctl_gcw, pool, r) };
            }
            ctl_gcw.dispose(pool);
            self.release_workers();
        }

        // 3. Mark termination, repeated until a stopped world finds no work left.
        let mut pause2 = Duration::ZERO;
        let mut heap1 = 0;
        let mut marked_total = 0u64;
        loop {
            if !stw {
                self.wait_for_quiescence();
                // Only Ps running a goroutine can answer; an idle P's buffers are flushed by
                // the stop. Waiting for every P cost a whole millisecond per cycle whenever one
                // was idle (a one-goroutine program on two Ps: every cycle).
                self.ragged_flush(world.running_ps());
                self.wait_for_quiescence();
            }
            let mut restart = false;
            let p = world.stop_the_world("GC mark termination", &mut |w: &mut dyn Stopped| {
                let heap = &self.heap;
                let pool = &self.pool;
                let mut found = false;
                let mut p_marked = 0;
                // A worker that took up work since the quiescence check means marking is not
                // done: restart at once rather than wait inside the pause for it to finish its
                // current piece (up to an oblet's worth of shading).
                if lock(&self.ctl).active_workers > 0 {
                    restart = true;
                    return;
                }
                // Mark workers are threads, not goroutines: the stopped world does not stop
                // them. Switching the phase makes them stop draining and hand their local work
                // to the pool; wait until none is active before deciding anything.
                self.set_phase(Phase::MarkTermination);
                {
                    let mut ctl = lock(&self.ctl);
                    while ctl.active_workers > 0 {
                        ctl = self.cv.wait_timeout(ctl, Duration::from_micros(50));
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
                if stw {
                    // Everything is marked here, in the pause itself.
                    // SAFETY: still marking; the pool holds this cycle's grey objects.
                    unsafe { drain(heap, &mut ctl_gcw, pool, None, &|| false) };
                    found = false;
                }
                if found || !pool.is_empty() {
                    self.set_phase(Phase::Mark);
                    restart = true;
                    return;
                }
                w.for_each_p(&mut |_, gp| {
                    // Assists added their scan work to `scan_work` as they went.
                    let (bm, _) = gp.gcw.take_counters();
                    p_marked += bm;
                    gp.wbbuf.discard();
                });
                if self.debug.checkmark {
                    checkmark::verify(heap, w);
                }
                heap1 = heap.heap_live();
                let (cm, cs) = ctl_gcw.take_counters();
                let heap_scan = self.scan_work.load(Ordering::Relaxed) + cs;
                // Objects allocated during mark were allocated black; count them as marked
                // (heap_live grew by at least their size, span-granular, as in Go).
                let alloc_black = heap1.saturating_sub(heap_live_mark_start);
                marked_total =
                    p_marked + cm + self.worker_marked.load(Ordering::Relaxed) + alloc_black;
                // SAFETY: the world is stopped and no grey object is left: mark is over.
                unsafe {
                    self.wb.set_enabled(false);
                    heap.set_alloc_black(false);
                }
                self.set_phase(Phase::Off);
                heap.reset_heap_live(marked_total);
                heap.reset_heap_scan(heap_scan);
                // SAFETY: the world is stopped, the previous generation was fully swept in
                // sweep termination, and every P's cache is released right below, before any P
                // allocates again.
                unsafe { heap.advance_sweepgen() };
                w.for_each_p(&mut |cache, _| cache.release_all());
                // The new generation may be swept from here on (`crate::sweep`, invariant 4).
                self.sweep.reset();
                let mut pacer = lock(&self.pacer);
                let now = self.start.elapsed().as_nanos() as u64;
                pacer.end_cycle(
                    now,
                    heap1,
                    forced,
                    self.assist_ns.load(Ordering::Relaxed) - assist0,
                    // Go's endCycle takes idle-priority mark time here (it assumes dedicated
                    // and fractional workers used exactly their 25%); gomem has no idle-priority
                    // workers.
                    0,
                    t_mark.elapsed().as_nanos() as u64,
                );
                pacer.commit(marked_total, heap_scan, stack_scan, globals_scan);
                self.publish_trigger(&pacer);
            });
            pause2 += p;
            if !restart {
                break;
            }
            self.release_workers();
        }
        self.events.record(GcEventKind::MarkDone);
        let mark_wall = t_mark.elapsed().saturating_sub(pause2);
        self.last_stack_scan.store(stack_scan, Ordering::Relaxed);
        self.last_globals_scan.store(globals_scan, Ordering::Relaxed);
        if self.debug.stoptheworld >= 2 {
            world.stop_the_world("GC sweep (gcstoptheworld=2)", &mut |_| {
                self.sweep.finish(|| self.sweep_one());
            });
        }

        // Statistics and the trace line.
        let assist = self.assist_ns.load(Ordering::Relaxed) - assist0;
        let worker = self.worker_ns.load(Ordering::Relaxed) - worker0;
        let total_pause = pause1 + pause2;
        let now_unix =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let (num_gc, cpu_frac) = {
            let mut st = lock(&self.stats);
            let i = st.num_gc as usize % PAUSE_RING;
            st.pause_ns[i] = total_pause.as_nanos() as u64;
            st.pause_end[i] = now_unix;
            st.pause_total_ns += total_pause.as_nanos() as u64;
            for p in [pause1, pause2] {
                let ns = p.as_nanos() as u64;
                st.pause_max_ns = st.pause_max_ns.max(ns);
                if st.pauses.len() == 4096 {
                    st.pauses.remove(0);
                }
                st.pauses.push(ns);
            }
            st.last_gc = now_unix;
            st.num_gc += 1;
            if forced {
                st.num_forced_gc += 1;
            }
            st.gc_cpu_ns +=
                total_pause.as_nanos() as u64 * self.gomaxprocs as u64 + assist + worker;
            // Stopped time is GC time on every P, for the CPU limiter too.
            self.limiter.add_gc_time(total_pause.as_nanos() as u64 * self.gomaxprocs as u64);
            st.heap_marked = marked_total;
            st.peak_heap_live = st.peak_heap_live.max(heap1);
            let wall = self.start.elapsed().as_nanos() as f64 * self.gomaxprocs as f64;
            (st.num_gc, if wall > 0.0 { st.gc_cpu_ns as f64 / wall } else { 0.0 })
        };
        if self.debug.gctrace > 0 {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let procs =
                self.gomaxprocs.min(std::thread::available_parallelism().map_or(1, |n| n.get()))
                    as f64;
            eprintln!(
                "gc {} @{:.3}s {}%: {}+{}+{} ms clock, {}+{}/{}/{}+{} ms cpu, {}->{}->{} MB, {} MB goal, {} MB stacks, {} MB globals, {} P{}",
                num_gc,
                at.as_secs_f64(),
                (cpu_frac * 100.0) as u64,
                fmt_ms(ms(pause1)),
                fmt_ms(ms(mark_wall)),
                fmt_ms(ms(pause2)),
                fmt_ms(ms(pause1) * procs),
                fmt_ms(assist as f64 / 1e6),
                fmt_ms(worker as f64 / 1e6),
                fmt_ms(0.0),
                fmt_ms(ms(pause2) * procs),
                heap0 >> 20,
                heap1 >> 20,
                marked_total >> 20,
                goal >> 20,
                stack_scan >> 20,
                globals_scan >> 20,
                self.gomaxprocs,
                if forced { " (forced)" } else { "" }
            );
        }
    }

    /// Let the mark workers run (new work, a new cycle, a restarted mark).
    fn release_workers(&self) {
        lock(&self.ctl).mark_epoch += 1;
        self.cv.notify_all();
    }

    /// Wait until no worker is draining and the global pool is empty (a termination candidate).
    fn wait_for_quiescence(&self) {
        let mut ctl = lock(&self.ctl);
        loop {
            if ctl.shutdown {
                // The workers have exited: finish this cycle's marking here so the cycle can
                // end and the runtime can be dropped mid-mark.
                drop(ctl);
                let mut gcw = GcWork::new();
                // SAFETY: marking is still on; the pool holds this cycle's grey objects.
                unsafe { drain(&self.heap, &mut gcw, &self.pool, None, &|| false) };
                gcw.dispose(&self.pool);
                let (bm, sw) = gcw.take_counters();
                self.add_worker_counters(bm, sw);
                return;
            }
            // Go revises the assist ratio whenever heapLive or the scan work done change; once
            // a millisecond is close enough for assists to track the heap.
            {
                let mut pacer = lock(&self.pacer);
                pacer.revise(self.heap.heap_live(), self.scan_work.load(Ordering::Relaxed));
                self.assist_work_per_byte
                    .store(f64_bits(pacer.assist_work_per_byte()), Ordering::Relaxed);
                self.assist_bytes_per_work
                    .store(f64_bits(pacer.assist_bytes_per_work()), Ordering::Relaxed);
            }
            if ctl.active_workers == 0 && self.pool.is_empty() {
                return;
            }
            if !self.pool.is_empty() && ctl.active_workers == 0 {
                // Work appeared (assists, barrier flushes) while the workers slept.
                ctl.mark_epoch += 1;
                self.cv.notify_all();
            }
            ctl = self.cv.wait_timeout(ctl, Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
impl CollectorConfig {
    /// The unit tests' and loom models' configuration: GOGC 100, no memory limit, one P.
    fn for_tests() -> CollectorConfig {
        CollectorConfig {
            gc_percent: 100,
            memory_limit: u64::MAX,
            gomaxprocs: 1,
            debug: DebugModes::default(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use gomem_allocator::mheap::HeapConfig;
    use gomem_allocator::typedesc::TypeDesc;

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
        c.assist_work_per_byte.store(f64_bits(1.0), Ordering::Relaxed);
        c.assist_bytes_per_work.store(f64_bits(1.0), Ordering::Relaxed);
        let mut gcw = GcWork::new();
        // SAFETY: the test plays mark start on a collector whose threads never run.
        unsafe { shade(&heap, &mut gcw, &c.pool, nodes[0]) };
        gcw.dispose(&c.pool);
        (c, nodes)
    }

    #[test]
    fn a_preempted_assist_stops_and_keeps_its_debt() {
        let (c, _) = marking_collector(10_000);
        let mut gp = GcPState::default();
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| true), AssistOutcome::Preempted);
        assert_eq!(c.scan_work.load(Ordering::Relaxed), 0, "no scanning after the request");
        assert_eq!(gp.assist_credit, -(1 << 20), "the debt is kept for later");
        assert!(!c.pool.is_empty(), "the grey object is still queued");

        // Preempted part-way: the work done counts, the rest stays queued and owed.
        let calls = core::cell::Cell::new(0);
        let outcome = assist(&c, &mut gp, 0, &|| {
            calls.set(calls.get() + 1);
            calls.get() > 3
        });
        assert_eq!(outcome, AssistOutcome::Preempted);
        let done = c.scan_work.load(Ordering::Relaxed);
        assert!(done > 0 && done < 8 * 10_000, "some but not all of the list: {done}");
        assert!(gp.assist_credit < 0);
        assert!(!c.pool.is_empty());

        // Not preempted: the assist scans on until the list runs out; the debt is larger than
        // all the work there is, so it must park (and not be forgiven).
        assert_eq!(assist(&c, &mut gp, 0, &|| false), AssistOutcome::Park);
        assert_eq!(c.scan_work.load(Ordering::Relaxed), 8 * 10_000, "each node scanned once");
        assert!(c.pool.is_empty());
        assert!(gp.assist_credit < 0, "the debt is still owed");
        // Parking returns (here by its timeout: no credit will come), and once background
        // credit exists the retry steals it and is paid.
        c.park_assist();
        c.bg_credit.store(1 << 30, Ordering::Relaxed);
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
        unsafe { drain(&c.heap, &mut gcw, &c.pool, None, &|| false) };
        gcw.dispose(&c.pool);
        assert!(c.pool.is_empty());
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
        assert!(c.pool.is_empty());
        // After a request (here made without waiting: one P, which answers below) the next
        // allocation hands the buffer's work to the pool and counts its answer, once.
        c.flush_acks.store(0, Ordering::Relaxed);
        c.flush_epoch.fetch_add(1, Ordering::Relaxed);
        assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
        assert!(!c.pool.is_empty(), "the white object was shaded and queued");
        assert_eq!(c.flush_acks.load(Ordering::Relaxed), 1);
        assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
        assert_eq!(c.flush_acks.load(Ordering::Relaxed), 1, "answered once per request");
        // The requester's side: it returns once every P (one here) has answered.
        let epoch = c.flush_epoch.load(Ordering::Relaxed);
        std::thread::scope(|s| {
            let requester = s.spawn(|| c.ragged_flush(1));
            while c.flush_epoch.load(Ordering::Relaxed) == epoch {
                std::thread::yield_now();
            }
            assert_eq!(assist(&c, &mut gp, 8, &|| false), AssistOutcome::Paid);
            requester.join().unwrap();
        });
        assert_eq!(c.flush_acks.load(Ordering::Relaxed), 1);
        assert_eq!(gp.flush_seen, epoch + 1);
    }

    #[test]
    #[should_panic(expected = "the collector was never started")]
    fn gc_on_a_collector_never_started_panics_instead_of_waiting() {
        let heap = MHeap::new(HeapConfig::default()).unwrap();
        Collector::new(heap, CollectorConfig::for_tests()).gc();
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
        c.assist_bytes_per_work.store(f64_bits(bpw), Ordering::Relaxed);
        // Scanning pays vastly more than the debt: the credit saturates instead of overflowing
        // (it did, in `(done as f64 * bpw) as i64 + 1`).
        let mut gp = GcPState { assist_credit: -1, ..GcPState::default() };
        assert_eq!(assist(&c, &mut gp, 1 << 20, &|| false), AssistOutcome::Paid);
        assert!(c.scan_work.load(Ordering::Relaxed) > 0, "the assist scanned");
        assert_eq!(gp.assist_credit, i64::MAX - (1 << 20) - 1);
        // Stolen background credit is converted the same way.
        c.bg_credit.store(1 << 40, Ordering::Relaxed);
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
        assert_eq!(c.scan_work.load(Ordering::Relaxed), 8 * nodes.len() as u64);
    }
}

#[cfg(all(test, loom))]
#[path = "cycle_loom.rs"]
mod loom_models;
