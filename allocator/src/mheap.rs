// This file is long because the heap's growth, span allocation, sweeping entry points
// and statistics share one lock and one set of invariants; splitting it along Go's files
// (`mheap.go`, `mgcsweep.go`'s heap half) is part of issue 13's layout work.

//! The page heap (Go's `mheap` in `mheap.go`). See the crate docs for the overview.
//!
//! [`MHeap`] owns the address space (arenas and the arena index), the page allocator, the span
//! structs, the 136 central lists and the heap-wide statistics. Page-level work happens under one
//! lock (`HeapLocked`, Go's `mheap.lock`), with two ways around it that Go also has: a P with a
//! non-empty [`PageCache`] allocates spans under 16 pages without the lock, and a P keeps a small
//! stash of span structs so that those allocations need no lock either.
//!
//! Growth (Go's `mheap.grow` / `sysAlloc`): the heap takes whole 4 MiB chunks from the current
//! arena reservation, mapping them read-write as it goes (Reserved → Prepared). When the
//! reservation runs out it reserves another 64 MiB-aligned range, asking first for the address
//! right after the previous one so the heap stays contiguous; if the kernel puts it elsewhere,
//! the leftover of the old range is mapped and given to the page allocator first. New pages
//! enter the page allocator as free *and released*: they cost no memory until touched.
//!
//! Returning memory (the scavenger's mechanism, Go's `scavengeOne`, `allocSpan`'s scavenging and
//! `scavengeAll`) lives in `scavenge.rs`; this file calls it from span allocation.
//!
//! Lock order: a central list's span sets are lock-free; the heap lock is a leaf except for the
//! page allocator inside it. Nothing is called with the heap lock held that takes another lock.

use crate::arena::{arena_meta_bytes, ArenaIndex, HeapArena};
use crate::consts::{ARENA_SIZE, PAGE_SIZE, PALLOC_CHUNK_BYTES};
use crate::error::AllocError;
use crate::fixalloc::SpanSlab;
use crate::mcache::MCache;
use crate::mcentral::MCentral;
use crate::mcentral::SpanSource;
pub use crate::mspan::HeapObject;
use crate::mspan::{MSpan, SpanInit, SpanState};
use crate::os::{Os, ReleaseMode};
use crate::pagealloc::{PageAlloc, PageCache};
use crate::scavenge::{ScavengeState, NO_GOAL};
use crate::sizeclass::{SizeClass, SpanClass, NUM_SPAN_CLASSES};
use crate::stats::{self, HeapStats, Ledger};
use crate::sync::{lock, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, RwLock};
use core::ptr::NonNull;
use std::sync::Arc;

/// Spans shorter than this come from a P's page cache when it has one (Go's
/// `pageCachePages / 4`).
pub const PAGE_CACHE_MAX_PAGES: usize = 16;

/// Heap options fixed at creation. The default is Go's, with the classic span layout.
#[derive(Clone, Debug, Default)]
pub struct HeapConfig {
    /// How released pages are returned to the OS (`GODEBUG=madvdontneed`).
    pub release_mode: ReleaseMode,
    /// Fill freed objects with a bad pattern at sweep (`GODEBUG=clobberfree=1`).
    pub clobberfree: bool,
    /// Give one-page spans of 16..=512-byte objects Green Tea's inline mark block
    /// ([`crate::spaninline`]; `GODEBUG=greenteagc=1`, Go's default layout). Their object
    /// counts are then [`SpanClass::objects_in`]`(true)`, and a collector marking the heap must
    /// mark them through the block (gomem's does). Off: the classic layout.
    pub span_inline_marks: bool,
}

/// The part of the heap under its lock.
pub(crate) struct HeapLocked {
    /// Destroyed explicitly when the heap drops (it returns its own OS metadata).
    pub(crate) pages: core::mem::ManuallyDrop<PageAlloc>,
    spans: SpanSlab,
    /// The current arena reservation not yet given to the page allocator: `[cur_base, cur_end)`,
    /// Reserved, unmapped.
    cur_base: usize,
    cur_end: usize,
    /// Every arena reservation `(base, len)`, for teardown.
    reservations: Vec<(usize, usize)>,
    /// Arena metadata blocks, for teardown.
    metas: Vec<*mut HeapArena>,
}

// SAFETY: the raw pointers are to heap-owned metadata; access is serialized by the heap lock.
unsafe impl Send for HeapLocked {}

