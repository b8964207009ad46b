//! The GC cycle (Go's `mgc.go`): the [`Collector`], when a cycle starts, its controller and
//! mark worker threads, and (in `cycle/phases.rs`) the cycle's phases. See the crate docs for
//! the overview. This file is long because the mark workers' scheduling on the Ps (Go's
//! `gcBgMarkWorker` and `findRunnableGCWorker`) sits beside the state it reads, as in `mgc.go`.
//!
//! # Where the parts live
//!
//! As in Go's runtime, the cycle is spread over the files of its subjects; each part is a set
//! of methods of [`Collector`]:
//! - `cycle.rs` (this file): the collector's state, grouped as Go groups it (`WorkState` for
//!   Go's `work`, `GcController` for `gcController`, `SweepState` for `sweep`), its public
//!   API, the controller thread and the mark workers (Go's `gcBgMarkWorker`);
//! - `cycle/phases.rs`: who starts a cycle (`gc_start`, `gc`, `sysmon_tick`), `run_cycle` and
//!   the phases it calls in order,
//!   `gc_start` (Go's `gcStart`), `gc_mark_roots` (the root jobs), `gc_mark_done`
//!   (`gcMarkDone`), `gc_mark_termination` (`gcMarkTermination`) and `gc_sweep` (`gcSweep`);
//! - `mark/assist.rs`: mark assists and background credit (`gcAssistAlloc`, `gcParkAssist`,
//!   `gcFlushBgCredit` in Go's `mgcmark.go`), the ragged flush's two sides, and the
//!   allocation slow path's hook [`Collector::on_refill`];
//! - `sweep.rs`: the collector's sweepers (Go's `mgcsweep.go`: `bgsweep`, `sweepone`,
//!   `finishsweep_m`, `deductSweepCredit`);
//! - `stats.rs`: [`GcStats`] and the gctrace line (Go's `mstats.go` and the end of
//!   `gcMarkTermination`).
//!
//! # One cycle
//!
//! 1. **Sweep termination** (concurrent, then stop the world): finish sweeping the previous
//!    cycle's spans, because marking must not start while any span still holds the previous
//!    cycle's marks, and wait for every sweeper outside a P to finish the span it holds (Go's
//!    `finishsweep_m`; see [`crate::sweep`] for the invariants). With the world stopped: start
//!    the pacer's cycle, turn on the write barrier and allocate-black, grey every P's tiny
//!    block.
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
//! The thread whose trigger test passes starts the cycle ([`Collector::gc_start`]: the
//! allocating goroutine that crossed the heap trigger, the caller of [`Collector::gc`]); the
//! controller thread finishes it, and starts the periodic cycles ([`Collector::sysmon_tick`]);
//! see `cycle/phases.rs`. The controller's root marking runs on a P
//! borrowed with [`World::borrow_p`] at the GC class, its waits hold none. There is one mark
//! worker thread per P, as Go starts one `gcBgMarkWorker` per P. A worker runs only while it
//! holds a borrowed P: when there is work it takes a mode as Go's `findRunnableGCWorker` does
//! (dedicated while fewer than the pacer's dedicated workers run, fractional while behind the
//! fractional goal, otherwise idle while the CPU limiter and `maxIdleMarkWorkers` allow), borrows
//! a P of the mode's class (GC for dedicated and fractional: before goroutines, preempting one
//! when every P is taken; idle: only a P nothing else wants), drains until the mode says stop or
//! the P is asked back, and hands its local work to the pool before giving the P back. Without
//! work it waits without a P. The background sweeper and the scavenger are threads too, and do
//! their work a span or a chunk at a time on idle-class Ps. So at GOMAXPROCS=N at most N threads
//! do mutator and GC work at once; see `docs/collector.md` for what still differs from Go.

use crate::barrier::WriteBarrier;
use crate::events::GcEvents;
use crate::limiter::GcCpuLimiter;
use crate::mark::drain;
use crate::pacer::{Pacer, PacerConfig};
use crate::scavenger::Scavenger;
use crate::sweep::ActiveSweep;
use crate::sync::{lock, AtomicBool, AtomicU64, AtomicU8, Condvar, Mutex, Ordering};
use crate::work::{GcWork, WorkPool};
use crate::world::{PClass, World};
use gomem_allocator::MHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::mark::AssistOutcome;
pub use crate::stats::{fmt_ms, GcStats, PAUSE_RING};

