//! Greying and scanning: the classic per-object marker (Go's `greyobject`, `scanobject`,
//! `gcDrain` and `gcDrainN` in `mgcmark.go`). See the crate docs for the overview.
//!
//! Tri-colour vocabulary: an object is **white** while its mark bit is clear, **grey** once it
//! is marked and queued in some [`GcWork`] or in the [`WorkPool`], and **black** once it is
//! marked and no longer queued (scanned, or pointer-free and never queued at all).
//!
//! - [`shade`] takes any word (nil, a pointer into another mapping, an interior pointer) and,
//!   if it points into an object of an `InUse` span, sets the object's mark bit with an atomic
//!   test-and-set ([`MSpan::try_mark`]). The winner of that race alone counts the object's
//!   bytes and, unless the span is noscan, queues the object. So every object is counted and
//!   scanned exactly once however many Ps find it.
//! - [`scan_object`] reads an object's pointer slots from the allocator's metadata (the span's
//!   heap bits, [`MSpan::heap_bits_small`], for objects of at most 512 bytes, otherwise
//!   [`MSpan::for_each_ptr_slot`]; nothing is guessed) and shades what they hold.
//! - [`drain`] alternates the two until the P and the pool run dry, a scan-work budget is spent
//!   (mark assists) or the caller asks it to stop (preemption).
//!
//! [`MSpan::try_mark`]: gomem_allocator::mspan::MSpan::try_mark
//! [`MSpan::heap_bits_small`]: gomem_allocator::mspan::MSpan::heap_bits_small
//! [`MSpan::for_each_ptr_slot`]: gomem_allocator::mspan::MSpan::for_each_ptr_slot
//!
//! There is no recursion anywhere: depth lives in the work buffers, so a million-node list
//! needs no more stack than a single node.
//!
//! # Oblets
//!
//! A large object is not scanned in one piece. Its first scan queues one entry for each further
//! 8 KiB "oblet" ([`OBLET_BYTES`]) and scans only the first; the rest are separate work items.
//! This bounds how long one work item takes (so a P reaches its preemption check and a mark
//! assist its budget within about one oblet, whatever the object size) and lets other Ps share
//! a huge array through the pool, where one P would otherwise scan it alone. An oblet entry is
//! `base + k * OBLET_BYTES` (k ≥ 1): since large objects have no header and spans start on page
//! boundaries, such an address can never be confused with an object base.
//!
//! # Divergences from Go
//!
//! - This is the classic marker of `mgcmark_nogreenteagc.go`. Go 1.27 defaults to Green Tea,
//!   which defers small objects to per-span scans; the object graph marked is the same.
//! - `bytes_marked` grows by the slot size when an object is greyed, for scan objects too. Go
//!   counts a scan object when it scans it, oblet by oblet; the oblets of an object add up to
//!   its slot, so the totals agree whenever marking has finished, which is the only time Go
//!   reads them (`heapMarked` at mark termination).
//! - Oblets are queued up to the object's end (`limit`), not up to the end of its last page as
//!   Go does: entries past the last pointer would scan nothing anyway.
//!
//! # The collector's contract
//!
//! Marking relies on the invariants the rest of the collector maintains, as Go's does:
//! - every span seen while marking stays `InUse`: the previous cycle's sweep finished
//!   (`MHeap::sweep_all`) before the first [`shade`], and the next sweep starts after the last
//!   [`drain`] (`docs/allocator.md`, "Sweep protocol");
//! - the words handed to [`shade`] come from precise roots and pointer slots, so a pointer to a
//!   heap slot points to an allocated object whose allocation happened-before the word was
//!   published. A pointer to a *free* slot (a mutator or barrier bug) is still marked and the
//!   sweeper reports it as a zombie; scanning such a slot is defended against the
//!   `clobberfree` pattern but can otherwise read a stale header (see [`scan_object`]).

mod assist;
pub mod greentea;

