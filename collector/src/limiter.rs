//! The GC CPU limiter (Go's `mgclimit.go`): a leaky bucket that keeps the collector from taking
//! the whole machine when the memory limit would have it collect continuously. See the crate
//! docs for the overview.
//!
//! # The bucket
//!
//! Its capacity is 1 CPU-second per P (`GOMAXPROCS` × 1 s). It fills with GC CPU time and drains
//! with mutator CPU time, at the same rate, so it fills only while the collector takes more than
//! half of the CPU, and the capacity is how long that may last: a spike of heavy collecting is
//! fine, a death spiral is not. It never goes below empty (an idle day earns no credit for a bad
//! minute) nor above full; GC time that would overfill it is counted as *overflow*.
//!
//! Over a window of `w` ns of wall time, with `p` Ps:
//!
//! ```text
//! total   = w * p
//! gc      = assists + scavenge assists + STW pauses * p  + (0.25 * total while marking)
//! mutator = total - gc
//! fill   += gc - mutator            (clamped to [0, capacity])
//! ```
//!
//! The 25 % is Go's assumption for the dedicated and fractional mark workers; gomem's workers are
//! threads outside the Ps (see `docs/collector.md`), and it makes the same assumption so that the
//! arithmetic, and Go's test of it, carry over unchanged. Go also subtracts the time Ps sit idle;
//! gomem's scheduler shim does not measure idle time, so nothing is subtracted: with idle Ps the
//! bucket fills more slowly than Go's would, which errs towards not limiting.
//!
//! While the bucket is full the limiter is *limiting*: mark assists are skipped (a debtor keeps
//! its debt and tries again at its next allocation), assists in progress stop, and allocation no
//! longer scavenges to stay under the memory limit. The heap may then exceed the limit, which is
//! the point: exceeding a soft limit beats thrashing. Any net mutator time turns it off again.
//!
//! # When it may limit
//!
//! Go's limiter is always armed. gomem arms it only while the memory limit is what sets the heap
//! goal ([`LimiterBucket::set_allowed`]): that is the situation it exists for (a GOGC-paced
//! collector uses 25 % plus assists by construction), and it keeps a program with no memory
//! limit from ever seeing its assists skipped. The bucket is accounted the same either way;
//! while not armed it simply never reports limiting and counts no overflow.
//!
//! # Concurrency
//!
//! [`LimiterBucket`] is plain data (Go's state under its lock, with the time passed in, so the
//! tests drive it with a fake clock). [`GcCpuLimiter`] puts it behind a mutex, mirrors the
//! limiting flag into an atomic that assists read without locking, and pools GC time reported
//! from any thread until the next update. Updates happen at GC phase changes, at least every
//! 10 ms from the scavenger thread while a memory limit is set (Go's sysmon), and from assists
//! that find the last update older than that; a periodic update that finds the lock taken is
//! dropped, as Go's `tryLock` drops it, since the next one includes its time.

