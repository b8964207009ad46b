//! Central free lists (Go's `mcentral.go`). See the crate docs for the overview.
//!
//! One [`MCentral`] per span class holds the spans no P has cached, in four lock-free span sets:
//! partial (has free slots) or full, each swept or unswept. Which index is "swept" depends on the
//! heap's sweepgen: with `sg` the heap's, swept is `(sg / 2) % 2` and unswept the other one, so
//! the `+2` of each new cycle turns every swept set into an unswept one without moving a span.
//!
//! A P takes a span with `MCentral::cache_span`: a swept partial span if there is one, else it
//! sweeps unswept spans (taking sweep ownership with the sweepgen CAS) until one has room, else
//! it grows the heap by a fresh span. It gives a span back with `MCentral::uncache_span`.
//!
//! A sweep that leaves a small span empty frees it to the heap, or keeps it on the swept
//! partial set for one more cycle (see "Keeping empty spans" in the crate docs); a refill that
//! takes a kept span, or the sweep that frees it, first turns it back into an ordinary empty
//! span (`unkeep`), so the counters see kept spans only while they wait.

use crate::error::AllocError;
use crate::mspan::{MSpan, SweepReport};
use crate::pagealloc::PageCache;
use crate::sizeclass::SpanClass;
use crate::spanset::SpanSet;
use crate::stats::{self, HeapStats};
use core::ptr::NonNull;

/// What a central list needs from the heap beneath it: the sweep generation, fresh spans, a
/// place to return empty ones, and the counters. [`MHeap`](crate::mheap::MHeap) implements it;
/// the loom models implement it with a toy heap whose spans have no memory, so the cache ↔
/// central ↔ sweeper hand-off is model-checked on this very code (tcmalloc's `Forwarder` seam).
pub trait SpanSource {
    /// The heap's sweepgen.
    fn sweepgen(&self) -> u32;
    /// Whether sweeping clobbers freed objects.
    fn clobberfree(&self) -> bool;
    /// The heap-wide counters.
    fn stats(&self) -> &HeapStats;
    /// A fresh, initialised, InUse span of `npages` pages for `spc`, owned by the caller.
    fn alloc_span(
        &self,
        npages: usize,
        spc: SpanClass,
        cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError>;
    /// Take back an empty span the caller owns.
    fn free_span(&self, s: NonNull<MSpan>);
    /// Whether a sweep that empties a small span may keep it on its central list for one more
    /// cycle instead of freeing it (see "Keeping empty spans" in the crate docs).
    fn keep_empty_spans(&self) -> bool;
}

/// How many unswept spans `cache_span` sweeps before it gives up and grows the heap (Go's
/// `spanBudget`): bounds the latency of one refill when the heap is mostly full spans.
const SPAN_BUDGET: usize = 100;

/// Central list for one span class (Go's `mcentral`).
#[doc(alias = "mcentral")]
pub struct MCentral {
    spanclass: SpanClass,
    partial: [SpanSet<MSpan>; 2],
    full: [SpanSet<MSpan>; 2],
}

impl MCentral {
    /// An empty central list.
    pub fn new(spanclass: SpanClass) -> MCentral {
        MCentral {
            spanclass,
            partial: [SpanSet::new(), SpanSet::new()],
            full: [SpanSet::new(), SpanSet::new()],
        }
    }

    /// The span class.
    pub fn spanclass(&self) -> SpanClass {
        self.spanclass
    }

    /// Swept spans with free slots (Go's `partialSwept`).
    pub(crate) fn partial_swept(&self, sg: u32) -> &SpanSet<MSpan> {
        &self.partial[(sg / 2 % 2) as usize]
    }
    /// Unswept spans with free slots (Go's `partialUnswept`).
    pub(crate) fn partial_unswept(&self, sg: u32) -> &SpanSet<MSpan> {
        &self.partial[(1 - sg / 2 % 2) as usize]
    }
    /// Swept spans without free slots (Go's `fullSwept`).
    pub(crate) fn full_swept(&self, sg: u32) -> &SpanSet<MSpan> {
        &self.full[(sg / 2 % 2) as usize]
    }
    /// Unswept spans, possibly without free slots (Go's `fullUnswept`).
    pub(crate) fn full_unswept(&self, sg: u32) -> &SpanSet<MSpan> {
        &self.full[(1 - sg / 2 % 2) as usize]
    }