mod phases;

pub(crate) use phases::Cycle;
pub use phases::GcTrigger;

/// Scan work a mark worker does between publishing its progress to the pacer and its credit
/// to assists (Go's `gcCreditSlack`).
const CREDIT_SLACK: u64 = 2000;

/// How a mark worker runs (Go's `gcMarkWorkerMode`); indexes `ControlState::running` and
/// `GcController::mode_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkWorkerMode {
    /// Marks until no work is left or a stop-the-world asks for its P (class Gc).
    Dedicated = 0,
    /// Marks while behind the fractional goal, leaves at 1.2 × it (class Gc).
    Fractional = 1,
    /// Marks on a P nothing else wants, leaves when asked (class Idle).
    Idle = 2,
}

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
    /// `gcpacertrace=1`: the pacer's state on stderr at the start and the end of each mark
    /// phase, in the words of Go's two `pacer:` lines.
    pub pacertrace: bool,
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
    /// The periodic forced cycle's period (Go's `forcegcperiod`, 2 minutes): a cycle starts when
    /// none has ended for this long ([`Collector::sysmon_tick`]). `None`: no periodic cycles.
    pub force_gc_period: Option<Duration>,
}

/// Go's `forcegcperiod`: two minutes.
pub const FORCE_GC_PERIOD: Duration = Duration::from_secs(120);

/// Where the current cycle is, under `WorkState::ctl`: who owns it, from the start by the
/// thread whose trigger test passed to the controller that finishes it.
///
/// `Idle` → `Starting` (a starter passed the trigger test; it alone runs sweep termination and
/// mark setup, Go's `work.startSema`) → `Handed` (mark is on; the cycle waits for the
/// controller) → `Finishing` (the controller runs roots, mark termination and sweep setup) →
/// `Idle` (the cycle's statistics are recorded). Only `Idle` admits a new start.
pub(crate) enum CycleState {
    /// No cycle in progress (the phase is [`Phase::Off`]).
    Idle,
    /// A starter is in [`Collector::gc_start`]; other starters wait for it.
    Starting,
    /// Started, waiting for the controller to take it over.
    Handed(Box<Cycle>),
    /// The controller is finishing it.
    Finishing,
}

/// The controller's and workers' shared state (the cycle's owner, worker counts), under
/// `WorkState::ctl`.
pub(crate) struct ControlState {
    /// Who owns the current cycle.
    pub(crate) cycle: CycleState,
    /// sysmon asked for a periodic cycle ([`Collector::sysmon_tick`]); the controller starts it.
    pub(crate) periodic: bool,
    /// Cycles started so far (Go's `work.cycles`).
    pub(crate) started: u32,
    /// The controller should exit.
    pub(crate) shutdown: bool,
    /// Mark workers currently draining (on a P), and how many of them in each of Go's modes.
    pub(crate) active_workers: usize,
    pub(crate) running: [usize; 3],
    /// The cycle whose mark the workers were last released for, and when its mark began
    /// (Go's `gcController.markStartTime`, which the fractional workers measure against).
    pub(crate) mark_cycle: u32,
    pub(crate) mark_start: Option<Instant>,
    /// Bumped each time workers are released to mark (so a woken worker knows to run).
    pub(crate) mark_epoch: u64,
}

/// The collector's share of Go's `work`: the grey-object pool, the controller's and workers'
/// state, the queue of parked assists and the ragged flush.
pub(crate) struct WorkState {
    /// The global pool of full and empty work buffers (Go's `work.full`, `work.empty`).
    pub(crate) pool: WorkPool,
    /// Cycle requests, cycles started (Go's `work.cycles`) and the workers' count and epoch.
    pub(crate) ctl: Mutex<ControlState>,
    /// Signals controller, workers, sweeper and `gc()` waiters (with `ctl`).
    pub(crate) cv: Condvar,
    /// Parked assists wait here for background credit or the end of mark (Go's
    /// `work.assistQueue`); `parked_assists` counts them so workers notify only when needed.
    pub(crate) assist_lock: Mutex<()>,
    pub(crate) assist_cv: Condvar,
    pub(crate) parked_assists: AtomicU64,
    /// Ragged flush requests (see [`Collector::assist_alloc`]): the epoch asked for, and how
    /// many Ps have answered the current one.
    pub(crate) flush_epoch: AtomicU64,
    pub(crate) flush_acks: AtomicU64,
    /// Bytes marked by mark workers this cycle, harvested from their GcWork (part of Go's
    /// `work.bytesMarked`).
    pub(crate) worker_marked: AtomicU64,
}

