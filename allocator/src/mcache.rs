//! Per-P caches and the allocation entry points (Go's `mcache.go` and `mallocgc` in
//! `malloc.go`). See the crate docs for the overview.
//!
//! An [`MCache`] belongs to one P and is used without locks: `&mut self` is the proof that only
//! its P touches it. It holds one span per span class; allocation takes the next free slot of
//! that span with [`MSpan::next_free_fast`] and, when the span is full, swaps it for another from
//! the class's [`MCentral`](crate::mcentral::MCentral) (`refill`). Pointer-free requests under
//! 16 bytes share 16-byte tiny blocks.
//!
//! # What every allocation returns
//!
//! Zeroed memory (lazily: only spans whose `needzero` is set are cleared, all their free slots at
//! once when `refill` caches them; see "Zeroing" in the crate docs), aligned
//! as [`crate::sizeclass`] documents, of at least the requested size. Scan objects get their
//! pointer metadata written before the pointer is returned: bits in the span for objects up to
//! 512 bytes, a type header word in front of larger small objects, the type on the span for
//! large objects.
//!
//! The one exception is [`MCache::alloc_noscan_uninit`], which, like Go's
//! `mallocgc(size, nil, false)` and like `malloc`, returns pointer-free memory without clearing
//! it. It takes its slots from spans cached apart from the zeroed ones, so the zeroed path never
//! checks whether a span is clean.

use crate::consts::{MALLOC_HEADER_SIZE, PAGE_SIZE, PTR_SIZE, TINY_SIZE};
use crate::error::AllocError;
use crate::mheap::{zerobase, MHeap};
use crate::mspan::{write_heap_bits_small, MSpan};
use crate::pagealloc::PageCache;
use crate::sizeclass::{classify, SizeKind, SpanClass, NUM_SIZE_CLASSES, NUM_SPAN_CLASSES};
use crate::stats;
use crate::typedesc::TypeDesc;
use core::ptr::NonNull;
use std::sync::Arc;

/// Span slots of an [`MCache`]: one per span class, and one per size class for uncleared
/// pointer-free allocations.
const CACHE_SLOTS: usize = NUM_SPAN_CLASSES + NUM_SIZE_CLASSES;

/// The cache slot a `ZERO` (or uncleared) allocation of span class `spc` uses.
#[inline(always)]
fn slot<const ZERO: bool>(spc: SpanClass) -> usize {
    if ZERO {
        spc.index()
    } else {
        debug_assert!(spc.noscan(), "only pointer-free memory may be left uncleared");
        NUM_SPAN_CLASSES + spc.size_class().index()
    }
}

/// The span class of cache slot `i`.
fn slot_class(i: usize) -> SpanClass {
    if i < NUM_SPAN_CLASSES {
        SpanClass::from_index(i).expect("span class")
    } else {
        let sc = crate::sizeclass::SizeClass::from_index(i - NUM_SPAN_CLASSES).expect("class");
        SpanClass::new(sc, true)
    }
}

/// A per-P allocation cache (Go's `mcache`).
#[doc(alias = "mcache")]
pub struct MCache {
    heap: Arc<MHeap>,
    /// The span cached for each span class (slots `0..NUM_SPAN_CLASSES`, by span class index),
    /// then one more for each pointer-free size class that only
    /// [`alloc_noscan_uninit`](MCache::alloc_noscan_uninit) takes slots from (slot
    /// `NUM_SPAN_CLASSES + size class`); the heap's empty dummy span where none is cached. A
    /// span in one of the first slots had its free slots cleared when it was cached, so the
    /// zeroed fast path never tests `needzero`; a span in one of the others was not.
    alloc: [NonNull<MSpan>; CACHE_SLOTS],
    /// Base of the current tiny block, or 0.
    tiny: usize,
    /// Bytes of the tiny block already used; `TINY_SIZE` when there is no block.
    tiny_offset: usize,
    /// Tiny sub-allocations not yet flushed to the heap's counters.
    tiny_allocs: u64,
    /// Pointer-bearing bytes of scan objects allocated since the last flush (Go's
    /// `scanAlloc`): added to the heap's `heap_scan` at refill and in `release_all`.
    scan_alloc: u64,
    /// Pages this P can turn into spans without the heap lock (Go's `p.pcache`).
    page_cache: PageCache,
    /// Span structs this P can use without the heap lock (Go's `p.mspancache`).
    span_stash: Vec<NonNull<MSpan>>,
    /// Set when a refill happened since [`MCache::take_refilled`] was last called: the
    /// runtime's cue to test the GC trigger (Go's `checkGCTrigger`).
    refilled: bool,
}

