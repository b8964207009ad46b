//! The marker's view of a span (part of Go's `mspan` in `mheap.go`, and `mbitmap.go`'s
//! `heapBitsSmallForAddr`): [`SpanGeom`], a span's geometry read once, and a small object's
//! pointer mask read in one go, and the heap's lookup of an object with its span's geometry
//! ([`MHeap::find_heap_object`]). It sits beside `mspan.rs`, which is at the length limit.

use super::{read_span_bits, MSpan, SpanState};
use crate::consts::{MIN_SIZE_FOR_MALLOC_HEADER, PTR_SIZE};
#[cfg(not(loom))]
use crate::consts::{PAGE_SIZE, SPAN_HEAP_BITS_SIZE};
use crate::mheap::MHeap;
#[cfg(not(loom))]
use crate::spaninline::SPAN_INLINE_MARK_BITS_SIZE;
use crate::sync::Ordering;

/// A span's geometry, each field loaded once ([`MSpan::geom`]). Atomic loads are never merged,
/// so one accessor at a time loaded `start_addr` four times per shade (and the span class twice,
/// through `SpanClass::from_index(..).unwrap_or(..)`); Go's `findObject` and `greyobject` read
/// each plain `mspan` field once. Valid while the span stays `InUse` (geometry changes only
/// while `Dead`): read it after seeing `InUse`, as `MHeap::span_geom_of_heap` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanGeom {
    /// First byte (`base()`).
    pub base: usize,
    /// End of the object area (`limit`).
    pub limit: usize,
    /// Slot size (`elemsize`); a large span's whole length.
    pub elemsize: usize,
    /// Object-index division magic (`divMul`); 0 for a large span.
    pub div_mul: u32,
    spanclass: u8,
}

impl SpanGeom {
    /// Whether the span's objects hold no pointers (Go's `spanclass.noscan()`).
    #[inline(always)]
    pub fn noscan(&self) -> bool {
        self.spanclass & 1 != 0
    }
    /// Whether this is a large-object span (size class 0).
    #[inline(always)]
    pub fn is_large(&self) -> bool {
        self.spanclass >> 1 == 0
    }
    /// Whether this scan span keeps its pointer bitmap in its page (Go's `heapBitsInSpan`).
    #[inline(always)]
    pub fn has_span_heap_bits(&self) -> bool {
        !self.noscan() && !self.is_large() && self.elemsize <= MIN_SIZE_FOR_MALLOC_HEADER
    }
    /// Index of the slot holding `addr` in `[base, limit)` (`objIndex`); 0 in a large span.
    #[inline(always)]
    pub fn obj_index(&self, addr: usize) -> usize {
        debug_assert!(self.div_mul != 0 || self.is_large());
        (((addr - self.base) as u64 * self.div_mul as u64) >> 32) as usize
    }
    /// Base address of slot `i`.
    #[inline(always)]
    pub fn obj_base(&self, i: usize) -> usize {
        self.base + i * self.elemsize
    }
}

impl MSpan {
    /// The geometry a marker needs, each field loaded once (see [`SpanGeom`]).
    #[inline(always)]
    pub fn geom(&self) -> SpanGeom {
        SpanGeom {
            base: self.base(),
            limit: self.limit(),
            elemsize: self.elemsize(),
            div_mul: self.div_mul(),
            spanclass: self.spanclass.load(Ordering::Relaxed),
        }
    }

    /// [`MSpan::heap_bits_addr`] for a span whose base the caller has already loaded: the last
    /// 128 bytes of the page, or the 128 bytes before Green Tea's inline mark block when the
    /// span has one (Go's `spanHeapBitsRange`).
    #[inline(always)]
    pub(super) fn heap_bits_addr_at(&self, base: usize) -> usize {
        #[cfg(not(loom))]
        return base + PAGE_SIZE
            - SPAN_HEAP_BITS_SIZE
            - if self.has_inline_marks() { SPAN_INLINE_MARK_BITS_SIZE } else { 0 };
        // Under loom: the bitmap in the span struct (see `loom_heap_bits`).
        #[cfg(loom)]
        return {
            let _ = base;
            self.loom_heap_bits.as_ptr() as usize
        };
    }

    /// The pointer mask (bit `i`: word `i` is a pointer) of the slot at `obj` of this span with
    /// in-span heap bits, `g` being its geometry (Go's `heapBitsSmallForAddr`): one or two
    /// bitmap loads and no span field, for the marker to loop over inline, as Go's
    /// `scanobject` does, instead of a callback per slot ([`MSpan::for_each_ptr_slot`]).
    ///
    /// # Safety
    /// - `g` is this `InUse` span's [`SpanGeom`] and `g.has_span_heap_bits()`; `obj` is an
    ///   allocated slot whose bits were written before this call (as for `for_each_ptr_slot`).
    #[inline(always)]
    pub unsafe fn heap_bits_small(&self, g: &SpanGeom, obj: usize) -> u64 {
        debug_assert!(g.has_span_heap_bits() && obj >= g.base && obj < g.limit);
        let (first, words) = ((obj - g.base) / PTR_SIZE, g.elemsize / PTR_SIZE);
        read_span_bits(self.heap_bits_addr_at(g.base), first, words)
    }
}

/// What [`MHeap::find_heap_object`] finds: Go's `findObject` results and the span's geometry.
#[derive(Clone, Copy, Debug)]
pub struct HeapObject<'a> {
    /// The object's span, `InUse` when it was looked up.
    pub span: &'a MSpan,
    /// Slot index (0 in a large span).
    pub index: usize,
    /// Slot base (the header's, for objects over 512 bytes).
    pub base: usize,
    /// The span's geometry as the lookup read it.
    pub geom: SpanGeom,
}

impl MHeap {
    /// The InUse span whose object area holds `addr`, as [`MHeap::span_of_heap`], with its
    /// geometry read once after its state (the marker's lookup: see [`SpanGeom`]).
    #[inline(always)]
    pub fn span_geom_of_heap(&self, addr: usize) -> Option<(&MSpan, SpanGeom)> {
        let s = self.span_of(addr).filter(|s| s.state() == SpanState::InUse)?;
        let g = s.geom();
        (addr >= g.base && addr < g.limit).then_some((s, g))
    }

    /// The object holding `addr` (Go's `findObject`) with everything the marker needs to grey
    /// it, from one read of its span's geometry; `None` for foreign addresses, free or manual
    /// spans and span tails.
    #[inline(always)]
    pub fn find_heap_object(&self, addr: usize) -> Option<HeapObject<'_>> {
        let (span, geom) = self.span_geom_of_heap(addr)?;
        let index = geom.obj_index(addr);
        Some(HeapObject { span, index, base: geom.obj_base(index), geom })
    }
}