pub use assist::AssistOutcome;

use crate::sync::load_word;
use crate::work::{GcWork, WorkPool};
use gomem_allocator::consts::{MIN_LEGAL_POINTER, PAGE_SHIFT, PTR_SIZE};
use gomem_allocator::mheap::{HeapObject, MHeap};
use gomem_allocator::mspan::SpanGeom;
use gomem_allocator::mspan::{MSpan, CLOBBER_PATTERN};

/// Large objects are scanned in pieces of at most this many bytes (Go's `maxObletBytes`, which
/// is 128 KiB). gomem uses a sixteenth of Go's size: a piece cannot be interrupted, so it bounds
/// how long a stop-the-world waits for an assisting goroutine to reach its safepoint, and how
/// long mark termination waits for a worker. Shading 1024 pointers to randomly placed objects
/// takes about 0.1 ms here; with Go's 16384 a `churn` pause (64 MiB live under an 8 MiB root
/// array) took 1.6 ms, and with 4096 still up to 0.6 ms.
pub const OBLET_BYTES: usize = 8 << 10;

/// [`drain`] asks `should_stop` after this many work items since it last asked…
const DRAIN_CHECK_ITEMS: u32 = 32;
/// …or once this much scan work was done since then, whichever comes first: one oblet's
/// worth, so a check happens at least after every second oblet.
const DRAIN_CHECK_WORK: u64 = OBLET_BYTES as u64;

/// Shade `ptr` (Go's `shade` → `findObject` → `greyobject`).
///
/// `ptr` may be any word: nil, an address outside the heap (another mapping, a stack, another
/// heap), a span's unused tail, or a pointer to anywhere inside an object. If it points into
/// the object area of an `InUse` span of `heap` and that object is unmarked, mark it, add its
/// slot size to `gcw.bytes_marked` and, unless its span is noscan (which makes it black at
/// once), queue its base on `gcw` for [`scan_object`].
///
/// Returns whether this call greyed (or blackened) an object; `false` for non-heap words and
/// for objects already marked, by this P or another.
///
/// # Safety
/// - `heap` is being marked by the collector whose work this is: its sweep finished before
///   marking began and no sweep starts before the last drain (the marking contract above).
///   A mark set outside a cycle makes the next cycle take the object as already scanned, so
///   what it reaches is freed while live.
/// - Whatever this queues on `gcw` is scanned or disposed to the marking collector's pool
///   before mark termination: a marked object whose queue entry is dropped is never scanned.
#[inline]
pub unsafe fn shade(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, ptr: usize) -> bool {
    // An empty cache: inlined, its test folds away (no address is on page `usize::MAX`).
    // SAFETY: the caller's contract; the cache lives only for this call.
    unsafe { shade_with(heap, gcw, pool, ptr, &mut SpanCache::new()) }
}

/// [`shade`] with a span cache: the one body of `shade` and of the scan loop's shading.
///
/// # Safety
/// - As for [`shade`]; `cache` holds only spans of `heap` found `InUse` during this marking
///   (see [`SpanCache`]).
#[inline(always)]
unsafe fn shade_with<'h>(
    heap: &'h MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    ptr: usize,
    cache: &mut SpanCache<'h>,
) -> bool {
    // Nil and the first page are never heap pointers (Go's `minLegalPointer`).
    if ptr < MIN_LEGAL_POINTER {
        return false;
    }
    // Green Tea first (Go's `tryDeferToSpanScan`): objects of spans with an inline mark block.
    if heap.span_inline_marks() {
        // SAFETY: our contract, which is the enqueue's.
        if let Some(r) = unsafe { greentea::try_defer_to_span_scan(heap, gcw, pool, ptr) } {
            return r;
        }
    }
    // None for foreign addresses, free or manual spans, and span tails past `limit`.
    let Some(obj) = cache.find_object(heap, ptr) else {
        return false;
    };
    // SAFETY: the caller's contract (heap being marked, gcw's work reaches the collector).
    unsafe { grey_object(gcw, pool, &obj) }
}