// SAFETY: an MCache is moved between threads with its P; the spans it caches are owned by it.
unsafe impl Send for MCache {}

impl MCache {
    pub(crate) fn new(heap: Arc<MHeap>) -> MCache {
        let empty = heap.empty_span();
        MCache {
            heap,
            alloc: [empty; CACHE_SLOTS],
            tiny: 0,
            tiny_offset: TINY_SIZE,
            tiny_allocs: 0,
            scan_alloc: 0,
            page_cache: PageCache::empty(),
            span_stash: Vec::with_capacity(8),
            refilled: false,
        }
    }

    /// The heap this cache allocates from.
    pub fn heap(&self) -> &Arc<MHeap> {
        &self.heap
    }

    /// The current tiny block, if any (Go greys every P's tiny block at mark start: its new
    /// sub-allocations are not marked individually).
    pub fn tiny_block(&self) -> Option<usize> {
        (self.tiny != 0).then_some(self.tiny)
    }

    /// Whether a span refill happened since the last call (and clear the flag).
    pub fn take_refilled(&mut self) -> bool {
        core::mem::take(&mut self.refilled)
    }

    // ------------------------------------------------------------------ entry points

    /// Allocate `size` zeroed bytes that hold no pointers.
    ///
    /// The fast path is inlined into the caller: tiny and small pointer-free requests reach
    /// the span's cached bitmap window without a call; everything else goes out of line.
    #[inline(always)]
    pub fn alloc_noscan(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        self.noscan::<true, true>(size)
    }

    /// Allocate `size` zeroed pointer-free bytes in a slot of their own: like
    /// [`alloc_noscan`](Self::alloc_noscan), but a request under 16 bytes takes an 8- or
    /// 16-byte slot instead of a piece of a shared tiny block. For buffers whose usable
    /// capacity (the rest of the slot) is handed out, which a tiny neighbour would overlap.
    /// Not in Go, whose slices record their capacity instead.
    #[inline(always)]
    pub fn alloc_noscan_untiny(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        self.noscan::<true, false>(size)
    }

    /// [`alloc_noscan_untiny`](Self::alloc_noscan_untiny) without clearing the slot, as
    /// [`alloc_noscan_uninit`](Self::alloc_noscan_uninit) does (requests under 16 bytes are not
    /// cleared either).
    #[inline(always)]
    pub fn alloc_noscan_untiny_uninit(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        self.noscan::<false, false>(size)
    }

    /// The pointer-free entry points, cleared (`ZERO`) or not: tiny (when `TINY`), then a small
    /// slot inline, else out of line.
    #[inline(always)]
    fn noscan<const ZERO: bool, const TINY: bool>(
        &mut self,
        size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        if TINY && size.wrapping_sub(1) < TINY_SIZE - 1 {
            return self.alloc_tiny(size);
        }
        if size.wrapping_sub(1) < crate::consts::MAX_SMALL_REQUEST {
            if let Some(sc) = crate::sizeclass::SizeClass::for_size(size) {
                let (x, span) = self.take_slot::<ZERO>(SpanClass::new(sc, true))?;
                // SAFETY: the span is cached by this P.
                self.publish_slot(unsafe { span.as_ref() }, x);
                // SAFETY: slot addresses are never null.
                return Ok(unsafe { NonNull::new_unchecked(x as *mut u8) });
            }
        }
        if ZERO {
            self.malloc(size, None)
        } else {
            self.malloc_uninit(size)
        }
    }

    /// Allocate one zeroed value of type `ty`. Pointer-free types take the inlined
    /// [`alloc_noscan`](Self::alloc_noscan) path; small scan types up to 512 bytes are inlined
    /// too (slot, then the type's pointer bits); the rest goes out of line.
    #[inline(always)]
    pub fn alloc(&mut self, ty: &'static TypeDesc) -> Result<NonNull<u8>, AllocError> {
        self.alloc_typed(ty, ty.size)
    }

    /// Allocate a zeroed array of `count` values of type `ty`. An element count whose total
    /// size overflows is an error. Small arrays take the same inlined paths as
    /// [`alloc`](Self::alloc).
    #[inline(always)]
    pub fn alloc_array(
        &mut self,
        ty: &'static TypeDesc,
        count: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let size =
            ty.size.checked_mul(count).ok_or(AllocError::SizeOverflow { size: ty.size, count })?;
        self.alloc_typed(ty, size)
    }