    /// Take a span with at least one free slot for a P's cache (Go's `mcentral.cacheSpan`).
    /// The span comes back swept, marked cached (`sweepgen = sg + 3`) and with its alloc cache
    /// loaded; the caller owns its allocation state until [`MCentral::uncache_span`].
    pub(crate) fn cache_span<H: SpanSource>(
        &self,
        heap: &H,
        cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError> {
        let sg = heap.sweepgen();
        let s = self.take_swept_or_sweep(heap, sg);
        let s = match s {
            Some(s) => {
                // SAFETY: we own the span now (popped from a set or swept by us).
                let span = unsafe { s.as_ref() };
                unkeep(heap, span);
                // SAFETY: as above.
                let free = unsafe { span.with_local(|l| span.nelems() - l.alloc_count) };
                stats::sub(&heap.stats().central_free, free * span.elemsize());
                s
            }
            None => {
                let sc = self.spanclass.size_class();
                heap.alloc_span(sc.npages(), self.spanclass, cache)?
            }
        };
        // SAFETY: we own the span.
        let span = unsafe { s.as_ref() };
        // Count the whole free part as live now (Go's refill: heapLive += free bytes).
        // SAFETY: we own the span.
        let free = unsafe { span.with_local(|l| span.nelems() - l.alloc_count) };
        stats::add64(&heap.stats().heap_live, (free * span.elemsize()) as u64);
        span.set_sweepgen(sg.wrapping_add(3));
        // SAFETY: we own the span's allocation state.
        unsafe {
            span.with_local(|l| {
                l.alloc_count_before_cache = l.alloc_count;
                span.load_alloc_cache(l);
            })
        };
        Ok(s)
    }

    /// Steps 1–4 of `cacheSpan`: a swept partial span, else sweep unswept ones within budget.
    fn take_swept_or_sweep<H: SpanSource>(&self, heap: &H, sg: u32) -> Option<NonNull<MSpan>> {
        if let Some(s) = self.partial_swept(sg).pop() {
            return Some(s);
        }
        let mut budget = SPAN_BUDGET;
        while budget > 0 {
            let Some(s) = self.partial_unswept(sg).pop() else { break };
            // SAFETY: spans in central sets are InUse heap spans.
            let span = unsafe { s.as_ref() };
            // SAFETY: `sg` is the heap's sweepgen and a win is swept at once by sweep_owned.
            if unsafe { span.try_acquire_sweep(sg) } {
                self.sweep_owned(heap, s, true);
                return Some(s);
            }
            // Someone else is sweeping it; they will place it.
            budget -= 1;
        }
        while budget > 0 {
            let Some(s) = self.full_unswept(sg).pop() else { break };
            // SAFETY: as above.
            let span = unsafe { s.as_ref() };
            // SAFETY: as above.
            if unsafe { span.try_acquire_sweep(sg) } {
                let (rep, _) = self.sweep_owned(heap, s, true);
                if rep.live < span.nelems() {
                    return Some(s);
                }
                // Still full: it is swept now; park it on the swept full set.
                span.set_sweepgen(sg);
                self.full_swept(sg).push(s);
            }
            budget -= 1;
        }
        None
    }

    /// Give back a span a P had cached (Go's `mcentral.uncacheSpan`). If it was cached before
    /// the current sweep began (`sweepgen == sg + 1`) it is swept now; otherwise it goes on the
    /// swept partial or full set.
    pub(crate) fn uncache_span<H: SpanSource>(&self, heap: &H, s: NonNull<MSpan>) {
        // SAFETY: the caller (the P's cache) owned the span and hands it over.
        let span = unsafe { s.as_ref() };
        let sg = heap.sweepgen();
        // SAFETY: still ours until pushed.
        let free = unsafe { span.with_local(|l| span.nelems() - l.alloc_count) };
        stats::add(&heap.stats().central_free, free * span.elemsize());
        if span.sweepgen() != sg.wrapping_add(1) {
            // Unused free slots were counted live when cached; take them back. (A stale span
            // was cached before mark termination recomputed heap_live, so it owes nothing.)
            stats::sub64(&heap.stats().heap_live, (free * span.elemsize()) as u64);
        }
        if span.sweepgen() == sg.wrapping_add(1) {
            // Stale: cached before this sweep began. Take sweep ownership directly (no one else
            // can sweep a cached span) and sweep it.
            span.set_sweepgen(sg.wrapping_sub(1));
            self.sweep_owned(heap, s, false);
            return;
        }
        span.set_sweepgen(sg);
        if free > 0 {
            self.partial_swept(sg).push(s);
        } else {
            self.full_swept(sg).push(s);
        }
    }

    /// Sweep a span of this class whose sweep ownership the caller holds, then put it where it
    /// belongs: back to the heap if it is empty (unless `preserve`), else on the swept partial
    /// or full set (unless `preserve`, in which case the caller keeps it, still owning it).
    /// A small span that this sweep empties goes on the swept partial set instead of back to
    /// the heap when the heap keeps empty spans and no earlier sweep already kept it idle (see
    /// "Keeping empty spans" in the crate docs). Returns the sweep report and the pages
    /// returned to the heap.
    pub(crate) fn sweep_owned<H: SpanSource>(
        &self,
        heap: &H,
        s: NonNull<MSpan>,
        preserve: bool,
    ) -> (SweepReport, usize) {
        // SAFETY: the caller holds sweep ownership of this InUse span.
        let span = unsafe { s.as_ref() };
        debug_assert_eq!(span.spanclass(), self.spanclass);
        let elemsize = span.elemsize();
        // SAFETY: sweep ownership is held, and sweeping never overlaps marking.
        let rep = unsafe { span.sweep(heap.clobberfree()) };
        if rep.zombies > 0 {
            crate::throw(&format!(
                "found {} pointer(s) to free objects in span {:#x} (class {}): heap corrupted",
                rep.zombies,
                span.base(),
                self.spanclass.size_class().index()
            ));
        }
        let st = heap.stats();
        let sg = heap.sweepgen();
        if span.is_large() {
            if rep.live == 0 {
                stats::add64(&st.large_frees, 1);
                stats::add64(&st.large_free_bytes, span.span_bytes() as u64);
                stats::sub64(&st.heap_alloc, span.span_bytes() as u64);
                if !preserve {
                    let n = span.npages();
                    heap.free_span(s);
                    return (rep, n);
                }
            } else if !preserve {
                span.set_sweepgen(sg);
                self.full_swept(sg).push(s);
            }
            return (rep, 0);
        }
        stats::add64(&st.small_frees[self.spanclass.size_class().index()], rep.freed as u64);
        stats::sub64(&st.heap_alloc, (rep.freed * elemsize) as u64);
        let nelems = span.nelems();
        if preserve {
            // The caller takes the span for a cache and settles its free slots itself.
            stats::add(&st.central_free, rep.freed * elemsize);
            return (rep, 0);
        }
        if rep.live == 0 {
            // Before the sweep the span counted (nelems - freed) free slots here (a kept span
            // counts all of them once `unkeep` has undone its keeping).
            let was_kept = unkeep(heap, span);
            stats::sub(&st.central_free, (nelems - rep.freed) * elemsize);
            if was_kept || !heap.keep_empty_spans() {
                let n = span.npages();
                heap.free_span(s);
                return (rep, n);
            }
            // Keep it for a cycle: its pages count as free heap memory meanwhile.
            // SAFETY: sweep ownership is held.
            unsafe { span.with_local(|l| l.kept_empty = true) };
            let bytes = span.span_bytes();
            stats::sub(&st.heap_inuse, bytes);
            stats::sub(&st.span_overhead, bytes - nelems * elemsize);
            stats::add(&st.kept_empty, bytes);
            span.set_sweepgen(sg);
            self.partial_swept(sg).push(s);
            return (rep, 0);
        }
        stats::add(&st.central_free, rep.freed * elemsize);
        span.set_sweepgen(sg);
        if rep.live < nelems {
            self.partial_swept(sg).push(s);
        } else {
            self.full_swept(sg).push(s);
        }
        (rep, 0)
    }

    /// Sweep one span of this class that needs it (the per-class step of Go's `sweepone`).
    /// `None` when this class has nothing left to sweep; otherwise the pages returned to the
    /// heap (0 when the span stayed in use or another sweeper owned it).
    pub fn sweep_one<H: SpanSource>(&self, heap: &H) -> Option<usize> {
        let sg = heap.sweepgen();
        let s = self.partial_unswept(sg).pop().or_else(|| self.full_unswept(sg).pop())?;
        // SAFETY: spans in central sets are InUse heap spans, and not cached by any P.
        let span = unsafe { s.as_ref() };
        // SAFETY: `sg` is the heap's sweepgen and a win is swept at once by sweep_owned.
        if unsafe { span.try_acquire_sweep(sg) } {
            return Some(self.sweep_owned(heap, s, false).1);
        }
        Some(0)
    }
}

/// If `span` is a kept empty span, make it an ordinary empty one again: its pages count as in
/// use and its slots as free central slots (undoing what `sweep_owned` did when it kept it).
/// Returns whether it was kept. The caller owns the span (popped it or holds its sweep).
fn unkeep<H: SpanSource>(heap: &H, span: &MSpan) -> bool {
    // SAFETY: the caller owns the span's allocation state.
    if !unsafe { span.with_local(|l| core::mem::replace(&mut l.kept_empty, false)) } {
        return false;
    }
    let st = heap.stats();
    let bytes = span.span_bytes();
    let slots = span.nelems() * span.elemsize();
    stats::add(&st.heap_inuse, bytes);
    stats::add(&st.span_overhead, bytes - slots);
    stats::add(&st.central_free, slots);
    stats::sub(&st.kept_empty, bytes);
    true
}

#[cfg(all(test, loom))]
#[path = "mcentral_loom.rs"]
mod loom_models;