/// The span of the last lookup that found one, keyed by page: a one-entry page → span cache
/// for one [`drain`] call (or one [`shade`], [`scan_object`] or Green Tea span scan).
/// Objects allocated together share spans (binary-trees' nodes and their children, a list
/// built in one go), so consecutive lookups often land on the same page; a hit skips the
/// arena index, the `spans[]` entry, the span's state and its geometry.
///
/// Why a cached span stays right: a span seen `InUse` while marking stays `InUse`, with the
/// same geometry, until the next sweep, which starts after the last [`drain`] of the cycle (the
/// module's contract: spans change only while `Dead`, and only sweeping frees them). A cache
/// lives inside one call of `drain`, `shade` or `scan_object`, which all run within one
/// marking, so it never outlives that. It must not be kept across calls (say in [`GcWork`],
/// which outlives cycles) without being cleared before every mark.
struct SpanCache<'h> {
    /// `addr >> PAGE_SHIFT` of the lookup that filled `hit`; `usize::MAX` when empty.
    page: usize,
    hit: Option<(&'h MSpan, SpanGeom)>,
}

impl<'h> SpanCache<'h> {
    #[inline(always)]
    fn new() -> Self {
        SpanCache { page: usize::MAX, hit: None }
    }

    /// Whether `addr` is on the cached page.
    #[inline(always)]
    fn covers(&self, addr: usize) -> bool {
        addr >> PAGE_SHIFT == self.page
    }

    /// [`MHeap::span_geom_of_heap`], from the cache when `addr` is on its page.
    #[inline(always)]
    fn span_geom_of_heap(&mut self, heap: &'h MHeap, addr: usize) -> Option<(&'h MSpan, SpanGeom)> {
        if self.covers(addr) {
            if let Some((s, g)) = self.hit {
                // The page lies in the span (at or after its first page), so `addr >= base`;
                // only the tail past `limit` is left to test.
                return (addr < g.limit).then_some((s, g));
            }
        }
        let found = heap.span_geom_of_heap(addr)?;
        self.page = addr >> PAGE_SHIFT;
        self.hit = Some(found);
        Some(found)
    }