use crate::cycle::Collector;
use crate::pacer::GC_BACKGROUND_UTILIZATION;
use crate::sync::{lock, try_lock, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

/// Bucket capacity per P, ns of CPU time (Go's `capacityPerProc`).
pub const CAPACITY_PER_PROC_NS: u64 = 1_000_000_000;

/// The longest wall time between updates, ns (Go's `gcCPULimiterUpdatePeriod`).
pub const UPDATE_PERIOD_NS: u64 = 10_000_000;

/// The limiter's state (Go's `gcCPULimiterState` without its lock and pools). Times are ns on
/// the caller's monotonic clock.
///
/// Invariants: `fill <= capacity`; `enabled` implies `fill == capacity` and `allowed`.
#[derive(Clone, Debug)]
#[doc(alias = "gcCPULimiterState")]
pub struct LimiterBucket {
    fill: u64,
    capacity: u64,
    /// Cumulative GC time that did not fit in a full bucket while limiting.
    overflow: u64,
    enabled: bool,
    /// Whether limiting is permitted (the memory limit sets the goal); see the module docs.
    allowed: bool,
    /// Go's `gcEnabled`: marking, so the background workers' 25 % counts as GC time.
    gc_enabled: bool,
    /// Go's `transitioning`: between `start_transition` and `finish_transition`.
    transitioning: bool,
    nprocs: u64,
    last_update: u64,
    /// Go's `lastEnabledCycle`: the cycle (completed cycles + 1 when it happened) that last
    /// saw the limiter turn on; 0 = never.
    last_enabled_cycle: u32,
}

impl LimiterBucket {
    /// An empty bucket for `nprocs` Ps, last updated at `now`, permitted to limit.
    pub fn new(now: u64, nprocs: usize) -> LimiterBucket {
        let nprocs = nprocs.max(1) as u64;
        LimiterBucket {
            fill: 0,
            capacity: nprocs * CAPACITY_PER_PROC_NS,
            overflow: 0,
            enabled: false,
            allowed: true,
            gc_enabled: false,
            transitioning: false,
            nprocs,
            last_update: now,
            last_enabled_cycle: 0,
        }
    }

    /// Whether the limiter is limiting (Go's `limiting`).
    pub fn limiting(&self) -> bool {
        self.enabled
    }

    /// CPU-ns in the bucket.
    pub fn fill(&self) -> u64 {
        self.fill
    }

    /// The bucket's capacity, CPU-ns.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Cumulative overflow, CPU-ns (GC time beyond a full bucket while limiting).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// The cycle that last saw the limiter turn on (Go's `/gc/limiter/last-enabled:gc-cycle`);
    /// 0 = never.
    pub fn last_enabled_cycle(&self) -> u32 {
        self.last_enabled_cycle
    }

    /// When the bucket was last updated.
    pub fn last_update(&self) -> u64 {
        self.last_update
    }

    /// Whether more than [`UPDATE_PERIOD_NS`] passed since the last update (Go's `needUpdate`).
    pub fn need_update(&self, now: u64) -> bool {
        now.saturating_sub(self.last_update) > UPDATE_PERIOD_NS
    }

    /// Arm or disarm limiting. Disarming stops limiting at once; arming lets the next
    /// accumulation that finds the bucket full turn it on.
    pub fn set_allowed(&mut self, allowed: bool) {
        self.allowed = allowed;
        if !allowed {
            self.enabled = false;
        }
    }

    /// Account the window since the last update (Go's `updateLocked`): `assist_ns` of GC time
    /// reported since (assists, scavenge assists, pauses × procs) and `idle_ns` of idle P time.
    /// `completed_cycles` is Go's `memstats.numgc`, for `last_enabled_cycle`.
    pub fn update(&mut self, now: u64, assist_ns: u64, idle_ns: u64, completed_cycles: u32) {
        assert!(!self.transitioning, "GC CPU limiter: update during a GC transition");
        self.update_locked(now, assist_ns, idle_ns, completed_cycles);
    }

    fn update_locked(&mut self, now: u64, assist_ns: u64, idle_ns: u64, cycles: u32) {
        if now < self.last_update {
            // A stale clock reading; the newer update already covered this.
            return;
        }
        let mut window = (now - self.last_update) as i64 * self.nprocs as i64;
        self.last_update = now;
        let mut gc = assist_ns as i64;
        if self.gc_enabled {
            gc += (window as f64 * GC_BACKGROUND_UTILIZATION) as i64;
        }
        // Idle time comes off the total after the background share is computed: that share
        // is of the real total.
        window -= idle_ns as i64;
        self.accumulate(window - gc, gc, cycles);
    }

    /// Add time to the bucket (Go's `accumulate`).
    pub fn accumulate(&mut self, mutator_ns: i64, gc_ns: i64, completed_cycles: u32) {
        let headroom = self.capacity - self.fill;
        let change = gc_ns.saturating_sub(mutator_ns);
        if change > 0 && headroom <= change as u64 {
            self.fill = self.capacity;
            if self.allowed {
                self.overflow += change as u64 - headroom;
                if !self.enabled {
                    self.enabled = true;
                    self.last_enabled_cycle = completed_cycles.wrapping_add(1);
                }
            }
            return;
        }
        if change < 0 {
            self.fill = self.fill.saturating_sub(change.unsigned_abs());
        } else {
            self.fill += change as u64;
        }
        if change != 0 && self.enabled {
            self.enabled = false;
        }
    }

    /// The world has stopped to turn marking on or off (Go's `startGCTransition`): account the
    /// window up to `now` under the old state, then switch.
    pub fn start_transition(
        &mut self,
        enable_gc: bool,
        now: u64,
        assist_ns: u64,
        completed_cycles: u32,
    ) {
        assert!(!self.transitioning, "GC CPU limiter: nested GC transition");
        assert!(self.gc_enabled != enable_gc, "GC CPU limiter: transition to the same state");
        self.update_locked(now, assist_ns, 0, completed_cycles);
        self.gc_enabled = enable_gc;
        self.transitioning = true;
    }

    /// The world restarts (Go's `finishGCTransition`): the stopped time counts as GC time on
    /// every P.
    pub fn finish_transition(&mut self, now: u64, completed_cycles: u32) {
        assert!(self.transitioning, "GC CPU limiter: finishing a transition never started");
        if now >= self.last_update {
            let stw = (now - self.last_update) as i64 * self.nprocs as i64;
            self.accumulate(0, stw, completed_cycles);
        }
        self.last_update = now;
        self.transitioning = false;
    }

    /// GOMAXPROCS changed (Go's `resetCapacity`); must not be called while marking.
    pub fn reset_capacity(&mut self, now: u64, nprocs: usize, completed_cycles: u32) {
        self.update_locked(now, 0, 0, completed_cycles);
        self.nprocs = nprocs.max(1) as u64;
        self.capacity = self.nprocs * CAPACITY_PER_PROC_NS;
        if self.fill > self.capacity {
            self.fill = self.capacity;
            if self.allowed {
                self.enabled = true;
                self.last_enabled_cycle = completed_cycles.wrapping_add(1);
            }
        } else if self.fill < self.capacity {
            self.enabled = false;
        }
    }
}

/// What [`GcCpuLimiter::stats`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Whether it is limiting now.
    pub limiting: bool,
    /// Cumulative GC CPU time that did not fit in the full bucket, ns.
    pub overflow_ns: u64,
    /// The cycle that last saw it turn on (0 = never).
    pub last_enabled_cycle: u32,
    /// CPU-ns in the bucket.
    pub fill_ns: u64,
    /// The bucket's capacity, CPU-ns.
    pub capacity_ns: u64,
}