/// The heap (Go's `mheap`).
#[doc(alias = "mheap")]
pub struct MHeap {
    pub(crate) os: Os,
    index: ArenaIndex,
    pub(crate) locked: Mutex<HeapLocked>,
    central: Box<[MCentral]>,
    /// The heap's sweep generation: +2 per GC cycle (see [`crate::mspan`]'s table).
    sweepgen: AtomicU32,
    /// Set while the collector marks: new objects are allocated black.
    alloc_black: AtomicBool,
    /// Set by [`MHeap::attach_collector`]: a collector now owns this heap's cycles, so no
    /// further cache may be made (every cache must be a P's, flushed at each cycle).
    collected: AtomicBool,
    clobberfree: AtomicBool,
    /// [`HeapConfig::span_inline_marks`], fixed at creation.
    pub(crate) span_inline_marks: bool,
    /// Whether sweeps may keep emptied spans for a cycle (see "Keeping empty spans" in the crate
    /// docs); in force only while no memory limit is set.
    keep_empty: AtomicBool,
    /// Calls inside [`MHeap::without_keeping_empty_spans`] now; no span is kept while any runs.
    keep_suppressed: AtomicUsize,
    /// Rotating start for [`MHeap::sweep_one`].
    sweep_cursor: AtomicUsize,
    /// One bit per span class that has ever had a span: the sweepers visit only those
    /// classes' central lists (a program touches a few dozen of the 136 classes, and probing
    /// the empty span sets of the rest costs a cache miss each, per sweep).
    used_classes: [AtomicU64; NUM_SPAN_CLASSES.div_ceil(64)],
    /// Held shared by every [`MHeap::sweep_one`] for the duration of one span's sweep, by every
    /// scavenge step for the duration of one release (`scavenge.rs`), and exclusively by
    /// [`MHeap::ledger`]. Sweepers and the scavenger are not goroutines, so they keep running
    /// while the world is stopped, and both update several counters and the page allocator in
    /// turn (a scavenge step even holds pages outside every ledger line while it releases them);
    /// the gate lets the ledger see only whole steps.
    pub(crate) ledger_gate: RwLock<()>,
    /// The scavenger's goals and counters (see `scavenge.rs`).
    pub(crate) scav: ScavengeState,
    /// The dummy span every empty mcache slot points at (Go's `emptymspan`).
    empty_span: Box<MSpan>,
    /// Heap-wide statistics.
    pub stats: HeapStats,
}

// SAFETY: all shared state is atomics, lock-protected, or lock-free span sets of heap-owned spans.
unsafe impl Sync for MHeap {}
// SAFETY: as above.
unsafe impl Send for MHeap {}

/// The address every zero-size allocation returns (Go's `zerobase`).
pub fn zerobase() -> NonNull<u8> {
    static ZEROBASE: u64 = 0;
    NonNull::from(&ZEROBASE).cast()
}

impl MHeap {
    /// Create a heap. Reserves the arena index and the page allocator's metadata (address space
    /// only); no arena is reserved until the first allocation.
    pub fn new(cfg: HeapConfig) -> Result<Arc<MHeap>, AllocError> {
        let os = Os::new(cfg.release_mode);
        let index = ArenaIndex::new(&os)?;
        let pages = PageAlloc::new(&os)?;
        let central = (0..NUM_SPAN_CLASSES)
            .map(|i| MCentral::new(SpanClass::from_index(i).expect("span class")))
            .collect();
        Ok(Arc::new(MHeap {
            os,
            index,
            locked: Mutex::new(HeapLocked {
                pages: core::mem::ManuallyDrop::new(pages),
                spans: SpanSlab::new(),
                cur_base: 0,
                cur_end: 0,
                reservations: Vec::new(),
                metas: Vec::new(),
            }),
            central,
            // Start at 4 so that `sg - 2` never wraps in the first cycles.
            sweepgen: AtomicU32::new(4),
            alloc_black: AtomicBool::new(false),
            collected: AtomicBool::new(false),
            clobberfree: AtomicBool::new(cfg.clobberfree),
            span_inline_marks: cfg.span_inline_marks,
            keep_empty: AtomicBool::new(true),
            keep_suppressed: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
            used_classes: core::array::from_fn(|_| AtomicU64::new(0)),
            ledger_gate: RwLock::new(()),
            scav: ScavengeState::default(),
            empty_span: Box::new(MSpan::new()),
            stats: HeapStats::default(),
        }))
    }

    /// A new per-P cache on this heap.
    ///
    /// # Panics
    /// Once a collector is attached ([`MHeap::attach_collector`]): the collector flushes the
    /// caches of its world's Ps at every cycle (Go's `prepareForSweep`), and a cache outside
    /// that world would keep its spans across the sweep generation's advance, allocating from
    /// them while the sweeper frees their slots. Make every P's cache first.
    pub fn new_cache(self: &Arc<Self>) -> MCache {
        // Relaxed: the flag guards against misuse, not memory; attaching happens-before the
        // collector's threads start, which is all the collector relies on.
        if self.collected.load(Ordering::Relaxed) {
            panic!(
                "MHeap::new_cache: a collector is attached to this heap; every cache must be \
                 one of its world's Ps' (made before the collector)"
            );
        }
        MCache::new(self.clone())
    }

    /// [`MHeap::new_cache`] without the check that no collector is attached.
    ///
    /// # Safety
    /// - While a collector runs cycles on this heap, the cache is flushed (`release_all`) at
    ///   each cycle's sweep termination before the sweepgen advances, as the collector does for
    ///   its Ps' caches; or no cycle runs while it holds spans (a test driving the collector by
    ///   hand).
    pub unsafe fn new_cache_unchecked(self: &Arc<Self>) -> MCache {
        MCache::new(self.clone())
    }

    /// Claim the heap for one collector (done by the collector's constructor): afterwards
    /// [`MHeap::new_cache`] panics, and a second claim panics. Go has one heap and one
    /// collector; here several heaps can live in a process, and each must have at most one.
    ///
    /// # Panics
    /// If a collector is already attached.
    pub fn attach_collector(&self) {
        // Relaxed: see `new_cache`.
        if self.collected.swap(true, Ordering::Relaxed) {
            panic!("MHeap::attach_collector: this heap already has a collector");
        }
    }

