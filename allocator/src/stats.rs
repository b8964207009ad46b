//! Heap statistics and the ledger that must add up (Go's `mstats.go` / `consistentHeapStats`,
//! tcmalloc's `MALLOC:` lines).
//!
//! Counting happens off the fast path. An mcache counts nothing per object: a cached span's
//! `alloc_count` already says how many slots were handed out, and the difference from
//! `alloc_count_before_cache` is added to the heap-wide per-class counters when the span is
//! returned (refill, flush). Tiny sub-allocations are counted in a plain per-P field, flushed the
//! same way. Frees are counted by the sweeper, per span. So the heap-wide counters below are
//! atomics touched once per span, never once per object.
//!
//! # The ledger
//!
//! Every byte of arena memory mapped for the heap is in exactly one of these places
//! ([`Ledger`]):
//!
//! ```text
//! heap_mapped = in_use + cache_free + central_free + span_overhead + heap_free + released
//! ```
//!
//! - `in_use`: bytes of allocated objects (size-class bytes; a large object counts its pages);
//! - `cache_free`: free slots of spans cached by Ps;
//! - `central_free`: free slots of spans held by the central lists (swept or not);
//! - `span_overhead`: the part of in-use small spans no slot covers (tail waste and the pointer
//!   bitmap of one-page scan spans);
//! - `heap_free`: free pages still backed by memory (in the page heap or a P's page cache),
//!   and the empty spans the central lists keep for a cycle ([`HeapStats::kept_empty`]);
//! - `released`: free pages returned to the OS.
//!
//! Metadata (arena maps, span structs, page-allocator bitmaps) is reported separately.
//!
//! # What the memory limit and the scavenger read
//!
//! Go's pacer and scavenger read four numbers without any lock; [`HeapStats`] keeps them as
//! atomics updated where Go updates them, so the collector can read them on allocation paths:
//!
//! | Go | here | changes when |
//! |---|---|---|
//! | `heapReleased` | [`HeapStats::heap_released`] | the heap grows (+), a span takes scavenged pages (−), the scavenger releases pages (+) |
//! | `heapInUse` | [`HeapStats::heap_inuse`] | a span is allocated (+) or freed (−); an emptied span is kept for a cycle (−) or a kept one is taken back (+) |
//! | `heapFree` | [`HeapStats::heap_free`] = mapped − in use − released | derived |
//! | `mappedReady` | [`HeapStats::mapped_ready`] = mapped − released + metadata | derived |
//! | `totalAlloc − totalFree` | [`HeapStats::heap_alloc`] | a cached span's allocations are flushed or a large object is allocated (+), sweeping frees objects (−) |
//!
//! `mappedReady` is Go's count of memory in the Ready state: heap pages not returned to the OS
//! plus the runtime's metadata. At quiescence (the ledger's conditions)
//! `heap_released == ledger.released` and `mapped_ready == heap_mapped - released + metadata`.

