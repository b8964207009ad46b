// This file is long because it carries Go's pacer whole (trigger, goal, assist ratio,
// memory limit and their tests' fixtures), as `mgcpacer.go` does.

//! The GC pacer: when to start a cycle and how hard to mark during it (Go's `mgcpacer.go`).
//!
//! See the crate docs for the overview of a cycle; this module owns only the arithmetic that
//! decides its timing. [`Pacer`] is Go's `gcControllerState`: plain data, no threads and no
//! atomics. The cycle controller keeps it behind a lock and mirrors the three numbers that
//! mutators read on hot paths ([`Pacer::trigger`], [`Pacer::heap_goal`] and the assist ratio)
//! into atomics of its own.
//!
//! # The model
//!
//! A concurrent collector races the program. Marking starts at some heap size (the *trigger*)
//! and, while it runs, the program keeps allocating; every byte allocated during marking is
//! allocated black and stays until the next cycle. The pacer has to choose the trigger so that
//! marking finishes just as the heap reaches the *heap goal*, while the collector uses its fair
//! share of CPU (25 % of GOMAXPROCS, [`GC_BACKGROUND_UTILIZATION`]) and no more.
//!
//! **The goal.** After each cycle `heap_marked` bytes survived. GOGC lets the heap grow by
//! `GOGC/100` of that live heap plus the stacks and globals the collector must also scan, so
//! Go's `gcPercentHeapGoal` is
//!
//! ```text
//! goal = heap_marked + (heap_marked + last_stack_scan + globals_scan) * GOGC / 100
//! ```
//!
//! floored at `heapMinimum = 4 MiB * GOGC / 100` so tiny heaps do not collect constantly.
//! GOGC off makes this goal infinite. A memory limit (GOMEMLIMIT) yields a second goal, the
//! room the limit leaves once non-heap memory and some headroom are subtracted
//! ([`Pacer::memory_limit_heap_goal`]); the smaller of the two wins. While a cycle runs the goal
//! is also kept at least 64 KiB above the point where it triggered, and, while sweeping is still
//! going, at least 1 MiB above the heap size at the last commit, so assists never face an empty
//! runway.
//!
//! **The runway and cons/mark.** How early to start depends on how fast the program allocates
//! relative to how fast the collector scans. Go measures that as *cons/mark*: bytes allocated
//! per CPU-second of mutator time divided by bytes scanned per CPU-second of GC time. If the
//! collector takes a fraction `u` of the CPU and has `W` bytes of scan work ahead of it, the
//! program allocates `consMark * W * (1 - u) / u` bytes before marking ends. With `u = 0.25`
//! that *runway* is `3 * consMark * W`, and the trigger is `goal - runway`. `W` is predicted from
//! the previous cycle (heap scanned + stack scanned + scannable globals).
//!
//! The trigger is clamped into a band between the live heap and the goal: at least 45/64 (≈ 0.7)
//! of the way there so a fast allocator cannot drive the collector into running all the time,
//! and at most 61/64 (≈ 0.95), or `goal - 4 MiB` when that is higher, so marking always gets
//! some room.
//!
//! **Measuring cons/mark.** At the end of mark ([`Pacer::end_cycle`]) the pacer knows how many
//! bytes were allocated since the trigger, how much was scanned, and the GC CPU utilization
//! (the background 25 % plus assists, plus idle marking on the scanning side):
//!
//! ```text
//! consMark = (heap_live - triggered) * (u + u_idle) / (scan_work * (1 - u))
//! ```
//!
//! The estimate used for the next trigger is the maximum of this measurement and the previous
//! four: with a noisy program, starting a little early costs some memory headroom, while
//! starting late costs mutator time in assists, and Go prefers the former.
//!
//! Go assumes its dedicated and fractional workers used exactly `u`, and its idle-priority
//! workers (marking on Ps the program left idle) are `u_idle`. gomem's mark workers are threads
//! outside the Ps that drain for the whole mark phase, so on a program with fewer busy
//! goroutines than cores they take more than `u` without slowing the program: the same CPU
//! Go's idle workers take. [`idle_mark_time`] turns their time beyond `u` into `u_idle`, so
//! that cons/mark divides by the GC CPU really spent. Without it the scan rate looked two to
//! four times faster than it was (a whole core against the assumed quarter), cons/mark and the
//! runway came out that much smaller, and cycles triggered late in the band: on gcbench at
//! 0.73–0.81 of the way from the live heap to the goal, where Go's trigger at 0.70–0.71 (and
//! gomem's now do too).
//!
//! **Assists.** Because the prediction can be wrong, mutators that allocate during mark pay
//! for it in scan work: [`Pacer::revise`] keeps `assist_work_per_byte = remaining work /
//! remaining heap distance`, so that if the runway is consumed faster than planned the
//! allocators finish the marking themselves by the goal. When more scan work turns up than
//! predicted (the heap grew), the goal is stretched in proportion to the worst-case work, up to
//! a hard limit of `(1 + GOGC/100) * goal`; past the goal it is stretched by 10 %.
//!
//! Go's design document: <https://go.dev/design/44167-gc-pacer-redesign>. This file restates
//! Go 1.27's `mgcpacer.go` (BSD licence) in Rust; names in `code` are Go's.

/// Go's `gcBackgroundUtilization` (and `gcGoalUtilization`, which equals it): the fraction of
/// GOMAXPROCS that background mark workers should use while marking.
pub const GC_BACKGROUND_UTILIZATION: f64 = 0.25;

/// Go's `defaultHeapMinimum`: the heap minimum at GOGC=100 (4 MiB; scaled by GOGC/100).
pub const DEFAULT_HEAP_MINIMUM: u64 = 4 << 20;

/// Go's `sweepMinHeapDistance`: while sweeping is unfinished at a commit, the trigger (and
/// goal) stay at least this far above the heap size at that commit, so the sweeper has room.
pub const SWEEP_MIN_HEAP_DISTANCE: u64 = 1 << 20;