    /// [`MHeap::find_heap_object`], from the cache when `addr` is on its page.
    #[inline(always)]
    fn find_object(&mut self, heap: &'h MHeap, addr: usize) -> Option<HeapObject<'h>> {
        let (span, geom) = self.span_geom_of_heap(heap, addr)?;
        let index = geom.obj_index(addr);
        Some(HeapObject { span, index, base: geom.obj_base(index), geom })
    }
}

/// Mark `obj` and queue it (Go's `greyobject`), with the geometry its lookup read.
///
/// # Safety
/// - As for [`shade`]; `obj` was found in `heap` by this marking.
#[inline(always)]
unsafe fn grey_object(gcw: &mut GcWork, pool: &WorkPool, obj: &HeapObject<'_>) -> bool {
    // SAFETY: the caller's contract: `heap` is being marked and the object is queued below on
    // a `gcw` whose work reaches the collector (or it is noscan, black at once).
    if !unsafe { obj.span.try_mark(obj.index) } {
        return false;
    }
    gcw.bytes_marked += obj.geom.elemsize as u64;
    if !obj.geom.noscan() {
        gcw.put(pool, obj.base);
    }
    true
}

/// Scan one work item (Go's `scanobject`) and shade every pointer it holds.
///
/// `b` is what [`shade`] queued: the base of a scan object (the slot base, header included, for
/// objects over 512 bytes), or an oblet start `base + k * OBLET_BYTES` (k ≥ 1) queued by the
/// first scan of a large object. Visiting the base of a large object over [`OBLET_BYTES`]
/// queues its other oblets and scans only the first [`OBLET_BYTES`].
///
/// Like Go, pointers back into the piece being scanned (`[b, b + n)`, the object or the oblet)
/// are skipped without a lookup: the object is already marked.
///
/// Adds to `gcw.heap_scan_work` the offset from `b` just past the last pointer slot visited (0
/// when there is none), as Go does: scalar tails cost nothing. `bytes_marked` was counted when
/// the object was greyed.
///
/// An address outside `InUse` scan spans, or one inside a large or header object that is
/// neither its base nor an oblet start, is ignored (and asserts in debug builds): the queue
/// only ever holds those. For objects of at most 512 bytes the slot-base check is debug-only. For a header object
/// whose header holds the `clobberfree` pattern (a freed slot reached through a dangling
/// pointer) the scan is skipped; the sweeper reports the slot as a zombie.
///
/// # Safety
/// - As for [`shade`].
/// - `b` was queued by [`shade`] (or is an oblet start of such an object) in this cycle: the
///   scan reads the object's pointer slots, and reading a slot that mutators write without
///   atomics, or one of freed memory, would be a data race.
pub unsafe fn scan_object(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, b: usize) {
    // SAFETY: the caller's contract; the cache lives only for this call.
    unsafe { scan_object_with(heap, gcw, pool, b, &mut SpanCache::new()) }
}

/// [`scan_object`] with a span cache, for `b`'s lookup and its pointers'.
///
/// # Safety
/// - As for [`scan_object`]; `cache` as for [`shade_with`].
#[inline(always)]
unsafe fn scan_object_with<'h>(
    heap: &'h MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    b: usize,
    cache: &mut SpanCache<'h>,
) {
    let Some((span, g)) = cache.span_geom_of_heap(heap, b) else {
        // Loom models have no heap (its metadata is mapped memory, which loom cannot track):
        // they queue foreign words as grey objects, so this is expected there.
        #[cfg(not(loom))]
        debug_assert!(false, "scan_object({b:#x}): not in an InUse span");
        return;
    };
    if g.noscan() {
        debug_assert!(false, "scan_object({b:#x}): noscan span");
        return;
    }
    // The span was InUse when looked up and stays so while marking (module docs, "The
    // collector's contract"); the slot was greyed from a pointer the mutator holds, so it is
    // allocated, and its metadata (header, heap bits, large type) was written before that
    // pointer was published. Our Acquire load of the pointer (or the root hand-over)
    // synchronised with that publication, so the metadata is visible here.
    if g.has_span_heap_bits() {
        // Objects of at most 512 bytes (Go's `heapBitsInSpan` case of `typePointersOfUnchecked`):
        // the queue holds only slot bases (shade queues `obj_base(obj_index(p))`), so the
        // re-derivation is a debug check.
        debug_assert!(g.obj_base(g.obj_index(b)) == b, "scan_object({b:#x}): not a slot base");
        // SAFETY: as above; `g` was read after the span was seen InUse.
        let mask = unsafe { span.heap_bits_small(&g, b) };
        // Scan work: up to just past the last pointer word, as the general path below counts
        // it (Go's `scanobject` adds `i + PtrSize` for the last pointer word `i`; for a mask
        // that is `Len64(mask) * 8`).
        gcw.heap_scan_work += ((u64::BITS - mask.leading_zeros()) as usize * PTR_SIZE) as u64;
        // SAFETY: the mask's words are pointer slots of this allocated object; the caller's
        // contract is shade's.
        unsafe { scan_slots(heap, gcw, pool, b, g.elemsize, mask, cache) };
        return;
    }
    // The range to scan, as `[from, from + n)` of the data of the object at `obj`.
    let (obj, from, n) = if g.is_large() {
        let (base, elemsize) = (g.base, g.elemsize);
        if elemsize > OBLET_BYTES {
            if b == base {
                let mut oblet = base + OBLET_BYTES;
                while oblet < g.limit {
                    gcw.put(pool, oblet);
                    oblet += OBLET_BYTES;
                }
            }
            debug_assert!((b - base) % OBLET_BYTES == 0, "scan_object({b:#x}): not an oblet");
            (base, b - base, (base + elemsize - b).min(OBLET_BYTES))
        } else {
            debug_assert!(b == base, "scan_object({b:#x}): not the object base");
            (base, 0, elemsize)
        }
    } else {
        // A header object (over 512 bytes). The slot check stays in release builds here: a
        // wrong base would read a non-header word as a type pointer, and its multiply is
        // nothing beside scanning 512 bytes or more.
        if g.obj_base(g.obj_index(b)) != b {
            debug_assert!(false, "scan_object({b:#x}): not a slot base");
            return;
        }
        // SAFETY: a header span's slot starts with its aligned header word, inside the
        // mapped pages of this InUse span.
        let header = unsafe { load_word(b) };
        if header as u64 == CLOBBER_PATTERN {
            return;
        }
        (b, 0, g.elemsize)
    };
    // For a header object the offsets are of its data (slot + 8); `from` is 0 then, and the
    // whole slot including the header is the self-pointer range.
    let mut last_slot = None;
    let mut batch = ShadeBatch::new();
    let mut visit = |slot: usize| {
        last_slot = Some(slot);
        // SAFETY: `slot` is a pointer slot of an allocated object of an InUse span: aligned,
        // mapped, accessed by mutators only as whole words.
        let v = unsafe { load_word(slot) };
        if v != 0 && v.wrapping_sub(b) >= n {
            // SAFETY: this scan's own contract, which is shade's.
            unsafe { batch.add(heap, gcw, pool, v, cache) };
        }
    };
    // SAFETY: as above (the span is InUse, the object allocated, its metadata visible).
    unsafe { span.for_each_ptr_slot(obj, from, from + n, &mut visit) };
    // SAFETY: as above.
    unsafe { batch.flush(heap, gcw, pool, cache) };
    if let Some(s) = last_slot {
        gcw.heap_scan_work += (s + PTR_SIZE - b) as u64;
    }
}