use crate::sizeclass::NUM_SIZE_CLASSES;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Heap-wide counters, updated once per span or per large object.
#[derive(Debug)]
pub struct HeapStats {
    /// Arena bytes mapped for the heap (Go's `HeapSys`, before the metadata).
    pub heap_mapped: AtomicUsize,
    /// Bytes of pages in InUse spans (Go's `HeapInuse`).
    pub heap_inuse: AtomicUsize,
    /// Bytes of in-use small spans not covered by slots.
    pub span_overhead: AtomicUsize,
    /// Free-slot bytes of spans held by the central lists (kept empty spans excluded).
    pub central_free: AtomicUsize,
    /// Bytes of the empty spans the central lists keep for one cycle instead of freeing
    /// (gomem's; see "Keeping empty spans" in the crate docs). They count as free heap memory
    /// (`heap_free`, Go's `HeapIdle`), not in `heap_inuse`, `span_overhead` or `central_free`.
    pub kept_empty: AtomicUsize,
    /// Metadata bytes mapped: arena metadata, page-allocator summaries and chunk bitmaps, span
    /// structs. Counted fully in `mapped_ready`, as Go counts its `sysAlloc`ed metadata.
    pub metadata: AtomicUsize,
    /// Free heap bytes returned to the OS (Go's `heapReleased`), page caches included. Freshly
    /// grown memory counts as released until it is first allocated.
    pub heap_released: AtomicUsize,
    /// Bytes of heap objects allocated and not yet freed by a sweep (Go's `totalAlloc -
    /// totalFree`): small objects as flushed from the mcaches, large objects as allocated.
    pub heap_alloc: AtomicU64,
    /// `heap_inuse` at the last mark termination (Go's `memstats.lastHeapInUse`), recorded by
    /// [`MHeap::advance_sweepgen`](crate::mheap::MHeap::advance_sweepgen).
    pub last_heap_inuse: AtomicUsize,
    /// Bytes the pacer considers live (Go's `heapLive`): reset to the marked bytes at mark
    /// termination, then raised by every span handed to a P (its whole free part, counted up
    /// front as Go does) and every large object, and lowered by the free slots a P hands back
    /// unused. An overestimate by design; the trigger is compared against it.
    pub heap_live: AtomicU64,
    /// Scannable bytes the pacer expects to scan next cycle (Go's `heapScan`): reset to the
    /// scan work done at mark termination, then raised by the pointer-bearing prefix of every
    /// scan object allocated (flushed from each mcache's `scan_alloc` at refill, as Go's
    /// `mcache.refill` flushes `scanAlloc`).
    pub heap_scan: AtomicU64,
    /// Small objects handed out, per size class, as flushed from mcaches.
    pub small_allocs: [AtomicU64; NUM_SIZE_CLASSES],
    /// Small objects freed by sweeping, per size class.
    pub small_frees: [AtomicU64; NUM_SIZE_CLASSES],
    /// Tiny sub-allocations that fit in an existing block (Go's `tinyAllocs`).
    pub tiny_allocs: AtomicU64,
    /// Large objects allocated.
    pub large_allocs: AtomicU64,
    /// Bytes (whole pages) of large objects allocated.
    pub large_alloc_bytes: AtomicU64,
    /// Large objects freed.
    pub large_frees: AtomicU64,
    /// Bytes of large objects freed.
    pub large_free_bytes: AtomicU64,
}

impl Default for HeapStats {
    fn default() -> Self {
        HeapStats {
            heap_mapped: AtomicUsize::new(0),
            heap_inuse: AtomicUsize::new(0),
            span_overhead: AtomicUsize::new(0),
            central_free: AtomicUsize::new(0),
            kept_empty: AtomicUsize::new(0),
            metadata: AtomicUsize::new(0),
            heap_released: AtomicUsize::new(0),
            heap_alloc: AtomicU64::new(0),
            last_heap_inuse: AtomicUsize::new(0),
            heap_live: AtomicU64::new(0),
            heap_scan: AtomicU64::new(0),
            small_allocs: core::array::from_fn(|_| AtomicU64::new(0)),
            small_frees: core::array::from_fn(|_| AtomicU64::new(0)),
            tiny_allocs: AtomicU64::new(0),
            large_allocs: AtomicU64::new(0),
            large_alloc_bytes: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            large_free_bytes: AtomicU64::new(0),
        }
    }
}

impl HeapStats {
    /// Free heap bytes still backed by memory (Go's `heapFree`): mapped − in use − released.
    /// Read without a lock, so it may be off by the span being allocated or freed right now.
    pub fn heap_free(&self) -> u64 {
        let mapped = get(&self.heap_mapped) as u64;
        mapped.saturating_sub(get(&self.heap_inuse) as u64 + get(&self.heap_released) as u64)
    }

    /// Free heap bytes returned to the OS (Go's `heapReleased`).
    pub fn heap_released(&self) -> u64 {
        get(&self.heap_released) as u64
    }

    /// Bytes of pages in InUse spans (Go's `heapInUse`).
    pub fn heap_inuse(&self) -> u64 {
        get(&self.heap_inuse) as u64
    }

    /// Heap bytes not returned to the OS (Go's `heapRetained` = `heapInUse + heapFree`): the
    /// heap's estimated contribution to the resident set.
    pub fn heap_retained(&self) -> u64 {
        (get(&self.heap_mapped) as u64).saturating_sub(get(&self.heap_released) as u64)
    }