/// The `minRunway` of Go's `heapGoalInternal`: during a cycle the goal stays at least this far
/// above the heap size at which the cycle triggered.
pub const MIN_RUNWAY: u64 = 64 << 10;

/// Go's `triggerRatioDen`: the trigger band is expressed in 64ths of `goal - heap_marked`.
pub const TRIGGER_RATIO_DEN: u64 = 64;

/// Go's `minTriggerRatioNum`: the trigger is at least 45/64 (≈ 0.70) of the way from the live
/// heap to the goal.
pub const MIN_TRIGGER_RATIO_NUM: u64 = 45;

/// Go's `maxTriggerRatioNum`: the trigger is at most 61/64 (≈ 0.95) of the way from the live
/// heap to the goal (unless `goal - 4 MiB` is higher).
pub const MAX_TRIGGER_RATIO_NUM: u64 = 61;

/// Go's `memoryLimitHeapGoalHeadroomPercent`: the memory-limit goal keeps 3 % in reserve.
pub const MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT: u64 = 3;

/// Go's `memoryLimitMinHeapGoalHeadroom`: the reserve of the memory-limit goal is at least 1 MiB.
pub const MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM: u64 = 1 << 20;

/// Go's `gcOverAssistWork`: an assist does at least this much scan work, pre-paying for later
/// allocations so assists are not entered for every small allocation.
pub const GC_OVER_ASSIST_WORK: u64 = 64 << 10;

/// Go's `gcCreditSlack`: scan work a worker may accumulate locally before flushing it to the
/// global counters and the background credit pool.
pub const GC_CREDIT_SLACK: u64 = 2000;

/// Go's `gcAssistTimeSlack`: nanoseconds of assist time a P may accumulate before flushing.
pub const GC_ASSIST_TIME_SLACK: u64 = 5000;

/// The `maxUtilError` of Go's `startCycle`: rounding the dedicated worker count may miss the
/// 25 % goal by at most this relative error before fractional workers are used instead.
const MAX_UTIL_ERROR: f64 = 0.3;

/// The `maxOvershoot` of Go's `revise`: once the heap is past the goal, aim 10 % further.
const MAX_OVERSHOOT: f64 = 1.1;

/// `revise` treats GOGC=off as this GOGC when a forced cycle runs (Go does the same).
const GC_PERCENT_WHEN_OFF: i32 = 100_000;

/// The mark workers' time beyond their share, to be given to [`Pacer::end_cycle`] as Go's
/// `idleMarkTime` (see "Measuring cons/mark" in the module docs).
///
/// `worker_ns` is the time the mark workers spent draining during a mark phase of
/// `mark_wall_ns` wall nanoseconds on `gomaxprocs` Ps; the result is what exceeds
/// [`GC_BACKGROUND_UTILIZATION`] of `gomaxprocs × mark_wall_ns`, which `end_cycle` already
/// counts as background marking. A worker that used no more than its share gives 0.
#[doc(alias = "idleMarkTime")]
pub fn idle_mark_time(worker_ns: u64, mark_wall_ns: u64, gomaxprocs: usize) -> u64 {
    let share = mark_wall_ns as f64 * gomaxprocs.max(1) as f64 * GC_BACKGROUND_UTILIZATION;
    (worker_ns as f64 - share).max(0.0) as u64
}

/// What [`Pacer::end_cycle`] measured (the figures of Go's `gcpacertrace` line).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndCycle {
    /// GC CPU utilization: the background 25 % plus assists (Go's `utilization`).
    pub utilization: f64,
    /// Idle marking as a fraction of GOMAXPROCS × the mark phase (Go's `idleUtilization`).
    pub idle_utilization: f64,
    /// This cycle's cons/mark, `None` when nothing was measured (Go's `currentConsMark`).
    pub measured_cons_mark: Option<f64>,
    /// The estimate in force during this cycle, before the update (Go prints it as
    /// `oldConsMark`).
    pub old_cons_mark: f64,
}

/// How the pacer is set up ([`Pacer::new`]); the values of GOGC, GOMEMLIMIT and GOMAXPROCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacerConfig {
    /// GOGC: the heap may grow by this percentage of the live (scannable) data between cycles.
    /// Any negative value means GOGC=off.
    pub gc_percent: i32,
    /// GOMEMLIMIT in bytes: a soft limit on the memory the runtime keeps mapped and ready.
    /// `u64::MAX` means no limit.
    pub memory_limit: u64,
    /// GOMAXPROCS: the number of Ps; sizes the background mark workers.
    pub gomaxprocs: usize,
}

impl Default for PacerConfig {
    /// GOGC=100, no memory limit, one P.
    fn default() -> Self {
        PacerConfig { gc_percent: 100, memory_limit: u64::MAX, gomaxprocs: 1 }
    }
}