    /// Whether a collector is attached ([`MHeap::attach_collector`]).
    pub fn has_collector(&self) -> bool {
        self.collected.load(Ordering::Relaxed)
    }

    /// The OS layer (for failure injection in tests).
    pub fn os(&self) -> &Os {
        &self.os
    }

    /// The central list of a span class.
    #[inline(always)]
    pub(crate) fn central(&self, spc: SpanClass) -> &MCentral {
        &self.central[spc.index()]
    }

    pub(crate) fn empty_span(&self) -> NonNull<MSpan> {
        NonNull::from(&*self.empty_span)
    }

    /// The heap's current sweepgen.
    #[inline(always)]
    pub fn sweepgen(&self) -> u32 {
        // ORDERING: Acquire; pairs with the Release in `advance_sweepgen`.
        self.sweepgen.load(Ordering::Acquire)
    }

    /// Whether objects are being allocated black (the collector is marking).
    #[inline(always)]
    pub fn alloc_black(&self) -> bool {
        self.alloc_black.load(Ordering::Relaxed)
    }

    /// Turn allocate-black on or off (Go's `gcBlackenEnabled` as the allocator reads it). The
    /// collector switches it with the world stopped, so every P sees the new value before it
    /// allocates again.
    ///
    /// # Safety
    /// - The world of every P allocating from this heap is stopped, and the switch follows the
    ///   collector's phases: on from mark start (with the write barrier) to mark termination.
    ///   Off during mark, a new object is born white in an already-scanned world and freed
    ///   while live; on outside mark, new objects carry marks that the next cycle takes as
    ///   already scanned.
    pub unsafe fn set_alloc_black(&self, on: bool) {
        self.alloc_black.store(on, Ordering::Relaxed);
    }

    /// Whether sweeping clobbers freed objects.
    pub fn clobberfree(&self) -> bool {
        self.clobberfree.load(Ordering::Relaxed)
    }

    /// Turn `clobberfree` on or off.
    pub fn set_clobberfree(&self, on: bool) {
        self.clobberfree.store(on, Ordering::Relaxed);
    }

    /// Whether sweeps may keep a span they empty on its central list for one more cycle
    /// (default on; see "Keeping empty spans" in the crate docs). Whatever this says, no span
    /// is kept while a memory limit is set. Turning it off does not free spans kept already:
    /// the next sweep of each does. Returns the previous setting.
    pub fn set_keep_empty_spans(&self, on: bool) -> bool {
        self.keep_empty.swap(on, Ordering::Relaxed)
    }