/// The limiter as the collector uses it (Go's `gcCPULimiter`): the bucket behind a lock, plus
/// the lock-free parts assists need. See the module docs.
#[doc(alias = "gcCPULimiter")]
#[derive(Debug)]
pub struct GcCpuLimiter {
    bucket: Mutex<LimiterBucket>,
    /// Mirror of [`LimiterBucket::limiting`], read by every assist.
    limiting: AtomicBool,
    /// Mirror of the bucket's `allowed`, so re-arming an armed limiter takes no lock.
    allowed: AtomicBool,
    /// GC time reported since the last update, ns (Go's `assistTimePool`).
    pool_ns: AtomicU64,
    /// Idle-priority mark time reported since the last update, ns (Go's `idleTimePool`, which
    /// also holds the time Ps sit idle; gomem's scheduler does not report that).
    idle_pool_ns: AtomicU64,
    /// Mirror of [`LimiterBucket::last_update`], for [`GcCpuLimiter::needs_update`].
    last_update: AtomicU64,
    /// Mirrors for statistics.
    overflow_ns: AtomicU64,
    last_enabled_cycle: AtomicU32,
}

// Relaxed everywhere: the flag and the mirrors are heuristics and statistics that guard no
// memory; the bucket itself is only touched under its lock.
impl GcCpuLimiter {
    /// A limiter for `nprocs` Ps whose clock reads `now`.
    pub fn new(now: u64, nprocs: usize) -> GcCpuLimiter {
        GcCpuLimiter {
            bucket: Mutex::new(LimiterBucket::new(now, nprocs)),
            limiting: AtomicBool::new(false),
            allowed: AtomicBool::new(true),
            pool_ns: AtomicU64::new(0),
            idle_pool_ns: AtomicU64::new(0),
            last_update: AtomicU64::new(now),
            overflow_ns: AtomicU64::new(0),
            last_enabled_cycle: AtomicU32::new(0),
        }
    }

    /// Whether GC work should hold back (Go's `gcCPULimiter.limiting()`): one relaxed load.
    #[inline]
    pub fn limiting(&self) -> bool {
        self.limiting.load(Ordering::Relaxed)
    }