/// The GC pacing controller (Go's `gcControllerState` in `mgcpacer.go`).
///
/// It decides when a cycle starts ([`trigger`](Pacer::trigger)), where it should end
/// ([`heap_goal`](Pacer::heap_goal)), how many background workers mark
/// ([`dedicated_workers`](Pacer::dedicated_workers), [`fractional_goal`](Pacer::fractional_goal))
/// and how much allocating goroutines must assist
/// ([`assist_work_per_byte`](Pacer::assist_work_per_byte)). A cycle drives it in this order:
///
/// 1. [`start_cycle`](Pacer::start_cycle) when the trigger fires (world stopped);
/// 2. [`revise`](Pacer::revise) whenever `heap_live` or the scan work done change during mark;
/// 3. [`end_cycle`](Pacer::end_cycle) at the end of mark, to measure cons/mark;
/// 4. [`commit`](Pacer::commit) at mark termination, with the bytes marked: new goal and trigger.
///
/// The type is pure logic; all fields are protected by whatever lock the caller holds it under.
/// The trigger and goal change only through `&mut self` methods (parameters, memory statistics,
/// `start_cycle`, `commit`, `recommit`) and the assist ratio only through those and `revise`,
/// so a caller mirroring them into atomics re-reads them after each such call.
#[doc(alias = "gcControllerState")]
#[doc(alias = "gcController")]
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Go's `gcPercent`: GOGC, or -1 when off.
    gc_percent: i32,
    /// Go's `memoryLimit`; `u64::MAX` when there is none.
    memory_limit: u64,
    /// Whether `revise` holds the heap to the memory limit during mark (gomem's rule, the
    /// default) or lets it outgrow the limit as Go does; see
    /// [`set_strict_memory_limit`](Pacer::set_strict_memory_limit).
    strict_memory_limit: bool,
    /// GOMAXPROCS used for the worker counts and the utilization measurements.
    gomaxprocs: usize,
    /// Go's `heapMinimum`: `4 MiB * GOGC / 100` (0 when GOGC is off; unused then).
    heap_minimum: u64,
    /// Go's `runway`: heap bytes the program is expected to allocate while marking, computed at
    /// commit from `cons_mark`.
    runway: u64,
    /// Go's `consMark`: the estimate in use (max of the last five measurements).
    cons_mark: f64,
    /// Go's `lastConsMark`: the four measurements before the latest one, oldest first.
    last_cons_mark: [f64; 4],
    /// Go's `gcPercentHeapGoal`: the GOGC-derived goal (`u64::MAX` when GOGC is off).
    gc_percent_heap_goal: u64,
    /// Go's `sweepDistMinTrigger`: floor for trigger and goal while sweeping is unfinished.
    sweep_dist_min_trigger: u64,
    /// Go's `triggered`: `heap_live` when the current cycle started; `u64::MAX` outside a cycle.
    triggered: u64,
    /// Go's `lastHeapGoal`: the heap goal at the end of the previous mark phase.
    last_heap_goal: u64,
    /// Go's `heapLive`, as last reported by the controller.
    heap_live: u64,
    /// Go's `heapScan`: the scannable part of `heap_live` (maximum heap scan work).
    heap_scan: u64,
    /// Whether `heap_scan` has been reported ([`Pacer::add_heap_scan`]) since the last commit.
    heap_scan_reported: bool,
    /// Go's `lastHeapScan`: heap bytes scanned in the last cycle.
    last_heap_scan: u64,
    /// Go's `lastStackScan`: stack bytes scanned in the last cycle.
    last_stack_scan: u64,
    /// Go's `maxStackScan`: all allocated goroutine stack space (worst-case stack work).
    max_stack_scan: u64,
    /// Go's `globalsScan`: scannable bytes of globals.
    globals_scan: u64,
    /// Go's `heapMarked`: bytes marked live by the previous cycle.
    heap_marked: u64,
    /// Go's `heapScanWork + stackScanWork + globalsScanWork` for the current cycle.
    scan_work: u64,
    /// Go's `markStartTime`, in the caller's nanosecond clock.
    mark_start_ns: u64,
    /// Go's `dedicatedMarkWorkersNeeded` as computed at cycle start.
    dedicated_workers: usize,
    /// Go's `fractionalUtilizationGoal`.
    fractional_goal: f64,
    /// Go's `assistWorkPerByte`.
    assist_work_per_byte: f64,
    /// Go's `assistBytesPerWork`.
    assist_bytes_per_work: f64,
    /// Go's `isSweepDone()` as last reported; used by commits caused by parameter changes.
    sweep_done: bool,
    /// Go's `mappedReady`: mapped memory in the Ready state.
    mapped_ready: u64,
    /// Go's `heapFree`: free heap pages not returned to the OS.
    heap_free: u64,
    /// Go's `heapReleased`: heap pages returned to the OS (kept for the scavenger).
    heap_released: u64,
    /// Go's `totalAlloc - totalFree`, if reported; otherwise `heap_live` stands in for it.
    heap_alloc: Option<u64>,
}

impl Pacer {
    /// Creates the pacer (Go's `gcControllerState.init`).
    ///
    /// As in Go 1.27, `heap_marked` starts at 0, so the first heap goal is the heap minimum
    /// (`4 MiB * GOGC / 100`) and, with cons/mark still 0, the first trigger is at the top of the
    /// trigger band: 61/64 of 4 MiB = 3,997,696 bytes for GOGC=100. The first commit treats
    /// sweeping as done (there is nothing to sweep yet).
    #[doc(alias = "init")]
    pub fn new(cfg: PacerConfig) -> Pacer {
        let mut p = Pacer {
            gc_percent: 100,
            memory_limit: u64::MAX,
            strict_memory_limit: true,
            gomaxprocs: cfg.gomaxprocs.max(1),
            heap_minimum: DEFAULT_HEAP_MINIMUM,
            runway: 0,
            cons_mark: 0.0,
            last_cons_mark: [0.0; 4],
            gc_percent_heap_goal: u64::MAX,
            sweep_dist_min_trigger: 0,
            triggered: u64::MAX,
            last_heap_goal: 0,
            heap_live: 0,
            heap_scan: 0,
            heap_scan_reported: false,
            last_heap_scan: 0,
            last_stack_scan: 0,
            max_stack_scan: 0,
            globals_scan: 0,
            heap_marked: 0,
            scan_work: 0,
            mark_start_ns: 0,
            dedicated_workers: 0,
            fractional_goal: 0.0,
            assist_work_per_byte: 0.0,
            assist_bytes_per_work: 0.0,
            sweep_done: true,
            mapped_ready: 0,
            heap_free: 0,
            heap_released: 0,
            heap_alloc: None,
        };
        p.store_gc_percent(cfg.gc_percent);
        p.memory_limit = cfg.memory_limit;
        p.compute_workers();
        p.commit_params(true);
        p
    }

