//! Returning heap memory to the OS: the heap half of Go's `mgcscavenge.go` (`scavengeOne`,
//! `scavengeAll`) and the scavenging in `mheap.allocSpan`. See the crate docs for the overview.
//!
//! The *policy* (the goals, the background scavenger's pacing, the GC CPU limiter) belongs to the
//! collector, which writes its decisions into [`ScavengeState`]: the retained-memory goal, the
//! memory-limit goal, GOMEMLIMIT and whether the CPU limiter is limiting. This module performs
//! requests and applies Go's allocation-time rules, which need those numbers on the allocation
//! path without a lock.
//!
//! # One release step
//!
//! [`MHeap::scavenge_one`] releases one run of free pages, as Go's `scavengeOne` does: under the
//! heap lock it picks the highest run (at most the requested size) and marks it in use; it drops
//! the lock for the `madvise`, so allocation is never blocked behind a system call; then it
//! frees the run back, marked scavenged. Each step also holds the heap's ledger gate (shared):
//! the scavenger is not a goroutine and keeps running while the world is stopped, and a ledger
//! taken mid-step would miss the held pages.
//!
//! # Allocation-time scavenging (Go's `allocSpan`)
//!
//! After a span's pages are chosen and before its scavenged pages are used again:
//!
//! - with a memory limit, unless the CPU limiter is limiting: if the memory in the Ready state
//!   plus the scavenged bytes the span is about to use would exceed the limit, release the
//!   excess first, ignoring density (*forced*);
//! - if the allocation grew the heap and the retained heap plus the growth exceeds the
//!   retained-memory goal, release `min(growth, excess)`, as the background scavenger would.
//!
//! The time spent is scavenge-assist time for the CPU limiter; the bytes count as "eager" in
//! `GODEBUG=scavtrace=1`. Fresh growth counts as released until used, so the first rule also
//! covers growing the heap towards the limit: before a new span's fresh pages become Ready, at
//! least as much free memory is released.