    /// Report GC CPU time spent outside the background workers' share, ns: assists,
    /// scavenge assists, and stop-the-world pauses multiplied by GOMAXPROCS.
    pub fn add_gc_time(&self, ns: u64) {
        self.pool_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Report idle-priority mark worker time, ns (Go's `gcCPULimiter.addIdleTime` from
    /// `gcBgMarkWorker`): it comes off the window's total time, since idle workers soak up time
    /// the program would have left idle, and it is not GC time the limiter holds back.
    pub fn add_idle_time(&self, ns: u64) {
        self.idle_pool_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Whether the last update is older than [`UPDATE_PERIOD_NS`].
    pub fn needs_update(&self, now: u64) -> bool {
        now.saturating_sub(self.last_update.load(Ordering::Relaxed)) > UPDATE_PERIOD_NS
    }

    /// A periodic update (Go's `update`); skipped when another thread is updating.
    pub fn update(&self, now: u64, completed_cycles: u32) {
        if let Some(mut b) = try_lock(&self.bucket) {
            let pool = self.pool_ns.swap(0, Ordering::Relaxed);
            let idle = self.idle_pool_ns.swap(0, Ordering::Relaxed);
            b.update(now, pool, idle, completed_cycles);
            self.publish(&b);
        }
    }

    /// Marking starts or stops (with the world stopped): account the window so far under the
    /// old state, then switch. Pauses reach the bucket through [`GcCpuLimiter::add_gc_time`],
    /// so the transition itself adds no stopped time (Go's `finishGCTransition` with a zero
    /// pause).
    pub fn transition(&self, marking: bool, now: u64, completed_cycles: u32) {
        let mut b = lock(&self.bucket);
        if b.gc_enabled == marking {
            return;
        }
        let pool = self.pool_ns.swap(0, Ordering::Relaxed);
        let idle = self.idle_pool_ns.swap(0, Ordering::Relaxed);
        // Go's startGCTransition drains both pools into the window before switching.
        b.update(now, pool, idle, completed_cycles);
        b.start_transition(marking, now, 0, completed_cycles);
        b.finish_transition(now, completed_cycles);
        self.publish(&b);
    }

    /// Arm or disarm limiting (armed while the memory limit sets the heap goal).
    pub fn set_allowed(&self, allowed: bool) {
        if self.allowed.load(Ordering::Relaxed) == allowed {
            return;
        }
        let mut b = lock(&self.bucket);
        // Under the lock, so the mirror ends as the bucket does when calls race.
        self.allowed.store(allowed, Ordering::Relaxed);
        if b.allowed != allowed {
            b.set_allowed(allowed);
            self.publish(&b);
        }
    }

    /// A snapshot for statistics.
    pub fn stats(&self) -> LimiterStats {
        let b = lock(&self.bucket);
        LimiterStats {
            limiting: b.limiting(),
            overflow_ns: b.overflow(),
            last_enabled_cycle: b.last_enabled_cycle(),
            fill_ns: b.fill(),
            capacity_ns: b.capacity(),
        }
    }

    fn publish(&self, b: &LimiterBucket) {
        if self.limiting.load(Ordering::Relaxed) != b.limiting() {
            self.limiting.store(b.limiting(), Ordering::Relaxed);
        }
        self.last_update.store(b.last_update(), Ordering::Relaxed);
        self.overflow_ns.store(b.overflow(), Ordering::Relaxed);
        self.last_enabled_cycle.store(b.last_enabled_cycle(), Ordering::Relaxed);
    }

    /// Cumulative overflow, ns (lock-free mirror).
    pub fn overflow_ns(&self) -> u64 {
        self.overflow_ns.load(Ordering::Relaxed)
    }

    /// The cycle that last saw limiting turn on (lock-free mirror; 0 = never).
    pub fn last_enabled_cycle(&self) -> u32 {
        self.last_enabled_cycle.load(Ordering::Relaxed)
    }
}

/// The collector's side of the limiter.
impl Collector {
    /// The GC CPU limiter.
    pub fn limiter(&self) -> &GcCpuLimiter {
        &self.limiter
    }

    /// The limiter's state, for statistics.
    pub fn limiter_stats(&self) -> LimiterStats {
        self.limiter.stats()
    }

    /// A periodic limiter update (Go's sysmon and assists call `gcCPULimiter.update`): collect
    /// the scavenge-assist time, account the window, mirror the result into the heap.
    pub(crate) fn limiter_update(&self) {
        self.limiter.add_gc_time(self.heap.scavenge_state().take_assist_ns());
        self.limiter.update(self.now_ns(), self.num_gc());
        self.heap.scavenge_state().set_limiting(self.limiter.limiting());
    }

    /// The collector's clock: ns since it was created.
    pub(crate) fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}