    // ------------------------------------------------------------------------------------------
    // Parameters.

    /// Sets GOGC (Go's `setGCPercent` followed by `gcControllerCommit`) and returns the old value.
    ///
    /// Any negative value turns the collector off (stored as -1). The goal and trigger are
    /// recomputed at once, and if a cycle is marking its assist ratio is revised. Go's
    /// `debug.SetGCPercent(<0)` additionally waits for an in-progress mark to finish; that
    /// waiting belongs to the cycle controller.
    #[doc(alias = "setGCPercent")]
    pub fn set_gc_percent(&mut self, p: i32) -> i32 {
        let old = self.gc_percent;
        self.store_gc_percent(p);
        self.commit_params(self.sweep_done);
        old
    }

    /// Sets GOMEMLIMIT in bytes (Go's `setMemoryLimit` followed by `gcControllerCommit`) and
    /// returns the old value. `u64::MAX` removes the limit.
    ///
    /// The limit enters the goal through [`memory_limit_heap_goal`](Pacer::memory_limit_heap_goal),
    /// which reads the figures last given to [`update_memory_stats`](Pacer::update_memory_stats).
    /// Like Go, setting the value it already has does nothing further.
    #[doc(alias = "setMemoryLimit")]
    pub fn set_memory_limit(&mut self, bytes: u64) -> u64 {
        let old = self.memory_limit;
        if old != bytes {
            self.memory_limit = bytes;
            self.commit_params(self.sweep_done);
        }
        old
    }

    /// Changes GOMAXPROCS; the worker counts follow at the next [`start_cycle`](Pacer::start_cycle)
    /// (Go passes `procs` to `startCycle` and `endCycle` and it cannot change during a cycle).
    pub fn set_gomaxprocs(&mut self, procs: usize) {
        self.gomaxprocs = procs.max(1);
        if !self.in_cycle() {
            self.compute_workers();
        }
    }

    /// Stores the memory-limit inputs: `mapped_ready` (Go's `mappedReady`, all runtime memory
    /// mapped and not released), `heap_free` (free heap pages still backed by memory) and
    /// `heap_released` (heap pages returned to the OS, kept for the scavenger; the goal does not
    /// use it). The limit-based goal follows immediately, as Go's does (it is computed on every
    /// read).
    pub fn update_memory_stats(&mut self, mapped_ready: u64, heap_free: u64, heap_released: u64) {
        self.mapped_ready = mapped_ready;
        self.heap_free = heap_free;
        self.heap_released = heap_released;
        if self.in_cycle() {
            self.revise_internal();
        }
    }

    /// Stores the bytes of heap objects in use (Go's `totalAlloc - totalFree`) for the
    /// memory-limit goal. Until it is first given, `heap_live` stands in for it.
    pub fn set_heap_alloc(&mut self, heap_alloc: u64) {
        self.heap_alloc = Some(heap_alloc);
    }

    /// Tells the pacer whether the concurrent sweep has finished (Go's `isSweepDone()`).
    ///
    /// [`commit`](Pacer::commit) assumes sweeping has just begun; commits caused by
    /// [`set_gc_percent`](Pacer::set_gc_percent) or [`set_memory_limit`](Pacer::set_memory_limit)
    /// use this flag, which decides whether the trigger keeps a 1 MiB sweep distance above the
    /// current `heap_live`. Like Go, reporting it does not itself recompute anything.
    pub fn set_sweep_done(&mut self, done: bool) {
        self.sweep_done = done;
    }

    /// Records the current `heap_live` outside a cycle (Go's `heapLive`), so that a later
    /// parameter commit measures the sweep distance from the right place.
    pub fn set_heap_live(&mut self, heap_live: u64) {
        self.heap_live = heap_live;
    }

    /// Sets `heap_scan` (Go's `heapScan`) to the heap's own count: the scan work the last
    /// cycle did plus the pointer-bearing bytes allocated since (see the allocator's
    /// `HeapStats::heap_scan`). Used at the start of a cycle instead of the estimate.
    pub fn set_heap_scan(&mut self, bytes: u64) {
        self.heap_scan = bytes;
        self.heap_scan_reported = true;
    }

    /// Adds scannable bytes to `heap_scan` (the `dHeapScan` of Go's `gcControllerState.update`):
    /// the allocator's flushed scannable allocations since the last commit.
    ///
    /// If nothing is reported between a commit and the next
    /// [`start_cycle`](Pacer::start_cycle), the pacer assumes every byte allocated since the
    /// commit is scannable, an overestimate of the worst-case scan work in the spirit of Go's
    /// other estimates.
    pub fn add_heap_scan(&mut self, bytes: u64) {
        self.heap_scan = self.heap_scan.saturating_add(bytes);
        self.heap_scan_reported = true;
    }

    // ------------------------------------------------------------------------------------------
    // The cycle.

    /// Starts a cycle (Go's `startCycle`; the world is stopped).
    ///
    /// `heap_live` is the heap size at the trigger (becomes `triggered`), `stack_scan` the
    /// allocated goroutine stack space (Go's `maxStackScan`, the worst-case stack work) and
    /// `globals_scan` the scannable globals. Computes the worker counts for GOMAXPROCS and the
    /// initial assist ratio. Sweeping is complete by now (Go's `gcStart` finishes it before
    /// marking), so the pacer records it as done: commits during mark keep no sweep distance.
    #[doc(alias = "startCycle")]
    pub fn start_cycle(&mut self, now_ns: u64, heap_live: u64, stack_scan: u64, globals_scan: u64) {
        self.scan_work = 0;
        self.mark_start_ns = now_ns;
        // Go's gcStart finishes sweeping before marking begins.
        self.sweep_done = true;
        self.heap_live = heap_live;
        self.triggered = heap_live;
        self.max_stack_scan = stack_scan;
        self.globals_scan = globals_scan;
        if !self.heap_scan_reported {
            self.heap_scan =
                self.last_heap_scan.saturating_add(heap_live.saturating_sub(self.heap_marked));
        }
        self.compute_workers();
        self.revise_internal();
    }