use crate::consts::PAGE_SIZE;
use crate::mheap::MHeap;
use crate::stats;
use crate::sync::{lock, AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// "No goal" / "no limit" in [`ScavengeState`]'s fields (Go's `^uint64(0)`).
pub const NO_GOAL: u64 = u64::MAX;

/// The scavenger's goals and counters, shared between the collector (which sets the goals) and
/// the heap (which reads them on allocation paths). All fields are relaxed atomics: each is an
/// independent number and readers tolerate a stale value for a moment, as Go's readers do.
#[doc(alias = "scavenge")]
#[derive(Debug)]
pub struct ScavengeState {
    /// Go's `scavenge.gcPercentGoal`: retained heap bytes to keep ([`NO_GOAL`] = off or met).
    gc_percent_goal: AtomicU64,
    /// The retained-memory target itself, met or not (for statistics; [`NO_GOAL`] before the
    /// first cycle).
    retained_target: AtomicU64,
    /// Go's `scavenge.memoryLimitGoal`: Ready bytes to keep under ([`NO_GOAL`] = off).
    memory_limit_goal: AtomicU64,
    /// GOMEMLIMIT (Go's `gcController.memoryLimit`), [`NO_GOAL`] for none.
    memory_limit: AtomicU64,
    /// Mirror of Go's `gcCPULimiter.limiting()`.
    limiting: AtomicBool,
    /// Bytes released in the background since the last scavtrace line (Go's
    /// `pages.scav.releasedBg`).
    released_bg: AtomicU64,
    /// Bytes released at allocation time since the last scavtrace line (Go's `releasedEager`).
    released_eager: AtomicU64,
    /// Cumulative bytes released in the background.
    total_bg: AtomicU64,
    /// Cumulative bytes released at allocation time.
    total_eager: AtomicU64,
    /// Cumulative bytes released by forced requests (`free_os_memory`, [`MHeap::scavenge`]).
    total_forced: AtomicU64,
    /// Allocation-time scavenging ns not yet taken by the CPU limiter.
    assist_ns_pool: AtomicU64,
    /// Cumulative allocation-time scavenging ns (Go's `/cpu/classes/scavenge/assist`).
    assist_ns: AtomicU64,
    /// Cumulative background scavenging ns (Go's `/cpu/classes/scavenge/background`).
    background_ns: AtomicU64,
}

impl Default for ScavengeState {
    fn default() -> Self {
        ScavengeState {
            gc_percent_goal: AtomicU64::new(NO_GOAL),
            retained_target: AtomicU64::new(NO_GOAL),
            memory_limit_goal: AtomicU64::new(NO_GOAL),
            memory_limit: AtomicU64::new(NO_GOAL),
            limiting: AtomicBool::new(false),
            released_bg: AtomicU64::new(0),
            released_eager: AtomicU64::new(0),
            total_bg: AtomicU64::new(0),
            total_eager: AtomicU64::new(0),
            total_forced: AtomicU64::new(0),
            assist_ns_pool: AtomicU64::new(0),
            assist_ns: AtomicU64::new(0),
            background_ns: AtomicU64::new(0),
        }
    }
}

// Relaxed everywhere: see the type's docs.
impl ScavengeState {
    /// Set both goals (Go's `gcPaceScavenger` stores them); [`NO_GOAL`] disables one.
    pub fn set_goals(&self, gc_percent_goal: u64, memory_limit_goal: u64) {
        self.gc_percent_goal.store(gc_percent_goal, Ordering::Relaxed);
        self.memory_limit_goal.store(memory_limit_goal, Ordering::Relaxed);
    }

    /// The retained-memory goal ([`NO_GOAL`] when off or met).
    pub fn gc_percent_goal(&self) -> u64 {
        self.gc_percent_goal.load(Ordering::Relaxed)
    }

    /// Record the retained-memory target, met or not (statistics only).
    pub fn set_retained_target(&self, target: u64) {
        self.retained_target.store(target, Ordering::Relaxed);
    }

    /// The retained-memory target as of the last pacer commit, met or not ([`NO_GOAL`] before
    /// the first cycle).
    pub fn retained_target(&self) -> u64 {
        self.retained_target.load(Ordering::Relaxed)
    }

    /// The memory-limit goal ([`NO_GOAL`] when off).
    pub fn memory_limit_goal(&self) -> u64 {
        self.memory_limit_goal.load(Ordering::Relaxed)
    }

    /// Set GOMEMLIMIT as allocation-time scavenging sees it ([`NO_GOAL`] = no limit).
    pub fn set_memory_limit(&self, limit: u64) {
        self.memory_limit.store(limit, Ordering::Relaxed);
    }

    /// GOMEMLIMIT as allocation-time scavenging sees it.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.load(Ordering::Relaxed)
    }

    /// Mirror the CPU limiter's state: while it limits, the memory limit does not make
    /// allocations scavenge (the heap may exceed the limit rather than thrash).
    pub fn set_limiting(&self, on: bool) {
        if self.limiting.load(Ordering::Relaxed) != on {
            self.limiting.store(on, Ordering::Relaxed);
        }
    }

    /// Whether the CPU limiter is limiting.
    pub fn limiting(&self) -> bool {
        self.limiting.load(Ordering::Relaxed)
    }

    /// Take the bytes released in the background and eagerly since the last call (for the
    /// scavtrace line).
    pub fn take_trace_counters(&self) -> (u64, u64) {
        (
            self.released_bg.swap(0, Ordering::Relaxed),
            self.released_eager.swap(0, Ordering::Relaxed),
        )
    }

    /// Take the allocation-time scavenging time not yet seen by the CPU limiter, ns.
    pub fn take_assist_ns(&self) -> u64 {
        self.assist_ns_pool.swap(0, Ordering::Relaxed)
    }

    /// Add background scavenging time, ns (measured by the background scavenger).
    pub fn add_background_ns(&self, ns: u64) {
        self.background_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The cumulative totals.
    pub fn totals(&self) -> ScavengeTotals {
        ScavengeTotals {
            released_bg: self.total_bg.load(Ordering::Relaxed),
            released_eager: self.total_eager.load(Ordering::Relaxed),
            released_forced: self.total_forced.load(Ordering::Relaxed),
            assist_ns: self.assist_ns.load(Ordering::Relaxed),
            background_ns: self.background_ns.load(Ordering::Relaxed),
        }
    }

    fn count(&self, kind: Released, bytes: usize) {
        let b = bytes as u64;
        match kind {
            Released::Background => {
                self.released_bg.fetch_add(b, Ordering::Relaxed);
                self.total_bg.fetch_add(b, Ordering::Relaxed);
            }
            Released::Eager => {
                self.released_eager.fetch_add(b, Ordering::Relaxed);
                self.total_eager.fetch_add(b, Ordering::Relaxed);
            }
            Released::Forced => {
                self.total_forced.fetch_add(b, Ordering::Relaxed);
            }
        }
    }
}

/// Cumulative scavenger figures (Go's `/gc/scavenge/*` and `/cpu/classes/scavenge/*` metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScavengeTotals {
    /// Bytes released by the background scavenger.
    pub released_bg: u64,
    /// Bytes released at allocation time (memory limit, heap growth).
    pub released_eager: u64,
    /// Bytes released by forced requests (`free_os_memory`).
    pub released_forced: u64,
    /// ns spent scavenging at allocation time.
    pub assist_ns: u64,
    /// ns spent scavenging in the background.
    pub background_ns: u64,
}