    /// `size` bytes laid out as values of `ty` (`size` is a multiple of `ty.size`): the inlined
    /// dispatch shared by [`alloc`](Self::alloc) and [`alloc_array`](Self::alloc_array).
    #[inline(always)]
    fn alloc_typed(
        &mut self,
        ty: &'static TypeDesc,
        size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        if ty.is_noscan() {
            return self.alloc_noscan(size);
        }
        if size.wrapping_sub(1) < crate::consts::MIN_SIZE_FOR_MALLOC_HEADER {
            if let Some(sc) = crate::sizeclass::SizeClass::for_size(size) {
                let (x, span) = self.alloc_slot(SpanClass::new(sc, false))?;
                self.scan_alloc += ty.scan_size(size) as u64;
                // SAFETY: `span` is cached by this P, is a scan span with in-span heap bits
                // (objects of at most 512 bytes), and `x` is the slot just taken from it.
                unsafe { write_heap_bits_small(span.as_ref(), sc.size(), x, size, ty) };
                // SAFETY: as above.
                self.publish_slot(unsafe { span.as_ref() }, x);
                // SAFETY: slot addresses are never null.
                return Ok(unsafe { NonNull::new_unchecked(x as *mut u8) });
            }
        }
        self.malloc(size, Some(ty))
    }

    /// The allocator's `mallocgc`: `size` bytes, laid out as values of `ty` (pointer-free when
    /// `ty` is `None` or has no pointers). The general, out-of-line dispatch.
    #[inline(never)]
    pub fn malloc(
        &mut self,
        size: usize,
        ty: Option<&'static TypeDesc>,
    ) -> Result<NonNull<u8>, AllocError> {
        self.malloc_impl::<true>(size, ty)
    }

    /// Allocate `size` bytes that hold no pointers, *without* clearing them (Go's
    /// `mallocgc(size, nil, false)`, which Go's own `rawstring`, `rawbyteslice` and `growslice`
    /// use for memory they overwrite at once). The bytes are whatever the slot last held: zero,
    /// or a dead object's data (`0xdeadbeef` words under `clobberfree`). Reading them is not
    /// undefined behaviour (they are initialised bytes of mapped heap memory), but their values
    /// are unspecified. Requests under 16 bytes take the tiny allocator and are zeroed anyway.
    ///
    /// Skipping the clearing is the whole point: a refill for this call does not clear the
    /// span's free slots (the span serves only uncleared allocations while this P caches it,
    /// and a zeroed refill that takes it later clears it), so a program that fills its buffers
    /// itself does not write them twice. This is the entry point to compare with `malloc`,
    /// which does not clear either.
    #[inline(always)]
    pub fn alloc_noscan_uninit(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        self.noscan::<false, true>(size)
    }

    /// The out-of-line part of [`alloc_noscan_uninit`](Self::alloc_noscan_uninit).
    #[inline(never)]
    fn malloc_uninit(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        self.malloc_impl::<false>(size, None)
    }