    /// Revises the assist ratio during mark (Go's `revise`).
    ///
    /// `heap_live` is the current heap size and `scan_work_done` the heap + stack + globals scan
    /// work done so far this cycle (bytes scanned). Outside a cycle only `heap_live` is recorded.
    pub fn revise(&mut self, heap_live: u64, scan_work_done: u64) {
        self.heap_live = heap_live;
        if self.in_cycle() {
            self.scan_work = scan_work_done;
            self.revise_internal();
        }
    }

    /// Ends the mark phase (Go's `endCycle`): measures cons/mark and updates the estimate.
    ///
    /// * `heap_live_at_end`: `heap_live` at the end of mark.
    /// * `user_forced`: whether `runtime.GC()` started the cycle. Go 1.27 measures forced cycles
    ///   like any other (only Go ≤ 1.17 skipped them), so this does not change the estimate.
    /// * `mark_assist_time_ns`: CPU time spent in mark assists (Go's `assistTime`).
    /// * `idle_mark_time_ns`: CPU time of *idle-priority* mark workers (Go's `idleMarkTime`).
    ///   Dedicated and fractional workers are assumed to have used exactly the 25 % goal, as
    ///   Go assumes; their time is not an input.
    /// * `mark_wall_ns`: wall time during which assists were enabled (Go's `now -
    ///   markStartTime`). If 0, `now_ns` minus the `now_ns` given to `start_cycle` is used.
    ///
    /// Like Go, nothing is measured if the heap did not grow since the trigger; gomem also
    /// skips a cycle that did no scan work (Go would divide by zero). The result says what was
    /// measured, for the `gcpacertrace` line.
    #[doc(alias = "endCycle")]
    pub fn end_cycle(
        &mut self,
        now_ns: u64,
        heap_live_at_end: u64,
        user_forced: bool,
        mark_assist_time_ns: u64,
        idle_mark_time_ns: u64,
        mark_wall_ns: u64,
    ) -> EndCycle {
        let _ = user_forced;
        self.heap_live = heap_live_at_end;
        // Remember the goal this mark phase aimed at, before commit moves it.
        self.last_heap_goal = self.heap_goal();

        let duration =
            if mark_wall_ns > 0 { mark_wall_ns } else { now_ns.saturating_sub(self.mark_start_ns) };
        let cpu = duration as f64 * self.gomaxprocs as f64;
        let mut utilization = GC_BACKGROUND_UTILIZATION;
        if duration > 0 {
            utilization += mark_assist_time_ns as f64 / cpu;
        }
        let idle_utilization = if duration > 0 { idle_mark_time_ns as f64 / cpu } else { 0.0 };
        let mut ended = EndCycle {
            utilization,
            idle_utilization,
            measured_cons_mark: None,
            old_cons_mark: self.cons_mark,
        };
        if self.triggered == u64::MAX || self.heap_live <= self.triggered || self.scan_work == 0 {
            return ended;
        }

        // Bytes allocated per mutator CPU-second over bytes scanned per GC CPU-second. Idle
        // marking counts as GC time for scanning, but not as time taken from the mutator.
        let measured = ((self.heap_live - self.triggered) as f64
            * (utilization + idle_utilization))
            / (self.scan_work as f64 * (1.0 - utilization));

        self.cons_mark = self.last_cons_mark.iter().copied().fold(measured, f64::max);
        self.last_cons_mark.rotate_left(1);
        self.last_cons_mark[3] = measured;
        ended.measured_cons_mark = Some(measured);
        ended
    }

    /// The scannable heap the running cycle may have to scan (Go's `heapScan`).
    pub fn heap_scan(&self) -> u64 {
        self.heap_scan
    }

    /// Heap scan work done in the running cycle, as last given to [`revise`](Pacer::revise)
    /// (Go's `heapScanWork + stackScanWork + globalsScanWork`).
    pub fn scan_work(&self) -> u64 {
        self.scan_work
    }

    /// Commits the results of mark termination (Go's `resetLive` then `commit`).
    ///
    /// `heap_marked` is the bytes marked this cycle (the new `heap_live`), `heap_scan` the heap
    /// scan work done (the scannable live heap), `stack_scan` the stack bytes scanned and
    /// `globals_scan` the scannable globals. The cycle is over afterwards; the goal, runway and
    /// trigger for the next one are recomputed. Sweeping is assumed to have just started
    /// (Go's `isSweepDone()` is false here unless the sweep ran with the world stopped; call
    /// [`set_sweep_done`](Pacer::set_sweep_done)`(true)` and
    /// [`recommit`](Pacer::recommit) in that case).
    #[doc(alias = "resetLive")]
    pub fn commit(&mut self, heap_marked: u64, heap_scan: u64, stack_scan: u64, globals_scan: u64) {
        self.heap_marked = heap_marked;
        self.heap_live = heap_marked;
        self.heap_scan = heap_scan;
        self.heap_scan_reported = false;
        self.last_heap_scan = heap_scan;
        self.last_stack_scan = stack_scan;
        self.globals_scan = globals_scan;
        self.triggered = u64::MAX;
        self.sweep_done = false;
        self.commit_params(false);
    }

    /// Recomputes goal, runway and trigger from the current parameters (Go's
    /// `gcControllerCommit`), using the sweep state from [`set_sweep_done`](Pacer::set_sweep_done).
    #[doc(alias = "gcControllerCommit")]
    pub fn recommit(&mut self) {
        self.commit_params(self.sweep_done);
    }