/// Who released memory, for the counters.
#[derive(Clone, Copy, Debug)]
enum Released {
    Background,
    Eager,
    Forced,
}

impl MHeap {
    /// The scavenger's goals and counters.
    pub fn scavenge_state(&self) -> &ScavengeState {
        &self.scav
    }

    /// Release one run of free, unscavenged pages of at most `max_bytes` (rounded up to whole
    /// pages), the highest such run, skipping dense chunks unless `force` (see the page
    /// allocator's `scavenge.rs`). Returns the bytes released, 0 when there is nothing (left)
    /// to release or the OS refused. The heap lock is not held during the release itself.
    pub fn scavenge_one(&self, max_bytes: usize, force: bool) -> usize {
        let max_pages = max_bytes.div_ceil(PAGE_SIZE).max(1);
        let _gate = self.ledger_gate.read();
        let (addr, npages) = {
            let mut h = lock(&self.locked);
            let Some((addr, npages)) = h.pages.find_scavenge_candidate(max_pages, force) else {
                return 0;
            };
            h.pages.take_for_scavenge(addr, npages);
            (addr, npages)
        };
        let len = npages * PAGE_SIZE;
        // The pages are ours alone now: marked in use, in no span, in no cache.
        // SAFETY: the pages are free heap pages in this heap's reservations, taken from the page
        // allocator for this release, so they hold no live data.
        let ok = unsafe { self.os.release(addr, len) }.is_ok();
        if ok {
            stats::add(&self.stats.heap_released, len);
        }
        lock(&self.locked).pages.return_scavenged(addr, npages, ok);
        if ok {
            len
        } else {
            0
        }
    }

    /// Release at least `nbytes` (or everything there is), stopping early when `stop` says so.
    fn scavenge_loop(&self, nbytes: usize, force: bool, stop: &dyn Fn() -> bool) -> usize {
        let mut released = 0;
        while released < nbytes {
            let r = self.scavenge_one(nbytes - released, force);
            if r == 0 {
                break;
            }
            released += r;
            if stop() {
                break;
            }
        }
        released
    }

    /// Release at least `nbytes` of free memory, highest addresses first, ignoring density
    /// (forced); `usize::MAX` releases everything free. Returns the bytes released.
    pub fn scavenge(&self, nbytes: usize) -> usize {
        let r = self.scavenge_loop(nbytes, true, &|| false);
        self.scav.count(Released::Forced, r);
        r
    }

    /// Release every free page (Go's `mheap.scavengeAll`, the second half of
    /// `debug.FreeOSMemory`). Pages in the Ps' page caches are not free as far as the heap is
    /// concerned; flush those first for a complete release.
    pub fn scavenge_all(&self) -> usize {
        self.scavenge(usize::MAX)
    }

    /// One background request (Go's `bgscavenge` calling `pages.scavenge(n, nil, false)`):
    /// release up to `nbytes`, skipping dense chunks, counted as background work. Returns the
    /// bytes released; less than `nbytes` means nothing eligible is left for now.
    pub fn scavenge_background(&self, nbytes: usize) -> usize {
        let r = self.scavenge_loop(nbytes, false, &|| false);
        self.scav.count(Released::Background, r);
        r
    }

    /// Go's scavenging decision in `allocSpan` (see the module docs): `scav` is how many bytes of
    /// the span just chosen were scavenged, `growth` how much the heap grew to provide it.
    pub(crate) fn alloc_time_scavenge(&self, scav: usize, growth: usize) {
        let st = &self.scav;
        let mut todo = 0u64;
        let mut force = false;
        let limit = st.memory_limit();
        if limit != NO_GOAL && !st.limiting() {
            // Keep Ready memory under the limit by releasing what this span will page in.
            let ready = self.stats.mapped_ready();
            if scav as u64 + ready > limit {
                todo = scav as u64 + ready - limit;
                force = true;
            }
        }
        let goal = st.gc_percent_goal();
        if goal != NO_GOAL && growth > 0 {
            // The heap had to grow: release what the growth will soon be using instead.
            let retained = self.stats.heap_retained();
            if retained + growth as u64 > goal {
                todo = todo.max((growth as u64).min(retained + growth as u64 - goal));
            }
        }
        if todo == 0 {
            return;
        }
        let t = Instant::now();
        let todo = usize::try_from(todo).unwrap_or(usize::MAX);
        // Back out as soon as the CPU limiter turns on, as Go does.
        let released = self.scavenge_loop(todo, force, &|| st.limiting());
        let ns = t.elapsed().as_nanos() as u64;
        st.count(Released::Eager, released);
        st.assist_ns_pool.fetch_add(ns, Ordering::Relaxed);
        st.assist_ns.fetch_add(ns, Ordering::Relaxed);
    }
}