/// Shade what the words of the object at `b` selected by `mask` hold (bit `i`: the word at
/// `b + 8 * i`), skipping nil and pointers back into `[b, b + n)`: the inner loop of Go's
/// `scanobject` for an object whose pointer mask was read in one go.
///
/// # Safety
/// - As for [`scan_object`]; every word `mask` selects is a pointer slot of the allocated
///   object at `b`.
#[inline(always)]
unsafe fn scan_slots<'h>(
    heap: &'h MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    b: usize,
    n: usize,
    mask: u64,
    cache: &mut SpanCache<'h>,
) {
    // No `ShadeBatch` here: objects this small hold a few pointers (binary-trees' nodes two),
    // and measured on the mark benches the batch's extra `spans[]` load per pointer cost more
    // than its prefetch won (see `ShadeBatch`).
    let mut m = mask;
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        // SAFETY: a pointer slot of an allocated object of an InUse span (the caller's
        // contract): aligned, mapped, accessed by mutators only as whole words.
        let v = unsafe { load_word(b + i * PTR_SIZE) };
        if v != 0 && v.wrapping_sub(b) >= n {
            // SAFETY: the caller's contract, which is shade's.
            unsafe { shade_with(heap, gcw, pool, v, cache) };
        }
    }
}

/// Pointers one scan found, held back so that their lookups' misses overlap.
const SHADE_BATCH: usize = 8;