    // ------------------------------------------------------------------------------------------
    // Goal and trigger.

    /// The heap goal (Go's `heapGoal`): what `NextGC` reports.
    ///
    /// The smaller of the GOGC goal (at least the heap minimum; `u64::MAX` when GOGC is off)
    /// and the memory-limit goal. When the GOGC goal is the smaller one it is raised to the
    /// sweep-distance floor and, during a cycle, to 64 KiB above the trigger point.
    #[doc(alias = "heapGoal")]
    #[doc(alias = "NextGC")]
    pub fn heap_goal(&self) -> u64 {
        self.heap_goal_internal().0
    }

    /// Go's `heapGoalInternal`: the goal and the lower bound it implies for the trigger.
    fn heap_goal_internal(&self) -> (u64, u64) {
        let mut goal = self.gc_percent_heap_goal;
        let mut min_trigger = 0;
        let limit_goal = self.memory_limit_heap_goal();
        if limit_goal < goal {
            // Memory-limited: respond to the limit as it is, without pushing the goal back.
            goal = limit_goal;
        } else {
            goal = goal.max(self.sweep_dist_min_trigger);
            min_trigger = self.sweep_dist_min_trigger;
            if self.in_cycle() {
                goal = goal.max(self.triggered.saturating_add(MIN_RUNWAY));
            }
        }
        (goal, min_trigger)
    }

    /// The goal implied by the memory limit (Go's `memoryLimitHeapGoal`); `u64::MAX` without
    /// a limit.
    ///
    /// ```text
    /// non_heap = mapped_ready - heap_free - heap_alloc
    /// overage  = max(mapped_ready - limit, 0)
    /// goal     = limit - (non_heap + overage)        (heap_marked if that is <= 0)
    /// headroom = max(goal / 100 * 3, 1 MiB)
    /// goal     = goal < 2 * headroom ? headroom : goal - headroom
    /// goal     = max(goal, heap_marked)
    /// ```
    #[doc(alias = "memoryLimitHeapGoal")]
    pub fn memory_limit_heap_goal(&self) -> u64 {
        if self.memory_limit == u64::MAX {
            return u64::MAX;
        }
        let limit = self.memory_limit;
        let reserved = self.memory_limit_reserved();
        if reserved >= limit {
            // Non-heap memory alone is over the limit: collect continuously and let the CPU
            // limiter keep that affordable.
            return self.heap_marked;
        }
        let goal = limit - reserved;
        let headroom = (goal / 100 * MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT)
            .max(MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM);
        let goal =
            if goal < headroom || goal - headroom < headroom { headroom } else { goal - headroom };
        goal.max(self.heap_marked)
    }

    /// The part of the memory limit the heap cannot have: memory that is mapped and ready but
    /// neither free heap nor heap objects (metadata, and the free slots of spans in use), plus
    /// whatever is already over the limit. The first steps of [`memory_limit_heap_goal`].
    ///
    /// [`memory_limit_heap_goal`]: Pacer::memory_limit_heap_goal
    fn memory_limit_reserved(&self) -> u64 {
        let heap_alloc = self.heap_alloc.unwrap_or(self.heap_live);
        let non_heap = self.mapped_ready.saturating_sub(self.heap_free).saturating_sub(heap_alloc);
        let overage = self.mapped_ready.saturating_sub(self.memory_limit);
        non_heap.saturating_add(overage)
    }

    /// Choose how `revise` treats a memory-limited cycle (`true` by default).
    ///
    /// Go's `revise` lets a cycle's heap outgrow its goal in two ways: when more scan work turns
    /// up than expected it stretches the goal, up to `1 + GOGC/100` times (a thousand times with
    /// GOGC=off); and once the heap is past that it allows 10 % more. With the goal set by the
    /// memory limit, both push the heap past the limit, by as much as the program allocates
    /// while the cycle marks. The first cycle of a run is the worst case: nothing was scanned
    /// before, so no scan work is expected and assists do nothing at all. On gomem's `churn`
    /// (GOGC=off, a 128 MiB limit, 72 MiB live) the first cycle took the heap from 107 MiB to
    /// 124 MiB against a 111 MiB goal, and since a churned heap never frees a whole span, the
    /// process kept that footprint for the rest of the run.
    ///
    /// Strict (gomem's default): while the limit sets the goal, a cycle with no earlier scan
    /// work to go by expects the worst case (all scannable memory live), the goal is not
    /// stretched, and the overshoot allowance stops at the limit's goal before its headroom
    /// (the limit minus non-heap memory). Assists then hold the heap at the limit; the GC CPU
    /// limiter still caps what that costs. Not strict: Go's arithmetic, kept for the tests that
    /// replay Go's pacer logs.
    pub fn set_strict_memory_limit(&mut self, strict: bool) {
        self.strict_memory_limit = strict;
    }

    /// Whether the memory limit, not GOGC, sets the heap goal now (the first branch of Go's
    /// `heapGoalInternal`). The GC CPU limiter is armed only then.
    pub fn memory_limited(&self) -> bool {
        self.memory_limit != u64::MAX && self.memory_limit_heap_goal() < self.gc_percent_heap_goal
    }

    /// The GOGC-derived goal as of the last commit (Go's `gcPercentHeapGoal`), `u64::MAX` when
    /// GOGC is off.
    pub fn gc_percent_heap_goal(&self) -> u64 {
        self.gc_percent_heap_goal
    }

    /// The heap size at which the next cycle should start (Go's `trigger()`).
    ///
    /// `goal - runway`, clamped into `[min, max]` where, with `d = goal - heap_marked`,
    /// `min = heap_marked + d / 64 * 45` (also at least the sweep-distance floor) and
    /// `max = heap_marked + d / 64 * 61`, raised to `goal - 4 MiB` when that is higher (and
    /// never below `min`). If `heap_marked >= goal` the trigger is the goal itself.
    pub fn trigger(&self) -> u64 {
        self.trigger_and_goal().0
    }