    /// `mallocgc` proper; `ZERO` false only for pointer-free requests (`ty` is `None`).
    #[inline(always)]
    fn malloc_impl<const ZERO: bool>(
        &mut self,
        size: usize,
        ty: Option<&'static TypeDesc>,
    ) -> Result<NonNull<u8>, AllocError> {
        debug_assert!(ZERO || ty.is_none(), "only pointer-free memory may be left uncleared");
        let ty = ty.filter(|t| !t.is_noscan());
        if let Some(t) = ty {
            self.scan_alloc += t.scan_size(size) as u64;
        }
        match classify(size, ty.is_none()) {
            None => Err(AllocError::TooLarge { bytes: size }),
            Some(SizeKind::Zero) => Ok(zerobase()),
            Some(SizeKind::Tiny) => self.alloc_tiny(size),
            Some(SizeKind::Small { spc, header: false }) => {
                let (x, span) = self.take_slot::<ZERO>(spc)?;
                if let Some(t) = ty {
                    // SAFETY: `span` is cached by this P, is a scan span with in-span heap bits
                    // (headerless scan class), and `x` is the slot just taken from it.
                    unsafe {
                        write_heap_bits_small(span.as_ref(), spc.size_class().size(), x, size, t)
                    };
                }
                // SAFETY: as above.
                self.publish_slot(unsafe { span.as_ref() }, x);
                // SAFETY: slot addresses are never null.
                Ok(unsafe { NonNull::new_unchecked(x as *mut u8) })
            }
            Some(SizeKind::Small { spc, header: true }) => {
                let (x, span) = self.alloc_slot(spc)?;
                let t = ty.expect("header objects have a type");
                // SAFETY: `x` is a fresh, zeroed slot of at least size+8 bytes owned by this P;
                // its first word is the header.
                unsafe { (x as *mut *const TypeDesc).write(t) };
                // SAFETY: as above.
                self.publish_slot(unsafe { span.as_ref() }, x);
                // SAFETY: non-null slot plus the header size.
                Ok(unsafe { NonNull::new_unchecked((x + MALLOC_HEADER_SIZE) as *mut u8) })
            }
            Some(SizeKind::Large { .. }) => {
                let s = self.heap.clone().alloc_large(
                    size,
                    ty.is_none(),
                    ty,
                    ZERO,
                    Some((&mut self.page_cache, &mut self.span_stash)),
                )?;
                self.refilled = true;
                let heap_scan = &self.heap.stats.heap_scan;
                stats::add64(heap_scan, core::mem::take(&mut self.scan_alloc));
                // SAFETY: the span was just allocated for this object.
                let base = unsafe { s.as_ref() }.base();
                // SAFETY: span bases are non-null.
                Ok(unsafe { NonNull::new_unchecked(base as *mut u8) })
            }
        }
    }

    // ------------------------------------------------------------------ paths

    /// Take one zeroed slot of span class `spc` (fast path, then `next_free`).
    #[inline(always)]
    fn alloc_slot(&mut self, spc: SpanClass) -> Result<(usize, NonNull<MSpan>), AllocError> {
        self.take_slot::<true>(spc)
    }

    /// Take one slot of span class `spc`, cleared if `ZERO` (fast path, then `next_free`).
    ///
    /// The slot size comes from the class table, not from the span: for a size known where
    /// this is inlined it is a constant, and the address is a shift and an add. Zeroed and
    /// uncleared allocations use different cache slots (see `alloc`), so neither tests
    /// `needzero` here: testing it cost the zeroed fast path a fifth of its time.
    #[inline(always)]
    fn take_slot<const ZERO: bool>(
        &mut self,
        spc: SpanClass,
    ) -> Result<(usize, NonNull<MSpan>), AllocError> {
        let s = self.alloc[slot::<ZERO>(spc)];
        let elem = spc.size_class().size();
        // SAFETY: cached spans are owned by this P (or are the immutable empty span, whose
        // alloc_cache is 0 so the fast path never writes it).
        let span = unsafe { s.as_ref() };
        // SAFETY: as above.
        let got = unsafe { span.with_local(|l| span.next_free_fast(l).map(|i| l.base + i * elem)) };
        let Some(x) = got else {
            return self.next_free::<ZERO>(spc);
        };
        // A span of class `spc` has slots of the class's size.
        debug_assert_eq!(elem, span.elemsize());
        // SAFETY: `x` is a slot of an InUse span owned by this P, `elem` bytes long.
        unsafe { Self::prepare_slot::<ZERO>(span, x, elem) };
        Ok((x, s))
    }

    /// Make a slot just taken ready to hand out. Normally there is nothing to do: a span in a
    /// zeroed cache slot had its free slots cleared when it was cached (`refill`), and an
    /// uncleared allocation wants nothing cleared. In ASan builds freed slots are poisoned, so
    /// they cannot be cleared in advance; each slot is unpoisoned and, for a zeroed request
    /// from a span that needs it, cleared here as it is handed out (Go's way).
    ///
    /// # Safety
    /// - `x` is a slot of an InUse span owned by this P, `elem` bytes long.
    #[inline(always)]
    unsafe fn prepare_slot<const ZERO: bool>(span: &MSpan, x: usize, elem: usize) {
        if crate::poison::ENABLED {
            crate::poison::unpoison(x, elem);
            // SAFETY: the span is owned by this P.
            if ZERO && unsafe { span.with_local(|l| l.needzero) } {
                // SAFETY: the caller's guarantee.
                unsafe { crate::memclr::memclr(x as *mut u8, elem) };
            }
        }
    }