/// The pointers of one object, shaded in batches: first every pointer's span is prefetched
/// (its `spans[]` entry loaded, the `MSpan`'s first line prefetched: the fields `shade`
/// reads and, up to 128 objects, the mark bits), then they are shaded. Go's TODO in
/// `mwbbuf.go` suggests this for the barrier buffer ("two passes where the first just
/// prefetches the mark bits"). Shading one at a time, each lookup waits for the previous
/// pointer's mark-bit RMW (a locked instruction on x86-64, after which no later load starts),
/// so the span misses of an object's pointers were paid one after the other.
///
/// Used for objects over 512 bytes and oblets (pointer arrays, whose targets are anywhere):
/// there it cut `mark_array/1048575` by about 8 %. For objects with span heap bits it cost
/// 5–10 % on the list and tree benches (an extra `spans[]` load per pointer for at most a
/// handful of pointers), so `scan_slots` shades directly.
struct ShadeBatch {
    ptrs: [usize; SHADE_BATCH],
    len: usize,
}

impl ShadeBatch {
    #[inline(always)]
    fn new() -> Self {
        ShadeBatch { ptrs: [0; SHADE_BATCH], len: 0 }
    }

    /// Prefetch `v`'s span and queue it; a full batch is shaded first.
    ///
    /// # Safety
    /// - As for [`shade`], for `v` and for everything queued before.
    #[inline(always)]
    unsafe fn add<'h>(
        &mut self,
        heap: &'h MHeap,
        gcw: &mut GcWork,
        pool: &WorkPool,
        v: usize,
        cache: &mut SpanCache<'h>,
    ) {
        if self.len == SHADE_BATCH {
            // SAFETY: the caller's contract.
            unsafe { self.flush(heap, gcw, pool, cache) };
        }
        // A pointer into the cached span needs no lookup, so no prefetch.
        if !cache.covers(v) {
            if let Some(s) = heap.span_of(v) {
                prefetch(s as *const MSpan as usize);
            }
        }
        self.ptrs[self.len] = v;
        self.len += 1;
    }

    /// Shade everything queued.
    ///
    /// # Safety
    /// - As for [`shade`], for everything queued.
    #[inline(always)]
    unsafe fn flush<'h>(
        &mut self,
        heap: &'h MHeap,
        gcw: &mut GcWork,
        pool: &WorkPool,
        cache: &mut SpanCache<'h>,
    ) {
        for &v in &self.ptrs[..self.len] {
            // SAFETY: the caller's contract.
            unsafe { shade_with(heap, gcw, pool, v, cache) };
        }
        self.len = 0;
    }
}