    /// [`trigger`](Pacer::trigger) and [`heap_goal`](Pacer::heap_goal) from one computation,
    /// as Go's `trigger()` returns them.
    pub fn trigger_and_goal(&self) -> (u64, u64) {
        let (goal, min_trigger) = self.heap_goal_internal();
        let marked = self.heap_marked;
        if marked >= goal {
            // Degenerate (memory limit at or below the live heap): collect continuously.
            return (goal, goal);
        }
        let band = (goal - marked) / TRIGGER_RATIO_DEN;
        let min_trigger = min_trigger.max(marked).max(band * MIN_TRIGGER_RATIO_NUM + marked);
        let mut max_trigger = band * MAX_TRIGGER_RATIO_NUM + marked;
        // Large heaps keep a runway of the default heap minimum: the cost of a cycle with
        // almost nothing to scan.
        if goal > DEFAULT_HEAP_MINIMUM && goal - DEFAULT_HEAP_MINIMUM > max_trigger {
            max_trigger = goal - DEFAULT_HEAP_MINIMUM;
        }
        let max_trigger = max_trigger.max(min_trigger);
        let wanted = if self.runway > goal { min_trigger } else { goal - self.runway };
        let trigger = wanted.clamp(min_trigger, max_trigger);
        debug_assert!(trigger <= goal, "trigger {trigger} above heap goal {goal}");
        (trigger, goal)
    }

    /// Whether a heap-triggered cycle should start now (the heap case of Go's
    /// `gcTrigger.test`): `heap_live >= trigger`.
    ///
    /// Always false while a cycle is running (between `start_cycle` and `commit`) and when
    /// GOGC is off with no memory limit.
    pub fn should_start(&self, heap_live: u64) -> bool {
        if self.in_cycle() || (self.gc_percent < 0 && self.memory_limit == u64::MAX) {
            return false;
        }
        heap_live >= self.trigger()
    }

    // ------------------------------------------------------------------------------------------
    // Getters.

    /// Dedicated mark workers for the current (or next) cycle (Go's `dedicatedMarkWorkersNeeded`
    /// at cycle start).
    pub fn dedicated_workers(&self) -> usize {
        self.dedicated_workers
    }

    /// Fraction of wall time each P without a dedicated worker should spend in a fractional
    /// mark worker (Go's `fractionalUtilizationGoal`; 0 = no fractional workers).
    pub fn fractional_goal(&self) -> f64 {
        self.fractional_goal
    }

    /// Go's limit on concurrently running idle mark workers (`setMaxIdleMarkWorkers`):
    /// `GOMAXPROCS - dedicated` for heap- and user-triggered cycles; for periodic (2-minute)
    /// cycles 0, or 1 when there are no dedicated workers so marking cannot stall.
    pub fn max_idle_mark_workers(&self, periodic: bool) -> usize {
        if periodic {
            usize::from(self.dedicated_workers == 0)
        } else {
            self.gomaxprocs.saturating_sub(self.dedicated_workers)
        }
    }

    /// Scan work an assist must do per byte allocated (Go's `assistWorkPerByte`).
    pub fn assist_work_per_byte(&self) -> f64 {
        self.assist_work_per_byte
    }

    /// Bytes of allocation credit per unit of scan work (Go's `assistBytesPerWork`).
    pub fn assist_bytes_per_work(&self) -> f64 {
        self.assist_bytes_per_work
    }

    /// Bytes marked by the last cycle (Go's `heapMarked`).
    pub fn heap_marked(&self) -> u64 {
        self.heap_marked
    }

    /// The heap goal when the last mark phase ended (Go's `lastHeapGoal`; the scavenger uses it).
    pub fn last_heap_goal(&self) -> u64 {
        self.last_heap_goal
    }

    /// The cons/mark estimate in use (Go's `consMark`).
    pub fn cons_mark(&self) -> f64 {
        self.cons_mark
    }

    /// The runway computed at the last commit (Go's `runway`).
    pub fn runway(&self) -> u64 {
        self.runway
    }

    /// `heap_live` when the running cycle started (Go's `triggered`); `None` outside a cycle.
    pub fn triggered(&self) -> Option<u64> {
        self.in_cycle().then_some(self.triggered)
    }

    /// Whether a cycle is running (between `start_cycle` and `commit`).
    pub fn in_cycle(&self) -> bool {
        self.triggered != u64::MAX
    }

    /// The last `heap_live` the pacer was told about (Go's `heapLive`).
    pub fn heap_live(&self) -> u64 {
        self.heap_live
    }

    /// The heap minimum (Go's `heapMinimum`): `4 MiB * GOGC / 100`.
    pub fn heap_minimum(&self) -> u64 {
        self.heap_minimum
    }

    /// GOGC (Go's `gcPercent`); -1 when off.
    pub fn gc_percent(&self) -> i32 {
        self.gc_percent
    }

    /// GOMEMLIMIT in bytes (Go's `memoryLimit`); `u64::MAX` when there is none.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// GOMAXPROCS as the pacer sees it.
    pub fn gomaxprocs(&self) -> usize {
        self.gomaxprocs
    }

    /// Heap pages released to the OS, as last given to
    /// [`update_memory_stats`](Pacer::update_memory_stats).
    pub fn heap_released(&self) -> u64 {
        self.heap_released
    }

    /// Scan work the next cycle is expected to do: last heap scan + last stack scan + globals
    /// (the basis of the runway).
    pub fn expected_scan_work(&self) -> u64 {
        self.last_heap_scan.saturating_add(self.last_stack_scan).saturating_add(self.globals_scan)
    }

    // ------------------------------------------------------------------------------------------
    // Internals.

