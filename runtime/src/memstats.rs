//! `MemStats`: Go's `runtime.MemStats`, field for field, computed from the heap's ledger and the
//! collector's cycle statistics with the world stopped (as `ReadMemStats` does).
//!
//! Fields Go fills from parts gomem does not have are reported as zero and said so below:
//! goroutine stacks live on OS threads (`StackInuse` 0; `StackSys` 0), there is no profiling
//! bucket table (`BuckHashSys` 0), and `Lookups` is always 0 in Go too. The identities Go's
//! `TestMemStats` checks hold: `Sys` is the sum of the `*Sys` fields, `HeapIdle + HeapInuse ==
//! HeapSys`, `HeapObjects == Mallocs - Frees`, `PauseTotalNs` is the sum of the pause ring while
//! fewer than 256 cycles ran, and `LastGC` equals the latest `PauseEnd`.
//!
//! After Go's fields come gomem's extensions for the memory limit, the scavenger and the GC CPU
//! limiter. Go publishes these through `runtime/metrics` rather than `MemStats`; each field
//! names the metric or internal variable it mirrors.

use crate::Runtime;

/// Go's `runtime.MemStats` (field names in snake case; meanings as Go documents them).
#[derive(Clone, Debug)]
pub struct MemStats {
    /// Bytes of allocated heap objects (= `heap_alloc`).
    pub alloc: u64,
    /// Cumulative bytes allocated for heap objects.
    pub total_alloc: u64,
    /// Total bytes of memory obtained from the OS (sum of the `*_sys` fields).
    pub sys: u64,
    /// Always 0 (as in Go).
    pub lookups: u64,
    /// Cumulative count of heap objects allocated, tiny sub-allocations included.
    pub mallocs: u64,
    /// Cumulative count of heap objects freed (tiny sub-allocations count as freed at once, as
    /// in Go).
    pub frees: u64,
    /// Bytes of allocated heap objects, live or not yet swept.
    pub heap_alloc: u64,
    /// Bytes of heap memory obtained from the OS.
    pub heap_sys: u64,
    /// Bytes in idle (unused) spans: free pages, backed or released.
    pub heap_idle: u64,
    /// Bytes in in-use spans.
    pub heap_inuse: u64,
    /// Bytes of physical memory returned to the OS.
    pub heap_released: u64,
    /// Number of allocated heap objects.
    pub heap_objects: u64,
    /// Bytes in stack spans (0: goroutines run on OS thread stacks).
    pub stack_inuse: u64,
    /// Stack memory obtained from the OS (0, as above).
    pub stack_sys: u64,
    /// Bytes of allocated span structures.
    pub mspan_inuse: u64,
    /// Bytes obtained for span structures.
    pub mspan_sys: u64,
    /// Bytes of allocated mcache structures.
    pub mcache_inuse: u64,
    /// Bytes obtained for mcache structures.
    pub mcache_sys: u64,
    /// Profiling bucket hash tables (0: no heap profiler).
    pub buck_hash_sys: u64,
    /// GC and heap metadata: arena metadata, page-allocator bitmaps and summaries.
    pub gc_sys: u64,
    /// Other off-heap runtime allocations.
    pub other_sys: u64,
    /// The heap goal of the next cycle.
    pub next_gc: u64,
    /// Unix ns of the last collection's end.
    pub last_gc: u64,
    /// Cumulative ns in stop-the-world pauses.
    pub pause_total_ns: u64,
    /// Circular buffer of recent pause totals (latest at `(num_gc + 255) % 256`).
    pub pause_ns: [u64; 256],
    /// Circular buffer of recent pause end times, Unix ns.
    pub pause_end: [u64; 256],
    /// Completed GC cycles.
    pub num_gc: u32,
    /// Cycles forced by `gc()`.
    pub num_forced_gc: u32,
    /// Fraction of CPU time used by the GC since the runtime started.
    pub gc_cpu_fraction: f64,
    /// Always true (as in Go, even with GOGC=off).
    pub enable_gc: bool,
    /// Unused, false (as in Go).
    pub debug_gc: bool,