    /// The slow path (Go's `mcache.nextFree`): walk the span's bitmap, or refill.
    #[inline(never)]
    fn next_free<const ZERO: bool>(
        &mut self,
        spc: SpanClass,
    ) -> Result<(usize, NonNull<MSpan>), AllocError> {
        let mut s = self.alloc[slot::<ZERO>(spc)];
        // SAFETY: owned by this P (see alloc_slot); the empty span has nelems 0 so
        // next_free_index returns without writing.
        let mut got = unsafe { Self::take_index(s) };
        if got.is_none() {
            self.refill::<ZERO>(spc)?;
            s = self.alloc[slot::<ZERO>(spc)];
            // SAFETY: freshly cached span, owned by this P.
            got = unsafe { Self::take_index(s) };
        }
        let x = got.expect("a freshly cached span has a free slot");
        // SAFETY: `s` is cached by this P; `x` is one of its slots.
        unsafe { Self::prepare_slot::<ZERO>(s.as_ref(), x, s.as_ref().elemsize()) };
        Ok((x, s))
    }

    /// # Safety
    /// - `s` is cached by the calling P, or is the heap's empty span.
    unsafe fn take_index(s: NonNull<MSpan>) -> Option<usize> {
        // SAFETY: the caller guarantees `s` is live.
        let span = unsafe { s.as_ref() };
        if span.nelems() == 0 {
            return None;
        }
        // SAFETY: the caller owns the span's allocation state.
        unsafe {
            span.with_local(|l| {
                let i = span.next_free_index(l);
                if i == span.nelems() {
                    return None;
                }
                l.alloc_count += 1;
                Some(span.obj_base(i))
            })
        }
    }

    /// The common tail of every slot allocation: allocate black while the collector marks.
    #[inline(always)]
    fn publish_slot(&self, span: &MSpan, x: usize) {
        if self.heap.alloc_black() {
            // SAFETY: allocate-black is on only while the collector marks; a new object holds
            // no pointers yet, so it is black at once and needs no queueing.
            unsafe { span.mark_allocated(span.obj_index(x)) };
        }
    }

    /// Tiny allocation (Go's tiny path in `mallocgc`): `size < 16`, pointer-free. The room
    /// test is inlined; a new block is taken out of line.
    ///
    /// Without a block, `tiny_offset` is `TINY_SIZE` (a full block), so one test covers both
    /// "no block" and "no room".
    #[inline(always)]
    fn alloc_tiny(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        let mut off = self.tiny_offset;
        if size & 7 == 0 {
            off = off.next_multiple_of(8);
        } else if size & 3 == 0 {
            off = off.next_multiple_of(4);
        } else if size & 1 == 0 {
            off = off.next_multiple_of(2);
        }
        if off + size <= TINY_SIZE {
            debug_assert!(self.tiny != 0);
            self.tiny_offset = off + size;
            self.tiny_allocs += 1;
            // SAFETY: the tiny block base is a non-null slot address.
            return Ok(unsafe { NonNull::new_unchecked((self.tiny + off) as *mut u8) });
        }
        self.alloc_tiny_block(size)
    }

    /// Start a new tiny block for a `size`-byte tiny object that did not fit the current one.
    #[inline(never)]
    fn alloc_tiny_block(&mut self, size: usize) -> Result<NonNull<u8>, AllocError> {
        let (x, span) = self.alloc_slot(SpanClass::TINY)?;
        // Tiny blocks are always cleared: alloc_slot zeroes only when the span needs it, but a
        // block's bytes must be zero for every sub-allocation that follows.
        // SAFETY: `x` is a fresh 16-byte slot owned by this P.
        unsafe { core::ptr::write_bytes(x as *mut u8, 0, TINY_SIZE) };
        // SAFETY: the span is cached by this P.
        self.publish_slot(unsafe { span.as_ref() }, x);
        // Keep whichever block has more room left (a missing block has none).
        if size < self.tiny_offset {
            self.tiny = x;
            self.tiny_offset = size;
        }
        // SAFETY: non-null slot.
        Ok(unsafe { NonNull::new_unchecked(x as *mut u8) })
    }