    /// Stores GOGC and the heap minimum derived from it (the body of Go's `setGCPercent`).
    fn store_gc_percent(&mut self, p: i32) {
        let p = p.max(-1);
        self.gc_percent = p;
        // Go computes this from the wrapped unsigned value when GOGC is off; the result is never
        // used then, so 0 is stored instead.
        self.heap_minimum = if p < 0 { 0 } else { DEFAULT_HEAP_MINIMUM * p as u64 / 100 };
    }

    /// Go's `commit` (plus the `revise` that `gcControllerCommit` does during mark).
    fn commit_params(&mut self, sweep_done: bool) {
        self.sweep_dist_min_trigger =
            if sweep_done { 0 } else { self.heap_live.saturating_add(SWEEP_MIN_HEAP_DISTANCE) };

        let mut goal = u64::MAX;
        if self.gc_percent >= 0 {
            let basis =
                self.heap_marked as u128 + self.last_stack_scan as u128 + self.globals_scan as u128;
            let growth = basis * self.gc_percent as u128 / 100;
            goal = u64::try_from(self.heap_marked as u128 + growth).unwrap_or(u64::MAX);
        }
        self.gc_percent_heap_goal = goal.max(self.heap_minimum);

        // Scan work ahead, converted into bytes the mutator allocates meanwhile when the GC
        // holds 25 % of the CPU (the float-to-int cast saturates; an infinite estimate yields an
        // infinite runway, i.e. the minimum trigger).
        let utilization_ratio = (1.0 - GC_BACKGROUND_UTILIZATION) / GC_BACKGROUND_UTILIZATION;
        self.runway =
            (self.cons_mark * utilization_ratio * self.expected_scan_work() as f64) as u64;

        if self.in_cycle() {
            self.revise_internal();
        }
    }

    /// Go's worker-count computation in `startCycle`.
    fn compute_workers(&mut self) {
        let procs = self.gomaxprocs as f64;
        let total_goal = procs * GC_BACKGROUND_UTILIZATION;
        // Round to the nearest whole worker.
        let mut dedicated = (total_goal + 0.5) as usize;
        let util_error = dedicated as f64 / total_goal - 1.0;
        if !(-MAX_UTIL_ERROR..=MAX_UTIL_ERROR).contains(&util_error) {
            // Rounding is too coarse (GOMAXPROCS <= 3 or == 6 at 25 %): round down and make up
            // the difference with fractional workers.
            if dedicated as f64 > total_goal {
                dedicated -= 1;
            }
            self.fractional_goal = (total_goal - dedicated as f64) / procs;
        } else {
            self.fractional_goal = 0.0;
        }
        self.dedicated_workers = dedicated;
    }

    /// Go's `revise`: recompute the assist ratio from the current heap and scan work.
    fn revise_internal(&mut self) {
        let gc_percent =
            if self.gc_percent < 0 { GC_PERCENT_WHEN_OFF } else { self.gc_percent } as f64;
        let live = i64::try_from(self.heap_live).unwrap_or(i64::MAX);
        let work = i64::try_from(self.scan_work).unwrap_or(i64::MAX);
        let triggered = i64::try_from(self.triggered).unwrap_or(i64::MAX);

        // Aim at the goal, assuming the heap is in a steady state.
        let mut heap_goal = i64::try_from(self.heap_goal()).unwrap_or(i64::MAX);
        let strict_limit = self.strict_memory_limit && self.memory_limited();
        let mut expected = i64::try_from(self.expected_scan_work()).unwrap_or(i64::MAX);
        // Worst case: every scannable byte is live and every allocated stack byte is used.
        let max_work = i64::try_from(
            self.heap_scan.saturating_add(self.max_stack_scan).saturating_add(self.globals_scan),
        )
        .unwrap_or(i64::MAX);
        if strict_limit && self.last_heap_scan == 0 {
            // Nothing was scanned in an earlier cycle, so Go expects no scan work at all, and
            // the first assist of the cycle earns credit for the whole runway. Under the limit,
            // expect the worst case instead.
            expected = expected.max(max_work);
        }

        if work > expected {
            // More work than last cycle's: the heap is growing. Stretch the runway we planned
            // for `expected` to the worst case, so assists stay flat, but never past
            // (1 + GOGC/100) times the goal: the next cycle will need that much anyway.
            // (With no expected work at all the ratio is infinite; the cast saturates and the
            // hard goal applies. Go's conversion of an infinite float is platform-defined.)
            let stretched =
                ((heap_goal - triggered) as f64 / expected as f64 * max_work as f64) as i64;
            let stretched = stretched.saturating_add(triggered);
            expected = max_work;
            let mut hard_goal = ((1.0 + gc_percent / 100.0) * heap_goal as f64) as i64;
            if strict_limit {
                // The limit's goal is the hard goal (see `set_strict_memory_limit`).
                hard_goal = hard_goal.min(heap_goal);
            }
            heap_goal = stretched.min(hard_goal);
        }
        if live > heap_goal {
            // Already past even that: give ourselves 10 % more and assume the worst-case work.
            heap_goal = (heap_goal as f64 * MAX_OVERSHOOT) as i64;
            if strict_limit {
                // …but not past the limit (less non-heap memory): from there on the ratio is
                // as steep as it gets, and assists keep the heap where it is.
                let cap = self.memory_limit.saturating_sub(self.memory_limit_reserved());
                heap_goal = heap_goal.min(i64::try_from(cap).unwrap_or(i64::MAX));
            }
            expected = max_work;
        }

        // Racy marking can double-count work, so keep the remaining work positive (and a little
        // above zero, since aiming slightly high costs little).
        let work_remaining = expected.saturating_sub(work).max(1000);
        let heap_remaining = heap_goal.saturating_sub(live).max(1);

        self.assist_work_per_byte = work_remaining as f64 / heap_remaining as f64;
        self.assist_bytes_per_work = heap_remaining as f64 / work_remaining as f64;
    }
}