/// The collector's share of Go's `gcController`: the pacer and what the allocation and assist
/// paths read of it without its lock, background credit, scan work and GC CPU time.
pub(crate) struct GcController {
    /// The pacer (Go's `gcControllerState` proper: goal, trigger, assist ratios).
    pub(crate) pacer: Mutex<Pacer>,
    /// Mirror of the pacer's trigger for the allocation fast check.
    pub(crate) trigger: AtomicU64,
    /// Background scan credit (Go's `bgScanCredit`), in scan-work units.
    pub(crate) bg_credit: AtomicU64,
    /// Mirrors of the assist ratios, f64 bits (Go's `assistWorkPerByte`,
    /// `assistBytesPerWork`).
    pub(crate) assist_work_per_byte: AtomicU64,
    pub(crate) assist_bytes_per_work: AtomicU64,
    /// Time spent in assists and in mark workers, ns (Go's `assistTime`,
    /// `dedicatedMarkTime`).
    pub(crate) assist_ns: AtomicU64,
    pub(crate) worker_ns: AtomicU64,
    /// This cycle's mark worker time by mode, ns, the controller's root marking counted as
    /// dedicated (Go's `dedicatedMarkTime`, `fractionalMarkTime`, `idleMarkTime`; reset when
    /// the workers are first released for a cycle).
    pub(crate) mode_ns: [AtomicU64; 3],
    /// Times a mark worker took a P to drain (a debug counter for the tests: every worker drain
    /// runs inside [`World::borrow_p`]).
    pub(crate) worker_drains: AtomicU64,
    /// Heap scan work done this cycle by every drainer: mark workers, assists and the
    /// controller (Go's `heapScanWork`). It feeds the pacer's `revise` during mark and becomes
    /// next cycle's expected scan work (Go's `heapScan`) at mark termination.
    pub(crate) scan_work: AtomicU64,
    /// Root bytes scanned last cycle: goroutine roots and globals (Go's `lastStackScan` and
    /// `globalsScan`, 8 bytes per root slot here).
    pub(crate) last_stack_scan: AtomicU64,
    pub(crate) last_globals_scan: AtomicU64,
    /// The limit on idle mark workers for the cycle in progress (Go's
    /// `gcController.maxIdleMarkWorkers`, set at mark start: lower for periodic cycles).
    pub(crate) max_idle_mark_workers: AtomicU64,
    /// When the last cycle ended, ns since the collector started (Go's
    /// `memstats.last_gc_nanotime`), or when a periodic start last found GOGC off: the base of
    /// the periodic cycle's period.
    pub(crate) last_gc_nanotime: AtomicU64,
    /// The periodic cycle's period in ns (`u64::MAX`: none).
    pub(crate) force_gc_period_ns: u64,
    /// sysmon asked for a periodic cycle that has not been tried yet (Go's `forcegc.idle`,
    /// inverted): keeps sysmon from asking once per tick.
    pub(crate) force_gc_pending: AtomicBool,
}

impl GcController {
    /// Copy the pacer's assist ratios into their mirrors, which assists read without the lock.
    fn publish_assist_ratios(&self, pacer: &Pacer) {
        let store = |a: &AtomicU64, v: f64| a.store(f64_bits(v), Ordering::Relaxed);
        store(&self.assist_work_per_byte, pacer.assist_work_per_byte());
        store(&self.assist_bytes_per_work, pacer.assist_bytes_per_work());
    }
}

/// The collector's share of Go's `sweep` state.
pub(crate) struct SweepState {
    /// The sweepers outside a P and whether the generation is swept (Go's `sweep.active`; see
    /// [`crate::sweep`]).
    pub(crate) active: ActiveSweep,
}