    /// Replace the full span of class `spc` with one that has a free slot (Go's
    /// `mcache.refill`).
    ///
    /// For a zeroed cache slot (`ZERO`) the new span's free slots are cleared now if it needs
    /// it; for an uncleared one they are left as they are, and the span keeps `needzero`.
    fn refill<const ZERO: bool>(&mut self, spc: SpanClass) -> Result<(), AllocError> {
        let old = self.alloc[slot::<ZERO>(spc)];
        // A plain borrow, not an `Arc` clone: two locked updates of the count per refill.
        let heap: &MHeap = &self.heap;
        let c = heap.central(spc);
        let fresh = c.cache_span(heap, Some((&mut self.page_cache, &mut self.span_stash)))?;
        if ZERO && !crate::poison::ENABLED {
            // SAFETY: the span was just cached for this P, which owns it now.
            unsafe { fresh.as_ref().zero_free_slots() };
        }
        if old != heap.empty_span() {
            self.flush_span_counts(old);
            c.uncache_span(heap, old);
        }
        if spc == SpanClass::TINY {
            stats::add64(&heap.stats.tiny_allocs, core::mem::take(&mut self.tiny_allocs));
        }
        stats::add64(&heap.stats.heap_scan, core::mem::take(&mut self.scan_alloc));
        self.alloc[slot::<ZERO>(spc)] = fresh;
        self.refilled = true;
        Ok(())
    }

    /// Add a cached span's allocations since it was cached to the heap's per-class counters.
    fn flush_span_counts(&self, s: NonNull<MSpan>) {
        // SAFETY: the span is cached by this P.
        let span = unsafe { s.as_ref() };
        // SAFETY: as above.
        let n = unsafe {
            span.with_local(|l| {
                let n = l.alloc_count - l.alloc_count_before_cache;
                l.alloc_count_before_cache = l.alloc_count;
                n
            })
        };
        stats::add64(
            &self.heap.stats.small_allocs[span.spanclass().size_class().index()],
            n as u64,
        );
        stats::add64(&self.heap.stats.heap_alloc, (n * span.elemsize()) as u64);
    }

    /// Return every cached span to its central list and drop the tiny block (Go's
    /// `mcache.releaseAll`, done when a P stops and before a new sweep cycle: Go's
    /// `prepareForSweep`).
    pub fn release_all(&mut self) {
        let heap: &MHeap = &self.heap;
        let empty = heap.empty_span();
        for i in 0..CACHE_SLOTS {
            let s = self.alloc[i];
            if s != empty {
                self.flush_span_counts(s);
                heap.central(slot_class(i)).uncache_span(heap, s);
                self.alloc[i] = empty;
            }
        }
        stats::add64(&heap.stats.tiny_allocs, core::mem::take(&mut self.tiny_allocs));
        stats::add64(&heap.stats.heap_scan, core::mem::take(&mut self.scan_alloc));
        self.tiny = 0;
        self.tiny_offset = TINY_SIZE;
    }

    /// Return the P's page cache and span-struct stash to the heap (when the P is destroyed, or
    /// at mark termination for idle Ps in Go).
    pub fn flush_page_cache(&mut self) {
        let heap = self.heap.clone();
        heap.return_cache_resources(&mut self.page_cache, &mut self.span_stash);
    }

    // ------------------------------------------------------------------ statistics

    /// `(free slot bytes, bytes allocated since caching, objects allocated since caching)` of
    /// the spans this cache holds, plus unflushed tiny sub-allocations in the object count.
    pub fn cached_span_bytes(&self) -> (usize, usize, u64) {
        let empty = self.heap.empty_span();
        let (mut free, mut used, mut n) = (0, 0, self.tiny_allocs);
        for &s in &self.alloc {
            if s == empty {
                continue;
            }
            // SAFETY: cached spans stay live while cached; the caller guarantees this P is not
            // allocating concurrently (it holds `&self`).
            let span = unsafe { s.as_ref() };
            // SAFETY: as above.
            let (ac, before) =
                unsafe { span.with_local(|l| (l.alloc_count, l.alloc_count_before_cache)) };
            free += (span.nelems() - ac) * span.elemsize();
            used += (ac - before) * span.elemsize();
            n += (ac - before) as u64;
        }
        (free, used, n)
    }

    /// Tiny sub-allocations not yet added to the heap's counters.
    pub fn unflushed_tiny_allocs(&self) -> u64 {
        self.tiny_allocs
    }

    /// Free pages held in this P's page cache.
    pub fn page_cache_free_pages(&self) -> usize {
        self.page_cache.free_pages()
    }

    /// Released pages held in this P's page cache.
    pub fn page_cache_scav_pages(&self) -> usize {
        self.page_cache.scavenged_pages()
    }
}

impl Drop for MCache {
    fn drop(&mut self) {
        self.release_all();
        self.flush_page_cache();
    }
}

const _: () = assert!(PAGE_SIZE % PTR_SIZE == 0);

#[cfg(all(test, loom))]
#[path = "mcache_loom.rs"]
mod loom_models;