    /// Memory in the Ready state (Go's `mappedReady`): retained heap plus metadata. This is
    /// what GOMEMLIMIT limits.
    pub fn mapped_ready(&self) -> u64 {
        self.heap_retained() + get(&self.metadata) as u64
    }

    /// Bytes of objects allocated and not yet swept free (Go's `totalAlloc - totalFree`).
    pub fn heap_alloc(&self) -> u64 {
        // A sweep's decrement can land before a racing flush's increment; never report that
        // transient as a huge number.
        (get64(&self.heap_alloc) as i64).max(0) as u64
    }
}

// All counters are statistics: Relaxed everywhere; readers that need a consistent view flush
// the caches and read with the world stopped (or tolerate skew).
// The updates skip a zero change: a refill or sweep often has nothing to add to a counter (a
// full span handed back, a noscan class's scan bytes), and a locked add of zero still costs a
// read-modify-write of a shared line.
pub(crate) fn add(a: &AtomicUsize, v: usize) {
    if v != 0 {
        a.fetch_add(v, Ordering::Relaxed);
    }
}
pub(crate) fn sub(a: &AtomicUsize, v: usize) {
    if v != 0 {
        a.fetch_sub(v, Ordering::Relaxed);
    }
}
pub(crate) fn add64(a: &AtomicU64, v: u64) {
    if v != 0 {
        a.fetch_add(v, Ordering::Relaxed);
    }
}
pub(crate) fn sub64(a: &AtomicU64, v: u64) {
    if v != 0 {
        a.fetch_sub(v, Ordering::Relaxed);
    }
}
pub(crate) fn get(a: &AtomicUsize) -> usize {
    a.load(Ordering::Relaxed)
}
pub(crate) fn get64(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Where every mapped heap byte is (see the module docs). Produced by
/// [`MHeap::ledger`](crate::mheap::MHeap::ledger).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Arena bytes mapped.
    pub heap_mapped: usize,
    /// Bytes of allocated objects.
    pub in_use: usize,
    /// Free-slot bytes in spans cached by Ps.
    pub cache_free: usize,
    /// Free-slot bytes in spans held centrally.
    pub central_free: usize,
    /// Bytes of in-use small spans covered by no slot.
    pub span_overhead: usize,
    /// Free pages backed by memory.
    pub heap_free: usize,
    /// Free pages returned to the OS.
    pub released: usize,
    /// Metadata bytes mapped (not part of `heap_mapped`).
    pub metadata: usize,
    /// Objects allocated (small, tiny sub-allocations and large) since the heap was created.
    pub mallocs: u64,
    /// Objects freed since the heap was created.
    pub frees: u64,
    /// Bytes allocated since the heap was created (size-class bytes; pages for large objects;
    /// a tiny block counts as one 16-byte object), Go's `TotalAlloc`.
    pub total_alloc: u64,
    /// Tiny sub-allocations that fit an existing block (included in `mallocs`).
    pub tiny_allocs: u64,
}

impl Ledger {
    /// The right-hand side of the identity.
    pub fn accounted(&self) -> usize {
        self.in_use
            + self.cache_free
            + self.central_free
            + self.span_overhead
            + self.heap_free
            + self.released
    }

    /// Whether the ledger adds up.
    pub fn balances(&self) -> bool {
        self.accounted() == self.heap_mapped
    }
}

impl core::fmt::Display for Ledger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let rows = [
            ("objects in use", self.in_use),
            ("free in P caches", self.cache_free),
            ("free in central lists", self.central_free),
            ("span overhead", self.span_overhead),
            ("free pages (backed)", self.heap_free),
            ("free pages (released)", self.released),
        ];
        for (name, v) in rows {
            writeln!(f, "HEAP: {v:>14} B  {name}")?;
        }
        writeln!(f, "HEAP: ------------------")?;
        writeln!(f, "HEAP: {:>14} B  mapped for the heap", self.heap_mapped)?;
        writeln!(f, "HEAP: {:>14} B  metadata", self.metadata)?;
        write!(f, "HEAP: {} mallocs, {} frees", self.mallocs, self.frees)
    }
}