    /// Run `f` with no emptied span kept, whatever [`set_keep_empty_spans`] says (for
    /// `debug.FreeOSMemory`'s cycle). Calls may overlap, from any threads: keeping resumes
    /// when the last one returns.
    ///
    /// [`set_keep_empty_spans`]: MHeap::set_keep_empty_spans
    pub fn without_keeping_empty_spans<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Resume<'a>(&'a AtomicUsize);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.keep_suppressed.fetch_add(1, Ordering::Relaxed);
        let _resume = Resume(&self.keep_suppressed);
        f()
    }

    /// Every arena reservation of this heap as `(base, len)`, in the order made. Memory outside
    /// these ranges is not heap memory (metadata lives elsewhere); used to measure the heap's
    /// resident pages from the OS's side ([`crate::procfs`]).
    pub fn reservations(&self) -> Vec<(usize, usize)> {
        lock(&self.locked).reservations.clone()
    }

    // ---------------------------------------------------------------- lookup

    /// The arena metadata of `addr`, if it is in one of this heap's arenas.
    #[inline(always)]
    pub fn arena_of(&self, addr: usize) -> Option<&HeapArena> {
        self.index.arena_of(addr)
    }

    /// The span recorded for `addr` (Go's `spanOf`): any address in a heap arena whose page
    /// belongs to a span; may be a dead or stale span, so prefer [`MHeap::span_of_heap`].
    #[inline]
    pub fn span_of(&self, addr: usize) -> Option<&MSpan> {
        let a = self.index.arena_of(addr)?;
        // SAFETY: span pointers in the arena map point into the span slab, whose structs live
        // as long as the heap (fixalloc invariant).
        unsafe { a.span_at(addr).as_ref() }
    }

    /// The InUse span whose object area holds `addr` (Go's `spanOfHeap`), interior pointers
    /// included; `None` for foreign addresses, free pages and span tails.
    #[inline]
    pub fn span_of_heap(&self, addr: usize) -> Option<&MSpan> {
        let s = self.span_of(addr)?;
        if s.state() != SpanState::InUse || !s.contains(addr) {
            return None;
        }
        Some(s)
    }

    /// The object holding `addr` (Go's `findObject`): its span, slot index and slot base.
    #[inline]
    pub fn find_object(&self, addr: usize) -> Option<(&MSpan, usize, usize)> {
        self.find_heap_object(addr).map(|o| (o.span, o.index, o.base))
    }

    // ---------------------------------------------------------------- growth

    /// Reserve more arena space and add at least `npages` pages to the page allocator (Go's
    /// `mheap.grow`). Returns the bytes added to the heap (all free and released). On error
    /// nothing observable changes.
    fn grow(&self, h: &mut HeapLocked, npages: usize) -> Result<usize, AllocError> {
        let ask = npages
            .checked_mul(PAGE_SIZE)
            .and_then(|b| b.checked_next_multiple_of(PALLOC_CHUNK_BYTES))
            .ok_or(AllocError::TooLarge { bytes: usize::MAX })?;
        let mut grown = 0;
        if h.cur_end - h.cur_base < ask {
            let size = ask
                .checked_next_multiple_of(ARENA_SIZE)
                .ok_or(AllocError::TooLarge { bytes: ask })?;
            let hint = (h.cur_end != 0).then_some(h.cur_end);
            let base = self.os.reserve(size, ARENA_SIZE, hint)?;
            // Arena metadata for each 64 MiB.
            let mut metas = Vec::new();
            for a in (base..base + size).step_by(ARENA_SIZE) {
                match ArenaIndex::new_arena_meta(&self.os) {
                    Ok((m, _)) => metas.push((a, m)),
                    Err(e) => {
                        for (_, m) in metas {
                            // SAFETY: the metadata was just mapped and is not yet registered.
                            unsafe { self.os.unmap(m as usize, arena_meta_bytes()) };
                        }
                        // SAFETY: the reservation was just made and is unused.
                        unsafe { self.os.unmap(base, size) };
                        return Err(e.into());
                    }
                }
            }
            for &(a, m) in &metas {
                self.index.register(a, m);
                h.metas.push(m);
                stats::add(&self.stats.metadata, arena_meta_bytes());
            }
            h.reservations.push((base, size));
            if base == h.cur_end {
                h.cur_end += size;
            } else {
                // Discontiguous: the old range's leftover goes to the page allocator first.
                if h.cur_end > h.cur_base {
                    let (lb, ll) = (h.cur_base, h.cur_end - h.cur_base);
                    // SAFETY: the leftover of the heap's previous reservation.
                    let mapped = unsafe { self.os.map(lb, ll) }.is_ok();
                    if mapped && self.grow_pages(h, lb, ll).is_ok() {
                        grown += ll;
                    }
                }
                h.cur_base = base;
                h.cur_end = base + size;
            }
        }
        let v = h.cur_base;
        // SAFETY: `[cur_base, cur_end)` is inside the heap's current reservation and `ask` fits.
        unsafe { self.os.map(v, ask) }?;
        self.grow_pages(h, v, ask)?;
        h.cur_base += ask;
        Ok(grown + ask)
    }

    /// Give `[base, base + len)`, just mapped (Prepared), to the page allocator: free and
    /// released, as Go's `sysMap` into `heapReleased` plus `pages.grow`.
    fn grow_pages(&self, h: &mut HeapLocked, base: usize, len: usize) -> Result<(), AllocError> {
        let meta0 = h.pages.metadata_bytes();
        let r = h.pages.grow(&self.os, base, len);
        // Metadata mapped before a failure stays mapped (and is reused by the next attempt).
        stats::add(&self.stats.metadata, h.pages.metadata_bytes() - meta0);
        r?;
        stats::add(&self.stats.heap_mapped, len);
        stats::add(&self.stats.heap_released, len);
        Ok(())
    }

    /// A span struct from the slab, counting any chunk the slab had to add as metadata.
    fn slab_alloc(&self, h: &mut HeapLocked) -> NonNull<MSpan> {
        let before = h.spans.bytes();
        let s = h.spans.alloc();
        stats::add(&self.stats.metadata, h.spans.bytes() - before);
        s
    }

    // ---------------------------------------------------------------- spans

    /// Allocate `npages` pages from the page allocator, growing the heap if needed. Returns the
    /// base and how many of its bytes had been released to the OS; adds any growth to `grown`.
    fn alloc_pages_locked(
        &self,
        h: &mut HeapLocked,
        npages: usize,
        grown: &mut usize,
    ) -> Result<(usize, usize), AllocError> {
        if let Some(r) = h.pages.alloc(npages) {
            return Ok(r);
        }
        *grown += self.grow(h, npages)?;
        h.pages
            .alloc(npages)
            .ok_or(AllocError::TooLarge { bytes: npages.saturating_mul(PAGE_SIZE) })
    }

    /// Allocate a span of `npages` pages for span class `spc` (Go's `mheap.alloc` /
    /// `allocSpan`), using `cache`'s page cache and span stash when it has them. The span is
    /// initialised and published InUse; it is owned by the caller.
    fn alloc_span_impl(
        &self,
        npages: usize,
        spc: SpanClass,
        cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError> {
        let mut got = None;
        let mut cache = cache;
        if npages < PAGE_CACHE_MAX_PAGES {
            if let Some((pc, stash)) = cache.as_mut() {
                if !stash.is_empty() {
                    if let Some(r) = pc.alloc(npages) {
                        got = Some((r, stash.pop().expect("stash")));
                    }
                }
            }
        }
        let mut grown = 0;
        let ((base, scav), s) = match got {
            Some(g) => g,
            None => {
                let mut h = lock(&self.locked);
                let r = match cache.as_mut() {
                    Some((pc, stash)) if npages < PAGE_CACHE_MAX_PAGES => {
                        // Refill the P's span stash and, if empty, its page cache, under one lock.
                        while stash.len() < 8 {
                            stash.push(self.slab_alloc(&mut h));
                        }
                        if pc.is_empty() {
                            **pc = h.pages.alloc_to_cache();
                            if pc.is_empty() {
                                grown += self.grow(&mut h, PAGE_CACHE_MAX_PAGES)?;
                                **pc = h.pages.alloc_to_cache();
                            }
                        }
                        match pc.alloc(npages) {
                            Some(r) => r,
                            None => self.alloc_pages_locked(&mut h, npages, &mut grown)?,
                        }
                    }
                    _ => self.alloc_pages_locked(&mut h, npages, &mut grown)?,
                };
                let s = match cache.as_mut() {
                    Some((_, stash)) if !stash.is_empty() => stash.pop().expect("stash"),
                    _ => self.slab_alloc(&mut h),
                };
                (r, s)
            }
        };
        // Go's allocSpan: decide whether to scavenge for what was just allocated (the memory
        // limit, or a heap growth past the retained goal) before the scavenged pages are used.
        self.alloc_time_scavenge(scav, grown);
        // Relaxed: see `sweep_one`, which acquires the sweepgen before it reads the bits.
        if !self.class_used(spc.index()) {
            self.used_classes[spc.index() / 64]
                .fetch_or(1 << (spc.index() % 64), Ordering::Relaxed);
        }
        // The span's scavenged pages are Ready again from here on (Go's `sysUsed`).
        stats::sub(&self.stats.heap_released, scav);
        self.init_span(s, base, npages, spc, scav);
        Ok(s)
    }

    /// Go's `initSpan`: geometry, zeroing decision, arena map, in-use bit, publication.
    fn init_span(
        &self,
        s: NonNull<MSpan>,
        base: usize,
        npages: usize,
        spc: SpanClass,
        scav: usize,
    ) {
        let bytes = npages * PAGE_SIZE;
        // Dirty if any part was used before, unless every page was released with MADV_DONTNEED
        // (which guarantees zero pages on the next touch).
        let mut dirty = false;
        let mut a = base;
        while a < base + bytes {
            let arena_end = (a / ARENA_SIZE + 1) * ARENA_SIZE;
            let end = arena_end.min(base + bytes);
            if let Some(ar) = self.index.arena_of(a) {
                dirty |= ar.bump_zeroed(a, end - a);
            }
            a = end;
        }
        let needzero = dirty && !(scav == bytes && self.os.released_pages_are_zero());
        let sc = spc.size_class();
        let inline_marks = self.span_inline_marks && spc.uses_inline_marks();
        let (elemsize, nelems, limit, div_mul) = if sc == SizeClass::LARGE {
            (bytes, 1, base + bytes, 0)
        } else {
            let n = spc.objects_in(self.span_inline_marks);
            (sc.size(), n, base + n * sc.size(), sc.div_magic())
        };
        // SAFETY: `s` came from the slab or a P's stash: Dead and owned by us.
        let span = unsafe { s.as_ref() };
        // SAFETY: as above, nobody else owns it.
        unsafe {
            span.init(SpanInit {
                base,
                npages,
                spanclass: spc,
                elemsize,
                nelems,
                limit,
                div_mul,
                sweepgen: self.sweepgen(),
                needzero,
                inline_marks,
            })
        };
        // Addressable first (a reused span was poisoned when freed), then the bitmap below.
        crate::poison::unpoison(base, bytes);
        if !spc.noscan() && sc.size() == 8 {
            // The 8-byte scan class holds one pointer per slot: its bitmap is all ones.
            let bits = span.heap_bits_addr();
            // SAFETY: the bitmap is the last 128 bytes of this one-page span, mapped and ours.
            unsafe {
                core::ptr::write_bytes(bits as *mut u8, 0xff, crate::consts::SPAN_HEAP_BITS_SIZE)
            };
        }
        // Go's `initInlineMarkBits`: the class, and clear bits (the page may be dirty).
        span.init_inline_mark_bits(spc);
        if sc != SizeClass::LARGE {
            // Slots become addressable one by one as they are handed out.
            crate::poison::poison(base, nelems * elemsize);
        }
        span.publish(SpanState::InUse);
        let ar = self.index.arena_of(base).expect("span in a heap arena");
        let mut p = base;
        while p < base + bytes {
            if let Some(ar) = self.index.arena_of(p) {
                ar.set_span(p, s.as_ptr());
            }
            p += PAGE_SIZE;
        }
        ar.set_in_use(base, true);
        if inline_marks {
            ar.set_inline_marks(base, true);
        }
        stats::add(&self.stats.heap_inuse, bytes);
        if sc != SizeClass::LARGE {
            stats::add(&self.stats.span_overhead, bytes - nelems * elemsize);
        }
    }

    /// Return a span's pages to the page allocator and its struct to the slab (Go's
    /// `freeSpan`). The span must hold no live objects and belong to no list or cache.
    fn free_span_impl(&self, s: NonNull<MSpan>) {
        // SAFETY: the caller owns the span and gives it up.
        let span = unsafe { s.as_ref() };
        let base = span.base();
        let npages = span.npages();
        let bytes = npages * PAGE_SIZE;
        if !span.is_large() {
            stats::sub(&self.stats.span_overhead, bytes - span.nelems() * span.elemsize());
        }
        stats::sub(&self.stats.heap_inuse, bytes);
        if let Some(ar) = self.index.arena_of(base) {
            ar.set_in_use(base, false);
            ar.set_inline_marks(base, false);
        }
        span.publish(SpanState::Dead);
        crate::poison::poison(base, bytes);
        let mut h = lock(&self.locked);
        h.pages.free(base, npages);
        // SAFETY: `s` is this heap's span struct, Dead now and handed back by its owner.
        unsafe { h.spans.free(s) };
    }

    /// Give a P's unused span structs and pages back (when the P's cache is released).
    pub(crate) fn return_cache_resources(
        &self,
        pc: &mut PageCache,
        stash: &mut Vec<NonNull<MSpan>>,
    ) {
        let mut h = lock(&self.locked);
        pc.flush(&mut h.pages);
        for s in stash.drain(..) {
            // SAFETY: a P's stash holds Dead span structs taken from this heap's slab.
            unsafe { h.spans.free(s) };
        }
    }

    // ---------------------------------------------------------------- large objects

    /// Allocate a span for one large object of `size` bytes (Go's `mcache.allocLarge`): zeroed
    /// unless `zero` is false (pointer-free requests only),
    /// with its type published after zeroing, on the class-0 full swept list so the sweeper
    /// visits it.
    pub(crate) fn alloc_large(
        &self,
        size: usize,
        noscan: bool,
        ty: Option<&'static crate::typedesc::TypeDesc>,
        zero: bool,
        cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError> {
        debug_assert!(zero || noscan, "only pointer-free memory may be left uncleared");
        let npages = size
            .checked_add(PAGE_SIZE - 1)
            .map(|s| s / PAGE_SIZE)
            .ok_or(AllocError::TooLarge { bytes: size })?;
        if npages > (1usize << (crate::consts::HEAP_ADDR_BITS - crate::consts::PAGE_SHIFT)) {
            return Err(AllocError::TooLarge { bytes: size });
        }
        let spc = SpanClass::new(SizeClass::LARGE, noscan);
        let s = self.alloc_span_impl(npages, spc, cache)?;
        // SAFETY: freshly allocated span, owned by us until pushed.
        let span = unsafe { s.as_ref() };
        // SAFETY: as above: the heap owns the new span's allocation state.
        let needzero = unsafe {
            span.with_local(|l| {
                l.freeindex = 1;
                l.alloc_count = 1;
                l.alloc_cache = 0;
                l.needzero
            })
        };
        // The object area ends at the requested size, rounded to a word.
        span.set_limit(span.base() + size.next_multiple_of(8));
        if needzero && zero {
            // SAFETY: the span's pages are mapped and exclusively ours until published.
            unsafe { crate::memclr::memclr(span.base() as *mut u8, size) };
        }
        span.set_large_type(if noscan { None } else { ty });
        if self.alloc_black() {
            // SAFETY: allocate-black is on only while the collector marks; the new object holds
            // no pointers yet, so it is black at once and needs no queueing.
            unsafe { span.try_mark(0) };
        }
        stats::add64(&self.stats.large_allocs, 1);
        stats::add64(&self.stats.heap_live, (npages * PAGE_SIZE) as u64);
        stats::add64(&self.stats.large_alloc_bytes, (npages * PAGE_SIZE) as u64);
        stats::add64(&self.stats.heap_alloc, (npages * PAGE_SIZE) as u64);
        span.set_sweepgen(self.sweepgen());
        self.central(spc).full_swept(self.sweepgen()).push(s);
        Ok(s)
    }

    // ---------------------------------------------------------------- sweeping

    /// Start a new sweep cycle (Go's `sweepgen += 2` in `gcSweep`): every span becomes
    /// "needs sweeping", and the swept and unswept halves of each central list trade roles.
    ///
    /// # Safety
    /// - The world is stopped: no P allocates, no sweeper runs, and every span of the previous
    ///   cycle has been swept (the unswept sets are empty).
    /// - The caller will make every P release its cached spans (Go's `prepareForSweep`) before
    ///   that P allocates again.
    ///
    /// Mark termination is also where Go records `lastHeapInUse` and starts a new scavenge
    /// generation (`scav.index.nextGen`); both happen here, so the scavenger's density
    /// heuristic and retained-memory goal follow the sweep generations exactly.
    pub unsafe fn advance_sweepgen(&self) {
        // ORDERING: Release; pairs with the Acquire in `sweepgen`.
        self.sweepgen.fetch_add(2, Ordering::Release);
        let inuse = stats::get(&self.stats.heap_inuse);
        self.stats.last_heap_inuse.store(inuse, Ordering::Relaxed);
        lock(&self.locked).pages.next_gen();
    }

    /// Bytes the pacer considers live (Go's `heapLive`, see [`HeapStats::heap_live`]).
    pub fn heap_live(&self) -> u64 {
        stats::get64(&self.stats.heap_live)
    }

    /// Scannable bytes expected next cycle (Go's `heapScan`, see [`HeapStats::heap_scan`]).
    /// Allocations still counted in some P's cache are not included.
    pub fn heap_scan(&self) -> u64 {
        stats::get64(&self.stats.heap_scan)
    }

    /// Set `heap_scan` to the scan work the cycle that just ended did (Go's `resetLive`).
    pub fn reset_heap_scan(&self, scan_work: u64) {
        self.stats.heap_scan.store(scan_work, Ordering::Relaxed);
    }

    /// Set `heap_live` to the bytes marked by the cycle that just ended (Go's `resetLive`), with
    /// the world stopped at mark termination.
    pub fn reset_heap_live(&self, marked: u64) {
        self.stats.heap_live.store(marked, Ordering::Relaxed);
    }

    /// Sweep one span that needs it, from any central list (Go's `sweepone`). Returns `None`
    /// when there is nothing left to sweep, else the number of pages returned to the page heap
    /// (0 if the span stayed in use).
    ///
    /// # Panics
    /// If a collector is attached ([`MHeap::attach_collector`]): its mark start must know of
    /// every sweep outside a P, which a sweep called here would escape (issue 12, S5); the
    /// collector sweeps its heap itself (`Collector::gc` finishes the sweep).
    pub fn sweep_one(&self) -> Option<usize> {
        self.refuse_when_collected("sweep_one");
        // SAFETY: no collector is attached, so no mark can start during this sweep.
        unsafe { self.sweep_one_unchecked() }
    }

    /// Panic if a collector owns this heap's sweeping (see [`MHeap::sweep_one`]).
    fn refuse_when_collected(&self, what: &str) {
        if self.has_collector() {
            panic!(
                "MHeap::{what}: this heap has a collector, which sweeps it; a sweep it does not \
                 know of could run into its next mark (use Collector::gc or Runtime::gc)"
            );
        }
    }

    /// [`MHeap::sweep_one`] without the check that no collector is attached.
    ///
    /// # Safety
    /// If a collector is attached, the caller is that collector and has registered this sweep
    /// so that its mark start waits for it (the collector's `ActiveSweep`, Go's
    /// `sweep.active.begin`), or the world is stopped at sweep termination.
    pub unsafe fn sweep_one_unchecked(&self) -> Option<usize> {
        let _gate = self.ledger_gate.read();
        // Acquire the sweepgen before reading `used_classes`: a span needs sweeping only in a
        // generation later than the one it was made in, and the Release of `advance_sweepgen`
        // comes after (stop-the-world) the allocation that set its class's bit, so every class
        // with a span to sweep is seen as used.
        let _ = self.sweepgen();
        let start = self.sweep_cursor.load(Ordering::Relaxed);
        for k in 0..NUM_SPAN_CLASSES {
            let i = (start + k) % NUM_SPAN_CLASSES;
            if !self.class_used(i) {
                continue;
            }
            if let Some(n) = self.central[i].sweep_one(self) {
                self.sweep_cursor.store(i, Ordering::Relaxed);
                return Some(n);
            }
        }
        None
    }

    /// Whether span class `i` has ever had a span (see `used_classes`).
    #[inline]
    fn class_used(&self, i: usize) -> bool {
        self.used_classes[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Sweep everything that needs sweeping (Go's `finishsweep_m`); returns pages freed.
    ///
    /// # Panics
    /// If a collector is attached (see [`MHeap::sweep_one`]).
    pub fn sweep_all(&self) -> usize {
        self.refuse_when_collected("sweep_all");
        let mut freed = 0;
        // SAFETY: no collector is attached (checked above).
        while let Some(n) = unsafe { self.sweep_one_unchecked() } {
            freed += n;
        }
        freed
    }

    // ---------------------------------------------------------------- statistics

    /// The ledger (see [`crate::stats`]), with the free slots of the given caches. For an exact
    /// balance no P may allocate concurrently and every P's cache must be passed in (or have
    /// been released).
    pub fn ledger(&self, caches: &[&MCache]) -> Ledger {
        let _gate = self.ledger_gate.write();
        let st = &self.stats;
        let mut small_in_use = 0u64;
        let mut total_alloc = stats::get64(&st.large_alloc_bytes);
        let mut mallocs = stats::get64(&st.tiny_allocs) + stats::get64(&st.large_allocs);
        let mut frees = stats::get64(&st.large_frees);
        for c in 1..crate::sizeclass::NUM_SIZE_CLASSES {
            let a = stats::get64(&st.small_allocs[c]);
            let f = stats::get64(&st.small_frees[c]);
            mallocs += a;
            frees += f;
            let size = SizeClass::from_index(c).expect("class").size() as u64;
            small_in_use += (a - f) * size;
            total_alloc += a * size;
        }
        let large_in_use = stats::get64(&st.large_alloc_bytes) - stats::get64(&st.large_free_bytes);
        let (mut cache_free, mut cache_used, mut cache_mallocs) = (0usize, 0usize, 0u64);
        let (mut pc_free, mut pc_scav) = (0usize, 0usize);
        for c in caches {
            let (f, u, m) = c.cached_span_bytes();
            cache_free += f;
            cache_used += u;
            cache_mallocs += m;
            pc_free += c.page_cache_free_pages();
            pc_scav += c.page_cache_scav_pages();
        }
        let h = lock(&self.locked);
        let free_pages = h.pages.free_pages() + pc_free;
        let scav_pages = h.pages.scavenged_pages() + pc_scav;
        let metadata = stats::get(&st.metadata);
        drop(h);
        Ledger {
            heap_mapped: stats::get(&st.heap_mapped),
            in_use: small_in_use as usize + large_in_use as usize + cache_used,
            cache_free,
            central_free: stats::get(&st.central_free),
            span_overhead: stats::get(&st.span_overhead),
            heap_free: (free_pages - scav_pages) * PAGE_SIZE + stats::get(&st.kept_empty),
            released: scav_pages * PAGE_SIZE,
            metadata,
            mallocs: mallocs + cache_mallocs,
            frees,
            total_alloc: total_alloc + cache_used as u64,
            tiny_allocs: stats::get64(&st.tiny_allocs)
                + caches.iter().map(|c| c.unflushed_tiny_allocs()).sum::<u64>(),
        }
    }

    /// Walk every InUse span and check the counters against it (invariant checker, O(heap)).
    /// Returns a description of the first disagreement.
    ///
    /// # Safety
    /// - No P allocates and nothing sweeps meanwhile (the world is stopped and the collector
    ///   is not sweeping, or the caller is the heap's only user), and every cache has been
    ///   released: the walk reads each span's allocation state, which its owner writes
    ///   without atomics.
    pub unsafe fn verify(&self) -> Result<(), String> {
        let h = lock(&self.locked);
        let mut inuse = 0usize;
        let mut overhead = 0usize;
        let mut kept = 0usize;
        for &(base, len) in &h.reservations {
            let mut p = base;
            while p < base + len {
                let Some(ar) = self.index.arena_of(p) else { break };
                if ar.page_in_use(p) {
                    // SAFETY: in-use pages map to live span structs.
                    let s = unsafe { &*ar.span_at(p) };
                    if s.base() != p || s.state() != SpanState::InUse {
                        return Err(format!(
                            "page {p:#x} marked in use but span base {:#x}",
                            s.base()
                        ));
                    }
                    // SAFETY: nobody allocates or sweeps meanwhile (the caller's contract), so
                    // the span's allocation state is not being written.
                    if unsafe { s.with_local(|l| l.kept_empty) } {
                        kept += s.span_bytes();
                    } else {
                        inuse += s.span_bytes();
                        if !s.is_large() {
                            overhead += s.span_bytes() - s.nelems() * s.elemsize();
                        }
                    }
                    p += s.span_bytes();
                } else {
                    p += PAGE_SIZE;
                }
            }
        }
        let want = stats::get(&self.stats.heap_inuse);
        if inuse != want {
            return Err(format!("heap_inuse counter {want} but spans cover {inuse}"));
        }
        let wk = stats::get(&self.stats.kept_empty);
        if kept != wk {
            return Err(format!("kept_empty counter {wk} but kept spans cover {kept}"));
        }
        let wo = stats::get(&self.stats.span_overhead);
        if overhead != wo {
            return Err(format!("span_overhead counter {wo} but spans give {overhead}"));
        }
        let meta = h.metas.len() * arena_meta_bytes() + h.spans.bytes() + h.pages.metadata_bytes();
        let wm = stats::get(&self.stats.metadata);
        if meta != wm {
            return Err(format!("metadata counter {wm} but the heap maps {meta}"));
        }
        Ok(())
    }
}

impl SpanSource for MHeap {
    fn sweepgen(&self) -> u32 {
        MHeap::sweepgen(self)
    }
    fn clobberfree(&self) -> bool {
        MHeap::clobberfree(self)
    }
    fn stats(&self) -> &HeapStats {
        &self.stats
    }
    fn alloc_span(
        &self,
        npages: usize,
        spc: SpanClass,
        cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError> {
        self.alloc_span_impl(npages, spc, cache)
    }
    fn free_span(&self, s: NonNull<MSpan>) {
        self.free_span_impl(s)
    }
    fn keep_empty_spans(&self) -> bool {
        // Only while the heap is not meant to shrink: no memory limit, and the scavenger's
        // retained-heap goal met (or off).
        self.keep_empty.load(Ordering::Relaxed)
            && self.keep_suppressed.load(Ordering::Relaxed) == 0
            && self.scav.memory_limit() == NO_GOAL
            && self.scav.gc_percent_goal() == NO_GOAL
    }
}

impl Drop for MHeap {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        let h = self.locked.get_mut();
        #[cfg(loom)]
        let h = match self.locked.get_mut() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        for &(base, len) in &h.reservations {
            // SAFETY: the heap is being dropped: no object or cache outlives it (caches hold an
            // Arc to it), so nothing touches its arenas again.
            unsafe { self.os.unmap(base, len) };
        }
        for &m in &h.metas {
            // SAFETY: as above; the metadata was mapped by `new_arena_meta`.
            unsafe { self.os.unmap(m as usize, arena_meta_bytes()) };
        }
        // SAFETY: as above; the index is not read again.
        unsafe { self.index.destroy(&self.os) };
        // SAFETY: the page allocator was made with this `Os` and is not used again; taking it out
        // of the ManuallyDrop happens exactly once, here.
        unsafe { core::mem::ManuallyDrop::take(&mut h.pages).destroy(&self.os) };
    }
}