    // ---- gomem extensions (Go's runtime/metrics and internals) ----
    /// GOMEMLIMIT in force (`/gc/gomemlimit:bytes`); `None` for no limit.
    pub memory_limit: Option<u64>,
    /// Memory in the Ready state, what GOMEMLIMIT limits (Go's `gcController.mappedReady`):
    /// heap pages not released plus metadata.
    pub mapped_ready: u64,
    /// The scavenger's retained-memory target as of the last pacer commit (Go's
    /// `scavenge.gcPercentGoal` before its "already met" check): the retained heap the
    /// scavenger works down to; `None` before the first cycle.
    pub scavenge_goal: Option<u64>,
    /// The scavenger's memory-limit goal, 95 % of the limit (Go's `scavenge.memoryLimitGoal`);
    /// `None` when met or without a limit.
    pub scavenge_memory_limit_goal: Option<u64>,
    /// Bytes released by the background scavenger since start.
    pub scavenge_bg_released_bytes: u64,
    /// Bytes released at allocation time (memory limit, heap growth) since start.
    pub scavenge_eager_released_bytes: u64,
    /// Bytes released by `free_os_memory` since start.
    pub scavenge_forced_released_bytes: u64,
    /// CPU ns of allocation-time scavenging (`/cpu/classes/scavenge/assist:cpu-seconds`).
    pub scavenge_assist_ns: u64,
    /// CPU ns of background scavenging (`/cpu/classes/scavenge/background:cpu-seconds`).
    pub scavenge_background_ns: u64,
    /// Whether the GC CPU limiter is limiting now (Go's `gcCPULimiter.limiting()`).
    pub gc_cpu_limiter_limiting: bool,
    /// GC CPU time the limiter's full bucket turned away, ns (Go's `gcCPULimiter.overflow`).
    pub gc_cpu_limiter_overflow_ns: u64,
    /// The GC cycle that last saw the limiter turn on, 0 for never
    /// (`/gc/limiter/last-enabled:gc-cycle`).
    pub gc_limiter_last_enabled: u32,
}

impl MemStats {
    /// Read the statistics of `rt` with its world stopped.
    pub fn read(rt: &Runtime) -> MemStats {
        let l = rt.ledger();
        let gc = rt.collector().stats();
        let next_gc = rt.collector().heap_goal();
        let heap_inuse = (l.in_use + l.cache_free + l.central_free + l.span_overhead) as u64;
        let heap_idle = (l.heap_free + l.released) as u64;
        let heap_sys = l.heap_mapped as u64;
        let mcache = (rt.gomaxprocs() * core::mem::size_of::<gomem_allocator::MCache>()) as u64;
        let gc_sys = l.metadata as u64;
        let mallocs = l.mallocs;
        let frees = l.frees + l.tiny_allocs;
        let heap_alloc = l.in_use as u64;
        let heap = rt.heap();
        let scav = heap.scavenge_state();
        let totals = scav.totals();
        let limiter = rt.collector().limiter_stats();
        let goal = |g: u64| (g != gomem_allocator::scavenge::NO_GOAL).then_some(g);
        MemStats {
            alloc: heap_alloc,
            total_alloc: l.total_alloc,
            sys: heap_sys + gc_sys + mcache,
            lookups: 0,
            mallocs,
            frees,
            heap_alloc,
            heap_sys,
            heap_idle,
            heap_inuse,
            heap_released: l.released as u64,
            heap_objects: mallocs - frees,
            stack_inuse: 0,
            stack_sys: 0,
            mspan_inuse: 0,
            mspan_sys: 0,
            mcache_inuse: mcache,
            mcache_sys: mcache,
            buck_hash_sys: 0,
            gc_sys,
            other_sys: 0,
            next_gc,
            last_gc: gc.last_gc,
            pause_total_ns: gc.pause_total_ns,
            pause_ns: gc.pause_ns,
            pause_end: gc.pause_end,
            num_gc: gc.num_gc,
            num_forced_gc: gc.num_forced_gc,
            gc_cpu_fraction: rt.collector().gc_cpu_fraction(),
            enable_gc: true,
            debug_gc: false,
            memory_limit: rt.memory_limit(),
            mapped_ready: (l.heap_mapped - l.released + l.metadata) as u64,
            scavenge_goal: goal(scav.retained_target()),
            scavenge_memory_limit_goal: goal(scav.memory_limit_goal()),
            scavenge_bg_released_bytes: totals.released_bg,
            scavenge_eager_released_bytes: totals.released_eager,
            scavenge_forced_released_bytes: totals.released_forced,
            scavenge_assist_ns: totals.assist_ns,
            scavenge_background_ns: totals.background_ns,
            gc_cpu_limiter_limiting: limiter.limiting,
            gc_cpu_limiter_overflow_ns: limiter.overflow_ns,
            gc_limiter_last_enabled: limiter.last_enabled_cycle,
        }
    }
}