/// The collector of one heap (Go's GC state: `work`, `gcController`, `sweep`, the phase and
/// the `memstats` GC fields, grouped as Go groups them).
pub struct Collector {
    pub(crate) heap: Arc<MHeap>,
    pub(crate) wb: Arc<WriteBarrier>,
    /// The phase (Go's `gcphase`).
    pub(crate) phase: AtomicU8,
    /// Go's `work`.
    pub(crate) work: WorkState,
    /// Go's `gcController`.
    pub(crate) gc_controller: GcController,
    /// Go's `sweep`.
    pub(crate) sweep: SweepState,
    /// The cycle statistics (Go's `memstats` GC fields).
    pub(crate) stats: Mutex<GcStats>,
    pub(crate) debug: DebugModes,
    pub(crate) gomaxprocs: usize,
    pub(crate) start: Instant,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The world given to [`Collector::start`], for the threads that start cycles (allocating
    /// goroutines, `gc()`); taken back at shutdown (the world's Ps own the collector).
    pub(crate) world: Mutex<Option<Arc<dyn World>>>,
    /// Phase boundaries for timelines; off unless a tracer turns it on.
    pub(crate) events: Arc<GcEvents>,
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
pub(crate) fn poll_again(since: Instant, limit: Duration) -> bool {
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

pub(crate) fn f64_bits(v: f64) -> u64 {
    v.to_bits()
}
pub(crate) fn bits_f64(v: u64) -> f64 {
    f64::from_bits(v)
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
            wb: Arc::new(WriteBarrier::default()),
            phase: AtomicU8::new(Phase::Off as u8),
            work: WorkState {
                pool,
                ctl: Mutex::new(ControlState {
                    cycle: CycleState::Idle,
                    periodic: false,
                    started: 0,
                    shutdown: false,
                    active_workers: 0,
                    running: [0; 3],
                    mark_cycle: 0,
                    mark_start: None,
                    mark_epoch: 0,
                }),
                cv: Condvar::new(),
                assist_lock: Mutex::new(()),
                assist_cv: Condvar::new(),
                parked_assists: AtomicU64::new(0),
                flush_epoch: AtomicU64::new(0),
                flush_acks: AtomicU64::new(0),
                worker_marked: AtomicU64::new(0),
            },
            gc_controller: GcController {
                pacer: Mutex::new(pacer),
                trigger: AtomicU64::new(trigger),
                bg_credit: AtomicU64::new(0),
                assist_work_per_byte: AtomicU64::new(f64_bits(0.0)),
                assist_bytes_per_work: AtomicU64::new(f64_bits(0.0)),
                assist_ns: AtomicU64::new(0),
                worker_ns: AtomicU64::new(0),
                mode_ns: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
                worker_drains: AtomicU64::new(0),
                scan_work: AtomicU64::new(0),
                last_stack_scan: AtomicU64::new(0),
                last_globals_scan: AtomicU64::new(0),
                max_idle_mark_workers: AtomicU64::new(0),
                last_gc_nanotime: AtomicU64::new(0),
                force_gc_period_ns: cfg
                    .force_gc_period
                    .map_or(u64::MAX, |d| d.as_nanos().min(u64::MAX as u128) as u64),
                force_gc_pending: AtomicBool::new(false),
            },
            sweep: SweepState { active: ActiveSweep::new() },
            stats: Mutex::new(GcStats::default()),
            debug: cfg.debug,
            gomaxprocs: cfg.gomaxprocs.max(1),
            start: Instant::now(),
            threads: Mutex::new(Vec::new()),
            world: Mutex::new(None),
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
    /// - Only grey objects of this collector's heap, queued by [`shade`](crate::mark::shade) during
    ///   this cycle's mark, are put into the pool, and work taken from it is scanned (or put
    ///   back) before mark termination: a grey object taken and dropped is never scanned, and
    ///   what it reaches is freed while live. The runtime's barrier flush is the one user.
    pub unsafe fn pool(&self) -> &WorkPool {
        &self.work.pool
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

    pub(crate) fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
        // The limiter counts the mark workers' share only while marking (Go's
        // startGCTransition at each phase change).
        self.limiter.transition(p == Phase::Mark, self.now_ns(), self.num_gc());
        self.heap.scavenge_state().set_limiting(self.limiter.limiting());
        // Wake parked assists: the end of mark is a reason to stop waiting. Unconditionally
        // and under `assist_lock`, where a parker tests the phase: it sees the new phase or is
        // already waiting when the notification comes. Phases change a few times a cycle.
        let _g = lock(&self.work.assist_lock);
        self.work.assist_cv.notify_all();
    }

    /// Number of mark worker threads: one per P, as Go starts one `gcBgMarkWorker` per P
    /// (`gcBgMarkStartWorkers`); each runs only while it holds a P.
    pub fn mark_workers(&self) -> usize {
        self.gomaxprocs
    }

    /// Launch the controller, the mark workers, the sweeper and the scavenger.
    ///
    /// The collector trusts `world` for soundness (it is an `unsafe` trait: see
    /// [`World`]): every root it misses is freed while live.
    ///
    /// # Panics
    /// If the collector was started before: two controllers would run cycles at once.
    pub fn start(self: &Arc<Self>, world: Arc<dyn World>) {
        let mut threads = lock(&self.threads);
        assert!(threads.is_empty(), "Collector::start: the collector is already started");
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name).spawn(f).expect("spawn a collector thread")
        };
        *lock(&self.world) = Some(world.clone());
        let (c, w) = (self.clone(), world.clone());
        threads.push(spawn("gomem-gc".into(), Box::new(move || c.controller(&*w))));
        for i in 0..self.mark_workers() {
            let (c, w) = (self.clone(), world.clone());
            threads.push(spawn(format!("gomem-mark-{i}"), Box::new(move || c.mark_worker(&*w))));
        }
        let (c, w) = (self.clone(), world.clone());
        threads.push(spawn("gomem-sweep".into(), Box::new(move || c.sweeper(&*w))));
        let c = self.clone();
        threads
            .push(spawn("gomem-scavenge".into(), Box::new(move || c.scavenger.run(&c, &*world))));
    }

    /// Stop every collector thread (after finishing a cycle in progress).
    pub fn shutdown(&self) {
        lock(&self.work.ctl).shutdown = true;
        self.work.cv.notify_all();
        self.scavenger.shutdown();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        // Break the cycle world → Ps → collector → world.
        drop(lock(&self.world).take());
    }

    // ------------------------------------------------------------------ runtime.GC, the knobs

    /// Change GOGC at run time (Go's `debug.SetGCPercent`); returns the old value. Lowering it
    /// below the current heap triggers a cycle at the next allocation check.
    pub fn set_gc_percent(&self, p: i32) -> i32 {
        let mut pacer = lock(&self.gc_controller.pacer);
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
        self.gc_controller.trigger.store(t, Ordering::Relaxed);
        let limited = pacer.memory_limited();
        self.limiter.set_allowed(limited);
        if !limited {
            self.heap.scavenge_state().set_limiting(false);
        }
    }

    /// The heap goal (Go's `NextGC`).
    pub fn heap_goal(&self) -> u64 {
        lock(&self.gc_controller.pacer).heap_goal()
    }

    /// GOGC in force.
    pub fn gc_percent(&self) -> i32 {
        lock(&self.gc_controller.pacer).gc_percent()
    }

    /// Completed cycles (cheap: no copy of the statistics).
    pub fn num_gc(&self) -> u32 {
        lock(&self.stats).num_gc
    }

    /// Cycles started so far (Go's `work.cycles`): one more than [`num_gc`](Self::num_gc)
    /// while a cycle is in progress.
    pub fn cycles_started(&self) -> u32 {
        lock(&self.work.ctl).started
    }

    /// A copy of the cycle statistics.
    pub fn stats(&self) -> GcStats {
        lock(&self.stats).clone()
    }

    /// GC CPU as a fraction of GOMAXPROCS × wall time since the collector started, as of
    /// the last mark termination (Go's `GCCPUFraction`, which `gcMarkTermination` updates).
    pub fn gc_cpu_fraction(&self) -> f64 {
        lock(&self.stats).gc_cpu_fraction
    }

    // ------------------------------------------------------------------ threads

    /// The controller thread: take over each cycle a starter handed over
    /// ([`Collector::gc_start`]: an allocating goroutine, `gc()`) and finish it
    /// ([`run_cycle`](Self::run_cycle)), and start the periodic cycles sysmon asks for (Go's
    /// `forcegchelper`: no goroutine asked for those). At shutdown, a cycle being started is
    /// still finished, so that the phase ends [`Phase::Off`].
    fn controller(&self, world: &dyn World) {
        loop {
            let cy;
            {
                let mut ctl = lock(&self.work.ctl);
                loop {
                    if matches!(ctl.cycle, CycleState::Handed(_)) {
                        let CycleState::Handed(c) =
                            core::mem::replace(&mut ctl.cycle, CycleState::Finishing)
                        else {
                            unreachable!("matched Handed above")
                        };
                        cy = c;
                        break;
                    }
                    let idle = matches!(ctl.cycle, CycleState::Idle);
                    if idle && ctl.shutdown {
                        return;
                    }
                    if idle && ctl.periodic {
                        ctl.periodic = false;
                        drop(ctl);
                        self.force_gc();
                        ctl = lock(&self.work.ctl);
                        continue;
                    }
                    ctl = self.work.cv.wait(ctl);
                }
            }
            self.run_cycle(world, *cy);
            lock(&self.work.ctl).cycle = CycleState::Idle;
            self.work.cv.notify_all();
            self.scavenger.cycle_done();
        }
    }

    /// A mark worker thread (Go's `gcBgMarkWorker`): during mark, whenever there is work
    /// (Go's `gcMarkWorkAvailable`) and [`Collector::worker_mode`] gives it a mode, borrow a P
    /// of that mode's class and drain on it until the mode says stop; without work or a mode,
    /// wait without a P.
    fn mark_worker(&self, world: &dyn World) {
        let mut gcw = GcWork::new();
        let mut seen_epoch = 0;
        // This worker's fractional time in the current cycle (Go's `p.gcFractionalMarkTime`).
        let (mut cycle, mut fractional_ns) = (0u32, 0u64);
        loop {
            {
                let mut ctl = lock(&self.work.ctl);
                while !ctl.shutdown && (ctl.mark_epoch == seen_epoch || self.phase() != Phase::Mark)
                {
                    ctl = self.work.cv.wait(ctl);
                }
                if ctl.shutdown {
                    return;
                }
                seen_epoch = ctl.mark_epoch;
            }
            while self.phase() == Phase::Mark {
                let mode = if self.work.pool.is_empty() {
                    None
                } else {
                    let mut ctl = lock(&self.work.ctl);
                    if ctl.mark_cycle != cycle {
                        (cycle, fractional_ns) = (ctl.mark_cycle, 0);
                    }
                    self.worker_mode(&mut ctl, fractional_ns)
                };
                let Some((mode, since)) = mode else {
                    let ctl = lock(&self.work.ctl);
                    if ctl.shutdown {
                        return;
                    }
                    drop(self.work.cv.wait_timeout(ctl, Duration::from_micros(100)));
                    continue;
                };
                let class = if mode == MarkWorkerMode::Idle { PClass::Idle } else { PClass::Gc };
                let mut ran = 0;
                world.borrow_p(class, &mut |_gp, yield_p| {
                    ran = self.drain_on_p(&mut gcw, mode, since, fractional_ns, yield_p);
                });
                lock(&self.work.ctl).running[mode as usize] -= 1;
                if mode == MarkWorkerMode::Fractional {
                    fractional_ns += ran;
                }
                self.work.cv.notify_all();
            }
        }
    }

    /// Go's `findRunnableGCWorker`, `ctl` held and work available: the mode this worker should
    /// run in now, counted as running, and the mark start the fractional rule measures from.
    /// Dedicated while fewer than the pacer's dedicated workers run (all of them under
    /// `gcstoptheworld`, as Go's `startCycle` sets); fractional when this worker is behind the
    /// fractional goal; otherwise idle while the CPU limiter allows it and fewer than Go's
    /// `maxIdleMarkWorkers` run; otherwise none.
    fn worker_mode(
        &self,
        ctl: &mut ControlState,
        fractional_ns: u64,
    ) -> Option<(MarkWorkerMode, Instant)> {
        let since = ctl.mark_start?;
        let (dedicated, goal, max_idle) = {
            let pacer = lock(&self.gc_controller.pacer);
            if self.debug.stoptheworld > 0 {
                (self.gomaxprocs, 0.0, 0)
            } else {
                (
                    pacer.dedicated_workers(),
                    pacer.fractional_goal(),
                    // Set at mark start for this cycle's kind: periodic cycles get Go's
                    // lower limit.
                    self.gc_controller.max_idle_mark_workers.load(Ordering::Relaxed) as usize,
                )
            }
        };
        let [d, _, i] = ctl.running;
        let elapsed = since.elapsed().as_nanos() as f64;
        let mode = if d < dedicated {
            MarkWorkerMode::Dedicated
        } else if goal > 0.0 && (elapsed <= 0.0 || (fractional_ns as f64) / elapsed < goal) {
            MarkWorkerMode::Fractional
        } else if !self.limiter.limiting() && i < max_idle {
            MarkWorkerMode::Idle
        } else {
            return None;
        };
        ctl.running[mode as usize] += 1;
        Some((mode, since))
    }

    /// One turn of a mark worker on a borrowed P (the body of Go's `gcBgMarkWorker` between
    /// `acquirep` and its release): drain in slices of `CREDIT_SLACK` until the work runs
    /// out, the phase ends, the P is asked back (`yield_p`), the fractional worker passes
    /// 1.2 × its goal (Go's `pollFractionalWorkerExit`) or the limiter stops idle marking;
    /// then hand the local work back to the pool. Returns the time spent, which is added to
    /// the mode's time.
    fn drain_on_p(
        &self,
        gcw: &mut GcWork,
        mode: MarkWorkerMode,
        mark_start: Instant,
        fractional_ns: u64,
        yield_p: &dyn Fn() -> bool,
    ) -> u64 {
        let t = Instant::now();
        let goal = lock(&self.gc_controller.pacer).fractional_goal();
        lock(&self.work.ctl).active_workers += 1;
        self.gc_controller.worker_drains.fetch_add(1, Ordering::Relaxed);
        let stop = || {
            self.phase() != Phase::Mark
                || yield_p()
                || (mode == MarkWorkerMode::Idle && self.limiter.limiting())
        };
        // Go's pollFractionalWorkerExit, tested between slices (it reads the clock).
        let fractional_over = || {
            let delta = mark_start.elapsed().as_nanos() as f64;
            let own = (fractional_ns + t.elapsed().as_nanos() as u64) as f64;
            mode == MarkWorkerMode::Fractional && delta > 0.0 && own / delta > 1.2 * goal
        };
        // Re-check under the count: termination reads both.
        if self.phase() == Phase::Mark {
            loop {
                // SAFETY: a mark worker drains this collector's pool during mark, holding a P
                // (so a stop-the-world waits for it), and hands its local work back below,
                // before the P is given back and before mark termination.
                let done =
                    unsafe { drain(&self.heap, gcw, &self.work.pool, Some(CREDIT_SLACK), &stop) };
                self.add_background_credit(done);
                let (bm, sw) = gcw.take_counters();
                self.add_worker_counters(bm, sw);
                if done < CREDIT_SLACK || stop() || fractional_over() {
                    break;
                }
            }
        }
        gcw.dispose(&self.work.pool);
        let (bm, sw) = gcw.take_counters();
        self.add_worker_counters(bm, sw);
        let ns = t.elapsed().as_nanos() as u64;
        self.add_mark_time(mode, ns);
        lock(&self.work.ctl).active_workers -= 1;
        ns
    }

    /// Account `ns` of mark worker time in `mode` (Go's `gcMarkWorkAvailable` caller's
    /// bookkeeping in `gcBgMarkWorker`: `dedicatedMarkTime` and friends, and the limiter's idle
    /// time for idle workers).
    pub(crate) fn add_mark_time(&self, mode: MarkWorkerMode, ns: u64) {
        self.gc_controller.worker_ns.fetch_add(ns, Ordering::Relaxed);
        self.gc_controller.mode_ns[mode as usize].fetch_add(ns, Ordering::Relaxed);
        if mode == MarkWorkerMode::Idle {
            self.limiter.add_idle_time(ns);
        }
    }

    /// Worker drains so far (the debug counter of [`GcController::worker_drains`]).
    #[doc(hidden)]
    pub fn worker_drains(&self) -> u64 {
        self.gc_controller.worker_drains.load(Ordering::Relaxed)
    }

    /// Mark workers draining on a borrowed P now (a snapshot; a worker counts only between
    /// taking its P and giving it back).
    pub fn mark_workers_on_p(&self) -> usize {
        lock(&self.work.ctl).active_workers
    }

    /// Mark workers running now in each mode, dedicated, fractional, idle (a snapshot; a
    /// worker counts from the choice of its mode, while it waits for its P too, as Go's
    /// `dedicatedMarkWorkersNeeded` is taken before the worker runs).
    pub fn running_mark_workers(&self) -> [usize; 3] {
        lock(&self.work.ctl).running
    }

    // ------------------------------------------------------------------ the workers' hand-shakes

    /// Add a worker's harvested counters to the cycle's bytes marked and scan work.
    fn add_worker_counters(&self, bytes_marked: u64, scan: u64) {
        self.work.worker_marked.fetch_add(bytes_marked, Ordering::Relaxed);
        self.gc_controller.scan_work.fetch_add(scan, Ordering::Relaxed);
    }

    /// Let the mark workers run (new work, a new cycle, a restarted mark). The first release
    /// of a cycle marks its mark start and resets the cycle's worker times.
    pub(crate) fn release_workers(&self) {
        let mut ctl = lock(&self.work.ctl);
        if ctl.mark_cycle != ctl.started || ctl.mark_start.is_none() {
            ctl.mark_cycle = ctl.started;
            ctl.mark_start = Some(Instant::now());
            for t in &self.gc_controller.mode_ns {
                t.store(0, Ordering::Relaxed);
            }
        }
        ctl.mark_epoch += 1;
        self.work.cv.notify_all();
    }

    /// Wait until no worker is draining and the global pool is empty (a termination candidate).
    fn wait_for_quiescence(&self) {
        let mut ctl = lock(&self.work.ctl);
        loop {
            if ctl.shutdown {
                // The workers have exited: finish this cycle's marking here so the cycle can
                // end and the runtime can be dropped mid-mark.
                drop(ctl);
                let mut gcw = GcWork::new();
                // SAFETY: marking is still on; the pool holds this cycle's grey objects.
                unsafe { drain(&self.heap, &mut gcw, &self.work.pool, None, &|| false) };
                gcw.dispose(&self.work.pool);
                let (bm, sw) = gcw.take_counters();
                self.add_worker_counters(bm, sw);
                return;
            }
            // Go revises the assist ratio whenever heapLive or the scan work done change; once
            // a millisecond is close enough for assists to track the heap.
            {
                let mut pacer = lock(&self.gc_controller.pacer);
                pacer.revise(
                    self.heap.heap_live(),
                    self.gc_controller.scan_work.load(Ordering::Relaxed),
                );
                self.gc_controller.publish_assist_ratios(&pacer);
            }
            if ctl.active_workers == 0 && self.work.pool.is_empty() {
                return;
            }
            if !self.work.pool.is_empty() && ctl.active_workers == 0 {
                // Work appeared (assists, barrier flushes) while the workers slept.
                ctl.mark_epoch += 1;
                self.work.cv.notify_all();
            }
            ctl = self.work.cv.wait_timeout(ctl, Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
impl CollectorConfig {
    /// The unit tests' and loom models' configuration: GOGC 100, no memory limit, one P.
    pub(crate) fn for_tests() -> CollectorConfig {
        CollectorConfig {
            gc_percent: 100,
            memory_limit: u64::MAX,
            gomaxprocs: 1,
            debug: DebugModes::default(),
            force_gc_period: None,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use gomem_allocator::mheap::HeapConfig;

    #[test]
    #[should_panic(expected = "the collector was never started")]
    fn gc_on_a_collector_never_started_panics_instead_of_waiting() {
        let heap = MHeap::new(HeapConfig::default()).unwrap();
        Collector::new(heap, CollectorConfig::for_tests()).gc();
    }
}

#[cfg(all(test, loom))]
#[path = "cycle_loom.rs"]
mod loom_models;