/// Drain mark work (Go's `gcDrain`, or `gcDrainN` with a budget): take work from `gcw`, then
/// from the pool, and scan it, until
/// - no local or pool work is left (other Ps may still hold some: the termination check's
///   business), or
/// - `budget` scan-work units were done by this call (a mark assist paying its debt; like Go,
///   the last object is finished, so the budget may be overshot by one work item), or
/// - `should_stop()` returns true. It is asked on entry and then after every 32 items or 8 KiB
///   of scan work (Go's preemption and idle-worker checks).
///
/// Whenever the pool is dry, some local work is offered to other Ps first
/// ([`GcWork::balance`]). Returns the scan work done by this call, which is also in
/// `gcw.heap_scan_work`.
///
/// # Safety
/// - As for [`scan_object`], for every entry of `gcw` and `pool`: each was queued by
///   [`shade`] on `heap` in this cycle.
pub unsafe fn drain(
    heap: &MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    budget: Option<u64>,
    should_stop: &dyn Fn() -> bool,
) -> u64 {
    let start = gcw.heap_scan_work;
    let done = |gcw: &GcWork| gcw.heap_scan_work.saturating_sub(start);
    let mut items_since_check = DRAIN_CHECK_ITEMS;
    let mut work_at_check = 0;
    let mut ahead = PrefetchRing::new();
    // One span cache for this call: it lies within one marking (see `SpanCache`).
    let mut cache = SpanCache::new();
    loop {
        let work = done(gcw);
        if budget.is_some_and(|b| work >= b) {
            break;
        }
        if items_since_check >= DRAIN_CHECK_ITEMS || work - work_at_check >= DRAIN_CHECK_WORK {
            if should_stop() {
                break;
            }
            items_since_check = 0;
            work_at_check = work;
        }
        // Keep work visible to other drainers (Go checks `work.full == 0` first; `balance`
        // does). Go balances before every object; with our mutex-guarded pool, two drainers
        // doing that hand half a buffer back and forth through the lock for every object, so
        // we balance on the stop-check cadence instead (every DRAIN_CHECK_ITEMS objects).
        if items_since_check == 0 {
            gcw.balance(pool);
        }
        // Take work into the prefetch ring until it is full (or no work is left), then scan
        // its oldest entry, whose memory has had the most time to arrive.
        let b = match gcw.try_get(pool) {
            Some(b) => match ahead.push(b) {
                Some(oldest) => oldest,
                None => continue,
            },
            None => match ahead.pop() {
                Some(oldest) => oldest,
                None => {
                    // No object work: Green Tea's spans come after objects (Go's gcDrain).
                    let Some(s) = gcw.try_get_span(pool) else { break };
                    // SAFETY: `s` came from a span queue of `gcw` or `pool`, queued by
                    // `shade` on `heap` in this cycle (the caller's guarantee).
                    unsafe { greentea::scan_span(heap, gcw, pool, s) };
                    items_since_check += 1;
                    continue;
                }
            },
        };
        // SAFETY: `b` came from `gcw` or `pool`, whose entries the caller guarantees were queued
        // by `shade` on `heap` in this cycle.
        unsafe { scan_object_with(heap, gcw, pool, b, &mut cache) };
        items_since_check += 1;
    }
    // Stopped early: the entries still in the ring are grey; queue them again.
    while let Some(b) = ahead.pop() {
        gcw.put(pool, b);
    }
    done(gcw)
}

/// How many work items [`drain`] takes ahead of the one it scans.
const PREFETCH_DISTANCE: usize = 8;

/// A small FIFO of work items whose memory has been prefetched (the prefetch buffer of
/// Boehm's and OpenJDK's markers; Go's classic marker prefetches only in `greyobject`).
///
/// A pointer-chasing marker spends most of its time waiting for the first word of each
/// object. Work buffers are LIFO, so prefetching at push time helps only the next pop; taking
/// items a few places ahead and prefetching them as they enter this ring overlaps the misses
/// of up to [`PREFETCH_DISTANCE`] objects instead.
struct PrefetchRing {
    slots: [usize; PREFETCH_DISTANCE],
    head: usize,
    len: usize,
}

impl PrefetchRing {
    fn new() -> Self {
        PrefetchRing { slots: [0; PREFETCH_DISTANCE], head: 0, len: 0 }
    }

    /// Prefetch `b` and add it; when the ring was full, the oldest entry comes back out.
    #[inline(always)]
    fn push(&mut self, b: usize) -> Option<usize> {
        prefetch(b);
        let tail = (self.head + self.len) % PREFETCH_DISTANCE;
        if self.len == PREFETCH_DISTANCE {
            let oldest = self.slots[self.head];
            self.slots[self.head] = b;
            self.head = (self.head + 1) % PREFETCH_DISTANCE;
            return Some(oldest);
        }
        self.slots[tail] = b;
        self.len += 1;
        None
    }

    /// Take the oldest entry.
    #[inline(always)]
    fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let b = self.slots[self.head];
        self.head = (self.head + 1) % PREFETCH_DISTANCE;
        self.len -= 1;
        Some(b)
    }
}

/// Hint that the cache line at `addr` will be read soon (a no-op off x86-64). A prefetch never
/// faults, whatever the address.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    // SAFETY: `prefetch` needs SSE, which every x86-64 CPU has (it is in the target's
    // baseline), and it never dereferences `addr` in the memory-safety sense: a prefetch of an
    // unmapped or invalid address is dropped by the CPU without a fault.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
